"""The demo's coordinate frame: area, CRS, local-kilometre projection, areas.

All geometry is built in a local kilometre frame around the city centre (isotropic
Voronoi cells) and converted to longitude/latitude (EPSG:4490) at the end.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import Geod

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
ObjArray = npt.NDArray[np.object_]
StrArray = npt.NDArray[np.str_]

CRS: Final = "EPSG:4490"
BBOX: Final = (109.40, 22.90, 109.80, 23.30)
CENTRE: Final = (109.60, 23.10)
KM_X: Final = 111.32 * math.cos(math.radians(CENTRE[1]))  # km per degree of longitude
KM_Y: Final = 110.75  # km per degree of latitude at 23 N
M2_PER_DEG2: Final = KM_X * KM_Y * 1e6  # near the centre of the area


@cache
def geod() -> Geod:
    """The CGCS2000 ellipsoid."""
    return Geod(a=6378137.0, rf=298.257222101)


def geodesic_areas(geoms: ObjArray) -> FloatArray:
    """Ellipsoidal areas (m²) of lon/lat polygons on CGCS2000, holes subtracted."""
    g = geod()
    polys, owner = shapely.get_parts(geoms, return_index=True)
    rings, ring_owner = shapely.get_rings(polys, return_index=True)
    is_hole = np.ones(len(rings), bool)
    first = np.r_[0, np.flatnonzero(np.diff(ring_owner)) + 1]
    is_hole[first] = False
    coords, idx = shapely.get_coordinates(rings, return_index=True)
    cuts = np.flatnonzero(np.diff(idx)) + 1
    ring_area = np.array(
        [
            abs(g.polygon_area_perimeter(c[:, 0], c[:, 1])[0])
            for c in np.split(coords, cuts)
        ]
    )
    signed = np.where(is_hole, -ring_area, ring_area)
    poly_area = np.bincount(ring_owner, signed, minlength=len(polys))
    return np.bincount(owner, poly_area, minlength=len(geoms)).astype(np.float64)


def to_km(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Longitude/latitude → local kilometres around the city centre."""
    x = (np.asarray(lon, np.float64) - CENTRE[0]) * KM_X
    y = (np.asarray(lat, np.float64) - CENTRE[1]) * KM_Y
    return x, y


def _km_to_deg(coords: FloatArray) -> FloatArray:
    return np.asarray(coords / np.array([KM_X, KM_Y]) + np.array(CENTRE), np.float64)


def geoms_to_deg(geoms: Any) -> Any:
    """Local-kilometre geometries → lon/lat."""
    return shapely.transform(geoms, _km_to_deg)


def bbox_km() -> tuple[float, float, float, float]:
    """The area (``BBOX``) in local kilometres: x0, y0, x1, y1."""
    x0, y0 = to_km(BBOX[0], BBOX[1])
    x1, y1 = to_km(BBOX[2], BBOX[3])
    return float(x0), float(y0), float(x1), float(y1)
