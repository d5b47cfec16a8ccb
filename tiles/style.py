"""How vector collections look when drawn: in rendered map tiles (WMS/WMTS through
MapProxy) and, from the same definition, in the web map's MapLibre style.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# 三调 level-1 classes (the first two characters of DLBM), GB/T 21010-2017 order
LANDUSE_CLASS_COLOURS = {
    "00": "#7fd3e6",  # 湿地
    "01": "#f2e36b",  # 耕地
    "02": "#e0b04a",  # 种植园用地
    "03": "#3c9a46",  # 林地
    "04": "#a6d96a",  # 草地
    "05": "#e8545c",  # 商业服务业用地
    "06": "#b05a9e",  # 工矿用地
    "07": "#e88b6b",  # 住宅用地
    "08": "#f29db4",  # 公共管理与公共服务用地
    "09": "#9e4c4c",  # 特殊用地
    "10": "#a0a0a0",  # 交通运输用地
    "11": "#5aa8e6",  # 水域及水利设施用地
    "12": "#d9c8a9",  # 其他土地
}
PALETTE = ("#c0392b", "#8e44ad", "#d35400", "#16a085", "#2c3e50", "#f39c12")


@dataclass(frozen=True)
class VectorStyle:
    """Fill by class (``property``, its first ``prefix`` characters) or one colour."""

    fill: str
    fill_opacity: float
    stroke: str
    stroke_width: float
    property: str | None = None
    prefix: int | None = None
    colours: dict[str, str] = field(default_factory=dict)

    def fill_of(self, properties: dict[str, Any]) -> str:
        """The fill colour of a feature."""
        if self.property is None:
            return self.fill
        value = properties.get(self.property)
        key = "" if value is None else str(value)
        if self.prefix is not None:
            key = key[: self.prefix]
        return self.colours.get(key, self.fill)

    def document(self) -> dict[str, Any]:
        """The style as JSON (the web map builds its MapLibre layers from it)."""
        return {
            "fill": self.fill,
            "fill_opacity": self.fill_opacity,
            "stroke": self.stroke,
            "stroke_width": self.stroke_width,
            "property": self.property,
            "prefix": self.prefix,
            "colours": self.colours,
        }


def default_style(fields: list[str], index: int) -> VectorStyle:
    """Land-use classes for a layer with DLBM; otherwise a colour of the palette."""
    if "DLBM" in fields:
        return VectorStyle(
            fill="#2e8b57",
            fill_opacity=0.45,
            stroke="#35524a",
            stroke_width=0.4,
            property="DLBM",
            prefix=2,
            colours=dict(LANDUSE_CLASS_COLOURS),
        )
    colour = PALETTE[index % len(PALETTE)]
    return VectorStyle(fill=colour, fill_opacity=0.15, stroke=colour, stroke_width=2.0)
