"""A before/after image pair read window by window on one grid, the after image
radiometrically normalised to the before image.

Memory stays bounded whatever the image size: statistics come from a sample of at most
``_STATS_PX``² block averages, the work goes window by window.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import shapely
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from config.sources import CogSource
from processes.base import JobContext, ProcessError
from providers.sources import SourceNotAllowed

_STATS_PX = 1024
CLOUD_FLOOR = 4000.0  # reflectance x 10000 in B, G and R: clouds (left out of stats)


def resolve_image(ctx: JobContext, value: str | dict[str, Any], role: str) -> str:
    """A GDAL path for an input: ``{"href": ...}`` (allowed sources only) or the id of
    a raster collection the owner may see (its ``role`` image for a pair)."""
    if isinstance(value, dict):
        href = value.get("href")
        if not isinstance(href, str):
            raise ProcessError("source.invalid")
        try:
            resolved = ctx.allowed.resolve(str(href))
        except SourceNotAllowed as exc:
            raise ProcessError(f"source.{exc.code}") from None
        _refuse_redirect(resolved)
        return resolved
    conf = ctx.settings.collections.get(str(value))
    if (
        conf is None
        or not ctx.scope.sees(str(value))
        or not isinstance(conf.source, CogSource)
    ):
        raise ProcessError("process.unknown_collection", id=str(value)[:80])
    source = conf.source
    chosen = (source.before if role == "before" else source.after) or source.href
    if chosen is None:
        raise ProcessError("process.unknown_collection", id=str(value)[:80])
    first = chosen if isinstance(chosen, str) else chosen[0]
    return ctx.allowed.resolve(str(ctx.settings.resolve(Path(str(first)))))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: object, **_kwargs: object) -> None:
        return None


_NO_REDIRECT = urllib.request.build_opener(_NoRedirect)
# GDAL reads only the images themselves: no directory listing, no sidecar files (each
# another URL), and GeoTIFF only (a VRT could point at any file or URL)
GDAL_OPTIONS = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR"}
IMAGE_DRIVER = "GTiff"


def _refuse_redirect(path: str) -> None:
    """An http(s) image must answer without a redirect: GDAL follows redirects
    wherever they lead (no option turns that off), so one that redirects is refused
    like a source outside the allowed sources."""
    if not path.lower().startswith(("http://", "https://")):
        return
    try:
        with _NO_REDIRECT.open(urllib.request.Request(path, method="HEAD"), timeout=10):
            pass
    except urllib.error.HTTPError as exc:
        if 300 <= exc.code < 400:
            raise ProcessError("source.outside") from None
        raise ProcessError("process.image_unreadable") from None
    except (urllib.error.URLError, OSError, ValueError):
        raise ProcessError("process.image_unreadable") from None


def image_region(ctx: JobContext, path: str) -> shapely.Geometry | None:
    """The submitter's allowed area in the file at ``path`` (None: all of it), whether
    named by collection id or by href: the union over the imagery collections holding
    it that they see; a file only hidden collections hold is refused."""
    holders = [cid for cid, names in _image_files(ctx).items() if path in names]
    seen = [ctx.scope.narrowed(cid).region for cid in holders if ctx.scope.sees(cid)]
    if holders and not seen:
        raise ProcessError("source.outside")  # answered like any path outside the roots
    if not seen or any(region is None for region in seen):
        return None
    return shapely.union_all(seen)


def _image_files(ctx: JobContext) -> dict[str, set[str]]:
    """The resolved files of every imagery collection."""
    files: dict[str, set[str]] = {}
    for cid, conf in ctx.settings.collections.items():
        if not isinstance(conf.source, CogSource):
            continue
        source = conf.source
        names: list[str] = []
        for entry in (source.before, source.after, source.href):
            names += [entry] if isinstance(entry, str) else list(entry or [])
        files[cid] = set()
        for name in names:
            with suppress(SourceNotAllowed):
                files[cid].add(ctx.allowed.resolve(str(ctx.settings.resolve(Path(name)))))
    return files


@dataclass(frozen=True)
class Normalisation:
    """after' = gain * after + offset, per band."""

    gain: np.ndarray
    offset: np.ndarray


class ImagePair:
    """Both images on the before image's grid (the after one warped if it differs)."""

    def __init__(
        self, before: str, after: str, bands: int = 4, mask: str | None = None
    ) -> None:
        self._stack = ExitStack()
        try:
            self._stack.enter_context(rasterio.Env(**GDAL_OPTIONS))
            self.before = self._stack.enter_context(_open(before))
            after_ds = self._stack.enter_context(_open(after))
            mask_ds = self._stack.enter_context(_open(mask)) if mask else None
        except rasterio.errors.RasterioIOError:
            self._stack.close()
            raise ProcessError("process.image_unreadable") from None
        if self.before.count < bands or after_ds.count < bands:
            self._stack.close()
            raise ProcessError("process.image_bands", bands=bands)
        self.after = self._on_grid(after_ds, Resampling.bilinear)
        # a cloud mask (non-zero = cloud or shadow) on the same grid, nearest pixel
        self.mask = self._on_grid(mask_ds, Resampling.nearest) if mask_ds else None
        self.bands = list(range(1, bands + 1))
        self.crs = self.before.crs
        self.transform = self.before.transform
        self.shape = self.before.shape

    def _on_grid(self, ds: Any, resampling: Resampling) -> Any:
        """A dataset as it lies on the before image's grid (warped if it differs)."""
        if (ds.crs, ds.transform, ds.shape) == (
            self.before.crs, self.before.transform, self.before.shape
        ):  # fmt: skip
            return ds
        return self._stack.enter_context(
            WarpedVRT(
                ds,
                crs=self.before.crs,
                transform=self.before.transform,
                width=self.before.width,
                height=self.before.height,
                resampling=resampling,
            )
        )

    def close(self) -> None:
        """Close both images."""
        self._stack.close()

    def __enter__(self) -> ImagePair:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def sample(self) -> tuple[np.ndarray, np.ndarray]:
        """Both images shrunk to at most ``_STATS_PX`` on a side by block averages,
        read window by window (each image block is decompressed once, whatever GDAL's
        cache size, and whether or not the files have overviews)."""
        scale = max(1, -(-max(self.shape) // _STATS_PX))
        rows, cols = self.shape[0] // scale, self.shape[1] // scale
        bands = len(self.bands)
        out_b = np.zeros((bands, rows, cols), np.float32)
        out_a = np.zeros((bands, rows, cols), np.float32)
        step = scale * max(1, 1024 // scale)  # window side, a multiple of scale
        for window in self.windows(step, Window(0, 0, cols * scale, rows * scale)):
            r0, c0 = int(window.row_off) // scale, int(window.col_off) // scale
            h, w = int(window.height) // scale, int(window.width) // scale
            for src, out in ((self.before, out_b), (self.after, out_a)):
                block = src.read(self.bands, window=window).astype(np.float32)
                block = block.reshape(bands, h, scale, w, scale).mean(axis=(2, 4))
                out[:, r0 : r0 + h, c0 : c0 + w] = block
        return out_b, out_a

    def normalisation(self, b: np.ndarray, a: np.ndarray) -> Normalisation:
        """A robust linear map of each after band onto the before band, from the
        sample: quantiles (10/50/90 %) of the clear pixels first, then least squares on
        the most stable half of the pixels, three times (a season can change much of a
        scene — whole paddy districts green up — which quantiles alone would take for
        the sensor)."""
        clear = ~(cloudy(b) | cloudy(a)) & (b > 0).all(0) & (a > 0).all(0)
        if clear.sum() < 100:
            raise ProcessError("process.no_clear_pixels")
        gain = np.ones(len(self.bands), np.float32)
        offset = np.zeros(len(self.bands), np.float32)
        for k in range(len(self.bands)):
            qa = np.percentile(a[k][clear], [10, 50, 90])
            qb = np.percentile(b[k][clear], [10, 50, 90])
            if qa[2] - qa[0] > 1e-6:
                gain[k] = (qb[2] - qb[0]) / (qa[2] - qa[0])
            offset[k] = qb[1] - gain[k] * qa[1]
        for _round in range(3):
            fitted = a * gain[:, None, None] + offset[:, None, None]
            deviation = (np.abs(fitted - b) / (b + 100.0)).max(0)
            stable = clear & (deviation <= np.percentile(deviation[clear], 50))
            for k in range(len(self.bands)):
                slope, intercept = np.polyfit(a[k][stable], b[k][stable], 1)
                gain[k], offset[k] = slope, intercept
        return Normalisation(gain, offset)

    def windows(self, size: int, within: Window | None = None) -> Iterator[Window]:
        """Windows of at most ``size`` px covering the image (or ``within``)."""
        area = within or Window(0, 0, self.shape[1], self.shape[0])
        row0, col0 = int(area.row_off), int(area.col_off)
        for r in range(row0, row0 + int(area.height), size):
            for c in range(col0, col0 + int(area.width), size):
                h = min(size, row0 + int(area.height) - r)
                w = min(size, col0 + int(area.width) - c)
                yield Window(c, r, w, h)

    def read(
        self, window: Window, norm: Normalisation
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Before and normalised after (float32, bands first) and their valid mask."""
        b = self.before.read(self.bands, window=window).astype(np.float32)
        a = self.after.read(self.bands, window=window).astype(np.float32)
        valid = (b > 0).all(0) & (a > 0).all(0)
        if self.mask is not None:
            valid &= self.mask.read(1, window=window) == 0
        a *= norm.gain[:, None, None]
        a += norm.offset[:, None, None]
        return b, a, valid


def _open(path: str) -> Any:
    return rasterio.open(path, driver=IMAGE_DRIVER)


def cloudy(img: np.ndarray) -> np.ndarray:
    """Clouds: bright in all visible bands (reflectance x 10000 over the floor)."""
    return np.asarray((img[:3] > CLOUD_FLOOR).all(0))
