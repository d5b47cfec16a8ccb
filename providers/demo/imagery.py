"""A synthetic Sentinel-2-like before/after image pair (COG) over the urban fringe.

The scene is painted from the land-use parcels: every parcel gets a plausible surface
reflectance spectrum (×10000, bands B, G, R, NIR) plus texture. The "after" image adds
planted changes of five monitoring classes, and also differences that are *not* changes:
a global radiometric gain/offset, greener paddy (crop phenology) and clouds with shadows.
The planted changes and the clouds are written as GeoJSON truth files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import rasterio
import rasterio.shutil
import shapely
from rasterio.features import rasterize
from rasterio.io import MemoryFile
from rasterio.transform import Affine

from .geo import (
    CENTRE,
    KM_X,
    KM_Y,
    BoolArray,
    ObjArray,
    StrArray,
    geodesic_areas,
    to_km,
)
from .landuse import CROPLAND

F32 = npt.NDArray[np.float32]

WEST: Final = 109.55
NORTH: Final = 23.05 + 2048 * 0.00005  # 23.1524
RES: Final = 0.00005
SIZE: Final = 2048
BANDS: Final = ("B", "G", "R", "NIR")
BEFORE_DATE: Final = "2024-03-15"
AFTER_DATE: Final = "2024-09-15"
CRS: Final = "EPSG:4490"

Spectrum = tuple[int, int, int, int]
SPECTRA: Final[dict[str, Spectrum]] = {
    "0101": (700, 850, 900, 1500),  # paddy in March: flooded, young rice
    "0102": (600, 850, 750, 2300),
    "0103": (650, 900, 950, 2100),  # sugarcane ratoon and dry crops
    "02": (420, 700, 520, 2900),
    "0301": (300, 520, 300, 3200),
    "0302": (320, 600, 340, 3400),
    "0305": (380, 640, 430, 2700),
    "0307": (420, 650, 480, 2500),
    "04": (520, 820, 700, 2400),
    "05": (1450, 1500, 1550, 1850),
    "0508": (1700, 1750, 1800, 2000),
    "0601": (1750, 1850, 1950, 2150),
    "0602": (1900, 2100, 2400, 2600),
    "0701": (1250, 1300, 1350, 1750),
    "0702": (1100, 1200, 1350, 1900),
    "08": (1200, 1250, 1300, 1700),
    "0810": (450, 760, 560, 2800),
    "0810A": (1500, 1550, 1600, 1800),
    "09": (1000, 1100, 1200, 1800),
    "1001": (900, 950, 1000, 1300),
    "1003": (1250, 1300, 1350, 1550),
    "1004": (1150, 1200, 1250, 1450),
    "1005": (1400, 1450, 1500, 1700),
    "1006": (1000, 1150, 1300, 1800),
    "1101": (650, 800, 650, 300),  # turbid river
    "1103": (420, 520, 330, 150),
    "1104": (520, 700, 480, 250),
    "1104A": (550, 760, 520, 300),
    "1106": (950, 1150, 1300, 1700),
    "1107": (550, 700, 550, 600),
    "1201": (1000, 1250, 1600, 2100),  # bare soil: R > G > B
    "1202": (1900, 2000, 2050, 2300),  # greenhouses
    "1206": (1050, 1300, 1700, 2200),
    "1207": (1800, 2000, 2250, 2450),
}
DEFAULT_SPECTRUM: Final = (900, 1000, 1100, 1600)
TEXTURED: Final = ("05", "06", "07", "08", "09", "1005", "1202")
FOREST: Final = ("0301", "0302", "0305", "0307")
BARE: Final = ("0602", "1201", "1206", "1207")

# Monitoring classes: source land use and the look afterwards.
CHANGE_CLASSES: Final[dict[str, tuple[tuple[str, ...], tuple[Spectrum, ...]]]] = {
    "construction": (
        CROPLAND + FOREST,
        ((1900, 2000, 2100, 2300), (1550, 1650, 1800, 2050), (2100, 2150, 2200, 2350)),
    ),
    "farmland_nonagri": (
        ("0101", "0103"),
        ((500, 700, 480, 250), (420, 700, 520, 2900), (320, 560, 330, 3100)),
    ),
    "eco_restoration": (BARE, ((450, 780, 520, 2900), (380, 700, 450, 3000))),
    "mine": (FOREST, ((2400, 2600, 2900, 2700), (2300, 2500, 2750, 2600))),
    "fire": (FOREST, ((250, 300, 350, 600), (220, 260, 300, 500))),
}
CLASS_ZH: Final = {
    "construction": "新增建设用地",
    "farmland_nonagri": "耕地非农化",
    "eco_restoration": "生态修复",
    "mine": "采矿用地",
    "fire": "火烧迹地",
}
SIZE_BANDS_M2: Final = ((400.0, 1500.0), (1500.0, 6000.0), (6000.0, 20000.0))
CLOUD: Final[Spectrum] = (8200, 8400, 8600, 8800)


def transform() -> Affine:
    """Pixel → lon/lat transform of the image grid."""
    return Affine(RES, 0.0, WEST, 0.0, -RES, NORTH)


def window_box() -> Any:
    """The image footprint (lon/lat)."""
    return shapely.box(WEST, NORTH - SIZE * RES, WEST + SIZE * RES, NORTH)


def spectrum(code: str) -> Spectrum:
    """Reflectance ×10000 (B, G, R, NIR) of a 三调 land-use code."""
    for key in (code, code[:4], code[:2]):
        if key in SPECTRA:
            return SPECTRA[key]
    return DEFAULT_SPECTRUM


@dataclass(frozen=True)
class Planted:
    """One planted polygon (change, cloud or shadow) in lon/lat."""

    kind: str
    geom: Any
    area_m2: float
    source: str = ""
    look: Spectrum = DEFAULT_SPECTRUM
    before_look: Spectrum | None = None  # painted into "before" when no parcel fitted


@dataclass(frozen=True)
class Scene:
    """Both images (band, row, col uint16) and what was planted into "after"."""

    before: npt.NDArray[np.uint16]
    after: npt.NDArray[np.uint16]
    changes: list[Planted]
    clouds: list[Planted]


# ---------------------------------------------------------------- texture helpers


def _smooth_noise(rng: np.random.Generator, cell_px: int) -> F32:
    """Bilinear value noise (unit variance-ish) with features of ``cell_px`` pixels."""
    n = SIZE // cell_px + 2
    coarse = rng.standard_normal((n, n))
    pos = np.arange(SIZE) / cell_px
    i0 = np.floor(pos).astype(np.int64)
    w = pos - i0
    interp = np.zeros((SIZE, n))
    interp[np.arange(SIZE), i0] = 1 - w
    interp[np.arange(SIZE), i0 + 1] = w
    return np.asarray(interp @ coarse @ interp.T, np.float32)


def _blocks(rng: np.random.Generator, px: int) -> F32:
    """Blocky pattern (roofs and their shadows) of ``px``-pixel squares around 1."""
    n = SIZE // px + 1
    coarse = rng.uniform(0.72, 1.32, (n, n)).astype(np.float32)
    return np.repeat(np.repeat(coarse, px, 0), px, 1)[:SIZE, :SIZE]


def _starts(codes: StrArray, prefixes: tuple[str, ...]) -> BoolArray:
    """Whether each code starts with one of the prefixes."""
    out = np.zeros(len(codes), bool)
    for prefix in prefixes:
        out |= np.char.startswith(codes, prefix)
    return out


def _mask(geoms: list[Any]) -> BoolArray:
    if not geoms:
        return np.zeros((SIZE, SIZE), bool)
    burnt = rasterize(
        [(g, 1) for g in geoms],
        out_shape=(SIZE, SIZE),
        transform=transform(),
        dtype="uint8",
    )
    return np.asarray(burnt, bool)


# ------------------------------------------------------------------------- base scene


def parcel_raster(geoms: ObjArray) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]:
    """Index (into the window parcels) of the parcel under each pixel, and their ids."""
    ids = np.flatnonzero(shapely.intersects(geoms, window_box()))
    shapes = zip(geoms[ids], np.arange(len(ids)), strict=True)
    raster = rasterize(
        shapes, out_shape=(SIZE, SIZE), transform=transform(), fill=-1, dtype="int32"
    )
    return np.asarray(raster, np.int32), ids


def base_scene(
    rng: np.random.Generator, pid: npt.NDArray[np.int32], codes: StrArray
) -> F32:
    """Reflectance (band, row, col) of the unchanged scene, with texture."""
    uniq, inverse = np.unique(codes, return_inverse=True)
    spec = np.array([spectrum(str(c)) for c in uniq], np.float32)[inverse.ravel()]
    spec *= rng.normal(1.0, 0.07, (len(codes), 1)).astype(np.float32)
    veg = _starts(codes, ("02", "03", "04", "0810"))
    spec[:, 3] *= np.where(veg, rng.normal(1.0, 0.06, len(codes)), 1.0).astype(np.float32)
    img = np.ascontiguousarray(spec.T[:, pid])  # (4, rows, cols)
    textured = _starts(codes, TEXTURED)[pid]
    roofs = np.where(textured, _blocks(rng, 3) * _blocks(rng, 7) ** 0.5, np.float32(1.0))
    forest = _starts(codes, FOREST)[pid]
    grain = rng.standard_normal((SIZE, SIZE), dtype=np.float32)
    grain *= np.where(forest, np.float32(0.07), np.float32(0.025))
    grain += 1.0 + 0.04 * _smooth_noise(rng, 96)
    grain *= roofs
    img *= grain[None]
    return img


def _to_uint16(img: F32) -> npt.NDArray[np.uint16]:
    np.rint(img, out=img)
    np.clip(img, 1, 10000, out=img)
    return img.astype(np.uint16)


# ----------------------------------------------------------------- planted changes


def _blob_deg(rng: np.random.Generator, lon: float, lat: float, area_m2: float) -> Any:
    """An irregular star-shaped polygon of about ``area_m2`` around a point."""
    t = np.linspace(0.0, 2 * np.pi, 48, endpoint=False)
    k = np.arange(2, 6)
    a = rng.uniform(0.08, 0.28, len(k)) / np.sqrt(k - 1)
    r = 1.0 + np.sin(np.multiply.outer(t, k) + rng.uniform(0, 2 * np.pi, len(k))) @ a
    r = np.maximum(r, 0.35)
    ring = np.column_stack([r * np.cos(t), r * np.sin(t)])
    unit_area = float(shapely.area(shapely.Polygon(ring)))
    scale_km = np.sqrt(area_m2 / 1e6 / unit_area)
    x0, y0 = to_km(lon, lat)
    km_x = ring[:, 0] * scale_km + x0
    km_y = ring[:, 1] * scale_km + y0
    return shapely.Polygon(
        np.column_stack([km_x / KM_X + CENTRE[0], km_y / KM_Y + CENTRE[1]])
    )


def _inner_window(margin_deg: float) -> Any:
    x0, y0, x1, y1 = shapely.bounds(window_box())
    return shapely.box(x0 + margin_deg, y0 + margin_deg, x1 - margin_deg, y1 - margin_deg)


def _random_point_in(rng: np.random.Generator, geom: Any) -> tuple[float, float]:
    x0, y0, x1, y1 = shapely.bounds(geom)
    pts = rng.uniform([x0, y0], [x1, y1], size=(256, 2))
    inside = pts[shapely.contains_xy(geom, pts[:, 0], pts[:, 1])]
    x, y = (
        inside[0]
        if len(inside)
        else shapely.get_coordinates(shapely.point_on_surface(geom))[0]
    )
    return float(x), float(y)


def _finish(geom: Any) -> Any:
    """Largest polygon part on a 1e-7° grid (about 1 cm), so files and areas agree."""
    geom = shapely.set_precision(geom, 1e-7)
    parts = shapely.get_parts(geom)
    parts = parts[shapely.get_type_id(parts) == 3]
    if len(parts) == 0:
        return shapely.Polygon()
    return shapely.orient_polygons(parts[np.argmax(shapely.area(parts))])


def _try_place(
    rng: np.random.Generator,
    parcels: ObjArray,
    codes: StrArray,
    sources: tuple[str, ...],
    target_m2: float,
    avoid: Any,
) -> tuple[Any, str] | None:
    """A polygon of about ``target_m2`` inside parcels of the source classes."""
    inner = _inner_window(0.002)
    ok = np.isin(codes, sources) & shapely.within(parcels, inner)
    ok &= ~shapely.intersects(parcels, avoid)
    cand = np.flatnonzero(ok)
    if len(cand) == 0:
        return None
    area = shapely.area(parcels[cand]) * KM_X * KM_Y * 1e6
    big = cand[area >= 1.5 * target_m2]
    pool = big if len(big) else cand
    for idx in rng.permutation(pool)[:30]:
        lon, lat = _random_point_in(rng, parcels[idx])
        shape = _blob_deg(rng, lon, lat, target_m2)
        near = np.flatnonzero(
            shapely.intersects(parcels, shape) & np.isin(codes, sources)
        )
        geom = _finish(shapely.intersection(shape, shapely.union_all(parcels[near])))
        if shapely.is_empty(geom) or shapely.intersects(geom, avoid):
            continue
        got = float(geodesic_areas(np.array([geom], object))[0])
        if got >= max(0.6 * target_m2, 350.0):
            return geom, str(codes[idx])
    return None


def plant_changes(
    rng: np.random.Generator, parcels: ObjArray, codes: StrArray
) -> list[Planted]:
    """Three polygons of each monitoring class, small to large, not overlapping."""
    out: list[Planted] = []
    avoid = shapely.Polygon()
    for kind, (sources, looks) in CHANGE_CLASSES.items():
        for i, (lo, hi) in enumerate(SIZE_BANDS_M2):
            target = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
            look = looks[i % len(looks)]
            placed = _try_place(rng, parcels, codes, sources, target, avoid)
            before_look = None
            if placed is None:  # no parcel of the source class here: paint it first
                lon, lat = _random_point_in(rng, _inner_window(0.003))
                geom = _finish(
                    shapely.difference(_blob_deg(rng, lon, lat, target), avoid)
                )
                placed = (geom, sources[0])
                before_look = spectrum(sources[0])
            geom, src = placed
            area = float(geodesic_areas(np.array([geom], object))[0])
            out.append(Planted(kind, geom, area, src, look, before_look))
            avoid = shapely.union(avoid, shapely.buffer(geom, 0.0006))
    return out


def plant_clouds(rng: np.random.Generator, avoid: Any, count: int = 2) -> list[Planted]:
    """Small opaque clouds with shadows (to the north-west), away from the changes."""
    out: list[Planted] = []
    taken = avoid
    for _ in range(count):
        for _attempt in range(200):
            lon, lat = _random_point_in(rng, _inner_window(0.01))
            cloud = _finish(_blob_deg(rng, lon, lat, float(rng.uniform(4e4, 1.2e5))))
            dx, dy = rng.uniform(-0.0030, -0.0022), rng.uniform(0.0014, 0.0020)
            moved = shapely.transform(cloud, lambda c, d=(dx, dy): c + np.array(d))
            shadow = _finish(shapely.difference(moved, cloud))
            both = shapely.union(cloud, shadow)
            if not shapely.intersects(shapely.buffer(both, 0.0008), taken):
                break
        taken = shapely.union(taken, both)
        for kind, geom in (("cloud", cloud), ("shadow", shadow)):
            area = float(geodesic_areas(np.array([geom], object))[0])
            out.append(Planted(kind, geom, area))
    return out


# ------------------------------------------------------------------------ the pair


def _phenology(
    rng: np.random.Generator, img: F32, pid: npt.NDArray[np.int32], codes: StrArray,
    window_geoms: ObjArray, changes: list[Planted],
) -> None:  # fmt: skip
    """Greener paddy in September for a subset of paddy parcels (in place)."""
    touched = (
        shapely.union_all([c.geom for c in changes]) if changes else shapely.Polygon()
    )
    paddy = (codes == "0101") & ~shapely.intersects(window_geoms, touched)
    chosen = paddy & (rng.random(len(codes)) < 0.45)
    mask = chosen[pid]
    for band, factor in enumerate((0.7, 0.95, 0.55, 1.9)):
        img[band][mask] *= np.float32(factor)


def _paint(img: F32, rng: np.random.Generator, items: list[tuple[Any, Spectrum]]) -> None:
    """Paint polygons with a spectrum plus mild texture (in place)."""
    for geom, look in items:
        mask = _mask([geom])
        tex = rng.normal(1.0, 0.05, int(mask.sum())).astype(np.float32)
        for band in range(4):
            img[band][mask] = np.float32(look[band]) * tex


def build_scene(rng: np.random.Generator, geoms: ObjArray, codes: StrArray) -> Scene:
    """Render the before/after pair from the parcels."""
    pid, ids = parcel_raster(geoms)
    wcodes = codes[ids].astype(str)
    base = base_scene(rng, pid, wcodes)
    changes = plant_changes(rng, geoms[ids], wcodes)
    avoid = shapely.union_all([c.geom for c in changes])
    clouds = plant_clouds(rng, avoid)
    after = base.copy()
    before = base  # painted in place from here on
    _paint(before, rng, [(c.geom, c.before_look) for c in changes if c.before_look])
    _phenology(rng, after, pid, wcodes, geoms[ids], changes)
    _paint(after, rng, [(c.geom, c.look) for c in changes])
    sensor = rng.standard_normal(after.shape[1:], dtype=np.float32)
    after *= (1.0 + np.float32(0.012) * sensor)[None]
    gain = rng.uniform(0.9, 1.1, 4).astype(np.float32)
    offset = rng.uniform(-120.0, 120.0, 4).astype(np.float32)
    after *= gain[:, None, None]
    after += offset[:, None, None]
    cloud_mask = _mask([c.geom for c in clouds if c.kind == "cloud"])
    shadow_mask = _mask([c.geom for c in clouds if c.kind == "shadow"]) & ~cloud_mask
    puff = 0.94 + 0.04 * _smooth_noise(rng, 24)
    for band in range(4):
        after[band][shadow_mask] *= np.float32(0.35)
        after[band][cloud_mask] = (CLOUD[band] * puff)[cloud_mask]
    return Scene(_to_uint16(before), _to_uint16(after), changes, clouds)


# ------------------------------------------------------------------------- writing


def write_cog(path: Path, data: npt.NDArray[np.uint16], date: str) -> None:
    """Write a 4-band uint16 Cloud-Optimized GeoTIFF (DEFLATE, 512 tiles, overviews)."""
    profile = {
        "driver": "GTiff", "width": SIZE, "height": SIZE, "count": 4,
        "dtype": "uint16", "crs": CRS, "transform": transform(),
    }  # fmt: skip
    with MemoryFile() as mem:
        with mem.open(**profile) as ds:
            ds.write(data)
            for i, name in enumerate(BANDS, start=1):
                ds.set_band_description(i, name)
            ds.update_tags(
                ACQUISITION_DATE=date,
                REFLECTANCE_SCALE="10000",
                SOURCE="OneMap synthetic demo (Sentinel-2 L2A-like)",
            )
        with mem.open() as src:
            rasterio.shutil.copy(
                src, str(path), driver="COG", compress="DEFLATE", predictor=2,
                blocksize=512, overview_resampling="average", num_threads=2,
            )  # fmt: skip


def _feature(i: int, item: Planted, props: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": i,
        "properties": {"id": i, **props, "area_m2": round(item.area_m2, 2)},
        "geometry": json.loads(shapely.to_geojson(item.geom)),
    }


def write_truth(path: Path, changes: list[Planted]) -> None:
    """The planted change polygons as GeoJSON (CRS84)."""
    features = [
        _feature(
            i,
            c,
            {
                "class": c.kind,
                "class_zh": CLASS_ZH[c.kind],
                "source_dlbm": c.source,
                "JCSDQ": BEFORE_DATE,
                "JCSDH": AFTER_DATE,
            },
        )
        for i, c in enumerate(changes, start=1)
    ]
    _write_json(
        path, {"type": "FeatureCollection", "name": "changes_truth", "features": features}
    )


def write_clouds(path: Path, clouds: list[Planted]) -> None:
    """Clouds and cloud shadows in "after" (not changes) as GeoJSON (CRS84)."""
    features = [
        _feature(i, c, {"kind": c.kind, "date": AFTER_DATE})
        for i, c in enumerate(clouds, start=1)
    ]
    _write_json(
        path, {"type": "FeatureCollection", "name": "clouds_truth", "features": features}
    )


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(
        json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
