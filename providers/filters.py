"""Spatial filters shared by the providers: bbox and region as storage-CRS geometries."""

from __future__ import annotations

import threading

import shapely
from cachetools import LRUCache

from providers.base import AccessScope, ItemsQuery
from providers.crs import CRS84, CrsRef, transform_geometries
from providers.geopackage.geometry import per_thread


def _segment(bounds: tuple[float, float, float, float]) -> float:
    """Edge length that densifies a bbox to ~20 points per side before reprojection."""
    return max(bounds[2] - bounds[0], bounds[3] - bounds[1]) / 20 or 1.0


def bbox_area(query: ItemsQuery, storage: CrsRef) -> shapely.Geometry | None:
    """The query's bbox as an area in the storage CRS.

    A bbox in another CRS is densified before reprojection, so that it stays the same
    area once its edges are no longer straight lines.
    """
    if query.bbox is None:
        return None
    minx, miny, maxx, maxy = bounds = query.bbox.bounds
    if (minx, miny) == (maxx, maxy):  # a bbox of no width and height: a point
        box = shapely.Point(minx, miny)
    elif minx == maxx or miny == maxy:  # of no width or height: a line
        box = shapely.LineString([(minx, miny), (maxx, maxy)])
    else:
        box = shapely.box(*bounds)
    box = shapely.segmentize(box, _segment(bounds))
    return transform_geometries(box, query.bbox.crs, storage)


_REGIONS: LRUCache[tuple[str, CrsRef], tuple[shapely.Geometry, bytes]] = LRUCache(64)
_REGIONS_LOCK = threading.Lock()


def region_in(scope: AccessScope, storage: CrsRef) -> tuple[shapely.Geometry, bytes]:
    """The caller's region in the storage CRS, and its WKB (made once per grant)."""
    assert scope.region is not None
    key = (scope.data_key, storage)
    with _REGIONS_LOCK:
        found = _REGIONS.get(key)
    if found is None:
        region = transform_geometries(scope.region, CRS84, storage)
        found = (region, shapely.to_wkb(region))
        with _REGIONS_LOCK:
            _REGIONS[key] = found
    return found


def _prepared(wkb: bytes) -> shapely.Geometry:
    geometry = shapely.from_wkb(wkb)
    shapely.prepare(geometry)
    return geometry


def region_area(
    box: shapely.Geometry | None, scope: AccessScope, storage: CrsRef
) -> shapely.Geometry | None:
    """The caller's region in the storage CRS, or None when it leaves out no row the
    query could return: no region, or a bbox (``box``, storage CRS) within it (a
    feature that meets such a bbox meets the region; most map views of a department
    are inside its area, and the test per row against a detailed boundary is the
    region's main cost)."""
    if scope.region is None:
        return None
    region, wkb = region_in(scope, storage)
    if box is not None and per_thread("region", wkb, _prepared).covers(box):
        return None
    return region


def spatial_areas(
    query: ItemsQuery, scope: AccessScope, storage: CrsRef
) -> list[shapely.Geometry]:
    """The areas a feature must intersect (bbox, the caller's region), in storage CRS."""
    box = bbox_area(query, storage)
    return [a for a in (box, region_area(box, scope, storage)) if a is not None]


def is_rectangle(area: shapely.Geometry) -> bool:
    """Whether an area equals its own bounding box."""
    return bool(area.equals(shapely.box(*area.bounds)))
