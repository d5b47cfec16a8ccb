"""The 三调 layers ``dltb`` and ``xzq``, and helpers for attribute columns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import shapely

from config.landuse import landuse_names

from .geo import IntArray, ObjArray, geoms_to_deg
from .landuse import CROPLAND
from .parcels import Parcels
from .sampling import sample
from .townships import Townships

SJNF: Final = 2023
YSDM_XZQ: Final = "1000600100"
YSDM_DLTB: Final = "2001010100"
ZZSX: Final = {
    "LS": "粮食",
    "FLS": "非粮",
    "LYFL": "粮与非粮轮作",
    "XG": "休耕",
    "LLJZ": "林粮间作",
    "WG": "未耕种",
}
ZZSX_MIX: Final = {
    "0101": (("LS", 86), ("LYFL", 6), ("FLS", 4), ("XG", 2), ("WG", 2)),
    "0102": (("LS", 60), ("FLS", 30), ("LYFL", 10)),
    "0103": (("FLS", 55), ("LS", 25), ("LYFL", 12), ("LLJZ", 3), ("XG", 2), ("WG", 3)),
}
# 扣除系数 (田坎) by cropland type and slope grade 1-5, as a county would publish them.
KCXS_TABLE: Final = {
    "TT": (0.0, 0.031, 0.058, 0.086, 0.112),
    "PD": (0.0, 0.022, 0.045, 0.071, 0.098),
}


@dataclass(frozen=True)
class Layer:
    """One GeoPackage layer: geometries (EPSG:4490) and attribute columns."""

    name: str
    title: str
    geometry_type: str
    geoms: ObjArray
    fields: dict[str, npt.NDArray[Any]]

    def __len__(self) -> int:
        return len(self.geoms)


def as_multi(geoms: Any) -> ObjArray:
    """Each input (Multi)Polygon as a MultiPolygon."""
    parts, idx = shapely.get_parts(np.asarray(geoms, object), return_index=True)
    return np.asarray(shapely.multipolygons(parts, indices=idx), object)


def dissolve(geoms: ObjArray, groups: IntArray) -> tuple[ObjArray, IntArray]:
    """Union of the parcels of each group (parcels form a coverage)."""
    ids = np.unique(groups)
    out = [shapely.coverage_union_all(geoms[groups == g]) for g in ids]
    return np.asarray(out, object), ids


def bsm(prefix: npt.ArrayLike) -> ObjArray:
    """18-character 标识码: 6-digit county code + 12-digit serial."""
    pre = np.asarray(prefix, "<U6")
    serial = np.char.zfill(np.arange(1, len(pre) + 1).astype("<U12"), 12)
    return np.asarray(np.char.add(pre, serial), object)


def lookup(keys: npt.ArrayLike, table: dict[str, Any]) -> ObjArray:
    """``table[key]`` for every key (one dictionary look-up per distinct key)."""
    uniq, inverse = np.unique(np.asarray(keys).astype(str), return_inverse=True)
    values = np.empty(len(uniq), object)
    values[:] = [table[k] for k in uniq]
    return np.asarray(values[inverse.ravel()], object)


def as_text(values: npt.ArrayLike) -> ObjArray:
    """Values as an object column of ``str``."""
    return np.asarray(values).astype(str).astype(object)


def dltb_layer(rng: np.random.Generator, tw: Townships, p: Parcels) -> Layer:
    """地类图斑 with the 三调 attribute set."""
    n = len(p.geoms)
    code = p.lu.code
    crop = np.isin(code, CROPLAND)
    gdlx = np.where(crop, np.where((code == "0101") & (p.grade >= 2), "TT", "PD"), "")
    county = np.array(tw.county)[p.owner]
    factor = np.select([county == "450803", county == "450804"], [1.04, 0.96], 1.0)
    kcxs = np.zeros(n)
    for kind, table in KCXS_TABLE.items():
        sel = gdlx == kind
        kcxs[sel] = np.round(np.asarray(table)[p.grade[sel] - 1] * factor[sel], 4)
    tbmj = np.round(p.area, 2)
    kcmj = np.round(tbmj * kcxs, 2)
    zzsx = np.full(n, "", "<U4")
    for dlbm, mix in ZZSX_MIX.items():
        sel = np.flatnonzero(code == dlbm)
        w = np.tile(np.array([m[1] for m in mix], float), (len(sel), 1))
        zzsx[sel] = np.array([m[0] for m in mix])[sample(rng, w)]
    village = p.villages.code
    township = np.array(tw.code)[p.owner]
    tname = np.array(tw.name, object)[p.owner]
    start = np.r_[0, np.flatnonzero(village[1:] != village[:-1]) + 1]
    tbbh = np.arange(n) - np.repeat(start, np.diff(np.r_[start, n])) + 1
    days = rng.integers(0, 365, n)
    fields: dict[str, npt.NDArray[Any]] = {
        "BSM": bsm(county),
        "YSDM": np.full(n, YSDM_DLTB, object),
        "TBBH": as_text(tbbh),
        "DLBM": as_text(code),
        "DLMC": lookup(code, landuse_names()),
        "QSXZ": np.where(p.state, "10", "20").astype(object),
        "QSDWDM": np.where(
            p.state, np.char.add(township, "0000000000"), np.char.add(village, "0000000")
        ).astype(object),
        "QSDWMC": np.where(p.state, tname + "国有土地", p.villages.name).astype(object),
        "ZLDWDM": np.char.add(village, "0000000").astype(object),
        "ZLDWMC": p.villages.name.copy(),
        "TBMJ": tbmj,
        "KCDLBM": np.where(crop, "1203", "").astype(object),
        "KCXS": kcxs,
        "KCMJ": kcmj,
        "TBDLMJ": np.round(tbmj - kcmj, 2),
        "GDLX": as_text(gdlx),
        "GDPDJB": np.where(crop, p.grade.astype(str), "").astype(object),
        "ZZSXDM": as_text(zzsx),
        "ZZSXMC": lookup(zzsx, {**ZZSX, "": ""}),
        "CZCSXM": as_text(p.czcsxm),
        "SJNF": np.full(n, SJNF, np.int32),
        "GXSJ": np.datetime64(f"{SJNF}-01-01") + days.astype("timedelta64[D]"),
    }
    return Layer("dltb", "地类图斑", "Polygon", p.geoms, fields)


def xzq_layer(tw: Townships, p: Parcels) -> Layer:
    """乡镇级行政区, rebuilt as the union of their parcels (exact nesting)."""
    merged, ids = dissolve(p.geoms, p.owner)
    single = shapely.get_type_id(merged) == 3
    fallback = geoms_to_deg(tw.geoms[ids])
    geoms = np.where(single, merged, fallback)
    code = np.array(tw.code)[ids]
    fields: dict[str, npt.NDArray[Any]] = {
        "BSM": bsm(np.char.ljust(code.astype("<U6"), 6)),
        "YSDM": np.full(len(ids), YSDM_XZQ, object),
        "XZQDM": as_text(code),
        "XZQMC": np.array(tw.name, object)[ids],
        "MJ": np.round(np.bincount(p.owner, p.area)[ids], 2),
    }
    return Layer(
        "xzq", "行政区（乡镇）", "Polygon", shapely.orient_polygons(geoms), fields
    )
