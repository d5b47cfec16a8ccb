"""change-detection: before/after imagery → classified change polygons (变化图斑).

Method (each step a documented parameter):
1. The after image is normalised to the before image band by band (quantiles of the
   clear pixels of a decimated read: a sensor/atmosphere gain and offset).
2. Per pixel: clouds (bright in every visible band) and shadows (every band darker by
   the same factor) are no change; NDVI, NDWI and visible brightness of both dates
   give the change vector; the NDVI threshold is Otsu's on the scene's |dNDVI| (not
   below ``thresholds.ndvi_change``); rules name the class: new bright built-up land,
   brighter bare quarry/mine ground, dark burn scars, new open water, greening; a 7×7
   majority keeps one class per object.
3. Per parcel of the land-use layer (DLTB): greening over most of a cropland parcel is
   the crop cycle (dropped); greening of part of one, or new water on cropland, is
   耕地非农化/非粮化; greening of other land is 生态修复.
4. Objects: polygons (merged across windows), smaller than the class's minimum area
   (ellipsoidal on CGCS2000) left out; township (XZQDM) and majority land use before
   (DLBM_before) from the layers; confidence from how far past the thresholds they are.
Work goes window by window through temporary rasters: memory does not grow with the
image.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import shapely
from pydantic import BaseModel, ConfigDict, Field
from rasterio.features import rasterize, shapes
from rasterio.windows import Window, from_bounds
from rasterio.windows import transform as window_transform

from processes import change_rules as rules
from processes.base import JobContext, Output, Process, ProcessError
from processes.change_publish import publish
from processes.data import Features, read_collection
from processes.geometry import (
    MU_PER_M2,
    BBox,
    GeoJSONGeometry,
    aoi_geometry,
    ellipsoidal_areas,
)
from processes.imagery_pair import ImagePair, cloudy, image_region, resolve_image
from processes.windows import PixelJob, classified
from providers.crs import CRS84, epsg_crs, transform_geometries

_WINDOW = 1024
# GDAL's block cache would otherwise grow with the image (5 % of RAM by default)
_GDAL_CACHE_MB = 64

CLASSES = {
    rules.CONSTRUCTION: ("construction", "新增建设用地", "construction"),
    rules.MINE: ("mine", "非煤矿山", "construction"),
    rules.FARMLAND: ("farmland_nonagri", "耕地非农化/非粮化", "agricultural"),
    rules.ECO: ("eco_restoration", "生态修复", "other"),
    rules.FIRE: ("fire", "火情", "other"),
}


class MinArea(BaseModel):
    """Least area (m², ellipsoidal) of a change polygon, by kind of land."""

    model_config = ConfigDict(extra="forbid")

    construction: float = Field(200, ge=0, description="新增建设用地 and 非煤矿山")
    agricultural: float = Field(400, ge=0, description="耕地非农化/非粮化")
    other: float = Field(600, ge=0, description="生态修复 and 火情")


def _zh(title: str, text: str) -> dict[str, Any]:
    return {"title_zh": title, "description_zh": text}


class Inputs(BaseModel):
    """Inputs of change-detection."""

    model_config = ConfigDict(extra="forbid")

    before: str | dict[str, str] = Field(
        "imagery",
        description="Before image (前时相): a raster collection id (a pair's before "
        "image) or {'href': a COG inside the allowed sources}",
        json_schema_extra=_zh("前时相影像", "影像数据集合 id 或 {href: COG 地址}"),
    )
    after: str | dict[str, str] = Field(
        "imagery",
        description="After image (后时相), as 'before'",
        json_schema_extra=_zh("后时相影像", "影像数据集合 id 或 {href: COG 地址}"),
    )
    before_date: str | None = Field(
        None, description="JCSDQ; default: the collection's or the image's date"
    )
    after_date: str | None = Field(
        None, description="JCSDH; default: the collection's or the image's date"
    )
    aoi: BBox | GeoJSONGeometry | None = Field(
        None,
        description="bbox [minLon, minLat, maxLon, maxLat] or a GeoJSON geometry",
        json_schema_extra=_zh("监测范围", "经纬度范围或 GeoJSON 几何"),
    )
    landuse: str | None = Field(
        "dltb",
        description="Land-use parcels (DLTB): crop phenology, 耕地 and DLBM_before; "
        "without it greening and new water are not reported",
        json_schema_extra=_zh("地类图斑", "用于物候判别、耕地判断和变化前地类"),
    )
    townships: str | None = Field(
        "xzq", description="Townships (XZQDM) of the polygons", json_schema_extra=_zh(
            "乡镇", "变化图斑所在乡镇"
        ),
    )  # fmt: skip
    cloud_mask: str | dict[str, str] | None = Field(
        None,
        description="A raster (non-zero = cloud or shadow in either image) to leave out, "
        "besides the clouds and shadows found in the images: {'href': …}",
        json_schema_extra=_zh("云掩膜", "非零像元为云或阴影，不参与变化检测"),
    )
    min_area_m2: MinArea = Field(default_factory=MinArea)
    thresholds: rules.Thresholds = Field(default_factory=rules.Thresholds)
    publish: bool = Field(
        True,
        description="Also add the polygons to the change-polygons collection (status "
        "pending) when the server has one",
    )


class _Scene:
    """What both passes share: the pair, its window of interest, the land use."""

    def __init__(
        self,
        ctx: JobContext,
        inputs: Inputs,
        pair: ImagePair,
        paths: tuple[str, str, str | None],
    ) -> None:
        self.pair = pair
        self.paths = paths  # before, after, cloud mask: what Dask workers open
        self.crs = epsg_crs(pair.crs.to_epsg() or 4490)
        self.aoi = aoi_geometry(inputs.aoi) if inputs.aoi is not None else None
        # pixels outside the submitter's region of either image are never read
        for path in paths[:2]:
            region = image_region(ctx, path)
            if region is not None:
                self.aoi = region if self.aoi is None else self.aoi.intersection(region)
        bounds = pair.before.bounds
        footprint = transform_geometries(shapely.box(*bounds), self.crs, CRS84)
        area = (
            footprint if self.aoi is None else shapely.intersection(footprint, self.aoi)
        )
        if area.is_empty:
            raise ProcessError("process.aoi_outside")
        self.area = area  # CRS84
        local = transform_geometries(area, CRS84, self.crs)
        full = Window(0, 0, pair.shape[1], pair.shape[0])
        self.window = (
            from_bounds(*shapely.bounds(local), transform=pair.transform)
            .round_offsets()
            .round_lengths()
            .intersection(full)
        )
        self.area_local = local
        box = tuple(float(v) for v in shapely.bounds(area))
        self.parcels: Features | None = None
        self.parcels_local: np.ndarray | None = None
        if inputs.landuse:
            self.parcels = read_collection(ctx, inputs.landuse, ("DLBM",), box)  # type: ignore[arg-type]
            self.parcels_local = transform_geometries(
                self.parcels.geometries, CRS84, self.crs
            )
        self.towns = (
            read_collection(ctx, inputs.townships, ("XZQDM",), box)  # type: ignore[arg-type]
            if inputs.townships
            else None
        )

    def parcel_ids(self, window: Window) -> np.ndarray:
        """Index of the land-use parcel under each pixel of a window (-1: none)."""
        shape = (int(window.height), int(window.width))
        if self.parcels_local is None or len(self.parcels_local) == 0:
            return np.full(shape, -1, np.int32)
        transform = window_transform(window, self.pair.transform)
        left, top = transform @ (0, 0)
        right, bottom = transform @ (shape[1], shape[0])
        near = np.flatnonzero(
            shapely.intersects(self.parcels_local, shapely.box(left, bottom, right, top))
        )
        if len(near) == 0:
            return np.full(shape, -1, np.int32)
        burnt = rasterize(
            zip(self.parcels_local[near], near.tolist(), strict=True),
            out_shape=shape,
            transform=transform,
            fill=-1,
            dtype="int32",
        )
        return np.asarray(burnt, np.int32)

    def inside(self, window: Window) -> np.ndarray:
        """Pixels of a window inside the area of interest."""
        shape = (int(window.height), int(window.width))
        if self.aoi is None:
            return np.ones(shape, bool)
        transform = window_transform(window, self.pair.transform)
        burnt = rasterize([(self.area_local, 1)], out_shape=shape, transform=transform)
        return np.asarray(burnt, bool)


def _ndvi_threshold(b: np.ndarray, a: np.ndarray, norm: Any, floor: float) -> float:
    """Otsu's threshold of |dNDVI| over the clear pixels of the sample."""
    a = a * norm.gain[:, None, None] + norm.offset[:, None, None]
    clear = ~(cloudy(b) | cloudy(a)) & (b > 0).all(0)
    dn = np.abs(rules.indices(a)[0] - rules.indices(b)[0])[clear]
    return max(floor, rules.otsu(dn))


def _pass_one(
    scene: _Scene, inputs: Inputs, ctx: JobContext, tmp: Path
) -> tuple[Path, np.ndarray, np.ndarray]:
    """Classes and scores of every window into a temporary raster; per parcel the
    pixel count and the greening count."""
    pair = scene.pair
    sample_b, sample_a = pair.sample()
    norm = pair.normalisation(sample_b, sample_a)
    ndvi_t = _ndvi_threshold(sample_b, sample_a, norm, inputs.thresholds.ndvi_change)
    n = len(scene.parcels_local) if scene.parcels_local is not None else 0
    total = np.zeros(n + 1, np.int64)
    green = np.zeros(n + 1, np.int64)
    path = tmp / "classes.tif"
    profile = {
        "driver": "GTiff", "count": 2, "dtype": "uint8", "crs": pair.crs,
        "width": pair.shape[1], "height": pair.shape[0], "transform": pair.transform,
        "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate",
    }  # fmt: skip
    windows = list(pair.windows(_WINDOW, scene.window))
    job = PixelJob(
        scene.paths[0], scene.paths[1], scene.paths[2], norm,
        inputs.thresholds.model_dump(), ndvi_t,
    )  # fmt: skip
    scheduler = ctx.settings.processes.dask_scheduler
    with rasterio.open(path, "w", **profile) as out:
        work = classified(pair, job, windows, scheduler)
        for i, (window, cls, score) in enumerate(work):
            cls[~scene.inside(window)] = rules.NONE
            pid = scene.parcel_ids(window)
            total += np.bincount(pid.ravel() + 1, minlength=n + 1)
            green += np.bincount(pid[cls == rules.GREENING] + 1, minlength=n + 1)
            out.write(np.stack([cls, score]), window=window)
            ctx.progress(5 + int(55 * (i + 1) / len(windows)), "classifying pixels")
    return path, total[1:], green[1:]


def _resolve_parcel_classes(
    cls: np.ndarray, pid: np.ndarray, cropland: np.ndarray, phenology: np.ndarray
) -> np.ndarray:
    """Greening and new water decided with the land use under each pixel."""
    on = pid >= 0
    # index len(cropland) = no parcel (works when there is no land use at all)
    safe = np.where(on, pid, len(cropland))
    crop = np.append(cropland, False)[safe]
    out = cls.copy()
    greening, water = cls == rules.GREENING, cls == rules.WATER
    out[greening | water] = rules.NONE
    out[greening & crop & ~np.append(phenology, False)[safe]] = rules.FARMLAND
    out[greening & on & ~crop] = rules.ECO
    out[water & crop] = rules.FARMLAND
    return out


def _pass_two(
    scene: _Scene, classes: Path, total: np.ndarray, green: np.ndarray, share: float
) -> list[tuple[Any, int, float, float]]:
    """Polygons (image CRS) with class, score sum and pixel count, window by window;
    the parts cut by window edges are merged afterwards."""
    cropland = np.zeros(len(total), bool)
    if scene.parcels is not None:
        codes = np.asarray([str(c or "") for c in scene.parcels.properties["DLBM"]])
        cropland = np.char.startswith(codes, "01")
    phenology = green >= share * np.maximum(total, 1)
    pieces: list[tuple[Any, int, float, float]] = []
    with rasterio.open(classes) as src:
        for window in scene.pair.windows(_WINDOW, scene.window):
            cls, score = src.read(window=window)
            cls = _resolve_parcel_classes(
                cls, scene.parcel_ids(window), cropland, phenology
            )
            transform = window_transform(window, scene.pair.transform)
            found = [
                (shapely.geometry.shape(g), int(v))
                for g, v in shapes(cls, mask=cls > 0, transform=transform)
            ]
            if not found:
                continue
            index = rasterize(
                ((g, i + 1) for i, (g, _v) in enumerate(found)),
                out_shape=cls.shape, transform=transform, dtype="int32",
            )  # fmt: skip
            sums = np.bincount(index.ravel(), weights=score.ravel() / 100.0)
            counts = np.bincount(index.ravel())
            for i, (geom, value) in enumerate(found, start=1):
                total_score = float(sums[i]) if i < len(sums) else 0.0
                pixels = float(counts[i]) if i < len(counts) else 0.0
                pieces.append((geom, value, total_score, pixels))
    return _merge_across_windows(pieces)


def _merge_across_windows(
    pieces: list[tuple[Any, int, float, float]],
) -> list[tuple[Any, int, float, float]]:
    """Union the pieces of one class that touch (they were cut by window edges)."""
    merged: list[tuple[Any, int, float, float]] = []
    for value in sorted({p[1] for p in pieces}):
        group = [p for p in pieces if p[1] == value]
        geoms = np.array([p[0] for p in group], dtype=object)
        unions = shapely.get_parts(shapely.union_all(geoms))
        tree = shapely.STRtree(geoms)
        for union in unions:
            members = tree.query(union, predicate="intersects")
            score = sum(group[m][2] for m in members)
            pixels = sum(group[m][3] for m in members)
            merged.append((union, value, score, pixels))
    return merged


def _majority_code(geom: Any, parcels: Features | None) -> str | None:
    if parcels is None:
        return None
    near = np.flatnonzero(shapely.intersects(parcels.geometries, geom))
    if len(near) == 0:
        return None
    areas = shapely.area(shapely.intersection(parcels.geometries[near], geom))
    return str(parcels.properties["DLBM"][int(near[np.argmax(areas)])])


def _township(geom: Any, towns: Features | None) -> str | None:
    if towns is None:
        return None
    point = shapely.point_on_surface(geom)
    hit = np.flatnonzero(shapely.contains(towns.geometries, point))
    return str(towns.properties["XZQDM"][int(hit[0])]) if len(hit) else None


def _dates(ctx: JobContext, inputs: Inputs, pair: ImagePair) -> tuple[str, str]:
    def configured(value: Any, attr: str) -> str | None:
        conf = ctx.settings.collections.get(value) if isinstance(value, str) else None
        return getattr(conf.source, attr, None) if conf is not None else None

    before = inputs.before_date or configured(inputs.before, "before_date")
    after = inputs.after_date or configured(inputs.after, "after_date")
    before = before or pair.before.tags().get("ACQUISITION_DATE", "")
    after = after or pair.after.tags().get("ACQUISITION_DATE", "")
    return str(before), str(after)


def run(inputs: Inputs, ctx: JobContext) -> dict[str, Any]:
    """Detect, classify and describe the changes; publish them when asked."""
    before = resolve_image(ctx, inputs.before, "before")
    after = resolve_image(ctx, inputs.after, "after")
    mask = resolve_image(ctx, inputs.cloud_mask, "image") if inputs.cloud_mask else None
    ctx.progress(1, "opening the images")
    with (
        rasterio.Env(GDAL_CACHEMAX=_GDAL_CACHE_MB),
        ImagePair(before, after, mask=mask) as pair,
        tempfile.TemporaryDirectory() as tmp,
    ):
        scene = _Scene(ctx, inputs, pair, (before, after, mask))
        classes, total, green = _pass_one(scene, inputs, ctx, Path(tmp))
        ctx.progress(62, "drawing polygons")
        share = inputs.thresholds.phenology_share
        objects = _pass_two(scene, classes, total, green, share)
        jcsdq, jcsdh = _dates(ctx, inputs, pair)
        crs = scene.crs
    ctx.progress(80, "describing the polygons")
    geoms = transform_geometries(np.array([o[0] for o in objects], object), crs, CRS84)
    areas = ellipsoidal_areas(geoms) if len(geoms) else np.zeros(0)
    least = inputs.min_area_m2.model_dump()
    features: list[dict[str, Any]] = []
    for (_g, value, score, pixels), geom, area in zip(objects, geoms, areas, strict=True):
        name, name_zh, kind = CLASSES[value]
        if area < least[kind]:
            continue
        number = len(features) + 1
        features.append({
            "type": "Feature",
            "geometry": shapely.geometry.mapping(shapely.set_precision(geom, 1e-7)),
            "properties": {
                "YGTBZJ": f"{jcsdh.replace('-', '')}-{ctx.job_id[:8]}-{number:04d}",
                "class": name,
                "class_zh": name_zh,
                "JCSDQ": jcsdq,
                "JCSDH": jcsdh,
                "JCMJ": round(float(area), 2),
                "JCMJ_MU": round(float(area) * MU_PER_M2, 2),
                "XZQDM": _township(geom, scene.towns),
                "DLBM_before": _majority_code(geom, scene.parcels),
                "confidence": round(score / pixels, 2) if pixels else 0.0,
            },
        })  # fmt: skip
    ctx.progress(90, "publishing")
    published = publish(ctx, features) if inputs.publish else 0
    counts: dict[str, int] = {}
    for f in features:
        counts[f["properties"]["class"]] = counts.get(f["properties"]["class"], 0) + 1
    return {
        "changes": {"type": "FeatureCollection", "features": features},
        "summary": {
            "count": len(features),
            "by_class": counts,
            "area_m2": round(sum(f["properties"]["JCMJ"] for f in features), 2),
            "published": published,
            "JCSDQ": jcsdq,
            "JCSDH": jcsdh,
        },
    }


PROCESS = Process(
    id="change-detection",
    version="1.0.0",
    title={"zh-CN": "遥感变化检测", "en": "Change detection"},
    description={
        "zh-CN": "比较前后时相影像，提取并分类变化图斑（新增建设用地、耕地非农化/非粮化、"
        "生态修复、非煤矿山、火情），剔除云、阴影和作物物候变化，计算椭球面积，"
        "并发布到变化图斑数据集合（待核查）。",
        "en": "Compares a before and an after image into classified change polygons "
        "(new construction, farmland to non-agricultural/non-grain use, ecological "
        "restoration, mines, fire), leaving out clouds, shadows and crop phenology, "
        "with ellipsoidal areas; publishes them to change-polygons (pending).",
    },
    inputs=Inputs,
    outputs={
        "changes": Output(
            title={"zh-CN": "变化图斑", "en": "Change polygons"},
            description={"zh-CN": "GeoJSON 要素集合", "en": "GeoJSON FeatureCollection"},
            schema={"type": "object", "contentMediaType": "application/geo+json"},
        ),
        "summary": Output(
            title={"zh-CN": "汇总", "en": "Summary"},
            description={"zh-CN": "按类别的数量和面积", "en": "Counts and area by class"},
            schema={"type": "object"},
        ),
    },
    run=run,
    keywords=("变化检测", "变化图斑", "卫片", "change detection"),
    collection_inputs=("landuse", "townships"),
    href_inputs=("before", "after", "cloud_mask"),
)
