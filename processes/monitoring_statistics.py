"""monitoring-statistics: change polygons counted and summed by class, township and
verification status (the monthly report of the monitoring)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from processes.base import JobContext, Output, Process
from processes.change_publish import COLLECTION
from processes.data import read_collection
from processes.geometry import area_units

Key = Literal["class", "XZQDM", "status", "JCSDH"]


class Inputs(BaseModel):
    """Inputs of monitoring-statistics."""

    model_config = ConfigDict(extra="forbid")

    collection: str = Field(
        COLLECTION,
        max_length=64,
        description="Collection of change polygons (class, XZQDM, status, JCMJ)",
        json_schema_extra={"title_zh": "变化图斑", "description_zh": "变化图斑数据集合"},
    )
    group_by: list[Key] = Field(
        ["class", "XZQDM", "status"],
        min_length=1,
        max_length=4,
        description="Properties to group by",
        json_schema_extra={"title_zh": "分组字段", "description_zh": "分组统计的字段"},
    )


def run(inputs: Inputs, ctx: JobContext) -> dict[str, Any]:
    """Count and sum JCMJ per group; totals per status."""
    keys = tuple(dict.fromkeys(inputs.group_by))
    ctx.progress(10, "reading change polygons")
    polygons = read_collection(ctx, inputs.collection, (*keys, "JCMJ"))
    groups: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0, 0.0])
    status: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    props = polygons.properties
    for i in range(len(polygons)):
        area = float(props["JCMJ"][i] or 0.0)
        cell = groups[tuple(props[k][i] for k in keys)]
        cell[0] += 1
        cell[1] += area
        if "status" in props:
            s = status[str(props["status"][i])]
            s[0] += 1
            s[1] += area
    rows = [
        {**dict(zip(keys, group, strict=True)), "count": int(n), **area_units(a)}
        for group, (n, a) in sorted(groups.items(), key=lambda kv: str(kv[0]))
    ]
    return {
        "statistics": {
            "rows": rows,
            "by_status": {
                k: {"count": int(n), "area_m2": round(a, 2)}
                for k, (n, a) in sorted(status.items())
            },
            "count": len(polygons),
        }
    }


PROCESS = Process(
    id="monitoring-statistics",
    version="1.0.0",
    title={"zh-CN": "监测图斑统计", "en": "Monitoring statistics"},
    description={
        "zh-CN": "按类别、乡镇和核查状态统计变化图斑的个数和面积。",
        "en": "Counts and areas of the change polygons by class, township and "
        "verification status.",
    },
    inputs=Inputs,
    outputs={
        "statistics": Output(
            title={"zh-CN": "统计表", "en": "Statistics"},
            description={"zh-CN": "分组的个数和面积", "en": "Counts and areas by group"},
            schema={"type": "object"},
        )
    },
    run=run,
    keywords=("变化图斑", "核查", "statistics"),
    collection_inputs=("collection",),
)
