"""Map tiles drawn from our own vector tiles, for clients that want pictures (WMS,
WMTS, TMS through MapProxy; OGC API - Tiles map tilesets of vector collections).

The vector tile is already clipped, generalised and in tile coordinates, so drawing
is rasterising it: GDAL's rasteriser (through rasterio) fills polygons with their holes,
at twice the size and averaged down for smooth edges.
"""

from __future__ import annotations

import io
from functools import cache
from typing import Any

import mapbox_vector_tile
import numpy as np
import shapely
from affine import Affine
from PIL import Image, ImageColor
from rasterio.features import rasterize

from tiles.style import VectorStyle

_SUPERSAMPLE = 2
_POINT_RADIUS = 4.0  # px


def _rgb(colour: str) -> np.ndarray:
    return np.array(ImageColor.getrgb(colour)[:3], dtype=np.float32) / 255


class _Canvas:
    """Premultiplied RGBA in floats, composited with "over"."""

    def __init__(self, size: int, extent: int) -> None:
        self.size = size * _SUPERSAMPLE
        self.extent = extent
        self.pixels = np.zeros((self.size, self.size, 4), dtype=np.float32)
        self.transform = Affine.scale(extent / self.size)

    def rasterize(
        self, shapes: list[tuple[object, int]], all_touched: bool = False
    ) -> np.ndarray:
        out: np.ndarray = rasterize(
            shapes,
            out_shape=(self.size, self.size),
            transform=self.transform,
            fill=0,
            all_touched=all_touched,
            dtype="uint16",
        )
        return out

    def paint(self, alpha: np.ndarray, rgb: np.ndarray) -> None:
        """Paint colour ``rgb`` (per pixel or one) with coverage ``alpha``."""
        a = alpha[..., None]
        self.pixels[..., :3] = rgb * a + self.pixels[..., :3] * (1 - a)
        self.pixels[..., 3:] = a + self.pixels[..., 3:] * (1 - a)

    def px(self, pixels: float) -> float:
        """A length in output pixels as tile coordinates."""
        return pixels * self.extent / (self.size / _SUPERSAMPLE)


def _fill(
    canvas: _Canvas, geoms: list[dict[str, Any]], fills: list[str], opacity: float
) -> None:
    colours = list(dict.fromkeys(fills))
    index = {c: i + 1 for i, c in enumerate(colours)}
    classes = canvas.rasterize([(g, index[c]) for g, c in zip(geoms, fills, strict=True)])
    lut = np.vstack([np.zeros(3, np.float32), *[_rgb(c) for c in colours]])
    canvas.paint((classes > 0).astype(np.float32) * opacity, lut[classes])


def _stroke(canvas: _Canvas, lines: np.ndarray, colour: str, width: float) -> None:
    if width <= 0 or len(lines) == 0:
        return
    if width * _SUPERSAMPLE >= 2:  # a band of the stroke's width
        shapes = shapely.buffer(lines, canvas.px(width) / 2)
        covered = canvas.rasterize([(g, 1) for g in shapes if not g.is_empty])
        canvas.paint(covered.astype(np.float32), _rgb(colour))
    else:  # a hairline, faded by its width
        covered = canvas.rasterize([(g, 1) for g in lines], all_touched=True)
        canvas.paint(covered.astype(np.float32) * width * _SUPERSAMPLE / 2, _rgb(colour))


def _draw_layer(
    canvas: _Canvas, features: list[dict[str, Any]], style: VectorStyle
) -> None:
    geojson = [f["geometry"] for f in features]
    geoms = np.array([shapely.geometry.shape(g) for g in geojson], dtype=object)
    kinds = shapely.get_type_id(geoms)
    areal = kinds >= 3  # (multi)polygons and collections
    points = (kinds == 0) | (kinds == 4)
    if areal.any():
        chosen = list(np.flatnonzero(areal))
        fills = [style.fill_of(features[i].get("properties", {})) for i in chosen]
        _fill(canvas, [geojson[i] for i in chosen], fills, style.fill_opacity)
        _stroke(canvas, shapely.boundary(geoms[areal]), style.stroke, style.stroke_width)
    lines = ~areal & ~points
    if lines.any():
        _stroke(canvas, geoms[lines], style.stroke, max(style.stroke_width, 1.0))
    if points.any():
        dots = shapely.buffer(geoms[points], canvas.px(_POINT_RADIUS))
        fills = [
            style.fill_of(features[i].get("properties", {}))
            for i in np.flatnonzero(points)
        ]
        _fill(canvas, [shapely.geometry.mapping(d) for d in dots], fills, 0.9)
        _stroke(canvas, shapely.boundary(dots), style.stroke, 1.0)


@cache
def blank_png(size: int = 256) -> bytes:
    """A fully transparent tile (no feature there)."""
    out = io.BytesIO()
    Image.new("RGBA", (size, size)).save(out, format="PNG")
    return out.getvalue()


def draw_png(
    layers: list[tuple[bytes, VectorStyle]], size: int = 256, zlevel: int = 2
) -> bytes:
    """A PNG map tile of encoded vector tiles, each layer in its style, in order."""
    decoded = [
        (layer, style)
        for data, style in layers
        if data
        for layer in mapbox_vector_tile.decode(
            data, default_options={"y_coord_down": True}
        ).values()
        if layer["features"]
    ]
    if not decoded:
        return blank_png(size)
    canvas = _Canvas(size, int(decoded[0][0]["extent"]))
    for layer, style in decoded:
        _draw_layer(canvas, layer["features"], style)
    # average the supersampled pixels (premultiplied: edges blend correctly)
    small = canvas.pixels.reshape(size, _SUPERSAMPLE, size, _SUPERSAMPLE, 4).mean((1, 3))
    alpha = small[..., 3:]
    rgb = np.zeros_like(small[..., :3])
    np.divide(small[..., :3], alpha, out=rgb, where=alpha > 0)
    rgba = np.concatenate([rgb, alpha], axis=-1)
    image = Image.fromarray((np.clip(rgba, 0, 1) * 255 + 0.5).astype(np.uint8), "RGBA")
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=zlevel)
    return out.getvalue()
