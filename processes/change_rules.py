"""Per-pixel change rules of change-detection: spectral indices of both dates, what is
not a change (clouds, shadows, illumination), and the class of what changed.

Bands are B, G, R, NIR as reflectance x 10000, the after image already normalised to
the before one. Indices: NDVI = (NIR-R)/(NIR+R), NDWI = (G-NIR)/(G+NIR), visible
brightness V = (B+G+R)/3. A shadow (or a thin haze) scales every band alike, so the
ratio after/before is nearly the same in all bands; a real change alters the shape of
the spectrum. Greening is decided later, per parcel (crop phenology greens whole
fields; a conversion greens part of one).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from processes.imagery_pair import cloudy

NONE, CONSTRUCTION, WATER, GREENING, MINE, FIRE = 0, 1, 2, 3, 4, 5
# after the per-parcel step
FARMLAND, ECO = 6, 7


class Thresholds(BaseModel):
    """Rule parameters (reflectance x 10000 for brightness)."""

    model_config = ConfigDict(extra="forbid")

    ndvi_change: float = Field(
        0.2,
        ge=0.05,
        le=1,
        description="Least NDVI drop or gain of a change; the Otsu threshold of the "
        "scene's |dNDVI| is used where it is higher",
    )
    water_ndwi: float = Field(0.15, description="NDWI of new open water (after)")
    built_brightness: float = Field(1250, description="Least V of new built-up land")
    bare_ndvi: float = Field(0.15, description="Most NDVI of new bare/built ground")
    brightening: float = Field(
        1.5, gt=1, description="Brighter than this many times before: new bare ground"
    )
    mine_brightness: float = Field(
        2330, description="V above which bare bright ground is quarry/mine, not built-up"
    )
    burn_brightness: float = Field(500, description="V below which a burn scar is dark")
    burn_nir: float = Field(1000, description="NIR below which vegetation burnt")
    shadow_ratio: float = Field(
        0.65, gt=0, lt=1, description="All bands darker than this share: shadow"
    )
    phenology_share: float = Field(
        0.8,
        gt=0,
        le=1,
        description="Greening over at least this share of a cropland parcel is the "
        "crop cycle, not a change",
    )


def indices(img: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NDVI, NDWI and visible brightness of a (4, h, w) image."""
    b, g, r, n = img
    ndvi = (n - r) / np.maximum(n + r, 1.0)
    ndwi = (g - n) / np.maximum(g + n, 1.0)
    return ndvi, ndwi, (b + g + r) / 3


def otsu(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of a sample (maximum between-class variance)."""
    if values.size == 0:
        return 0.0
    hist, edges = np.histogram(values, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(hist)
    total = weight[-1]
    mean = np.cumsum(hist * centres)
    w0, w1 = weight[:-1], total - weight[:-1]
    ok = (w0 > 0) & (w1 > 0)
    m0 = np.divide(mean[:-1], w0, out=np.zeros_like(centres[:-1]), where=ok)
    m1 = np.divide(mean[-1] - mean[:-1], w1, out=np.zeros_like(centres[:-1]), where=ok)
    between = np.where(ok, w0 * w1 * (m0 - m1) ** 2, 0)
    return float(edges[1:-1][np.argmax(between)])


def illumination_only(before: np.ndarray, after: np.ndarray, dark: float) -> np.ndarray:
    """Pixels whose bands all darkened (or all brightened) by about the same factor:
    shadow, haze or illumination, not a change of the ground."""
    ratio = after / np.maximum(before, 1.0)
    top, low, mid = ratio.max(0), ratio.min(0), ratio.mean(0)
    even = (top - low) < 0.35 * mid
    return np.asarray(even & ((top < dark) | (low > 1 / dark)))


def classify(
    before: np.ndarray, after: np.ndarray, valid: np.ndarray, t: Thresholds, ndvi_t: float
) -> tuple[np.ndarray, np.ndarray]:
    """The change class of every pixel and a score 0-1 of how clear the change is."""
    nb, wb, vb = indices(before)
    na, wa, va = indices(after)
    dn = na - nb
    masked = ~valid | cloudy(before) | cloudy(after)
    masked |= illumination_only(before, after, t.shadow_ratio)
    cls = np.zeros(dn.shape, np.uint8)
    # new bare or built ground: bright and without vegetation now, and either much
    # brighter or much less green than before (paddy → concrete loses little NDVI)
    bare = (va > t.built_brightness) & (na < t.bare_ndvi)
    bare &= (dn < -ndvi_t) | (va > t.brightening * vb)
    cls[dn > ndvi_t] = GREENING
    cls[bare & (va <= t.mine_brightness)] = CONSTRUCTION
    cls[bare & (va > t.mine_brightness)] = MINE
    cls[(dn < -ndvi_t) & (va < t.burn_brightness) & (after[3] < t.burn_nir)] = FIRE
    cls[(wa > t.water_ndwi) & (wb < 0)] = WATER
    cls[masked] = NONE
    score = np.clip(np.maximum(np.abs(dn), wa - wb) / (2 * ndvi_t), 0, 1)
    return majority(cls), np.where(cls > 0, score, 0).astype(np.float32)


def _box_sum(mask: np.ndarray, radius: int) -> np.ndarray:
    """Count of True in the (2r+1)^2 box around each pixel."""
    padded = np.pad(mask.astype(np.int32), radius)
    c = np.zeros((padded.shape[0] + 1, padded.shape[1] + 1), np.int32)
    c[1:, 1:] = padded.cumsum(0).cumsum(1)
    k = 2 * radius + 1
    return np.asarray(c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k])


def majority(cls: np.ndarray, radius: int = 3) -> np.ndarray:
    """Each changed pixel takes the most frequent change class around it: one object
    is not split into classes by a few odd pixels."""
    changed = cls > 0
    if not changed.any():
        return cls
    classes = [k for k in range(1, 6) if (cls == k).any()]
    if len(classes) == 1:
        return cls
    counts = np.stack([_box_sum(cls == k, radius) for k in classes])
    best = np.asarray(classes, np.uint8)[counts.argmax(0)]
    return np.where(changed, best, 0).astype(np.uint8)
