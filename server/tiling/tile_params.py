"""Query parameters of the tile endpoints: every bad value is a 400 naming it."""

from __future__ import annotations

import math
from typing import cast, get_args

import orjson
from rio_tiler.colormap import cmap, parse_color
from rio_tiler.errors import RioTilerError
from starlette.datastructures import QueryParams

from config.sources import CogSource, Resampling
from server.http.errors import InvalidParameterError, NotAcceptableError
from server.http.params import single
from tiles.raster import RasterMeta
from tiles.render import MEDIA_TYPES, ImageFormat, RenderOptions

MVT = "application/vnd.mapbox-vector-tile"
RENDER_PARAMS = {"bidx", "rescale", "colormap", "colormap_name", "resampling", "image"}

_IMAGE_ALIASES: dict[str, ImageFormat] = {
    "png": "png",
    "jpeg": "jpeg",
    "jpg": "jpeg",
    "webp": "webp",
    "tif": "tif",
    "tiff": "tif",
    "geotiff": "tif",
    "npy": "npy",
}
_MVT_ALIASES = ("mvt", "pbf")
_MAX_COLORMAP = 4096


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> InvalidParameterError:
    return InvalidParameterError(
        "tile.choice", name, value=value[:40], allowed=", ".join(allowed)
    )


def _accepted(accept: str, offered: dict[str, str]) -> str | None:
    """The first offered format whose media type the Accept header names."""
    for part in accept.split(","):
        media = part.split(";")[0].strip().lower()
        for fmt, media_type in offered.items():
            if media in (media_type.split(";")[0], "*/*", "image/*"):
                return fmt
    return None


def image_format(params: QueryParams, accept: str) -> ImageFormat:
    """The raster tile format from ``f=`` or Accept (default PNG)."""
    value = single(params, "f")
    if value is not None:
        fmt = _IMAGE_ALIASES.get(value.lower())
        if fmt is None:
            raise _choice("f", value, tuple(MEDIA_TYPES))
        return fmt
    if not accept:
        return "png"
    offered: dict[str, str] = {str(k): v for k, v in MEDIA_TYPES.items()}
    found = _accepted(accept, offered)
    if found is None:
        raise NotAcceptableError(
            "err.not_acceptable", allowed=", ".join(MEDIA_TYPES.values())
        )
    return found  # type: ignore[return-value]


def check_vector_format(params: QueryParams, accept: str) -> None:
    """Vector tiles come as MVT only (``f=mvt`` or ``f=pbf``)."""
    value = single(params, "f")
    if value is not None:
        if value.lower() not in _MVT_ALIASES:
            raise _choice("f", value, _MVT_ALIASES)
        return
    if accept and _accepted(accept, {"mvt": MVT}) is None:
        raise NotAcceptableError("err.not_acceptable", allowed=MVT)


def _numbers(name: str, text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise InvalidParameterError("tile.rescale", name) from None
    if not all(math.isfinite(v) for v in values):
        raise InvalidParameterError("tile.rescale", name)
    return values


def _bands(
    params: QueryParams, meta: RasterMeta, default: list[int] | None
) -> tuple[int, ...]:
    texts = params.getlist("bidx")
    if not texts:
        if default:
            return tuple(default)
        return (1, 2, 3) if meta.count >= 3 else (1,)
    try:
        bands = tuple(int(b) for t in texts for b in t.split(","))
    except ValueError:
        raise InvalidParameterError("tile.bidx", "bidx", count=meta.count) from None
    if not bands or len(bands) > 4 or not all(1 <= b <= meta.count for b in bands):
        raise InvalidParameterError("tile.bidx", "bidx", count=meta.count)
    return bands


def _rescale(
    params: QueryParams, bands: tuple[int, ...], meta: RasterMeta, source: CogSource
) -> tuple[tuple[float, float], ...]:
    texts = params.getlist("rescale")
    if not texts:
        if source.rescale:
            return tuple(source.rescale)
        if meta.dtype == "uint8":
            return ()
        # default stretch: the 2nd-98th percentiles of each chosen band
        return tuple(meta.percentiles[b - 1] for b in bands)
    ranges = []
    for text in texts:
        values = _numbers("rescale", text)
        if len(values) != 2 or values[0] >= values[1]:
            raise InvalidParameterError("tile.rescale", "rescale")
        ranges.append((values[0], values[1]))
    if len(ranges) not in (1, len(bands)):
        raise InvalidParameterError("tile.rescale", "rescale")
    return tuple(ranges)


def _named(name: str) -> dict[int, tuple[int, int, int, int]]:
    """A colormap of rio-tiler's collection (names are checked by the caller)."""
    return cast(dict[int, tuple[int, int, int, int]], cmap.get(name))


def _colormap(
    params: QueryParams, bands: tuple[int, ...], source: CogSource
) -> dict[int, tuple[int, int, int, int]] | None:
    name = single(params, "colormap_name")
    text = single(params, "colormap")
    if name is None and text is None:
        if source.colormap and len(bands) == 1:
            return _named(source.colormap)
        return None
    if len(bands) != 1:
        raise InvalidParameterError(
            "tile.colormap_bands", "colormap_name" if name else "colormap"
        )
    if name is not None:
        if name.lower() not in cmap.list():
            raise InvalidParameterError(
                "tile.colormap_name", "colormap_name", value=name[:40]
            )
        return _named(name.lower())
    assert text is not None
    try:
        data = orjson.loads(text)
        if not isinstance(data, dict) or not 0 < len(data) <= _MAX_COLORMAP:
            raise ValueError
        return {int(k): tuple(parse_color(v)) for k, v in data.items()}  # type: ignore[misc]
    except (ValueError, TypeError, RioTilerError):  # JSONDecodeError is a ValueError
        raise InvalidParameterError("tile.colormap", "colormap") from None


def render_options(
    params: QueryParams, meta: RasterMeta, source: CogSource
) -> RenderOptions:
    """Band choice, stretch, colormap and resampling of a raster tile request."""
    bands = _bands(params, meta, source.bands)
    resampling = single(params, "resampling") or source.resampling
    allowed = get_args(Resampling)
    if resampling not in allowed:
        raise _choice("resampling", resampling, allowed)
    return RenderOptions(
        bands=bands,
        rescale=_rescale(params, bands, meta, source),
        colormap=_colormap(params, bands, source),
        resampling=resampling,
        nodata=source.nodata,
    )


def image_choice(params: QueryParams, images: tuple[str, ...], default: str) -> str:
    """Which image of a pair (``image=before|after``); one-image collections: 'image'."""
    value = single(params, "image")
    if value is None:
        return default
    if value not in images:
        raise _choice("image", value, images)
    return value
