"""landuse-statistics: land-use area by township and class (三调 rules).

Areas are the parcels' net land-class area TBDLMJ (TBMJ − KCMJ, the ellipsoidal area
less the ridge deduction), as the survey's statistics are; inside an area of interest a
cut parcel counts the ellipsoidal (CGCS2000) area of its part times TBDLMJ / TBMJ.
Townships are the first 9 digits of ZLDWDM (坐落单位代码), named from the townships
collection when one is given.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from typing import Any, Literal

import numpy as np
import shapely
from pydantic import BaseModel, ConfigDict, Field

from config.landuse import SANDALEI_EN, base_code, landuse_names, sandalei_of
from processes.base import JobContext, Output, Process, ProcessError
from processes.data import read_collection
from processes.geometry import (
    MU_PER_M2,
    BBox,
    GeoJSONGeometry,
    aoi_geometry,
    area_units,
    ellipsoidal_areas,
)

_FIELDS = ("DLBM", "ZLDWDM", "TBMJ", "TBDLMJ")


class Inputs(BaseModel):
    """Inputs of landuse-statistics."""

    model_config = ConfigDict(extra="forbid")

    landuse: str = Field(
        "dltb",
        title="Land-use parcels",
        description="Collection of 三调 parcels (DLTB) with DLBM, ZLDWDM, TBMJ, TBDLMJ",
        json_schema_extra={
            "title_zh": "地类图斑",
            "description_zh": "三调地类图斑数据集合",
        },
        max_length=64,
    )
    townships: str | None = Field(
        "xzq",
        title="Townships",
        description="Collection of townships (XZQDM, XZQMC) naming the rows; null: codes",
        json_schema_extra={"title_zh": "乡镇", "description_zh": "乡镇行政区数据集合"},
        max_length=64,
    )
    level: Literal["dlbm", "level1", "sandalei"] = Field(
        "dlbm",
        title="Classes",
        description="dlbm: level-2 classes; level1: level-1 classes; sandalei: 三大类",
        json_schema_extra={
            "title_zh": "分类级别",
            "description_zh": "dlbm 二级类；level1 一级类；sandalei 三大类",
        },
    )
    aoi: BBox | GeoJSONGeometry | None = Field(
        None,
        title="Area of interest",
        description="bbox [minLon, minLat, maxLon, maxLat] or a GeoJSON geometry (CRS84)",
        json_schema_extra={
            "title_zh": "统计范围",
            "description_zh": "经纬度范围或 GeoJSON 几何",
        },
    )


def _class_of(dlbm: str, level: str, lang: str) -> tuple[str, str]:
    code = base_code(dlbm)
    if level == "sandalei":
        name = sandalei_of(code) or "未分类"
        return name, SANDALEI_EN.get(name, name) if lang == "en" else name
    if level == "level1":
        code = code[:2]
    return code, landuse_names(lang).get(code, code)


def run(inputs: Inputs, ctx: JobContext) -> dict[str, Any]:
    """Sum the parcels' areas per township and class."""
    aoi = aoi_geometry(inputs.aoi) if inputs.aoi is not None else None
    bbox = None
    if aoi is not None:
        minx, miny, maxx, maxy = (float(v) for v in shapely.bounds(aoi))
        bbox = (minx, miny, maxx, maxy)
    ctx.progress(5, "reading parcels")
    parcels = read_collection(ctx, inputs.landuse, _FIELDS, bbox)
    names: dict[str, str] = {}
    if inputs.townships:
        towns = read_collection(ctx, inputs.townships, ("XZQDM", "XZQMC"))
        names = dict(
            zip(towns.properties["XZQDM"], towns.properties["XZQMC"], strict=True)
        )
    ctx.progress(40, "summing areas")
    net = np.asarray(parcels.properties["TBDLMJ"], dtype=float)
    if aoi is not None:
        keep = shapely.intersects(parcels.geometries, aoi)
        parts = shapely.intersection(parcels.geometries, aoi)
        whole = np.asarray(parcels.properties["TBMJ"], dtype=float)
        share = np.divide(net, whole, out=np.zeros_like(net), where=whole > 0)
        net = np.where(keep, ellipsoidal_areas(parts) * share, 0.0)
    totals: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0])
    labels: dict[str, str] = {}
    for dlbm, zl, area in zip(
        parcels.properties["DLBM"], parcels.properties["ZLDWDM"], net, strict=True
    ):
        if area <= 0 or dlbm is None:
            continue
        code, label = _class_of(str(dlbm), inputs.level, ctx.language)
        labels[code] = label
        cell = totals[(str(zl or "")[:9], code)]
        cell[0] += float(area)
        cell[1] += 1
    rows = [
        {
            "XZQDM": town,
            "XZQMC": names.get(town, ""),
            "code": code,
            "name": labels[code],
            **area_units(area),
            "count": count,
        }
        for (town, code), (area, count) in sorted(totals.items())
    ]
    if not rows:
        raise ProcessError("process.no_features", id=inputs.landuse)
    total = sum(area for area, _count in totals.values())
    ctx.progress(90, "writing the table")
    return {
        "statistics": {
            "level": inputs.level,
            "rows": rows,
            "total_m2": round(total, 2),
            "total_mu": round(total * MU_PER_M2, 2),
        },
        "csv": _csv(rows),
    }


def _csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


PROCESS = Process(
    id="landuse-statistics",
    version="1.0.0",
    title={"zh-CN": "土地利用现状统计", "en": "Land-use statistics"},
    description={
        "zh-CN": "按乡镇和地类（二级类、一级类或三大类）汇总图斑地类面积（TBDLMJ），"
        "单位平方米、亩、公顷；可限定统计范围。",
        "en": "Net land-class area (TBDLMJ) by township and class (level 2, level 1 or "
        "the three main groups) in m², mu and ha, optionally within an area of interest.",
    },
    inputs=Inputs,
    outputs={
        "statistics": Output(
            title={"zh-CN": "统计表", "en": "Statistics"},
            description={
                "zh-CN": "按乡镇和地类的面积",
                "en": "Areas by township and class",
            },
            schema={"type": "object"},
        ),
        "csv": Output(
            title={"zh-CN": "CSV 表", "en": "CSV table"},
            description={"zh-CN": "同一统计表的 CSV", "en": "The same table as CSV"},
            schema={"type": "string", "contentMediaType": "text/csv"},
            media_types=("text/csv",),
        ),
    },
    run=run,
    keywords=("三调", "TBDLMJ", "statistics"),
    collection_inputs=("landuse", "townships"),
)
