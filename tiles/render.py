"""Turning a read tile into bytes: band choice, contrast stretch, colormap, encoding."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from rasterio.features import geometry_mask
from rasterio.transform import from_bounds
from rio_tiler.models import ImageData

ImageFormat = Literal["png", "jpeg", "webp", "tif", "npy"]

MEDIA_TYPES: dict[ImageFormat, str] = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "tif": "image/tiff; application=geotiff",
    "npy": "application/x-npy",
}
# Formats that carry the data values as read (for analysis clients): no stretch, no map.
RAW_FORMATS = ("tif", "npy")
_DRIVERS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP", "tif": "GTiff", "npy": "NPY"}

Colormap = dict[int, tuple[int, int, int, int]]


@dataclass(frozen=True)
class RenderOptions:
    """How one tile is drawn, after the request's parameters were checked."""

    bands: tuple[int, ...]
    rescale: tuple[tuple[float, float], ...]  # one per band, or one for all
    colormap: Colormap | None = None
    resampling: str = "bilinear"
    nodata: float | None = None

    def read_options(self) -> dict[str, Any]:
        """Keyword arguments of rio-tiler's ``tile()``."""
        options: dict[str, Any] = {
            "indexes": self.bands,
            "resampling_method": self.resampling,
            "reproject_method": self.resampling,
        }
        if self.nodata is not None:
            options["nodata"] = self.nodata
        return options

    def key(self) -> str:
        """A stable text of everything that changes the pixels (cache keys, ETags)."""
        cmap = sorted(self.colormap.items()) if self.colormap else None
        return repr((self.bands, self.rescale, cmap, self.resampling, self.nodata))


def mask_outside(image: ImageData, region_in_tile_crs: Any) -> None:
    """Hide the pixels outside the caller's region (a shapely geometry, tile CRS)."""
    _, height, width = image.array.shape
    assert image.bounds is not None  # tiles always carry their bounds
    left, bottom, right, top = image.bounds
    transform = from_bounds(left, bottom, right, top, width, height)
    outside = geometry_mask(
        [region_in_tile_crs], out_shape=(height, width), transform=transform
    )
    image.array.mask = np.ma.getmaskarray(image.array) | outside[np.newaxis, :, :]


def render(
    image: ImageData, options: RenderOptions, fmt: ImageFormat, png_zlevel: int
) -> bytes:
    """Encode a tile; visual formats are stretched to 8 bits and colour-mapped."""
    if fmt in RAW_FORMATS:
        return bytes(image.render(img_format=_DRIVERS[fmt], add_mask=True))
    if options.rescale:
        ranges = options.rescale
        if len(ranges) == 1 and image.count > 1:
            ranges = ranges * image.count
        image.rescale(in_range=ranges)
    creation: dict[str, Any] = {}
    if fmt == "png":
        creation["ZLEVEL"] = png_zlevel
    elif fmt == "jpeg" or fmt == "webp":
        creation["QUALITY"] = 85
    colormap = options.colormap if image.count == 1 else None
    return bytes(
        image.render(
            img_format=_DRIVERS[fmt],
            colormap=colormap,
            add_mask=fmt != "jpeg",  # JPEG has no alpha: masked pixels come out black
            **creation,
        )
    )
