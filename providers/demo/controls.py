"""The 三区三线 control layers ``czkfbj``, ``yjjbnt`` and ``stbhhx`` (parcel unions)."""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt
import shapely

from .geo import BoolArray, FloatArray, IntArray, ObjArray
from .landscape import Landscape
from .landuse import CROPLAND, INDUSTRY, ORCHARD, TOWN, URBAN, construction_codes
from .layers import Layer, as_multi, as_text, bsm, dissolve
from .parcels import Parcels
from .townships import COUNTIES, Townships

# 要素代码 of the planning layers: placeholders, not checked against the 一张图 standard.
YSDM_STBHHX: Final = "2090010100"
YSDM_YJJBNT: Final = "2090020100"
YSDM_CZKFBJ: Final = "2090030100"
GHFQ: Final = {"010": "城镇集中建设区", "020": "城镇弹性发展区", "030": "特别用途区"}
STB_TYPES: Final = {"01": "水源涵养", "02": "生物多样性维护", "03": "水土保持"}


def _by_county(
    tw: Townships, p: Parcels, keep: BoolArray, kind: IntArray, kinds: dict[str, str]
) -> tuple[ObjArray, ObjArray, ObjArray, FloatArray]:
    """The kept parcels dissolved by county and ``kind`` (0-2: the sorted codes of
    ``kinds``): the unions, their county, their kind's code and their area."""
    county = np.array(tw.county)[p.owner]
    cidx = np.searchsorted(np.array(sorted(COUNTIES)), county)
    sel = np.flatnonzero(keep)
    group = cidx[sel] * 3 + kind[sel]
    geoms, ids = dissolve(p.geoms[sel], group)
    cty = np.array(sorted(COUNTIES))[ids // 3]
    code = np.array(sorted(kinds))[ids % 3]
    mj = np.bincount(group, p.area[sel], minlength=9 * 3)[ids]
    return geoms, cty, code, mj


def czkfbj_layer(tw: Townships, p: Parcels) -> tuple[Layer, BoolArray]:
    """城镇开发边界: city, industrial-park and town-seat parcels by county and zone."""
    code = p.lu.code
    inside = np.isin(p.lu.zone, [URBAN, INDUSTRY, TOWN]) & (code != "1101")
    built = np.isin(code, construction_codes())
    fq = np.where(
        np.isin(code, CROPLAND),
        1,
        np.where(built & ~np.char.startswith(code, "0810"), 0, 2),
    )
    geoms, cty, ghfq, mj = _by_county(tw, p, inside, fq, GHFQ)
    fields: dict[str, npt.NDArray[Any]] = {
        "BSM": bsm(cty),
        "YSDM": np.full(len(cty), YSDM_CZKFBJ, object),
        "XZQDM": as_text(cty),
        "XZQMC": np.array([COUNTIES[c] for c in cty], object),
        "GHFQDM": as_text(ghfq),
        "GHFQMC": np.array([GHFQ[g] for g in ghfq], object),
        "MJ": np.round(mj, 2),
    }
    geoms = shapely.orient_polygons(as_multi(geoms))
    return Layer("czkfbj", "城镇开发边界", "MultiPolygon", geoms, fields), inside


def _dominant(
    member: IntArray, value: IntArray, area: FloatArray, groups: int
) -> IntArray:
    """Area-weighted most frequent ``value`` (small ints) per group."""
    k = int(value.max()) + 1
    table = np.bincount(member * k + value, area, minlength=groups * k).reshape(groups, k)
    return np.asarray(table.argmax(axis=1), np.int64)


def _containing_part(parts: ObjArray, geoms: ObjArray) -> IntArray:
    """Index of the part (of a union) that contains each geometry."""
    tree = shapely.STRtree(parts)
    pt, part = tree.query(shapely.point_on_surface(geoms), predicate="within")
    member = np.full(len(geoms), -1, np.int64)
    member[pt] = part
    for k in np.flatnonzero(member < 0):  # degenerate point: use the largest overlap
        near = tree.query(geoms[k], predicate="intersects")
        member[k] = near[
            np.argmax(shapely.area(shapely.intersection(parts[near], geoms[k])))
        ]
    return member


def yjjbnt_layer(land: Landscape, tw: Townships, p: Parcels, czk: BoolArray) -> Layer:
    """永久基本农田: connected patches of protected cropland outside 城镇开发边界."""
    crop = np.isin(p.lu.code, CROPLAND)
    keep = crop & ~czk & (p.grade < 5) & (land.mosaic[ORCHARD](p.lu.x, p.lu.y) < 1.2)
    sel = np.flatnonzero(keep)
    merged, ids = dissolve(p.geoms[sel], p.owner[sel])
    parts, which = shapely.get_parts(merged, return_index=True)
    patch_town = ids[which]
    member = _containing_part(parts, p.geoms[sel])
    n = len(parts)
    cls = np.searchsorted(np.array(CROPLAND), p.lu.code[sel])
    dlbm = np.array(CROPLAND)[_dominant(member, cls, p.area[sel], n)]
    grade = _dominant(member, p.grade[sel], p.area[sel], n)
    town_code = np.array(tw.code)[patch_town]
    serial = np.arange(n) - np.searchsorted(patch_town, patch_town) + 1
    fields: dict[str, npt.NDArray[Any]] = {
        "BSM": bsm(np.char.ljust(town_code.astype("<U6"), 6)),
        "YSDM": np.full(n, YSDM_YJJBNT, object),
        "YJJBNTTBBH": np.char.add(
            town_code, np.char.zfill(serial.astype("<U5"), 5)
        ).astype(object),
        "DLBM": as_text(dlbm),
        "YJJBNTTBMJ": np.round(np.bincount(member, p.area[sel], minlength=n), 2),
        "GDPDJB": as_text(grade),
        "XZQDM": as_text(town_code),
    }
    geoms = shapely.orient_polygons(as_multi(parts))
    return Layer("yjjbnt", "永久基本农田", "MultiPolygon", geoms, fields)


def stbhhx_layer(land: Landscape, tw: Townships, p: Parcels, czk: BoolArray) -> Layer:
    """生态保护红线: high forest, reservoirs and the river, by county and type."""
    code, lu = p.lu.code, p.lu
    forest = np.char.startswith(code, "03") | (code == "0404")
    high = lu.elev >= np.quantile(lu.elev[forest], 0.55) if forest.any() else forest
    water = np.isin(code, ["1101", "1106"])
    keep = ~czk & ((forest & high) | water | (code == "1103"))
    north = lu.y >= land.river_line_y(lu.x)
    kind = np.where(water, 1, np.where((code == "1103") | north, 0, 2))
    geoms, cty, lx, mj = _by_county(tw, p, keep, kind, STB_TYPES)
    fields: dict[str, npt.NDArray[Any]] = {
        "BSM": bsm(cty),
        "YSDM": np.full(len(cty), YSDM_STBHHX, object),
        "HXMC": np.array(
            [
                COUNTIES[c] + STB_TYPES[t] + "生态保护红线"
                for c, t in zip(cty, lx, strict=True)
            ],
            object,
        ),
        "LXDM": as_text(lx),
        "LXMC": np.array([STB_TYPES[t] for t in lx], object),
        "MJ": np.round(mj, 2),
        "XZQDM": as_text(cty),
    }
    geoms = shapely.orient_polygons(as_multi(geoms))
    return Layer("stbhhx", "生态保护红线", "MultiPolygon", geoms, fields)
