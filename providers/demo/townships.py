"""Townships (乡镇): Voronoi cells tiling the area, named within three counties."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import shapely

from .geo import CENTRE, KM_X, FloatArray, ObjArray, StrArray, bbox_km
from .landscape import Landscape, blob

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
    x0, y0, x1, y1 = bbox_km()
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
