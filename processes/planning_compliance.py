"""planning-compliance (规划符合性分析): a project's polygon(s) against the three control
lines (三区三线) and the current land use.

Exact overlay in CRS84 (GEOS), areas on the CGCS2000 ellipsoid. Per line: the overlap
area (m², 亩, ha), the overlapping features, the share of the project and a conclusion;
an overlap under ``sliver_m2`` is reported as touching, not occupying. Conclusions (local
policy decides in the end; these are the usual readings): occupying 生态保护红线 or
永久基本农田 → 不符合; lying partly outside 城镇开发边界 → 需论证, wholly inside → 符合.
Land use inside the project by DLBM and 三大类, with 耕地 flagged. The report (HTML) has
the tables and a map of the overlay.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from pydantic import BaseModel, ConfigDict, Field

from config.landuse import base_code, landuse_names, sandalei_of
from processes.base import JobContext, Output, Process, ProcessError
from processes.data import Features, read_collection
from processes.geometry import (
    MU_PER_M2,
    GeoJSONGeometry,
    aoi_geometry,
    area_units,
    ellipsoidal_area,
)
from processes.reports import PDF_OUTPUT, figure, html_report, report_output, with_pdf

_KEYS = {"stbhhx": ("HXMC", "LXMC"), "yjjbnt": ("YJJBNTTBBH", "DLBM"),
         "czkfbj": ("GHFQDM", "GHFQMC")}  # fmt: skip
_NAMES = {"stbhhx": "生态保护红线", "yjjbnt": "永久基本农田", "czkfbj": "城镇开发边界"}


class Lines(BaseModel):
    """The collections of the control lines and of the current land use."""

    model_config = ConfigDict(extra="forbid")

    stbhhx: str = Field("stbhhx", max_length=64, description="生态保护红线")
    yjjbnt: str = Field("yjjbnt", max_length=64, description="永久基本农田")
    czkfbj: str = Field("czkfbj", max_length=64, description="城镇开发边界")
    landuse: str = Field("dltb", max_length=64, description="地类图斑 (DLTB)")


class Inputs(BaseModel):
    """Inputs of planning-compliance."""

    model_config = ConfigDict(extra="forbid")

    project: GeoJSONGeometry = Field(
        description="The project red line: a GeoJSON Polygon/MultiPolygon (CRS84)",
        json_schema_extra={
            "title_zh": "项目红线",
            "description_zh": "GeoJSON 面（经纬度）",
        },
    )
    name: str = Field("项目", max_length=100, description="Project name for the report")
    lines: Lines = Field(default_factory=Lines)
    pdf: bool = Field(False, description="Also return the report as PDF")
    sliver_m2: float = Field(
        1.0, ge=0, description="Overlaps smaller than this are 'touching' (m²)"
    )


def _area(geom: Any) -> float:
    return ellipsoidal_area(geom) if geom is not None and not geom.is_empty else 0.0


def _overlay(
    project: Any, features: Features, keys: tuple[str, ...], sliver: float
) -> tuple[float, list[dict[str, Any]], Any]:
    hit = np.flatnonzero(shapely.intersects(features.geometries, project))
    rows, parts = [], []
    for i in hit:
        part = shapely.intersection(features.geometries[i], project)
        area = _area(part)
        if area <= 0:
            continue
        parts.append(part)
        rows.append({
            **{k: features.properties[k][i] for k in keys},
            **area_units(area), "touching": area < sliver,
        })  # fmt: skip
    union = shapely.union_all(parts) if parts else shapely.Polygon()
    return _area(union), rows, union


def _line(
    ctx: JobContext, line: str, collection: str, project: Any, total: float, sliver: float
) -> tuple[dict[str, Any], Any]:
    box = tuple(float(v) for v in shapely.bounds(project))
    features = read_collection(ctx, collection, _KEYS[line], box)  # type: ignore[arg-type]
    area, rows, union = _overlay(project, features, _KEYS[line], sliver)
    occupied = area >= sliver
    if line == "czkfbj":
        outside = total - area
        conclusion = "符合" if outside < sliver else "需论证"
        extra = {"outside": area_units(max(outside, 0.0))}
    else:
        conclusion = "不符合" if occupied else "符合"
        extra = {}
    return {
        "line": line,
        "name": _NAMES[line],
        **area_units(area),
        "share": round(area / total, 4) if total else 0.0,
        "occupied": occupied,
        "features": rows,
        "conclusion": conclusion,
        **extra,
    }, union


def _landuse(ctx: JobContext, collection: str, project: Any) -> list[dict[str, Any]]:
    box = tuple(float(v) for v in shapely.bounds(project))
    parcels = read_collection(ctx, collection, ("DLBM",), box)  # type: ignore[arg-type]
    totals: dict[str, float] = {}
    for geom, code in zip(parcels.geometries, parcels.properties["DLBM"], strict=True):
        if code is None or not geom.intersects(project):
            continue
        key = base_code(str(code))
        totals[key] = totals.get(key, 0.0) + _area(shapely.intersection(geom, project))
    names = landuse_names()
    return [
        {"DLBM": code, "DLMC": names.get(code, code), "sandalei": sandalei_of(code),
         "cropland": code.startswith("01"), **area_units(area)}
        for code, area in sorted(totals.items()) if area > 0
    ]  # fmt: skip


def _map_svg(project: Any, layers: list[tuple[str, Any, str]]) -> str:
    """The overlay figure: the lines' parts inside the project, and its red line."""
    with figure(6, 6) as (_fig, ax, out):
        for label, geom, colour in layers:
            name = label
            for part in shapely.get_parts(geom):
                if part.geom_type == "Polygon":
                    x, y = part.exterior.xy
                    ax.fill(x, y, color=colour, alpha=0.5, label=name)
                    name = "_"  # one legend entry per line
        for i, part in enumerate(shapely.get_parts(project)):
            x, y = part.exterior.xy
            ax.plot(x, y, color="red", linewidth=2, label="项目红线" if i == 0 else "_")
        ax.set_aspect(1 / np.cos(np.radians(project.centroid.y)))
        ax.legend(loc="upper right", fontsize=8)
        ax.set_xlabel("经度")
        ax.set_ylabel("纬度")
    return out[0]


def run(inputs: Inputs, ctx: JobContext) -> dict[str, Any]:
    """Overlay the project with each line and the land use; conclude; report."""
    try:
        project = aoi_geometry(inputs.project)
    except ProcessError:
        raise ProcessError("process.bad_geometry") from None
    total = _area(project)
    lines, unions = [], []
    for i, line in enumerate(("stbhhx", "yjjbnt", "czkfbj")):
        ctx.progress(10 + 25 * i, _NAMES[line])
        result, union = _line(
            ctx, line, getattr(inputs.lines, line), project, total, inputs.sliver_m2
        )
        lines.append(result)
        unions.append((_NAMES[line], union, ("#2e7d32", "#f9a825", "#1565c0")[i]))
    landuse = _landuse(ctx, inputs.lines.landuse, project)
    overall = (
        "不符合" if any(r["conclusion"] == "不符合" for r in lines)
        else "需论证" if any(r["conclusion"] == "需论证" for r in lines) else "符合"
    )  # fmt: skip
    report = html_report(
        f"{inputs.name} 规划符合性分析报告",
        [
            ("项目", f"项目面积 {total:.2f} 平方米（{total * MU_PER_M2:.2f} 亩），"
                     "CGCS2000 椭球面积；叠加分析为精确多边形叠加。"),
            ("结论", f"综合结论：{overall}。" + "；".join(
                f"{r['name']}：{r['conclusion']}（{r['area_m2']} 平方米，"
                f"占 {r['share'] * 100:.2f}%）" for r in lines)),
        ],
        ["地类编码", "地类名称", "三大类", "面积（平方米）", "面积（亩）"],
        [[r[k] for k in ("DLBM", "DLMC", "sandalei", "area_m2", "area_mu")]
         for r in landuse],
        _map_svg(project, unions),
    )  # fmt: skip
    return with_pdf(
        {
            "compliance": {
                "project": {"name": inputs.name, **area_units(total)},
                "lines": lines,
                "landuse": landuse,
                "cropland_occupied": area_units(
                    sum(r["area_m2"] for r in landuse if r["cropland"])
                ),
                "conclusion": overall,
            },
            "report": report,
        },
        inputs.pdf,
    )


PROCESS = Process(
    id="planning-compliance",
    version="1.0.0",
    title={"zh-CN": "规划符合性分析", "en": "Planning compliance"},
    description={
        "zh-CN": "项目红线与生态保护红线、永久基本农田、城镇开发边界和现状地类的"
        "精确叠加分析，给出占用面积、要素、比例和结论（符合/不符合/需论证），附报告和叠加图。",
        "en": "Exact overlay of a project's polygon with the ecological red line, the "
        "permanent basic farmland, the urban development boundary and the current land "
        "use: areas, features, shares and conclusions, with a report and a map.",
    },
    inputs=Inputs,
    outputs={
        "compliance": Output(
            title={"zh-CN": "分析结果", "en": "Compliance"},
            description={"zh-CN": "各控制线的占用与结论", "en": "Per control line"},
            schema={"type": "object"},
        ),
        "report": report_output("分析报告", "表格和叠加图"),
        "report_pdf": PDF_OUTPUT,
    },
    run=run,
    keywords=("三区三线", "规划符合性", "compliance"),
)
