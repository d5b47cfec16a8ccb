"""``onemap import``: any OGR-readable file into the embedded store or into PostGIS."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pyogrio
from pyogrio.errors import DataLayerError, DataSourceError
from pyproj import CRS
from pyproj.exceptions import CRSError

from providers.catalog import standard_field_titles
from providers.geopackage.load import write_geopackage
from providers.layer_file import Layer
from providers.postgis.load import LoadError, load_layer

_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,62}$")
_TABLE_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class ImportError_(Exception):
    """The file cannot be imported; the message says why."""


@dataclass(frozen=True)
class ImportResult:
    """What was written."""

    target: str
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


def read_layer(
    source: Path,
    *,
    layer: str | None = None,
    srs: str | None = None,
    encoding: str | None = None,
) -> Layer:
    """The layer as GDAL describes it (nothing read yet); Chinese field aliases become
    the standard names."""
    try:
        meta = pyogrio.read_info(source, layer=layer, encoding=encoding)
    except (DataSourceError, DataLayerError, OSError) as exc:
        raise ImportError_(f"cannot read {source}: {exc}") from exc
    if meta.get("geometry_type") in (None, "Unknown"):
        raise ImportError_(f"{source}: the layer has no geometry")
    aliases = _alias_map()
    return Layer(
        path=source,
        name=layer,
        encoding=encoding,
        fields=[aliases.get(str(name), str(name)) for name in meta["fields"]],
        ogr_types=[str(t) for t in meta["ogr_types"]],
        ogr_subtypes=[str(t) for t in meta["ogr_subtypes"]],
        epsg=_epsg(meta.get("crs"), srs),
        geometry_type=str(meta["geometry_type"]),
        count=int(meta["features"]),
    )


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
    on_progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Read ``source`` and write it as table ``collection`` of its own GeoPackage,
    streamed in batches (``on_progress(done, total)`` hears of each: a progress bar)."""
    if not _ID.match(collection):
        raise ImportError_(f"collection id {collection!r} must match {_ID.pattern}")
    target = directory / f"{collection}.gpkg"
    if target.exists() and not overwrite:
        raise ImportError_(f"{target} exists; pass --overwrite to replace it")
    read = read_layer(source, layer=layer, srs=srs, encoding=encoding)
    directory.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        count = write_geopackage(
            read, partial, collection, title or collection, description
        )
    except (DataSourceError, DataLayerError, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise ImportError_(f"cannot read {source}: {exc}") from exc
    partial.replace(target)
    return ImportResult(str(target), count, read.epsg)


def import_to_postgis(
    source: Path,
    url: str,
    table: str,
    *,
    title: str | None = None,
    layer: str | None = None,
    srs: str | None = None,
    encoding: str | None = None,
    overwrite: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Read ``source`` and load it into the PostGIS table ``table`` (``schema.name``),
    streamed in batches (``on_progress(done, total)`` hears of each: a progress bar)."""
    if not all(_TABLE_ID.match(part) for part in table.split(".", 1)):
        raise ImportError_(f"table name {table!r} must match {_TABLE_ID.pattern}")
    read = read_layer(source, layer=layer, srs=srs, encoding=encoding)
    try:
        count = load_layer(
            url, table, read, overwrite=overwrite, title=title, on_progress=on_progress
        )
    except LoadError as exc:
        raise ImportError_(str(exc)) from exc
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ImportError_(f"database: {type(exc).__name__}: {first}") from exc
    return ImportResult(table, count, read.epsg)
