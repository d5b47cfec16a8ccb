"""Synthetic 三调-style vector layers for a county around Guigang, Guangxi (EPSG:4490).

Layers: ``xzq`` (townships), ``dltb`` (land-use parcels tiling the townships) and the
三区三线 control lines ``czkfbj``, ``yjjbnt`` and ``stbhhx`` (unions of parcels). All
geometry is built in a local kilometre frame (isotropic Voronoi cells) and converted to
longitude/latitude at the end; the parcels form an exact polygonal coverage.
"""

from __future__ import annotations

import csv
import io
import math
import zlib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyogrio.raw
import shapely
from pyproj import Geod

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
ObjArray = npt.NDArray[np.object_]
StrArray = npt.NDArray[np.str_]

CRS: Final = "EPSG:4490"
BBOX: Final = (109.40, 22.90, 109.80, 23.30)
CENTRE: Final = (109.60, 23.10)
KM_X: Final = 111.32 * math.cos(math.radians(CENTRE[1]))  # km per degree of longitude
KM_Y: Final = 110.75  # km per degree of latitude at 23 N
M2_PER_DEG2: Final = KM_X * KM_Y * 1e6  # near the centre of the area
MIN_PIECE_M2: Final = 100.0  # smaller pieces are merged into a neighbour
SJNF: Final = 2023
YSDM_XZQ: Final = "1000600100"
YSDM_DLTB: Final = "2001010100"
# 要素代码 of the planning layers: placeholders, not checked against the 一张图 standard.
YSDM_STBHHX: Final = "2090010100"
YSDM_YJJBNT: Final = "2090020100"
YSDM_CZKFBJ: Final = "2090030100"

COUNTIES: Final = {"450802": "港北区", "450803": "港南区", "450804": "覃塘区"}
# fmt: off
TOWNSHIP_NAMES: Final = {
    "450802": ("贵城街道", "港城街道", "大圩镇", "庆丰镇",
               "根竹镇", "武乐镇", "中里乡", "奇石乡"),
    "450803": ("江南街道", "八塘街道", "桥圩镇", "木格镇",
               "湛江镇", "东津镇", "木梓镇", "瓦塘乡"),
    "450804": ("覃塘街道", "黄练镇", "石卡镇", "五里镇",
               "东龙镇", "三里镇", "樟木镇", "蒙公镇"),
}
# fmt: on
VILLAGE_HEAD: Final = tuple(
    "石龙新大平东西南北塘岭江桥山林和安福黄莲罗马凤金良富六八古樟榕竹荷梅兰"
)
VILLAGE_TAIL: Final = tuple("村塘岭江湾头山田坡洞冲垌寨里岗背口边平安")

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
GRADE_SHARES: Final = (0.42, 0.27, 0.18, 0.09, 0.04)
GHFQ: Final = {"010": "城镇集中建设区", "020": "城镇弹性发展区", "030": "特别用途区"}
STB_TYPES: Final = {"01": "水源涵养", "02": "生物多样性维护", "03": "水土保持"}


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


@dataclass(frozen=True)
class VectorDemo:
    """All demo vector layers, keyed by layer name."""

    layers: dict[str, Layer]

    @property
    def dltb(self) -> Layer:
        """The land-use parcels."""
        return self.layers["dltb"]


# --------------------------------------------------------------------------- helpers


def stream(seed: int, name: str) -> np.random.Generator:
    """An independent random generator for one named part of the demo."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


@cache
def geod() -> Geod:
    """The CGCS2000 ellipsoid."""
    return Geod(a=6378137.0, rf=298.257222101)


def geodesic_areas(geoms: ObjArray) -> FloatArray:
    """Ellipsoidal areas (m²) of lon/lat polygons on CGCS2000, holes subtracted."""
    g = geod()
    polys, owner = shapely.get_parts(geoms, return_index=True)
    rings, ring_owner = shapely.get_rings(polys, return_index=True)
    is_hole = np.ones(len(rings), bool)
    first = np.r_[0, np.flatnonzero(np.diff(ring_owner)) + 1]
    is_hole[first] = False
    coords, idx = shapely.get_coordinates(rings, return_index=True)
    cuts = np.flatnonzero(np.diff(idx)) + 1
    ring_area = np.array(
        [
            abs(g.polygon_area_perimeter(c[:, 0], c[:, 1])[0])
            for c in np.split(coords, cuts)
        ]
    )
    signed = np.where(is_hole, -ring_area, ring_area)
    poly_area = np.bincount(ring_owner, signed, minlength=len(polys))
    return np.bincount(owner, poly_area, minlength=len(geoms)).astype(np.float64)


def _domain_text(name: str) -> str:
    """A file of ``config/domain`` (package resource, else relative to the repo root)."""
    try:
        return resources.files("config").joinpath("domain", name).read_text("utf-8")
    except (ImportError, OSError, TypeError):
        path = Path(__file__).resolve().parents[2] / "config" / "domain" / name
        return path.read_text("utf-8")


@cache
def landuse_names() -> dict[str, str]:
    """三调 DLBM code → DLMC name."""
    rows = csv.DictReader(io.StringIO(_domain_text("landuse_codes_sanDiao.csv")))
    return {r["code"]: r["name_zh"] for r in rows}


@cache
def sandalei() -> dict[str, str]:
    """三调 DLBM code → 三大类 (农用地 / 建设用地 / 未利用地)."""
    rows = csv.DictReader(io.StringIO(_domain_text("landuse_sanDaLei_mapping.csv")))
    return {r["code"]: r["class_zh"] for r in rows}


def to_km(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Longitude/latitude → local kilometres around the city centre."""
    x = (np.asarray(lon, np.float64) - CENTRE[0]) * KM_X
    y = (np.asarray(lat, np.float64) - CENTRE[1]) * KM_Y
    return x, y


def _km_to_deg(coords: FloatArray) -> FloatArray:
    return np.asarray(coords / np.array([KM_X, KM_Y]) + np.array(CENTRE), np.float64)


def geoms_to_deg(geoms: Any) -> Any:
    """Local-kilometre geometries → lon/lat."""
    return shapely.transform(geoms, _km_to_deg)


def _bbox_km() -> tuple[float, float, float, float]:
    x0, y0 = to_km(BBOX[0], BBOX[1])
    x1, y1 = to_km(BBOX[2], BBOX[3])
    return float(x0), float(y0), float(x1), float(y1)


def _smoothstep(t: FloatArray) -> FloatArray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _sample(rng: np.random.Generator, weights: FloatArray) -> IntArray:
    """One categorical draw per row of a (n, k) weight matrix."""
    cum = np.cumsum(weights, axis=1)
    u = rng.random(len(weights)) * cum[:, -1]
    picked = np.minimum((cum < u[:, None]).sum(axis=1), weights.shape[1] - 1)
    return np.asarray(picked, np.int64)


def _weighted_cut(
    values: FloatArray, weights: FloatArray, shares: FloatArray
) -> FloatArray:
    """Thresholds splitting ``values`` into classes holding ``shares`` of the weight."""
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order]) / max(float(weights.sum()), 1e-12)
    pos = np.searchsorted(cum, np.cumsum(shares)[:-1])
    return values[order][np.minimum(pos, len(values) - 1)]


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
    x0, y0, x1, y1 = _bbox_km()
    start = rng.uniform([x0, y0], [x1, y1])
    ang = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0.0, turn, steps))
    step = np.column_stack([np.cos(ang), np.sin(ang)]) * step_km
    return _chaikin(np.vstack([start, start + np.cumsum(step, axis=0)]), 2)


# ------------------------------------------------------------------------- landscape


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
    return x, y, shapely.intersection(poly, shapely.box(*_bbox_km()))


def _pick_points(
    rng: np.random.Generator, n: int, ok: Any, tries: int = 4000
) -> FloatArray:
    """``n`` random points (km) satisfying the vectorised predicate ``ok``."""
    x0, y0, x1, y1 = _bbox_km()
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
    n = int(np.ceil(max(np.abs(_bbox_km())) / step)) * 2 + 4
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


# ------------------------------------------------------------------------ townships


@dataclass(frozen=True)
class Townships:
    """Township polygons (km frame) with codes, names and the town seats."""

    geoms: ObjArray
    seed_x: FloatArray
    seed_y: FloatArray
    code: list[str]
    name: list[str]
    towns: Any  # town-seat polygons (km), urban townships excluded

    @property
    def county(self) -> list[str]:
        """6-digit county code of each township."""
        return [c[:6] for c in self.code]


def make_townships(rng: np.random.Generator, land: Landscape) -> Townships:
    """About 12 Voronoi townships tiling the area, named within three counties."""
    x0, y0, x1, y1 = _bbox_km()
    gx, gy = np.meshgrid(np.arange(4), np.arange(3))
    sx = x0 + (gx.ravel() + rng.uniform(0.25, 0.75, 12)) * (x1 - x0) / 4
    sy = y0 + (gy.ravel() + rng.uniform(0.25, 0.75, 12)) * (y1 - y0) / 3
    centre = int(np.argmin(np.hypot(sx, sy)))
    sx[centre], sy[centre] = 0.2, 1.3
    area = shapely.box(x0, y0, x1, y1)
    cells = shapely.get_parts(
        shapely.voronoi_polygons(
            shapely.multipoints(np.column_stack([sx, sy])), extend_to=area, ordered=True
        )
    )
    geoms = shapely.intersection(cells, area)
    county = np.where(
        sx < (109.50 - CENTRE[0]) * KM_X,
        "450804",
        np.where(sy >= land.river_line_y(sx), "450802", "450803"),
    )
    code, name = _township_names(county, np.hypot(sx, sy))
    seats = [
        blob(rng, x, y, 1.5 if n.endswith("街道") else rng.uniform(0.9, 1.3), 0.2)
        for x, y, n in zip(sx, sy, name, strict=True)
        if not shapely.intersects_xy(land.urban, x, y)
    ]
    return Townships(geoms, sx, sy, code, name, shapely.union_all(seats))


def _township_names(county: StrArray, dist: FloatArray) -> tuple[list[str], list[str]]:
    """9-digit codes (街道 00n, 镇 1nn, 乡 2nn) and names, 街道 nearest the city."""
    code = [""] * len(county)
    name = [""] * len(county)
    for cty, names in TOWNSHIP_NAMES.items():
        members = [int(i) for i in np.argsort(dist, kind="stable") if county[i] == cty]
        counters = {"街道": 0, "镇": 100, "乡": 200}
        for k, i in enumerate(members):
            nm = names[k] if k < len(names) else f"{COUNTIES[cty][:2]}{k + 1}镇"
            kind = "街道" if nm.endswith("街道") else nm[-1]
            counters[kind] += 1
            code[i] = f"{cty}{counters[kind]:03d}"
            name[i] = nm
    return code, name


# -------------------------------------------------------------------- parcel seeds


def _density_levels(land: Landscape, tw: Townships, s: float) -> tuple[Any, ...]:
    """Jittered-grid base cells of size ``s`` km and their subdivision level (1-3)."""
    x0, y0, x1, y1 = _bbox_km()
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
    x0, y0, x1, y1 = _bbox_km()
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


# ----------------------------------------------------------------- linear features


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
    x0, y0, x1, y1 = _bbox_km()
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


# -------------------------------------------------------------------------- carving


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


# --------------------------------------------------------------------- land use


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
    cuts = _weighted_cut(
        elev[free], shapely.area(geoms[free]), np.array([*ZONE_SHARES, 1.0])
    )
    zone[free] = PLAINS + np.searchsorted(cuts, elev[free], side="right")
    code[(code == "") & (zone == RESERVOIR)] = "1103"
    code[(code == "") & (zone == BANK)] = "1106"
    fields = [f(x, y) for f in land.mosaic]
    edge = shapely.distance(shapely.points(x, y), shapely.boundary(land.urban))
    fringe = np.where(zone == URBAN, 3.0 * np.exp(-edge / 0.5), 1.0)
    built = set(_construction_codes())
    for z, mix in MIXES.items():
        sel = np.flatnonzero((code == "") & (zone == z))
        if len(sel) == 0:
            continue
        w = np.empty((len(sel), len(mix)))
        for k, (dlbm, base, field, sign) in enumerate(mix):
            boost = 2.0 * sign * fields[field][sel] if field >= 0 else 0.0
            w[:, k] = base * np.exp(boost) * (1.0 if dlbm in built else fringe[sel])
        code[sel] = np.array([m[0] for m in mix])[_sample(rng, w)]
    unknown = set(np.unique(code)) - set(landuse_names())
    if unknown:
        raise ValueError(f"land-use codes missing from the domain table: {unknown}")
    return LandUse(code, zone, x, y, elev)


def _construction_codes() -> list[str]:
    return [c for c, k in sandalei().items() if k == "建设用地"]


def _czcsxm(lu: LandUse) -> StrArray:
    """城镇村属性码 of construction land in city / town / village / mine zones."""
    built = np.isin(lu.code, _construction_codes())
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


def _state_owned(land: Landscape, lu: LandUse, czcsxm: StrArray) -> BoolArray:
    """国有 land: city and park construction, rivers, trunk roads, forest farms."""
    state = np.isin(czcsxm, ["201", "201A", "204", "205"])
    state |= np.isin(lu.code, ["1101", "1103", "1003", "1001", "1107A"])
    forest = np.char.startswith(lu.code, "03") & (lu.zone == MOUNTAINS)
    return np.asarray(state | (forest & (land.state_forest(lu.x, lu.y) > 0.9)), bool)


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


def _slope_grades(
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
    cuts = _weighted_cut(steep, area[crop], np.array(GRADE_SHARES))
    grade[crop] = 1 + np.searchsorted(cuts, steep, side="right")
    return grade


# ----------------------------------------------------------------------- layers


def _as_multi(geoms: Any) -> ObjArray:
    """Each input (Multi)Polygon as a MultiPolygon."""
    parts, idx = shapely.get_parts(np.asarray(geoms, object), return_index=True)
    return np.asarray(shapely.multipolygons(parts, indices=idx), object)


def _dissolve(geoms: ObjArray, groups: IntArray) -> tuple[ObjArray, IntArray]:
    """Union of the parcels of each group (parcels form a coverage)."""
    ids = np.unique(groups)
    out = [shapely.coverage_union_all(geoms[groups == g]) for g in ids]
    return np.asarray(out, object), ids


def _bsm(prefix: npt.ArrayLike) -> ObjArray:
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


def _text(values: npt.ArrayLike) -> ObjArray:
    return np.asarray(values).astype(str).astype(object)


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
        zzsx[sel] = np.array([m[0] for m in mix])[_sample(rng, w)]
    village = p.villages.code
    township = np.array(tw.code)[p.owner]
    tname = np.array(tw.name, object)[p.owner]
    start = np.r_[0, np.flatnonzero(village[1:] != village[:-1]) + 1]
    tbbh = np.arange(n) - np.repeat(start, np.diff(np.r_[start, n])) + 1
    days = rng.integers(0, 365, n)
    fields: dict[str, npt.NDArray[Any]] = {
        "BSM": _bsm(county),
        "YSDM": np.full(n, YSDM_DLTB, object),
        "TBBH": _text(tbbh),
        "DLBM": _text(code),
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
        "GDLX": _text(gdlx),
        "GDPDJB": np.where(crop, p.grade.astype(str), "").astype(object),
        "ZZSXDM": _text(zzsx),
        "ZZSXMC": lookup(zzsx, {**ZZSX, "": ""}),
        "CZCSXM": _text(p.czcsxm),
        "SJNF": np.full(n, SJNF, np.int32),
        "GXSJ": np.datetime64(f"{SJNF}-01-01") + days.astype("timedelta64[D]"),
    }
    return Layer("dltb", "地类图斑", "Polygon", p.geoms, fields)


def xzq_layer(tw: Townships, p: Parcels) -> Layer:
    """乡镇级行政区, rebuilt as the union of their parcels (exact nesting)."""
    merged, ids = _dissolve(p.geoms, p.owner)
    single = shapely.get_type_id(merged) == 3
    fallback = geoms_to_deg(tw.geoms[ids])
    geoms = np.where(single, merged, fallback)
    code = np.array(tw.code)[ids]
    fields: dict[str, npt.NDArray[Any]] = {
        "BSM": _bsm(np.char.ljust(code.astype("<U6"), 6)),
        "YSDM": np.full(len(ids), YSDM_XZQ, object),
        "XZQDM": _text(code),
        "XZQMC": np.array(tw.name, object)[ids],
        "MJ": np.round(np.bincount(p.owner, p.area)[ids], 2),
    }
    return Layer(
        "xzq", "行政区（乡镇）", "Polygon", shapely.orient_polygons(geoms), fields
    )


def czkfbj_layer(tw: Townships, p: Parcels) -> tuple[Layer, BoolArray]:
    """城镇开发边界: city, industrial-park and town-seat parcels by county and zone."""
    code = p.lu.code
    inside = np.isin(p.lu.zone, [URBAN, INDUSTRY, TOWN]) & (code != "1101")
    built = np.isin(code, _construction_codes())
    fq = np.where(
        np.isin(code, CROPLAND),
        1,
        np.where(built & ~np.char.startswith(code, "0810"), 0, 2),
    )
    county = np.array(tw.county)[p.owner]
    cidx = np.searchsorted(np.array(sorted(COUNTIES)), county)
    sel = np.flatnonzero(inside)
    geoms, ids = _dissolve(p.geoms[sel], cidx[sel] * 3 + fq[sel])
    cty = np.array(sorted(COUNTIES))[ids // 3]
    ghfq = np.array(sorted(GHFQ))[ids % 3]
    mj = np.bincount(cidx[sel] * 3 + fq[sel], p.area[sel], minlength=9 * 3)[ids]
    fields: dict[str, npt.NDArray[Any]] = {
        "BSM": _bsm(cty),
        "YSDM": np.full(len(ids), YSDM_CZKFBJ, object),
        "XZQDM": _text(cty),
        "XZQMC": np.array([COUNTIES[c] for c in cty], object),
        "GHFQDM": _text(ghfq),
        "GHFQMC": np.array([GHFQ[g] for g in ghfq], object),
        "MJ": np.round(mj, 2),
    }
    geoms = shapely.orient_polygons(_as_multi(geoms))
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
    merged, ids = _dissolve(p.geoms[sel], p.owner[sel])
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
        "BSM": _bsm(np.char.ljust(town_code.astype("<U6"), 6)),
        "YSDM": np.full(n, YSDM_YJJBNT, object),
        "YJJBNTTBBH": np.char.add(
            town_code, np.char.zfill(serial.astype("<U5"), 5)
        ).astype(object),
        "DLBM": _text(dlbm),
        "YJJBNTTBMJ": np.round(np.bincount(member, p.area[sel], minlength=n), 2),
        "GDPDJB": _text(grade),
        "XZQDM": _text(town_code),
    }
    geoms = shapely.orient_polygons(_as_multi(parts))
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
    county = np.array(tw.county)[p.owner]
    cidx = np.searchsorted(np.array(sorted(COUNTIES)), county)
    sel = np.flatnonzero(keep)
    geoms, ids = _dissolve(p.geoms[sel], cidx[sel] * 3 + kind[sel])
    cty = np.array(sorted(COUNTIES))[ids // 3]
    lx = np.array(sorted(STB_TYPES))[ids % 3]
    mj = np.bincount(cidx[sel] * 3 + kind[sel], p.area[sel], minlength=9 * 3)[ids]
    fields: dict[str, npt.NDArray[Any]] = {
        "BSM": _bsm(cty),
        "YSDM": np.full(len(ids), YSDM_STBHHX, object),
        "HXMC": np.array(
            [
                COUNTIES[c] + STB_TYPES[t] + "生态保护红线"
                for c, t in zip(cty, lx, strict=True)
            ],
            object,
        ),
        "LXDM": _text(lx),
        "LXMC": np.array([STB_TYPES[t] for t in lx], object),
        "MJ": np.round(mj, 2),
        "XZQDM": _text(cty),
    }
    geoms = shapely.orient_polygons(_as_multi(geoms))
    return Layer("stbhhx", "生态保护红线", "MultiPolygon", geoms, fields)


# ------------------------------------------------------------------ entry points


def _parcels(seed: int, land: Landscape, tw: Townships, target: int) -> Parcels:
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
    grade = _slope_grades(stream(seed, "grades"), land, lu, area)
    czcsxm = _czcsxm(lu)
    state = _state_owned(land, lu, czcsxm)
    return Parcels(geoms, owner[order], lu, vil, area, grade, czcsxm, state)


def build_vector(seed: int, parcels: int) -> VectorDemo:
    """Generate every vector layer (deterministic for a given seed and size)."""
    land = make_landscape(stream(seed, "landscape"))
    tw = make_townships(stream(seed, "townships"), land)
    p = _parcels(seed, land, tw, parcels)
    dltb = dltb_layer(stream(seed, "attributes"), tw, p)
    czk, in_czk = czkfbj_layer(tw, p)
    layers = [
        xzq_layer(tw, p),
        dltb,
        czk,
        yjjbnt_layer(land, tw, p, in_czk),
        stbhhx_layer(land, tw, p, in_czk),
    ]
    return VectorDemo({layer.name: layer for layer in layers})


def write_gpkg(path: Path, demo: VectorDemo) -> None:
    """Write all layers into one GeoPackage (spatial index per layer).

    The file is GeoPackage 1.3, which GDAL releases older than 3.7 read without warnings.
    """
    for i, layer in enumerate(demo.layers.values()):
        pyogrio.raw.write(
            str(path),
            shapely.to_wkb(layer.geoms),
            list(layer.fields.values()),
            list(layer.fields),
            layer=layer.name,
            driver="GPKG",
            geometry_type=layer.geometry_type,
            crs=CRS,
            encoding="UTF-8",
            dataset_options={"VERSION": "1.3"} if i == 0 else None,
            layer_options={"DESCRIPTION": layer.title},
        )
