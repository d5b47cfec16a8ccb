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
from xml.sax.saxutils import escape

import numpy as np
import rasterio
from morecantile import TileMatrixSet
from rasterio.dtypes import dtype_rev, typename_fwd
from rasterio.enums import MaskFlags
from rasterio.io import DatasetReader
from rasterio.warp import transform_bounds
from rio_tiler.io import Reader
from rio_tiler.models import ImageData
from rio_tiler.mosaic import mosaic_reader

from tiles.tms import tms_crs

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


CGCS2000 = 4490


def _as_wgs84(ds: DatasetReader) -> str:
    """A VRT of an EPSG:4490 image that calls its CRS EPSG:4326.

    PROJ's operation from CGCS2000 to WGS 84 is the ballpark one (no shift: the two
    frames differ by centimetres), so the pixels come out the same; but setting up a
    4490 -> Web Mercator warp makes PROJ search its database each time (~60 ms, twice
    per tile in rio-tiler) against ~2 ms from 4326. Overviews stay (implicit ones).
    """
    source = escape(ds.name)
    width, height = ds.width, ds.height
    rect = f'xOff="0" yOff="0" xSize="{width}" ySize="{height}"'

    def simple(band: str, dtype: str, block: tuple[int, int]) -> str:
        return (
            f'<SimpleSource><SourceFilename relativeToVRT="0">{source}</SourceFilename>'
            f"<SourceBand>{band}</SourceBand>"
            f'<SourceProperties RasterXSize="{width}" RasterYSize="{height}" '
            f'DataType="{dtype}" BlockXSize="{block[1]}" BlockYSize="{block[0]}"/>'
            f"<SrcRect {rect}/><DstRect {rect}/></SimpleSource>"
        )

    bands = []
    for i, (dtype, block) in enumerate(zip(ds.dtypes, ds.block_shapes, strict=True)):
        gdal_type = typename_fwd[dtype_rev[dtype]]
        nodata = "" if ds.nodata is None else f"<NoDataValue>{ds.nodata!r}</NoDataValue>"
        interp = ds.colorinterp[i].name.capitalize()
        bands.append(
            f'<VRTRasterBand dataType="{gdal_type}" band="{i + 1}" '
            f'blockXSize="{block[1]}" blockYSize="{block[0]}">{nodata}'
            f"<ColorInterp>{interp}</ColorInterp>"
            + simple(str(i + 1), gdal_type, block)
            + "</VRTRasterBand>"
        )
    mask = ""
    if MaskFlags.per_dataset in ds.mask_flag_enums[0]:
        block = ds.block_shapes[0]
        mask = (
            '<MaskBand><VRTRasterBand dataType="Byte">'
            + simple("mask,1", "Byte", block)
            + "</VRTRasterBand></MaskBand>"
        )
    geo = ", ".join(repr(v) for v in ds.transform.to_gdal())
    return (
        f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">'
        '<SRS dataAxisToSRSAxisMapping="2,1">EPSG:4326</SRS>'
        f"<GeoTransform>{geo}</GeoTransform>{''.join(bands)}{mask}</VRTDataset>"
    )


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

    def _cached(self, key: str, open_: Callable[[], DatasetReader]) -> DatasetReader:
        """This thread's open dataset under ``key`` (an LRU of a few dozen)."""
        datasets = self._datasets()
        ds = datasets.get(key)
        if ds is not None and not ds.closed:
            datasets.move_to_end(key)
            return ds
        ds = datasets[key] = open_()
        while len(datasets) > _OPEN_PER_THREAD:
            datasets.popitem(last=False)[1].close()
        return ds

    def dataset(self, href: str) -> DatasetReader:
        """This thread's open dataset of an href."""
        return self._cached(href, lambda: rasterio.open(href))

    def reading(self, href: str) -> DatasetReader:
        """This thread's dataset for reading pixels: CGCS2000 geographic images are
        read as WGS 84, which gives the same pixels far sooner (see _as_wgs84)."""

        def open_view() -> DatasetReader:
            source = self.dataset(href)
            if source.crs is None or source.crs.to_epsg() != CGCS2000:
                return rasterio.open(href)  # its own handle: the LRU closes each one
            return rasterio.open(_as_wgs84(source))

        return self._cached(href + "#read", open_view)

    def reader(self, href: str, tms: TileMatrixSet) -> Reader:
        """A rio-tiler Reader over this thread's open dataset (in its own CRS when the
        grid is in it too: then there is nothing to warp)."""
        native = tms_crs(tms).epsg == CGCS2000
        ds = self.dataset(href) if native else self.reading(href)
        return Reader(href, dataset=ds, tms=tms)

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
