"""Geometry inputs and areas of processes: CRS84 in, CGCS2000 ellipsoidal m² out."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
import orjson
import shapely
from pydantic import Field
from pyproj import Geod

from processes.base import ProcessError

MU_PER_M2 = 0.0015  # 1 亩 = 666.67 m²

# Input types whose JSON Schema carries the OGC API - Processes format names, so that
# clients (and the process page) know a bbox or a GeoJSON geometry is expected.
BBox = Annotated[list[float], Field(json_schema_extra={"format": "ogc-bbox"})]
GeoJSONGeometry = Annotated[
    dict[str, Any], Field(json_schema_extra={"format": "geojson-geometry"})
]


def area_units(m2: float) -> dict[str, float]:
    """An area as the reports give it: m², 亩 and ha."""
    return {
        "area_m2": round(m2, 2),
        "area_mu": round(m2 * MU_PER_M2, 2),
        "area_ha": round(m2 / 10_000, 4),
    }


# The CGCS2000 ellipsoid (a, 1/f): survey areas are ellipsoidal, never planar/3857.
CGCS2000_GEOD = Geod(a=6378137.0, rf=298.257222101)


def aoi_geometry(value: list[float] | dict[str, Any]) -> shapely.Geometry:
    """A bbox [minLon, minLat, maxLon, maxLat] or a GeoJSON geometry, valid, CRS84."""
    if isinstance(value, list):
        if len(value) != 4 or not (value[0] < value[2] and value[1] < value[3]):
            raise ProcessError("process.bad_bbox")
        if not (
            value[0] >= -180 and value[2] <= 180 and value[1] >= -90 and value[3] <= 90
        ):
            raise ProcessError("process.bad_bbox")
        return shapely.box(*value)
    try:
        geom = shapely.from_geojson(orjson.dumps(value))
    except (shapely.errors.GEOSException, ValueError, TypeError):
        raise ProcessError("process.bad_geometry") from None
    if geom is None or geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise ProcessError("process.bad_geometry")
    return shapely.make_valid(geom) if not geom.is_valid else geom


def ellipsoidal_area(geom: shapely.Geometry | None) -> float:
    """Area on the CGCS2000 ellipsoid (m²) of a lon/lat geometry."""
    if geom is None or geom.is_empty:
        return 0.0
    area, _ = CGCS2000_GEOD.geometry_area_perimeter(geom)
    return abs(float(area))


def ellipsoidal_areas(geoms: np.ndarray) -> np.ndarray:
    """Areas on the CGCS2000 ellipsoid (m²) of an array of lon/lat geometries."""
    return np.fromiter((ellipsoidal_area(g) for g in geoms), float, len(geoms))
