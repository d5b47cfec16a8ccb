"""Process inputs that name a collection of this server: read through its provider
with the job owner's access scope, like any request (never around it)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import shapely

from processes.base import JobContext, ProcessError
from providers.base import BBox, ItemsQuery
from providers.crs import CRS84

_PAGE = 50_000


@dataclass(frozen=True)
class Features:
    """Geometries (CRS84) and their properties, column by column."""

    geometries: np.ndarray
    properties: dict[str, list[Any]]

    def __len__(self) -> int:
        return len(self.geometries)


def read_collection(
    ctx: JobContext,
    collection_id: str,
    properties: tuple[str, ...] | None = None,
    bbox: tuple[float, float, float, float] | None = None,
) -> Features:
    """Every feature of a collection the owner may read (optionally within a CRS84
    bbox); an unknown or hidden collection is the same error."""
    return asyncio.run(_read(ctx, collection_id, properties, bbox))


async def _read(
    ctx: JobContext,
    collection_id: str,
    properties: tuple[str, ...] | None,
    bbox: tuple[float, float, float, float] | None,
) -> Features:
    async with ctx.collections(collection_id) as catalog:
        found = catalog.visible(ctx.scope)
        collection = next((c for c in found if c.id == collection_id), None)
        if collection is None:
            raise ProcessError("process.unknown_collection", id=collection_id[:80])
        known = {f.name for f in collection.info.fields}
        missing = [p for p in properties or () if p not in known]
        if missing:
            raise ProcessError(
                "process.missing_fields", id=collection_id, fields=", ".join(missing)
            )
        raw: list[bytes] = []
        offset = 0
        while True:
            query = ItemsQuery(
                limit=_PAGE,
                offset=offset,
                properties=properties,
                bbox=BBox(bbox, CRS84) if bbox else None,
                count="none",
            )
            page = await collection.provider.items(collection_id, query, ctx.scope)
            chunk = (
                page.features
                if isinstance(page.features, list)
                else [f async for f in page.features]
            )
            raw.extend(chunk)
            if len(chunk) < _PAGE:
                break
            offset += _PAGE
    features = [orjson.loads(f) for f in raw]
    geometries = shapely.from_geojson(
        [orjson.dumps(f["geometry"]) for f in features], on_invalid="ignore"
    )
    names = properties if properties is not None else tuple(sorted(known))
    columns = {n: [f["properties"].get(n) for f in features] for n in names}
    return Features(np.asarray(geometries), columns)
