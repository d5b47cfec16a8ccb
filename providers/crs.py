"""Coordinate reference systems: parsing OGC CRS URIs, axis order, cached transformers.

Geometries inside the server always use the GIS-traditional order (x = lon/easting,
y = lat/northing), as GeoPackage and PostGIS store them. The axis order of a CRS
(EPSG:4490 and the Gauss-Kruger zones are northing-first) is applied only when reading
parameters and writing output.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from providers.errors import QueryError

CRS84_URI = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/{code}"

# CRS84, WGS 84 and CGCS2000 share the GRS80/WGS84 ellipsoid to 0.1 mm and PROJ has only
# a null "ballpark" transformation between them (domain brief 1.1): skip the transform.
_SAME_GEOGRAPHIC = frozenset({None, 4326, 4490})

_EPSG_PATTERNS = (
    re.compile(r"^https?://www\.opengis\.net/def/crs/EPSG/0/(\d{4,6})$"),
    re.compile(r"^urn:ogc:def:crs:EPSG:[\d.]*:(\d{4,6})$", re.IGNORECASE),
    re.compile(r"^\[?EPSG:(\d{4,6})\]?$", re.IGNORECASE),
)
_CRS84_NAMES = frozenset(
    {
        CRS84_URI,
        "https://www.opengis.net/def/crs/OGC/1.3/CRS84",
        "urn:ogc:def:crs:OGC:1.3:CRS84",
        "OGC:CRS84",
        "[OGC:CRS84]",
        "CRS84",
    }
)


class UnknownCrsError(QueryError):
    """The text does not name a CRS this server knows."""

    def __init__(self, text: str) -> None:
        super().__init__("crs_unknown", "crs", value=text[:80], allowed="-")


@dataclass(frozen=True)
class CrsRef:
    """A CRS as the API names it, with what the server needs to know about it."""

    uri: str
    epsg: int | None  # None for OGC CRS84
    swap_xy: bool  # the CRS's first axis is north (lat, northing)
    geographic: bool

    def __str__(self) -> str:
        return self.uri


@lru_cache(maxsize=512)
def parse_crs(text: str) -> CrsRef:
    """Parse a CRS URI (or EPSG:n / URN short form); raise UnknownCrsError."""
    text = text.strip()
    if text in _CRS84_NAMES:
        return CRS84
    for pattern in _EPSG_PATTERNS:
        match = pattern.match(text)
        if match:
            return epsg_crs(int(match.group(1)))
    raise UnknownCrsError(text)


@lru_cache(maxsize=512)
def epsg_crs(code: int) -> CrsRef:
    """The CrsRef of an EPSG code; raise UnknownCrsError if PROJ does not know it."""
    try:
        crs = CRS.from_epsg(code)
    except CRSError as exc:
        raise UnknownCrsError(f"EPSG:{code}") from exc
    first = crs.axis_info[0].direction if crs.axis_info else "east"
    return CrsRef(
        uri=EPSG_URI.format(code=code),
        epsg=code,
        swap_xy=first in ("north", "south"),
        geographic=crs.is_geographic,
    )


CRS84 = CrsRef(uri=CRS84_URI, epsg=None, swap_xy=False, geographic=True)


def _pyproj(crs: CrsRef) -> CRS:
    return (
        CRS.from_user_input("OGC:CRS84") if crs.epsg is None else CRS.from_epsg(crs.epsg)
    )


def is_identity(src: CrsRef, dst: CrsRef) -> bool:
    """True when coordinates need no transformation between the two CRSs."""
    return src.epsg == dst.epsg or (
        src.epsg in _SAME_GEOGRAPHIC and dst.epsg in _SAME_GEOGRAPHIC
    )


@lru_cache(maxsize=256)
def transformer(src: CrsRef, dst: CrsRef) -> Transformer:
    """A cached, thread-safe x/y-ordered transformer (built once per CRS pair)."""
    return Transformer.from_crs(_pyproj(src), _pyproj(dst), always_xy=True)


def transform_geometries(geoms: Any, src: CrsRef, dst: CrsRef) -> Any:
    """Transform a shapely geometry or an array of them (x/y order in and out)."""
    if is_identity(src, dst):
        return geoms
    trans = transformer(src, dst)

    def apply(coords: np.ndarray) -> np.ndarray:
        x, y = trans.transform(coords[:, 0], coords[:, 1], errcheck=False)
        return np.column_stack([x, y])

    return shapely.transform(geoms, apply)


def swap_axes(geoms: Any) -> Any:
    """Swap x and y of every coordinate (to write a northing-first CRS)."""
    return shapely.transform(geoms, lambda coords: coords[:, ::-1])


def transform_bounds(
    bounds: tuple[float, float, float, float], src: CrsRef, dst: CrsRef
) -> tuple[float, float, float, float]:
    """Transform x/y-ordered bounds, densifying the edges."""
    if is_identity(src, dst):
        return bounds
    if src.epsg == 3857 and is_identity(dst, CRS84):
        # Mercator maps the axes separately, so the corners are the bounds: the
        # inverse formulas are exact, and ~50x cheaper than densified PROJ calls
        # (this runs for every vector tile).
        return (
            *_lonlat_of_mercator(bounds[0], bounds[1]),
            *_lonlat_of_mercator(bounds[2], bounds[3]),
        )
    result = transformer(src, dst).transform_bounds(*bounds, densify_pts=21)
    return (float(result[0]), float(result[1]), float(result[2]), float(result[3]))


def _lonlat_of_mercator(x: float, y: float) -> tuple[float, float]:
    radius = 6378137.0
    lat = math.degrees(2 * math.atan(math.exp(y / radius)) - math.pi / 2)
    return math.degrees(x / radius), lat


def gauss_kruger_codes(min_lon: float, max_lon: float) -> list[int]:
    """EPSG codes of the CGCS2000 Gauss-Kruger zones (3 and 6 degree) covering a range.

    3-degree zone n (CM 3n): 4513 + n - 25 (zone number in easting), 4534 + n - 25 (CM
    variant); 6-degree zone n (CM 6n - 3): 4491 + n - 13 and 4502 + n - 13.
    """
    min_lon, max_lon = max(min_lon, 73.5), min(max_lon, 136.5)
    if min_lon > max_lon:
        return []
    codes: set[int] = set()
    for zone in range(round(min_lon / 3), round(max_lon / 3) + 1):
        if 25 <= zone <= 45:
            codes.update({4513 + zone - 25, 4534 + zone - 25})
    for zone in range(math.floor(min_lon / 6) + 1, math.floor(max_lon / 6) + 2):
        if 13 <= zone <= 23 and 6 * zone - 6 <= max_lon and 6 * zone >= min_lon:
            codes.update({4491 + zone - 13, 4502 + zone - 13})
    return sorted(codes)


def default_crs_uris(
    storage: CrsRef, extent: tuple[float, float, float, float] | None
) -> list[str]:
    """The CRS list of a collection: CRS84, 4490, 4326, 3857, storage and GK zones."""
    uris = [CRS84_URI] + [EPSG_URI.format(code=c) for c in (4490, 4326, 3857)]
    if storage.uri not in uris:
        uris.append(storage.uri)
    if extent is not None:
        uris += [
            EPSG_URI.format(code=c) for c in gauss_kruger_codes(extent[0], extent[2])
        ]
    return list(dict.fromkeys(uris))
