"""The final parcels: tiled, classified, named by village, ordered and measured."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import shapely

from .geo import (
    M2_PER_DEG2,
    BoolArray,
    FloatArray,
    IntArray,
    ObjArray,
    StrArray,
    geodesic_areas,
    geoms_to_deg,
)
from .landscape import Landscape
from .landuse import LandUse, classify, czcsxm_codes, slope_grades, state_owned
from .linear import linear_features
from .sampling import stream
from .tiling import carve, clean_pieces, merge_small, parcel_seeds, voronoi_cells
from .townships import Townships

MIN_PIECE_M2: Final = 100.0  # smaller pieces are merged into a neighbour

VILLAGE_HEAD: Final = tuple(
    "石龙新大平东西南北塘岭江桥山林和安福黄莲罗马凤金良富六八古樟榕竹荷梅兰"
)
VILLAGE_TAIL: Final = tuple("村塘岭江湾头山田坡洞冲垌寨里岗背口边平安")


@dataclass(frozen=True)
class Villages:
    """Village-level units (村/社区) of every piece: 12-digit code and name."""

    code: StrArray
    name: ObjArray


def admin_villages(
    rng: np.random.Generator, tw: Townships, land: Landscape, lu: LandUse, owner: IntArray
) -> Villages:
    """Split each township into village committees (nearest village centre)."""
    code = np.full(len(owner), "", "<U12")
    name = np.full(len(owner), "", object)
    built = shapely.union(land.urban, tw.towns)
    for i, town in enumerate(tw.geoms):
        n = max(3, round(float(shapely.area(town)) / 9.0))
        x0, y0, x1, y1 = shapely.bounds(town)
        cand = rng.uniform([x0, y0], [x1, y1], size=(40 * n, 2))
        cx, cy = cand[shapely.contains_xy(town, cand[:, 0], cand[:, 1])][:n].T
        community = shapely.contains_xy(built, cx, cy)
        combos = rng.choice(len(VILLAGE_HEAD) * len(VILLAGE_TAIL), len(cx), replace=False)
        ucode, uname = [], []
        n_comm = n_vill = 0
        for comm, combo in zip(community, combos, strict=True):
            base = (
                VILLAGE_HEAD[combo // len(VILLAGE_TAIL)]
                + VILLAGE_TAIL[combo % len(VILLAGE_TAIL)]
            )
            if comm:
                n_comm += 1
                ucode.append(f"{tw.code[i]}{n_comm:03d}")
                uname.append(f"{base}社区居民委员会")
            else:
                n_vill += 1
                ucode.append(f"{tw.code[i]}{200 + n_vill:03d}")
                uname.append(f"{base}村民委员会")
        sel = np.flatnonzero(owner == i)
        near = np.argmin(np.hypot(lu.x[sel, None] - cx, lu.y[sel, None] - cy), axis=1)
        code[sel] = np.array(ucode)[near]
        name[sel] = np.array(uname, object)[near]
    return Villages(code, name)


@dataclass(frozen=True)
class Parcels:
    """The final parcels (lon/lat) with what the layer builders need."""

    geoms: ObjArray
    owner: IntArray
    lu: LandUse
    villages: Villages
    area: FloatArray
    grade: IntArray
    czcsxm: StrArray
    state: BoolArray


def make_parcels(seed: int, land: Landscape, tw: Townships, target: int) -> Parcels:
    """Tile the townships with parcels, classify them and put them in survey order."""
    px, py = parcel_seeds(stream(seed, "seeds"), land, tw, target)
    cells, owner = voronoi_cells(tw, px, py)
    bands = linear_features(stream(seed, "linear"), land, tw)
    pieces, owner, fixed = carve(cells, owner, bands)
    pieces, owner, fixed = merge_small(
        pieces, owner, fixed, MIN_PIECE_M2 / 1e6, exact=False
    )
    geoms, owner, fixed = clean_pieces(geoms_to_deg(pieces), owner, fixed)
    min_deg2 = MIN_PIECE_M2 / M2_PER_DEG2
    geoms, owner, fixed = merge_small(geoms, owner, fixed, min_deg2, exact=True)
    lu = classify(stream(seed, "landuse"), land, tw, geoms, fixed)
    vil = admin_villages(stream(seed, "villages"), tw, land, lu, owner)
    order = np.lexsort((lu.x, -np.round(lu.y, 1), vil.code))
    lu = LandUse(lu.code[order], lu.zone[order], lu.x[order], lu.y[order], lu.elev[order])
    vil = Villages(vil.code[order], vil.name[order])
    geoms = shapely.orient_polygons(geoms[order])
    area = geodesic_areas(geoms)
    grade = slope_grades(stream(seed, "grades"), land, lu, area)
    czcsxm = czcsxm_codes(lu)
    state = state_owned(land, lu, czcsxm)
    return Parcels(geoms, owner[order], lu, vil, area, grade, czcsxm, state)
