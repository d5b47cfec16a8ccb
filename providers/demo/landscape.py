"""The seeded landscape (km frame): river, relief, noise fields, city and features."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from .geo import BoolArray, FloatArray, bbox_km


def _smoothstep(t: FloatArray) -> FloatArray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


@dataclass(frozen=True)
class Waves:
    """A smooth seeded noise field: plane waves on km coordinates (unit variance)."""

    kx: FloatArray
    ky: FloatArray
    phase: FloatArray
    amp: FloatArray

    @classmethod
    def random(
        cls, rng: np.random.Generator, n: int, wl_km: tuple[float, float]
    ) -> Waves:
        """``n`` waves with wavelengths log-uniform in ``wl_km``."""
        theta = rng.uniform(0.0, 2.0 * np.pi, n)
        k = 2.0 * np.pi / np.exp(rng.uniform(np.log(wl_km[0]), np.log(wl_km[1]), n))
        amp = rng.uniform(0.5, 1.0, n)
        amp /= np.sqrt((amp**2).sum() / 2.0)
        return cls(
            k * np.cos(theta), k * np.sin(theta), rng.uniform(0, 2 * np.pi, n), amp
        )

    def __call__(self, x: FloatArray, y: FloatArray) -> FloatArray:
        """Field values at km coordinates."""
        arg = np.multiply.outer(x, self.kx) + np.multiply.outer(y, self.ky) + self.phase
        return np.asarray(np.sin(arg) @ self.amp, np.float64)


def blob(
    rng: np.random.Generator, cx: float, cy: float, radius: float, rough: float
) -> Any:
    """A star-shaped irregular polygon (always simple) around a centre, in km."""
    t = np.linspace(0.0, 2.0 * np.pi, 120, endpoint=False)
    k = np.arange(2, 7)
    a = rough * rng.uniform(0.3, 1.0, len(k)) / np.sqrt(k - 1)
    r = 1.0 + np.sin(np.multiply.outer(t, k) + rng.uniform(0, 2 * np.pi, len(k))) @ a
    r = radius * np.maximum(r, 0.35)
    return shapely.Polygon(np.column_stack([cx + r * np.cos(t), cy + r * np.sin(t)]))


@dataclass(frozen=True)
class Landscape:
    """Seeded fields and shapes (km frame) that drive the land-use model."""

    river_x: FloatArray
    river_y: FloatArray
    river: Any
    relief: Waves
    mosaic: tuple[Waves, ...]
    state_forest: Waves
    hills: FloatArray  # rows: cx, cy, radius, height
    urban: Any
    parks: Any
    mines: Any
    reservoirs: Any
    villages: FloatArray  # rows: x, y, radius (radius 0 = no village)
    village_step: float

    def river_line_y(self, x: FloatArray) -> FloatArray:
        """Latitude (km) of the river centreline at ``x``."""
        return np.interp(x, self.river_x, self.river_y)

    def elevation(self, x: FloatArray, y: FloatArray) -> FloatArray:
        """Relative relief (about -0.3 to 1.4): low by the river, hills to N and S."""
        dr = np.abs(y - self.river_line_y(x))
        e = 0.55 * _smoothstep((dr - 1.5) / 13.0) + 0.17 * self.relief(x, y)
        e += 0.10 * _smoothstep((y - 4.0) / 14.0)
        for cx, cy, r, h in self.hills:
            e += h * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / r**2)
        return e

    def slope(self, x: FloatArray, y: FloatArray) -> FloatArray:
        """Gradient magnitude of the relief (per km)."""
        h = 0.05
        gx = self.elevation(x + h, y) - self.elevation(x - h, y)
        gy = self.elevation(x, y + h) - self.elevation(x, y - h)
        return np.hypot(gx, gy) / (2 * h)

    def in_village(self, x: FloatArray, y: FloatArray) -> BoolArray:
        """Whether points fall inside one of the scattered villages."""
        step = self.village_step
        ny, nx = self.villages.shape[1:]
        ix = np.floor(x / step).astype(np.int64) + nx // 2
        iy = np.floor(y / step).astype(np.int64) + ny // 2
        hit = np.zeros(len(x), bool)
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                jx = np.clip(ix + dx, 0, nx - 1)
                jy = np.clip(iy + dy, 0, ny - 1)
                vx, vy, vr = self.villages[:, jy, jx]
                hit |= np.hypot(x - vx, y - vy) < vr
        return hit


def _river(rng: np.random.Generator) -> tuple[FloatArray, FloatArray, Any]:
    """The Yu River (郁江): a meandering band west → east passing south of the centre."""
    x = np.linspace(-26.0, 26.0, 521)
    y = rng.uniform(-0.04, 0.04) * x
    for amp, wl in ((2.0, 19.0), (0.9, 8.5), (0.35, 3.7)):
        y += (
            amp * rng.uniform(0.7, 1.0) * np.sin(2 * np.pi * x / wl + rng.uniform(0, 6.3))
        )
    y += -1.66 - np.interp(0.0, x, y)
    width = 0.38 + 0.06 * np.sin(2 * np.pi * x / 7.0 + rng.uniform(0, 6.3))
    dx, dy = np.gradient(x), np.gradient(y)
    norm = np.hypot(dx, dy)
    nx, ny = -dy / norm * width / 2, dx / norm * width / 2
    ring = np.vstack(
        [np.column_stack([x + nx, y + ny]), np.column_stack([x - nx, y - ny])[::-1]]
    )
    poly = shapely.make_valid(shapely.Polygon(ring))
    return x, y, shapely.intersection(poly, shapely.box(*bbox_km()))


def _pick_points(
    rng: np.random.Generator, n: int, ok: Any, tries: int = 4000
) -> FloatArray:
    """``n`` random points (km) satisfying the vectorised predicate ``ok``."""
    x0, y0, x1, y1 = bbox_km()
    cand = rng.uniform([x0 + 2, y0 + 2], [x1 - 2, y1 - 2], size=(tries, 2))
    good = cand[ok(cand[:, 0], cand[:, 1])]
    return np.asarray(good[:n], np.float64)


def make_landscape(rng: np.random.Generator) -> Landscape:
    """Draw the river, relief, city, parks, mines, reservoirs and villages."""
    rx, ry, river = _river(rng)
    relief = Waves.random(rng, 10, (3.0, 16.0))
    mosaic = tuple(Waves.random(rng, 8, (1.2, 6.0)) for _ in range(4))
    state_forest = Waves.random(rng, 6, (4.0, 14.0))
    hills = np.array(
        [
            [2.5 + rng.uniform(-0.3, 0.3), -5.0, 1.4, 0.75],  # 南山, south of the river
            [-4.2 + rng.uniform(-0.3, 0.3), 4.6, 1.6, 0.65],  # hill north-west of town
        ]
    )
    urban = shapely.union(
        blob(rng, 0.0, 0.9, 4.3, 0.15), blob(rng, -1.2, -4.2, 2.1, 0.15)
    )
    parks = shapely.union_all(
        [
            blob(rng, 6.5 + rng.uniform(-0.5, 0.5), 2.5, 1.1, 0.2),
            blob(rng, -6.2 + rng.uniform(-0.5, 0.5), 0.3, 0.9, 0.2),
        ]
    )
    partial = Landscape(
        rx, ry, river, relief, mosaic, state_forest, hills, urban, parks,
        shapely.Polygon(), shapely.Polygon(), np.zeros((3, 1, 1)), 1.0,
    )  # fmt: skip
    return _add_features(rng, partial)


def _add_features(rng: np.random.Generator, land: Landscape) -> Landscape:
    """Mines, reservoirs and villages, which depend on the relief."""
    busy = shapely.union_all([land.urban, land.parks, shapely.buffer(land.river, 1.0)])
    shapely.prepare(busy)

    def high(q: float) -> Any:
        return lambda x, y: (land.elevation(x, y) > q) & ~shapely.contains_xy(busy, x, y)

    mine_pts = _pick_points(rng, 5, high(0.62))
    mines = shapely.union_all(
        [blob(rng, x, y, rng.uniform(0.35, 0.6), 0.25) for x, y in mine_pts]
    )
    res_pts = _pick_points(rng, 2, lambda x, y: high(0.55)(x, y) & (np.abs(y) > 7))
    reservoirs = shapely.union_all(
        [blob(rng, x, y, rng.uniform(1.0, 1.5), 0.32) for x, y in res_pts]
    )
    step = 1.0
    n = int(np.ceil(max(np.abs(bbox_km())) / step)) * 2 + 4
    ii, jj = np.meshgrid(np.arange(n) - n // 2, np.arange(n) - n // 2)
    vx = (ii + rng.uniform(0.15, 0.85, ii.shape)) * step
    vy = (jj + rng.uniform(0.15, 0.85, jj.shape)) * step
    e = land.elevation(vx.ravel(), vy.ravel()).reshape(vx.shape)
    keep = rng.random(vx.shape) < np.clip(0.95 - 1.1 * e, 0.08, 0.9)
    vr = np.where(keep, rng.uniform(0.12, 0.30, vx.shape), 0.0)
    return Landscape(
        land.river_x, land.river_y, land.river, land.relief, land.mosaic,
        land.state_forest, land.hills, land.urban, land.parks, mines, reservoirs,
        np.stack([vx, vy, vr]), step,
    )  # fmt: skip
