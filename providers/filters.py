"""Spatial filters shared by the providers: bbox and region as storage-CRS geometries."""

from __future__ import annotations

import shapely

from providers.base import AccessScope, ItemsQuery
from providers.crs import CRS84, CrsRef, transform_geometries


def _segment(bounds: tuple[float, float, float, float]) -> float:
    """Edge length that densifies a bbox to ~20 points per side before reprojection."""
    return max(bounds[2] - bounds[0], bounds[3] - bounds[1]) / 20 or 1.0


def spatial_areas(
    query: ItemsQuery, scope: AccessScope, storage: CrsRef
) -> list[shapely.Geometry]:
    """The areas a feature must intersect (bbox, the caller's region), in storage CRS.

    A bbox in another CRS is densified before reprojection, so that it stays the same
    area once its edges are no longer straight lines.
    """
    areas: list[shapely.Geometry] = []
    if query.bbox is not None:
        box = shapely.box(*query.bbox.bounds)
        box = shapely.segmentize(box, _segment(query.bbox.bounds))
        areas.append(transform_geometries(box, query.bbox.crs, storage))
    if scope.region is not None:
        areas.append(transform_geometries(scope.region, CRS84, storage))
    return areas


def is_rectangle(area: shapely.Geometry) -> bool:
    """Whether an area equals its own bounding box."""
    return bool(area.equals(shapely.box(*area.bounds)))
