"""Linear features cut out of the parcels: river, roads, railway, streets, canals."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely

from .geo import FloatArray, bbox_km
from .landscape import Landscape
from .townships import Townships


def _chaikin(pts: FloatArray, rounds: int) -> FloatArray:
    for _ in range(rounds):
        mid = np.empty((2 * (len(pts) - 1), 2))
        mid[0::2] = 0.75 * pts[:-1] + 0.25 * pts[1:]
        mid[1::2] = 0.25 * pts[:-1] + 0.75 * pts[1:]
        pts = np.vstack([pts[:1], mid, pts[-1:]])
    return pts


def _walk(
    rng: np.random.Generator, steps: int, step_km: float, turn: float
) -> FloatArray:
    """A smooth random walk from a random start inside the area."""
    x0, y0, x1, y1 = bbox_km()
    start = rng.uniform([x0, y0], [x1, y1])
    ang = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0.0, turn, steps))
    step = np.column_stack([np.cos(ang), np.sin(ang)]) * step_km
    return _chaikin(np.vstack([start, start + np.cumsum(step, axis=0)]), 2)


def _lines_to_poly(lines: list[FloatArray], width_km: float) -> Any:
    geoms = shapely.linestrings(lines) if lines else np.array([], object)
    return shapely.union_all(shapely.buffer(geoms, width_km / 2, cap_style="flat"))


def _road(
    rng: np.random.Generator, a: tuple[float, float], b: tuple[float, float]
) -> Any:
    """A gently curving route from ``a`` to ``b`` (km)."""
    t = np.linspace(0.0, 1.0, 8)
    pts = np.outer(1 - t, a) + np.outer(t, b)
    normal = np.array([a[1] - b[1], b[0] - a[0]]) / math.dist(a, b)
    pts[1:-1] += np.outer(rng.normal(0.0, 1.0, 6), normal)
    return _chaikin(pts, 3)


def _street_grid(rng: np.random.Generator, area: Any, spacing: float) -> list[FloatArray]:
    """Rotated street lines covering ``area`` (clipped later)."""
    x0, y0, x1, y1 = shapely.bounds(area)
    c = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    half = max(x1 - x0, y1 - y0)
    rot = rng.uniform(-0.3, 0.3)
    lines = []
    for ang in (rot, rot + np.pi / 2):
        d = np.array([np.cos(ang), np.sin(ang)])
        n = np.array([-d[1], d[0]])
        for off in np.arange(-half, half, spacing) + rng.uniform(0, spacing):
            lines.append(np.array([c + n * off - d * half, c + n * off + d * half]))
    return lines


def linear_features(
    rng: np.random.Generator, land: Landscape, tw: Townships
) -> list[tuple[str, Any]]:
    """Disjoint (DLBM, polygon) bands: river, roads, railway, streets and canals (km)."""
    x0, y0, x1, y1 = bbox_km()
    frame = shapely.box(x0, y0, x1, y1)
    highways = _lines_to_poly(
        [
            _road(rng, (-26.0, 8.0 + rng.normal()), (26.0, 8.5 + rng.normal())),
            _road(rng, (-6.0, -26.0), (20.0, 26.0)),
        ],
        0.030,
    )
    national = _lines_to_poly([_road(rng, (-26.0, -9.0), (26.0, -6.0))], 0.020)
    rail = _lines_to_poly([_road(rng, (-26.0, 3.2), (26.0, 4.2))], 0.022)
    built = shapely.union_all([land.urban, tw.towns])
    streets = shapely.intersection(
        _lines_to_poly(_street_grid(rng, land.urban, 0.55), 0.024), land.urban
    )
    town_streets = shapely.intersection(
        _lines_to_poly(
            [
                ln
                for t in shapely.get_parts(tw.towns)
                for ln in _street_grid(rng, t, 0.45)
            ],
            0.016,
        ),
        tw.towns,
    )
    keep_out = shapely.union_all([built, land.parks, land.mines, land.reservoirs])
    rural = shapely.difference(
        _lines_to_poly([_walk(rng, 40, 0.28, 0.22) for _ in range(28)], 0.006), keep_out
    )
    canals = shapely.difference(
        _lines_to_poly([_walk(rng, 40, 0.30, 0.10) for _ in range(10)], 0.008), keep_out
    )
    main_canal = shapely.difference(
        _lines_to_poly([_walk(rng, 60, 0.30, 0.06)], 0.016), keep_out
    )
    bands = [
        ("1101", land.river),
        ("1003", shapely.union(highways, national)),
        ("1001", rail),
        ("1004", shapely.union(streets, town_streets)),
        ("1107A", main_canal),
        ("1006", rural),
        ("1107", canals),
    ]
    out: list[tuple[str, Any]] = []
    taken = shapely.Polygon()
    for code, geom in bands:
        part = shapely.difference(shapely.intersection(geom, frame), taken)
        part = _polygonal(part)
        if not shapely.is_empty(part):
            out.append((code, part))
            taken = shapely.union(taken, part)
    return out


def _polygonal(geom: Any) -> Any:
    """Only the polygon parts of a geometry, as one (Multi)Polygon."""
    parts = shapely.get_parts(geom)
    parts = parts[shapely.get_type_id(parts) == 3]
    return shapely.multipolygons(parts) if len(parts) else shapely.Polygon()
