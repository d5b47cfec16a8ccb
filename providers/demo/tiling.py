"""Parcel geometry: seeds, Voronoi cells, carving out bands and merging small pieces."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely

from .geo import FloatArray, IntArray, ObjArray, StrArray, bbox_km
from .landscape import Landscape
from .townships import Townships


def _density_levels(land: Landscape, tw: Townships, s: float) -> tuple[Any, ...]:
    """Jittered-grid base cells of size ``s`` km and their subdivision level (1-3)."""
    x0, y0, x1, y1 = bbox_km()
    nx, ny = max(1, round((x1 - x0) / s)), max(1, round((y1 - y0) / s))
    dx, dy = (x1 - x0) / nx, (y1 - y0) / ny
    gx, gy = np.meshgrid(np.arange(nx), np.arange(ny))
    cx = np.asarray(x0 + (gx.ravel() + 0.5) * dx, np.float64)
    cy = np.asarray(y0 + (gy.ravel() + 0.5) * dy, np.float64)
    dense = shapely.union_all([land.urban, land.parks, tw.towns])
    e = land.elevation(cx, cy)
    level = np.where(e < np.quantile(e, 0.70), 2, 1)
    level[shapely.contains_xy(dense, cx, cy)] = 3
    return cx - dx / 2, cy - dy / 2, dx, dy, level


def parcel_seeds(
    rng: np.random.Generator, land: Landscape, tw: Townships, target: int
) -> tuple[FloatArray, FloatArray]:
    """At least ``target`` well-spaced seeds; denser in towns, sparser in the hills."""
    x0, y0, x1, y1 = bbox_km()
    s = math.sqrt((x1 - x0) * (y1 - y0) / target * 3.0)
    for _ in range(12):
        *_, level = _density_levels(land, tw, s)
        count = int((level**2).sum())
        if target <= count <= target * 1.03:
            break
        s *= math.sqrt(count / (target * 1.015))
    while count < target:
        s *= 0.99
        *_, level = _density_levels(land, tw, s)
        count = int((level**2).sum())
    ox, oy, dx, dy, level = _density_levels(land, tw, s)
    xs, ys = [], []
    for k in (1, 2, 3):
        sel = level == k
        sub = np.arange(k)
        ax, ay = np.meshgrid(sub, sub)
        m = int(sel.sum())
        jx = (ax.ravel() + rng.uniform(0.15, 0.85, (m, k * k))) / k
        jy = (ay.ravel() + rng.uniform(0.15, 0.85, (m, k * k))) / k
        xs.append((ox[sel][:, None] + jx * dx).ravel())
        ys.append((oy[sel][:, None] + jy * dy).ravel())
    return np.concatenate(xs), np.concatenate(ys)


def voronoi_cells(
    tw: Townships, px: FloatArray, py: FloatArray
) -> tuple[ObjArray, IntArray]:
    """Voronoi cells of the seeds, computed per township and clipped to it."""
    cells, owner = [], []
    for i, town in enumerate(tw.geoms):
        inside = shapely.contains_xy(town, px, py)
        pts = np.column_stack([px[inside], py[inside]])
        vor = shapely.voronoi_polygons(
            shapely.multipoints(pts), extend_to=town, ordered=True
        )
        cells.append(shapely.intersection(shapely.get_parts(vor), town))
        owner.append(np.full(len(pts), i, np.int64))
    return np.concatenate(cells), np.concatenate(owner)


def carve(
    cells: ObjArray, owner: IntArray, bands: list[tuple[str, Any]]
) -> tuple[ObjArray, IntArray, StrArray]:
    """Cut the linear bands out of the cells: pieces, their township, fixed DLBM or ''."""
    tree = shapely.STRtree(cells)
    geoms, own, codes = [], [], []
    land = cells.copy()
    for code, band in bands:
        idx = tree.query(band, predicate="intersects")
        geoms.append(shapely.intersection(cells[idx], band))
        own.append(owner[idx])
        codes.append(np.full(len(idx), code, "<U5"))
        land[idx] = shapely.difference(land[idx], band)
    geoms.append(land)
    own.append(owner)
    codes.append(np.full(len(cells), "", "<U5"))
    parts, src = shapely.get_parts(np.concatenate(geoms), return_index=True)
    keep = (shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)
    return parts[keep], np.concatenate(own)[src][keep], np.concatenate(codes)[src][keep]


def merge_small(
    geoms: ObjArray, owner: IntArray, codes: StrArray, min_area: float, *, exact: bool
) -> tuple[ObjArray, IntArray, StrArray]:
    """Merge pieces below ``min_area`` into the neighbour sharing the most boundary.

    With ``exact`` the pieces must form an exact coverage and are merged by coverage
    union (the result stays one); otherwise by overlay union (robust to slivers).
    """
    for _ in range(6):
        target = _merge_targets(geoms, owner, min_area)
        if target is None:
            break
        before = len(geoms)
        geoms, owner, codes = _apply_merge(geoms, owner, codes, target, exact)
        if len(geoms) == before:
            break
    return geoms, owner, codes


def _merge_targets(geoms: ObjArray, owner: IntArray, min_area: float) -> IntArray | None:
    """One merge pass: small piece → best neighbour in the same township (or itself)."""
    area = shapely.area(geoms)
    small = np.flatnonzero(area < min_area)
    if len(small) == 0:
        return None
    i_loc, j = shapely.STRtree(geoms).query(geoms[small], predicate="intersects")
    i = small[i_loc]
    ok = (i != j) & (owner[i] == owner[j])
    i, j = i[ok], j[ok]
    eps = 1e-9
    shared = shapely.length(
        shapely.intersection(shapely.boundary(geoms[i]), shapely.buffer(geoms[j], eps))
    )
    single = shapely.get_type_id(shapely.union(geoms[i], geoms[j])) == 3
    score = np.where(single, shared, 0.0) * np.where(area[j] >= min_area, 1e6, 1.0)
    order = np.lexsort((score, i))
    last = np.r_[np.flatnonzero(np.diff(i[order])), len(order) - 1]
    good = score[order][last] > 3 * eps
    ident = np.arange(len(geoms))
    target = ident.copy()
    target[i[order][last][good]] = j[order][last][good]
    # no chains in one pass: a piece that receives others stays (larger one of a pair)
    moving = target != ident
    blocked = (
        moving & moving[target] & ~((target[target] == ident) & (area < area[target]))
    )
    target[blocked] = ident[blocked]
    moving = target != ident
    target[moving & moving[target]] = ident[moving & moving[target]]
    return target if (target != ident).any() else None


def _union2(a: Any, b: Any, exact: bool) -> Any:
    """Union of two adjacent pieces as a single Polygon, or None."""
    try:
        merged = shapely.coverage_union(a, b) if exact else shapely.union(a, b)
    except shapely.errors.GEOSException:
        return None
    return merged if shapely.get_type_id(merged) == 3 else None


def _apply_merge(
    geoms: ObjArray, owner: IntArray, codes: StrArray, target: IntArray, exact: bool
) -> tuple[ObjArray, IntArray, StrArray]:
    moved = np.flatnonzero(target != np.arange(len(geoms)))
    out = geoms.copy()
    keep = np.ones(len(geoms), bool)
    for root in np.unique(target[moved]):
        for member in moved[target[moved] == root]:
            grown = _union2(out[root], geoms[member], exact)
            if grown is not None:
                out[root] = grown
                keep[member] = False
    return out[keep], owner[keep], codes[keep]


def clean_pieces(
    geoms: ObjArray, owner: IntArray, codes: StrArray
) -> tuple[ObjArray, IntArray, StrArray]:
    """Make the pieces an exact coverage (identical shared edges) of single polygons."""
    cleaned = shapely.coverage_clean(geoms, gap_width=1e-7)
    parts, src = shapely.get_parts(cleaned, return_index=True)
    keep = (shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)
    return parts[keep], owner[src][keep], codes[src][keep]
