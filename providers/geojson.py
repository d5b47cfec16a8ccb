"""Encode rows into GeoJSON Feature bytes, vectorised per chunk of rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
import shapely

from providers.crs import CRS84, CrsRef, swap_axes, transform_geometries


def encode_features(
    ids: Sequence[Any],
    wkbs: Sequence[bytes | None],
    properties: Sequence[dict[str, Any]],
    storage: CrsRef,
    output: CrsRef | None,
) -> list[bytes]:
    """GeoJSON Feature objects as bytes, coordinates in ``output`` (CRS84 by default)."""
    out = output or CRS84
    geoms = shapely.from_wkb(np.array(wkbs, dtype=object))
    geoms = transform_geometries(geoms, storage, out)
    if out.swap_xy:
        geoms = swap_axes(geoms)
    texts = shapely.to_geojson(geoms)
    result = []
    for fid, text, props in zip(ids, texts, properties, strict=True):
        geometry = b"null" if text is None else text.encode()
        result.append(
            b'{"type":"Feature","id":'
            + orjson.dumps(fid)
            + b',"geometry":'
            + geometry
            + b',"properties":'
            + orjson.dumps(props)
            + b"}"
        )
    return result


def with_links(feature: bytes, links: list[dict[str, str]]) -> bytes:
    """Append a ``links`` member to an encoded Feature without re-parsing it."""
    return feature[:-1] + b',"links":' + orjson.dumps(links) + b"}"
