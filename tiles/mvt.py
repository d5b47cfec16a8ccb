"""Mapbox Vector Tile layers built in Python (GeoPackage): reproject, clip, simplify,
encode. PostGIS builds its layers itself with ST_AsMVT.
"""

from __future__ import annotations

from typing import Any

import mapbox_vector_tile
import numpy as np
import shapely
from mapbox_vector_tile.encoder import on_invalid_geometry_make_valid

from providers.base import TileQuery
from providers.crs import CrsRef, transform_geometries


def _value(value: Any) -> Any:
    """A property value MVT can carry (str, int, float, bool); None is left out."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _clip(geoms: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """Geometries clipped to ``box``; one GEOS cannot clip is left out (None)."""
    try:
        return np.asarray(shapely.clip_by_rect(geoms, *box))
    except shapely.errors.GEOSException:
        out = np.empty(len(geoms), dtype=object)
        for i, geom in enumerate(geoms):
            try:
                out[i] = shapely.clip_by_rect(geom, *box)
            except shapely.errors.GEOSException:
                out[i] = None
        return out


def encode_layer(
    query: TileQuery,
    storage: CrsRef,
    wkbs: list[bytes | None],
    ids: list[Any],
    properties: list[dict[str, Any]],
) -> bytes:
    """One MVT layer of the features (storage CRS WKB); b"" if none is left."""
    if not wkbs:
        return b""
    geoms = transform_geometries(shapely.from_wkb(wkbs), storage, query.crs)
    minx, miny, maxx, maxy = query.bounds
    if query.min_size > 0:
        b = shapely.bounds(geoms)
        size = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])
        # NaN bounds (empty) are dropped below; points have no size and always stay
        keep = ~(size < query.min_size) | (shapely.get_dimensions(geoms) == 0)
    else:
        keep = np.ones(len(wkbs), dtype=bool)
    # a stored geometry far outside the CRS (an edit of 1e308) has no place on a tile
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    broken = np.zeros(len(geoms), dtype=bool)
    np.logical_or.at(broken, index, ~np.isfinite(coords).all(axis=1))
    keep &= ~broken
    geoms[broken] = None
    # clip to the buffered tile, then snap to the tile grid (0..extent, y up; the
    # encoder flips y) in one vectorised pass, and drop what collapsed
    geoms = _clip(geoms, query.buffered)
    scale = np.array([query.extent / (maxx - minx), query.extent / (maxy - miny)])
    origin = np.array([minx, miny])
    geoms = shapely.transform(geoms, lambda xy: (xy - origin) * scale)
    # snap to a grid of half a display pixel (of a 256 px tile) keeping valid output:
    # collapsed parts vanish instead of leaving rings of two points
    geoms = shapely.set_precision(geoms, query.extent / 512)
    # exteriors clockwise (y up here), holes the other way, in one vectorised pass: the
    # encoder's own check rebuilt every polygon in Python (a third of a dense tile)
    geoms = shapely.orient_polygons(geoms, exterior_cw=True)
    keep &= ~shapely.is_empty(geoms)
    features = []
    for index in np.flatnonzero(keep):
        fid = ids[index]
        props = {k: _value(v) for k, v in properties[index].items() if v is not None}
        feature: dict[str, Any] = {"geometry": geoms[index], "properties": props}
        if isinstance(fid, int) and fid >= 0:
            feature["id"] = fid
        else:
            props["id"] = _value(fid)
        features.append(feature)
    if not features:
        return b""
    data: bytes = mapbox_vector_tile.encode(
        [{"name": query.layer, "features": features}],
        default_options={
            "extents": query.extent,
            "on_invalid_geometry": on_invalid_geometry_make_valid,
            "check_winding_order": False,
        },
    )
    return data
