"""Land use: 三调 code tables, the zone model and the classification of pieces."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import shapely

from config.landuse import landuse_names, sandalei

from .geo import BoolArray, FloatArray, IntArray, ObjArray, StrArray, to_km
from .landscape import Landscape
from .sampling import sample, weighted_cut
from .townships import Townships

# Zones of the land-use model.
FREE, URBAN, INDUSTRY, TOWN, MINE, VILLAGE, RESERVOIR, BANK = range(8)
PLAINS, HILLS, MOUNTAINS = 8, 9, 10
# Mosaic fields that make neighbouring parcels alike: wet, orchard, forest, pond.
WET, ORCHARD, FOREST, POND = range(4)

Mix = tuple[tuple[str, float, int, float], ...]  # (DLBM, weight, mosaic field, sign)
# fmt: off
MIXES: Final[dict[int, Mix]] = {
    URBAN: (
        ("0701", 34, -1, 0), ("05H1", 13, -1, 0), ("0508", 3, -1, 0), ("0601", 7, -1, 0),
        ("08H1", 3, -1, 0), ("08H2", 7, -1, 0), ("08H2A", 1, -1, 0), ("0809", 2, -1, 0),
        ("0810", 7, -1, 0), ("0810A", 0.5, -1, 0), ("1004", 3, -1, 0), ("1005", 1, -1, 0),
        ("1201", 3, -1, 0), ("09", 0.5, -1, 0), ("1104", 1, -1, 0), ("0101", 3, -1, 0),
        ("0103", 3, -1, 0), ("0201", 1, -1, 0), ("0301", 1, -1, 0),
    ),
    TOWN: (
        ("0701", 30, -1, 0), ("0702", 14, -1, 0), ("05H1", 14, -1, 0), ("08H1", 4, -1, 0),
        ("08H2", 7, -1, 0), ("0601", 6, -1, 0), ("0508", 2, -1, 0), ("1004", 3, -1, 0),
        ("1005", 1, -1, 0), ("1201", 4, -1, 0), ("0810", 3, -1, 0), ("0101", 6, -1, 0),
        ("0103", 4, -1, 0), ("1104", 2, -1, 0),
    ),
    INDUSTRY: (
        ("0601", 62, -1, 0), ("0508", 14, -1, 0), ("1201", 8, -1, 0), ("0809", 4, -1, 0),
        ("1005", 2, -1, 0), ("05H1", 3, -1, 0), ("0103", 4, -1, 0), ("0301", 3, -1, 0),
    ),
    MINE: (
        ("0602", 75, -1, 0), ("1207", 12, -1, 0), ("1206", 8, -1, 0), ("0301", 5, -1, 0),
    ),
    VILLAGE: (
        ("0702", 82, -1, 0), ("1201", 3, -1, 0), ("0601", 2, -1, 0), ("08H2", 1, -1, 0),
        ("1202", 3, -1, 0), ("1104", 3, -1, 0), ("0101", 3, -1, 0), ("0201", 3, -1, 0),
    ),
    PLAINS: (
        ("0101", 47, WET, 1), ("0102", 2, WET, -1), ("0103", 19, WET, -1),
        ("1104", 6, POND, 1), ("1104A", 2.5, POND, 1), ("1104K", 0.8, POND, 1),
        ("0201", 5, ORCHARD, 1), ("0201K", 1, ORCHARD, 1), ("0204", 1, ORCHARD, 1),
        ("0301", 4, FOREST, 1), ("0301K", 0.5, FOREST, 1), ("0305", 1, FOREST, -1),
        ("0307", 1, -1, 0), ("0302", 0.5, FOREST, 1), ("0404", 1.5, -1, 0),
        ("1202", 1.5, -1, 0), ("1206", 0.5, -1, 0),
    ),
    HILLS: (
        ("0103", 28, WET, -1), ("0101", 8, WET, 1), ("0201", 14, ORCHARD, 1),
        ("0202", 1, ORCHARD, 1), ("0204", 2, ORCHARD, 1), ("0301", 28, FOREST, 1),
        ("0302", 3, FOREST, 1), ("0305", 6, FOREST, -1), ("0307", 3, -1, 0),
        ("0404", 4, -1, 0), ("1104", 1, POND, 1), ("1206", 1, -1, 0),
        ("0602", 0.5, -1, 0),
    ),
    MOUNTAINS: (
        ("0301", 58, FOREST, 1), ("0302", 5, FOREST, 1), ("0305", 12, FOREST, -1),
        ("0307", 7, -1, 0), ("0404", 5, -1, 0), ("0201", 3, ORCHARD, 1),
        ("0103", 4, WET, -1), ("1207", 2, -1, 0), ("1206", 1, -1, 0), ("09", 0.3, -1, 0),
    ),
}
# fmt: on
ZONE_SHARES: Final = (0.49, 0.24)  # plains, hills (rest: mountains) of the free area
CROPLAND: Final = ("0101", "0102", "0103")
GRADE_SHARES: Final = (0.42, 0.27, 0.18, 0.09, 0.04)


@dataclass(frozen=True)
class LandUse:
    """DLBM code and model zone of each piece plus its representative point (km)."""

    code: StrArray
    zone: IntArray
    x: FloatArray
    y: FloatArray
    elev: FloatArray


def _zones(
    rng: np.random.Generator, land: Landscape, tw: Townships, x: Any, y: Any
) -> Any:
    """Model zone of each point; later rules override earlier ones."""
    zone = np.full(len(x), FREE, np.int64)
    near_river = shapely.distance(shapely.points(x, y), land.river) < 0.25
    zone[near_river & (rng.random(len(x)) < 0.3)] = BANK
    zone[land.in_village(x, y)] = VILLAGE
    for z, geom in (
        (MINE, land.mines), (TOWN, tw.towns), (INDUSTRY, land.parks),
        (URBAN, land.urban), (RESERVOIR, land.reservoirs),
    ):  # fmt: skip
        zone[shapely.contains_xy(geom, x, y)] = z
    return zone


def classify(
    rng: np.random.Generator,
    land: Landscape,
    tw: Townships,
    geoms: ObjArray,
    fixed: StrArray,
) -> LandUse:
    """Assign a 三调 DLBM to every piece that is not a carved linear feature."""
    x, y = to_km(*shapely.get_coordinates(shapely.point_on_surface(geoms)).T)
    elev = land.elevation(x, y)
    zone = _zones(rng, land, tw, x, y)
    code = fixed.astype("<U5")
    free = (code == "") & (zone == FREE)
    cuts = weighted_cut(
        elev[free], shapely.area(geoms[free]), np.array([*ZONE_SHARES, 1.0])
    )
    zone[free] = PLAINS + np.searchsorted(cuts, elev[free], side="right")
    code[(code == "") & (zone == RESERVOIR)] = "1103"
    code[(code == "") & (zone == BANK)] = "1106"
    fields = [f(x, y) for f in land.mosaic]
    edge = shapely.distance(shapely.points(x, y), shapely.boundary(land.urban))
    fringe = np.where(zone == URBAN, 3.0 * np.exp(-edge / 0.5), 1.0)
    built = set(construction_codes())
    for z, mix in MIXES.items():
        sel = np.flatnonzero((code == "") & (zone == z))
        if len(sel) == 0:
            continue
        w = np.empty((len(sel), len(mix)))
        for k, (dlbm, base, field, sign) in enumerate(mix):
            boost = 2.0 * sign * fields[field][sel] if field >= 0 else 0.0
            w[:, k] = base * np.exp(boost) * (1.0 if dlbm in built else fringe[sel])
        code[sel] = np.array([m[0] for m in mix])[sample(rng, w)]
    unknown = set(np.unique(code)) - set(landuse_names())
    if unknown:
        raise ValueError(f"land-use codes missing from the domain table: {unknown}")
    return LandUse(code, zone, x, y, elev)


def construction_codes() -> list[str]:
    """DLBM codes of 建设用地 (construction land)."""
    return [c for c, k in sandalei().items() if k == "建设用地"]


def czcsxm_codes(lu: LandUse) -> StrArray:
    """城镇村属性码 of construction land in city / town / village / mine zones."""
    built = np.isin(lu.code, construction_codes())
    out = np.full(len(lu.code), "", "<U4")
    for zone, value in (
        (URBAN, "201"),
        (INDUSTRY, "201A"),
        (TOWN, "202"),
        (VILLAGE, "203"),
    ):
        out[built & (lu.zone == zone)] = value
    out[built & (lu.zone == VILLAGE) & (lu.code == "0601")] = "203A"
    out[lu.code == "0602"] = "204"
    out[lu.code == "09"] = "205"
    return out


def state_owned(land: Landscape, lu: LandUse, czcsxm: StrArray) -> BoolArray:
    """国有 land: city and park construction, rivers, trunk roads, forest farms."""
    state = np.isin(czcsxm, ["201", "201A", "204", "205"])
    state |= np.isin(lu.code, ["1101", "1103", "1003", "1001", "1107A"])
    forest = np.char.startswith(lu.code, "03") & (lu.zone == MOUNTAINS)
    return np.asarray(state | (forest & (land.state_forest(lu.x, lu.y) > 0.9)), bool)


def slope_grades(
    rng: np.random.Generator, land: Landscape, lu: LandUse, area: FloatArray
) -> IntArray:
    """耕地坡度级别 1-5 of cropland (0 elsewhere): steeper and higher → higher grade."""
    crop = np.flatnonzero(np.isin(lu.code, CROPLAND))
    grade = np.zeros(len(lu.code), np.int64)
    if len(crop) == 0:
        return grade
    slope = land.slope(lu.x[crop], lu.y[crop])
    rank_e = np.argsort(np.argsort(lu.elev[crop])) / len(crop)
    rank_s = np.argsort(np.argsort(slope)) / len(crop)
    steep = 0.6 * rank_e + 0.4 * rank_s + rng.normal(0.0, 0.08, len(crop))
    cuts = weighted_cut(steep, area[crop], np.array(GRADE_SHARES))
    grade[crop] = 1 + np.searchsorted(cuts, steep, side="right")
    return grade
