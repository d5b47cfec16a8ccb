"""COG reading with rio-tiler: datasets kept open per read thread, reads off the loop.

GDAL dataset handles must not be shared between threads, so each thread of a small
pool (sized to the cores) keeps its own open datasets; a tile request never pays for
opening a file again, and never more reads run at once than there are cores.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import rasterio
from morecantile import TileMatrixSet
from rasterio.io import DatasetReader
from rasterio.warp import transform_bounds
from rio_tiler.io import Reader
from rio_tiler.models import ImageData
from rio_tiler.mosaic import mosaic_reader

T = TypeVar("T")

# GDAL settings for reading COGs (titiler's documented set), unless the operator set them
_GDAL_DEFAULTS = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "GDAL_HTTP_MULTIPLEX": "YES",
    "GDAL_HTTP_VERSION": "2",
    "VSI_CACHE": "TRUE",
    "VSI_CACHE_SIZE": "5000000",
    "GDAL_CACHEMAX": "200",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.TIF,.tiff",
    "GDAL_HTTP_TIMEOUT": "20",
}
_OPEN_PER_THREAD = 32


@dataclass(frozen=True)
class RasterMeta:
    """What the tile endpoints need to know about an image, read once."""

    bounds: tuple[float, float, float, float]  # CRS84
    crs: str
    count: int
    dtype: str
    band_names: tuple[str, ...]
    nodata: float | None
    width: int
    height: int
    resolution: float  # native pixel size in the image's CRS units
    percentiles: tuple[tuple[float, float], ...]  # 2nd and 98th per band (overview)
    version: str  # changes when the file does


class RasterStore:
    """A bounded pool of read threads, each with its own open datasets."""

    def __init__(self, threads: int | None = None) -> None:
        for key, value in _GDAL_DEFAULTS.items():
            os.environ.setdefault(key, value)
        self.threads = threads or os.cpu_count() or 2
        self._executor = ThreadPoolExecutor(self.threads, "onemap-raster")
        self._local = threading.local()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking raster work on the pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    def _datasets(self) -> OrderedDict[str, DatasetReader]:
        found: OrderedDict[str, DatasetReader] | None = getattr(
            self._local, "datasets", None
        )
        if found is None:
            found = self._local.datasets = OrderedDict()
        return found

    def dataset(self, href: str) -> DatasetReader:
        """This thread's open dataset of an href (LRU of a few dozen)."""
        datasets = self._datasets()
        ds = datasets.get(href)
        if ds is not None and not ds.closed:
            datasets.move_to_end(href)
            return ds
        ds = rasterio.open(href)
        datasets[href] = ds
        while len(datasets) > _OPEN_PER_THREAD:
            datasets.popitem(last=False)[1].close()
        return ds

    def reader(self, href: str, tms: TileMatrixSet) -> Reader:
        """A rio-tiler Reader over this thread's open dataset."""
        return Reader(href, dataset=self.dataset(href), tms=tms)

    def tile(
        self,
        hrefs: list[str],
        tms: TileMatrixSet,
        x: int,
        y: int,
        z: int,
        options: dict[str, Any],
    ) -> ImageData:
        """One tile (blocking); several hrefs are a mosaic, the first valid pixel wins."""
        if len(hrefs) == 1:
            return self.reader(hrefs[0], tms).tile(x, y, z, **options)

        def read(href: str, *_: Any, **__: Any) -> ImageData:
            return self.reader(href, tms).tile(x, y, z, **options)

        image, _ = mosaic_reader(hrefs, read, threads=0)
        return image

    def zoom_range(self, href: str, tms: TileMatrixSet) -> tuple[int, int]:
        """The zooms worth serving: from the whole image in a tile to its native pixel."""
        reader = self.reader(href, tms)
        return int(reader.minzoom), int(reader.maxzoom)

    def meta(self, href: str) -> RasterMeta:
        """Read an image's metadata and band statistics (blocking, once per image)."""
        ds = self.dataset(href)
        west, south, east, north = transform_bounds(
            ds.crs, "OGC:CRS84", *ds.bounds, densify_pts=21
        )
        # Percentiles from the smallest overview: the default contrast stretch.
        factor = max(1, max(ds.width, ds.height) // 512)
        sample = ds.read(
            out_shape=(ds.count, max(1, ds.height // factor), max(1, ds.width // factor)),
            masked=True,
        )
        percentiles = []
        for band in sample:
            values = band.compressed()
            if values.size == 0:
                percentiles.append((0.0, 1.0))
                continue
            low, high = np.percentile(values, [2, 98])
            percentiles.append((float(low), float(max(high, low + 1))))
        stat = os.stat(href) if os.path.exists(href) else None
        version = f"{stat.st_mtime_ns:x}.{stat.st_size:x}" if stat else href
        return RasterMeta(
            bounds=(west, south, east, north),
            crs=ds.crs.to_string(),
            count=ds.count,
            dtype=ds.dtypes[0],
            band_names=tuple(
                d or f"b{i + 1}" for i, d in enumerate(ds.descriptions or ())
            ),
            nodata=ds.nodata,
            width=ds.width,
            height=ds.height,
            resolution=float(abs(ds.transform.a)),
            percentiles=tuple(percentiles),
            version=version,
        )

    def close(self) -> None:
        """Stop the threads (their datasets close when the threads end)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
