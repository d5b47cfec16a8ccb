"""One imagery tile from plain inputs: read the images, mask, encode.

Nothing here knows about requests or a web server: the tile endpoints, a process or
another server hand in the images' hrefs, the grid cell and the drawing options, and
get the encoded bytes back. Source failures come out as the source error kinds
(providers/errors.py); whoever serves the tile maps them to its own answers.
"""

from __future__ import annotations

from dataclasses import dataclass

import anyio
import shapely
from morecantile import Tile, TileMatrixSet
from rasterio.errors import RasterioIOError
from rio_tiler.errors import TileOutsideBounds

from providers.crs import CRS84, transform_geometries
from providers.errors import QueryError, SourceFailed, SourceTimeout
from tiles.raster import RasterStore
from tiles.render import MEDIA_TYPES, ImageFormat, RenderOptions, mask_outside, render
from tiles.tms import tms_crs


class TileReadFailed(SourceFailed):
    """An image could not be read (message ``tile.read_failed``)."""

    prefix = "tile"

    def __init__(self) -> None:
        super().__init__("read_failed")


class TileReadTimeout(SourceTimeout):
    """The images were not read in time (message ``tile.read_timeout``)."""

    prefix = "tile"

    def __init__(self, seconds: float) -> None:
        super().__init__("read_timeout", seconds=seconds)


class BandOutOfRange(QueryError):
    """A band index the image does not have (message ``tile.bidx``)."""

    prefix = "tile"

    def __init__(self, count: int) -> None:
        super().__init__("bidx", "bidx", count=count)


@dataclass(frozen=True)
class ImageryTile:
    """What one tile is made of: its images, its cell of a grid and how it is drawn."""

    hrefs: tuple[str, ...]  # GDAL hrefs; several are a mosaic (first valid pixel wins)
    tms: TileMatrixSet
    tile: Tile
    options: RenderOptions
    fmt: ImageFormat = "png"
    region: shapely.Geometry | None = None  # CRS84: pixels outside it are hidden
    png_zlevel: int = 6

    @property
    def media_type(self) -> str:
        """The media type of the encoded bytes."""
        return MEDIA_TYPES[self.fmt]


def read_tile(store: RasterStore, spec: ImageryTile) -> bytes | None:
    """Read, mask and encode one tile (blocking: call it on one of the store's
    threads); None when the tile does not touch the images."""
    tile = spec.tile
    read = spec.options.read_options()
    try:
        data = store.tile(list(spec.hrefs), spec.tms, tile.x, tile.y, tile.z, read)
    except TileOutsideBounds:
        return None
    except IndexError:  # rasterio: "band index out of range"
        raise BandOutOfRange(store.dataset(spec.hrefs[0]).count) from None
    except RasterioIOError:
        raise TileReadFailed() from None
    if spec.region is not None:
        region = transform_geometries(spec.region, CRS84, tms_crs(spec.tms))
        mask_outside(data, region)
    return render(data, spec.options, spec.fmt, spec.png_zlevel)


async def render_tile(
    store: RasterStore, spec: ImageryTile, timeout: float
) -> bytes | None:
    """One encoded tile, read on the store's threads (never on the event loop), or
    None when the tile does not touch the images; TileReadTimeout after ``timeout``
    seconds (the read thread ends on its own: GDAL has its own timeouts)."""
    try:
        with anyio.fail_after(timeout):
            return await store.run(read_tile, store, spec)
    except TimeoutError:
        raise TileReadTimeout(timeout) from None
