"""A vector layer of a file, as GDAL describes it, read in Arrow batches (imports)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyogrio.raw

BATCH_ROWS = 65536  # rows per batch: memory stays flat whatever the layer's size


@dataclass(frozen=True)
class Layer:
    """A layer of a file, as GDAL describes it (nothing read yet)."""

    path: Path
    name: str | None
    encoding: str | None
    fields: list[str]  # the names it gets (standard names for known aliases)
    ogr_types: list[str]
    ogr_subtypes: list[str]
    epsg: int
    geometry_type: str  # as the file declares it ("Unknown" when mixed or not said)
    count: int  # features (-1 when the driver cannot tell without reading)


@contextmanager
def open_batches(layer: Layer) -> Iterator[tuple[list[str], Any]]:
    """The column names (fid, the file's field names, the WKB geometry) and a reader
    of pyarrow RecordBatches."""
    with pyogrio.raw.open_arrow(
        layer.path,
        layer=layer.name,
        encoding=layer.encoding,
        return_fids=True,
        batch_size=BATCH_ROWS,
        use_pyarrow=True,
    ) as (meta, reader):
        fid_name = meta["fid_column"] or "OGC_FID"
        geometry_name = meta["geometry_name"] or "wkb_geometry"
        names = [fid_name, *[str(f) for f in meta["fields"]], geometry_name]
        yield names, reader
