"""Change polygons published into the change-polygons collection, where departments
verify them (status pending → verified_real / verified_false / needs_review by a
Features Part 4 PATCH, with history)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio.raw
import shapely

from processes.base import JobContext
from providers.base import Writer
from providers.crs import CRS84, transform_geometries
from providers.edits import FeatureInput
from providers.errors import NotFound

COLLECTION = "change-polygons"
LAYER = "change_polygons"
STATUSES = ("pending", "verified_real", "verified_false", "needs_review")
# name → numpy dtype of the (empty) layer the demo creates
FIELDS: dict[str, str] = {
    "YGTBZJ": "O", "class": "O", "class_zh": "O", "JCSDQ": "O", "JCSDH": "O",
    "JCMJ": "float64", "JCMJ_MU": "float64", "XZQDM": "O", "DLBM_before": "O",
    "confidence": "float64", "status": "O", "verified_by": "O", "verified_at": "O",
    "remark": "O", "job_id": "O",
}  # fmt: skip


def create_layer(gpkg: Path) -> None:
    """Add the empty change-polygons layer (EPSG:4490) to a GeoPackage, if missing."""
    if LAYER in {str(name) for name, _kind in pyogrio.list_layers(gpkg)}:
        return
    pyogrio.raw.write(
        str(gpkg),
        np.array([], dtype=object),
        [np.array([], dtype=kind) for kind in FIELDS.values()],
        list(FIELDS),
        layer=LAYER,
        driver="GPKG",
        geometry_type="Polygon",
        crs="EPSG:4490",
        encoding="UTF-8",
        layer_options={"DESCRIPTION": "变化图斑 Change polygons"},
        append=False,
    )


def publish(ctx: JobContext, features: list[dict[str, Any]]) -> int:
    """Insert the polygons as pending; 0 when the server has no such collection."""
    conf = ctx.settings.collections.get(COLLECTION)
    if conf is None or not conf.editable or not features:
        return 0
    return asyncio.run(_insert(ctx, features))


async def _insert(ctx: JobContext, features: list[dict[str, Any]]) -> int:
    async with ctx.collections(COLLECTION) as catalog:
        try:
            collection = catalog.get(COLLECTION, ctx.scope)
        except NotFound:  # no such collection for the job's owner
            return 0
        editor = collection.editor
        if editor is None:
            return 0
        storage = collection.info.storage_crs
        known = {f.name for f in collection.info.fields}
        for feature in features:
            geom = transform_geometries(
                shapely.geometry.shape(feature["geometry"]), CRS84, storage
            )
            props = {
                **feature["properties"],
                "status": "pending",
                "job_id": ctx.job_id,
            }
            values = {k: v for k, v in props.items() if k in known}
            await editor.create(
                COLLECTION, FeatureInput(geom, values), Writer(f"job:{ctx.job_id}")
            )
    return len(features)
