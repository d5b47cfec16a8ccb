"""``onemap import``: any OGR-readable file into a GeoPackage of the embedded store."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pyogrio
from pyogrio.errors import DataLayerError, DataSourceError
from pyproj import CRS
from pyproj.exceptions import CRSError

from server.catalog import standard_field_titles

_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,62}$")


class ImportError_(Exception):
    """The file cannot be imported; the message says why."""


@dataclass(frozen=True)
class ImportResult:
    """What was written."""

    path: Path
    count: int
    epsg: int


def _alias_map() -> dict[str, str]:
    """Chinese field aliases (地类编码...) -> standard field names (DLBM...)."""
    result = {}
    for name, title in standard_field_titles().items():
        if isinstance(title, dict) and title.get("zh-CN"):
            result[title["zh-CN"]] = name
    return result


def _epsg(crs_text: str | None, srs: str | None) -> int:
    text = srs or crs_text
    if not text:
        raise ImportError_("the file has no CRS; pass --srs EPSG:n")
    try:
        code = CRS.from_user_input(text).to_epsg(min_confidence=70)
    except CRSError as exc:
        raise ImportError_(f"unreadable CRS {text[:60]!r}") from exc
    if code is None:
        raise ImportError_("the CRS matches no EPSG code; pass --srs EPSG:n")
    return int(code)


def import_file(
    source: Path,
    directory: Path,
    collection: str,
    *,
    title: str | None = None,
    description: str = "",
    layer: str | None = None,
    srs: str | None = None,
    encoding: str | None = None,
    overwrite: bool = False,
) -> ImportResult:
    """Read ``source`` with GDAL and write it as table ``collection`` of its own GPKG."""
    if not _ID.match(collection):
        raise ImportError_(f"collection id {collection!r} must match {_ID.pattern}")
    target = directory / f"{collection}.gpkg"
    if target.exists() and not overwrite:
        raise ImportError_(f"{target} exists; pass --overwrite to replace it")
    try:
        meta, _fids, geometry, field_data = pyogrio.raw.read(
            source, layer=layer, encoding=encoding
        )
    except (DataSourceError, DataLayerError, OSError) as exc:
        raise ImportError_(f"cannot read {source}: {exc}") from exc
    if geometry is None or meta.get("geometry_type") in (None, "Unknown"):
        raise ImportError_(f"{source}: the layer has no geometry")
    epsg = _epsg(meta.get("crs"), srs)
    aliases = _alias_map()
    fields = [aliases.get(str(name), str(name)) for name in meta["fields"]]
    directory.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    geometry_type = str(meta["geometry_type"])
    pyogrio.raw.write(
        partial,
        geometry,
        field_data,
        fields,
        layer=collection,
        driver="GPKG",
        crs=f"EPSG:{epsg}",
        geometry_type=geometry_type,
        promote_to_multi=geometry_type in ("Polygon", "LineString"),
        layer_options={"IDENTIFIER": title or collection, "DESCRIPTION": description},
    )
    partial.replace(target)
    return ImportResult(target, len(geometry), epsg)
