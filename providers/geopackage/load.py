"""Write a vector layer read by GDAL into a GeoPackage of the embedded store, streamed
in Arrow batches (flat memory); single polygons and lines become multi ones, so that a
table holds one geometry type whatever mix the file had."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyogrio.raw
import shapely

from providers.layer_file import Layer, open_batches

_PROMOTED = {"Polygon": "MultiPolygon", "LineString": "MultiLineString"}
_MULTI = {3: shapely.multipolygons, 2: shapely.multilinestrings}  # by GEOS type id


def _promote(wkb: pa.Array, single: int) -> pa.Array:
    """WKB geometries with each ``single`` type (a GEOS type id) made a one-part multi."""
    geoms = shapely.from_wkb(np.asarray(wkb.to_pylist(), dtype=object))
    lone = shapely.get_type_id(geoms) == single
    if lone.any():
        geoms[lone] = _MULTI[single](geoms[lone][:, np.newaxis])
    return pa.array(shapely.to_wkb(geoms), type=pa.binary())


def write_geopackage(
    layer: Layer,
    path: Path,
    table: str,
    title: str,
    description: str,
    on_progress: Callable[[int, int], None] | None = None,
) -> int:
    """Write ``layer`` as ``table`` of the new GeoPackage ``path``; the number of rows.
    ``on_progress(done, total)`` hears of every batch (total -1: unknown)."""
    promoted = _PROMOTED.get(layer.geometry_type)
    single = {"MultiPolygon": 3, "MultiLineString": 2}.get(promoted or "")
    count = 0
    with open_batches(layer) as (names, reader):
        source = reader.schema
        schema = pa.schema(
            [
                *(
                    pa.field(name, source.field(original).type)
                    for name, original in zip(layer.fields, names[1:-1], strict=True)
                ),
                pa.field("geom", pa.binary()),
            ]
        )

        def batches() -> Iterator[pa.RecordBatch]:
            nonlocal count
            for batch in reader:
                geometry: Any = batch.column(names[-1])
                if single is not None:
                    geometry = _promote(geometry, single)
                columns = [batch.column(name) for name in names[1:-1]]
                yield pa.RecordBatch.from_arrays([*columns, geometry], schema=schema)
                count += batch.num_rows
                if on_progress is not None:
                    on_progress(count, layer.count)

        pyogrio.raw.write_arrow(
            pa.RecordBatchReader.from_batches(schema, batches()),
            path,
            layer=table,
            driver="GPKG",
            geometry_name="geom",
            geometry_type=promoted or layer.geometry_type,
            crs=f"EPSG:{layer.epsg}",
            layer_options={"IDENTIFIER": title, "DESCRIPTION": description},
        )
    return count
