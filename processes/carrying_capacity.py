"""carrying-capacity: the 2016 monitoring and warning method (资源环境承载能力监测预警技术
方法（试行）) per county.

Single factors: land pressure D, water use against its quota (and groundwater
over-abstraction), pollutant index R = max(R_air, R_water), ecological health H; each is
超载 / 临界超载 / 不超载 by the thresholds (parameters; the defaults are those of the
domain brief, §4.1). Integrated (weakest link): any 超载, or two or more 临界超载 → 超载;
exactly one 临界超载 → 临界超载; else 不超载. Process: resource-use efficiency worse
(land and water per GDP both worse than the national average), emission intensity worse
(3 or more of SO₂, NOx, COD, NH₃-N), ecological quality worse; 2 or more of the 3 →
加剧, else 趋缓. Warning: 超载 + 加剧 red, 超载 + 趋缓 orange, 临界超载 + 加剧 yellow,
临界超载 + 趋缓 blue, 不超载 green.
"""

from __future__ import annotations

from typing import Any, Literal

import shapely
from pydantic import BaseModel, ConfigDict, Field, model_validator

from processes.base import JobContext, Output, Process, ProcessError
from processes.data import read_collection
from processes.reports import (
    PDF_OUTPUT,
    bar_chart_svg,
    html_report,
    report_output,
    with_pdf,
)

Level = Literal["超载", "临界超载", "不超载"]
OVER, CRITICAL, FINE = "超载", "临界超载", "不超载"
WARNINGS: dict[tuple[str, str], tuple[str, str]] = {
    (OVER, "加剧"): ("red", "红色（极重警）"),
    (OVER, "趋缓"): ("orange", "橙色（重警）"),
    (CRITICAL, "加剧"): ("yellow", "黄色（中警）"),
    (CRITICAL, "趋缓"): ("blue", "蓝色（轻警）"),
    (FINE, "加剧"): ("green", "绿色（无警）"),
    (FINE, "趋缓"): ("green", "绿色（无警）"),
}
_FIELDS = (
    "XZQDM", "XZQMC", "D", "water_use", "water_quota", "groundwater_overdraft", "R",
    "H", "efficiency_worse", "emission_worse", "ecology_worse",
)  # fmt: skip


class County(BaseModel):
    """One county's indicators."""

    model_config = ConfigDict(extra="forbid")

    XZQDM: str = Field(min_length=1, max_length=12, description="County code")
    XZQMC: str = Field("", max_length=64, description="County name")
    D: float = Field(description="Land resource pressure index 土地资源压力指数")
    water_use: float = Field(ge=0, description="Total water use (10⁴ m³)")
    water_quota: float = Field(gt=0, description="用水总量控制指标 (10⁴ m³)")
    groundwater_overdraft: bool = Field(False, description="地下水超采")
    R: float = Field(description="Pollutant index 污染物浓度超标指数 max(R_air, R_water)")
    H: float = Field(
        ge=0, le=1, description="Ecosystem health 生态系统健康度 (area share)"
    )
    special: Level | None = Field(None, description="Special evaluation result, if any")
    efficiency_worse: bool = Field(
        description="Land and water per GDP both changed worse than the national average"
    )
    emission_worse: int = Field(
        ge=0, le=4, description="How many of SO₂, NOx, COD, NH₃-N intensities did worse"
    )
    ecology_worse: bool = Field(description="Forest and grass cover changed worse")


class Thresholds(BaseModel):
    """Single-factor thresholds (domain brief §4.1; check against the primary text)."""

    model_config = ConfigDict(extra="forbid")

    land_over: float = Field(0.0, description="D above this: 超载")
    land_critical: float = Field(-0.3, description="D from this to land_over: 临界超载")
    water_critical_share: float = Field(0.9, description="Use above this × quota: 临界")
    pollution_over: float = Field(0.0, description="R above this: 超载")
    pollution_critical: float = Field(-0.2, description="R above this: 临界超载")
    health_over: float = Field(0.10, description="H above this: 超载")
    health_critical: float = Field(0.05, description="H above this: 临界超载")


class Inputs(BaseModel):
    """Inputs of carrying-capacity."""

    model_config = ConfigDict(extra="forbid")

    counties: list[County] | None = Field(
        None,
        max_length=5000,
        description="County indicators by value",
        json_schema_extra={"title_zh": "县级指标", "description_zh": "按值给出各县指标"},
    )
    collection: str | None = Field(
        None,
        max_length=64,
        description="Or a collection with these fields (its geometries are kept)",
        json_schema_extra={
            "title_zh": "指标数据集合",
            "description_zh": "含指标字段的数据集合",
        },
    )
    thresholds: Thresholds = Field(default_factory=Thresholds)
    pdf: bool = Field(False, description="Also return the report as PDF")

    @model_validator(mode="after")
    def _one_source(self) -> Inputs:
        if (self.counties is None) == (self.collection is None):
            raise ValueError("give either counties or collection")
        return self


def _graded(value: float, over: float, critical: float) -> str:
    return OVER if value > over else CRITICAL if value >= critical else FINE


def levels(c: County, t: Thresholds) -> dict[str, str]:
    """The single-factor levels of a county."""
    if c.groundwater_overdraft or c.water_use > c.water_quota:
        water = OVER
    elif c.water_use > t.water_critical_share * c.water_quota:
        water = CRITICAL
    else:
        water = FINE
    pollution = (
        OVER if t.pollution_over < c.R
        else CRITICAL if t.pollution_critical < c.R else FINE
    )  # fmt: skip
    health = (
        OVER if t.health_over < c.H else CRITICAL if t.health_critical < c.H else FINE
    )
    out = {
        "land": _graded(c.D, t.land_over, t.land_critical),
        "water": water,
        "environment": pollution,
        "ecology": health,
    }
    if c.special is not None:
        out["special"] = c.special
    return out


def integrated(single: dict[str, str]) -> str:
    """The weakest-link rule."""
    values = list(single.values())
    if OVER in values or values.count(CRITICAL) >= 2:
        return OVER
    return CRITICAL if values.count(CRITICAL) == 1 else FINE


def trend(c: County) -> str:
    """加剧 when two or more of the three process dimensions worsened."""
    worse = [c.efficiency_worse, c.emission_worse >= 3, c.ecology_worse]
    return "加剧" if sum(worse) >= 2 else "趋缓"


def _counties(inputs: Inputs, ctx: JobContext) -> tuple[list[County], list[Any]]:
    if inputs.counties is not None:
        return inputs.counties, [None] * len(inputs.counties)
    assert inputs.collection is not None
    features = read_collection(ctx, inputs.collection, _FIELDS)
    rows = [{k: features.properties[k][i] for k in _FIELDS} for i in range(len(features))]
    try:
        counties = [County.model_validate(r) for r in rows]
    except ValueError:
        raise ProcessError("process.missing_fields", id=inputs.collection,
                           fields=", ".join(_FIELDS)) from None  # fmt: skip
    return counties, list(features.geometries)


_COLUMNS = {
    "XZQDM": "行政区代码", "XZQMC": "名称", "level_land": "土地资源",
    "level_water": "水资源", "level_environment": "环境", "level_ecology": "生态",
    "level": "超载类型", "trend": "耗损过程", "warning_zh": "预警等级",
}  # fmt: skip
_METHOD = (
    "《资源环境承载能力监测预警技术方法（试行）》（2016）：单项评价、短板效应集成评价、"
    "资源环境耗损过程评价与预警等级。阈值为本次评价的参数。"
)


def evaluate(c: County, t: Thresholds) -> dict[str, Any]:
    """The properties of one county's result."""
    single = levels(c, t)
    level = integrated(single)
    process = trend(c)
    colour, name = WARNINGS[(level, process)]
    return {
        "XZQDM": c.XZQDM,
        "XZQMC": c.XZQMC,
        **{f"level_{k}": v for k, v in single.items()},
        "level": level,
        "trend": process,
        "warning": colour,
        "warning_zh": name,
    }


def run(inputs: Inputs, ctx: JobContext) -> dict[str, Any]:
    """Evaluate every county; a feature each and a report."""
    counties, geometries = _counties(inputs, ctx)
    results = [evaluate(c, inputs.thresholds) for c in counties]
    features = [
        {
            "type": "Feature",
            "geometry": None if geom is None else shapely.geometry.mapping(geom),
            "properties": props,
        }
        for props, geom in zip(results, geometries, strict=True)
    ]
    counts: dict[str, float] = {}
    for props in results:
        counts[props["warning_zh"]] = counts.get(props["warning_zh"], 0) + 1
    rows = [[props.get(k, "") for k in _COLUMNS] for props in results]
    chart = bar_chart_svg(counts, "各预警等级县数")
    report = html_report(
        "资源环境承载能力监测预警评价报告",
        [("方法", _METHOD)],
        list(_COLUMNS.values()),
        rows,
        chart,
    )
    outputs = {
        "counties": {"type": "FeatureCollection", "features": features},
        "report": report,
    }
    return with_pdf(outputs, inputs.pdf)


PROCESS = Process(
    id="carrying-capacity",
    version="1.0.0",
    title={"zh-CN": "资源环境承载能力监测预警", "en": "Carrying-capacity evaluation"},
    description={
        "zh-CN": "按 2016 年监测预警技术方法评价各县土地、水、环境、生态单项与"
        "集成超载类型、耗损过程和预警等级，输出要素与中文报告。",
        "en": "The 2016 monitoring and warning method per county: single factors, the "
        "weakest-link integrated level, the process trend and the warning level, as "
        "features and a report in Chinese.",
    },
    inputs=Inputs,
    outputs={
        "counties": Output(
            title={"zh-CN": "评价结果", "en": "Counties"},
            description={"zh-CN": "各县评价结果要素", "en": "One feature per county"},
            schema={"type": "object", "contentMediaType": "application/geo+json"},
        ),
        "report": report_output("评价报告", "表格和图表"),
        "report_pdf": PDF_OUTPUT,
    },
    run=run,
    keywords=("承载能力", "监测预警", "carrying capacity"),
    collection_inputs=("collection",),
)
