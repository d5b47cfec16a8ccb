"""planning-compliance on a generated demo: overlap areas against an independent
overlay (GDAL read, shapely, pyproj's geodesic area on CGCS2000) and the conclusions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyogrio
import pytest
import shapely
from pyproj import Geod

from config import load_settings
from processes.base import JobContext, ProcessError
from processes.planning_compliance import PROCESS, Inputs
from providers.base import AccessScope
from providers.demo import DemoFiles, generate_demo

GEOD = Geod(a=6378137.0, rf=298.257222101)
Demo = tuple[DemoFiles, JobContext]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoFiles, JobContext]:
    data = tmp_path_factory.mktemp("compliance")
    files = generate_demo(data, seed=5, parcels=1500)
    settings = load_settings().model_copy(
        update={"data_dir": data, "generate_demo": False}
    )
    return files, JobContext(settings, AccessScope(), "zh-CN", "compliance")


def _layer(files: DemoFiles, name: str) -> Any:
    _m, _f, wkb, _fields = pyogrio.raw.read(files.gpkg, layer=name)
    return shapely.from_wkb(wkb)


def _geodesic(geom: Any) -> float:
    return abs(GEOD.geometry_area_perimeter(geom)[0]) if not geom.is_empty else 0.0


def _project_across(files: DemoFiles) -> Any:
    # a box around a point of the urban boundary: partly inside, partly outside
    boundary = _layer(files, "czkfbj")[0].boundary
    point = shapely.get_point(shapely.get_parts(boundary)[0], 0)
    return shapely.box(point.x - 0.01, point.y - 0.01, point.x + 0.01, point.y + 0.01)


def test_overlaps_match_an_independent_overlay(
    demo: tuple[DemoFiles, JobContext],
) -> None:
    files, ctx = demo
    project = _project_across(files)
    out = PROCESS.run(
        Inputs(project=shapely.geometry.mapping(project), name="测试项目"), ctx
    )["compliance"]
    assert out["project"]["area_m2"] == pytest.approx(_geodesic(project), rel=1e-9)
    by_line = {r["line"]: r for r in out["lines"]}
    for line in ("stbhhx", "yjjbnt", "czkfbj"):
        union = shapely.union_all(shapely.intersection(_layer(files, line), project))
        expected = _geodesic(union)
        assert by_line[line]["area_m2"] == pytest.approx(expected, rel=1e-6, abs=0.01)
        assert by_line[line]["share"] == pytest.approx(
            expected / _geodesic(project), abs=1e-4
        )
    czk = by_line["czkfbj"]
    assert 0 < czk["share"] < 1 and czk["conclusion"] == "需论证"
    for line in ("stbhhx", "yjjbnt"):
        r = by_line[line]
        assert r["conclusion"] == ("不符合" if r["area_m2"] >= 1 else "符合")
    order = {"符合": 0, "需论证": 1, "不符合": 2}
    worst = max((r["conclusion"] for r in out["lines"]), key=order.__getitem__)
    assert out["conclusion"] == worst
    landuse = sum(r["area_m2"] for r in out["landuse"])
    dltb = shapely.intersection(_layer(files, "dltb"), project)
    assert landuse == pytest.approx(sum(_geodesic(g) for g in dltb), rel=1e-6)
    assert all(
        r["sandalei"] in ("农用地", "建设用地", "未利用地") for r in out["landuse"]
    )


def test_inside_the_boundary_and_touching(demo: tuple[DemoFiles, JobContext]) -> None:
    files, ctx = demo
    town = _layer(files, "czkfbj")[0]
    inner = shapely.buffer(shapely.point_on_surface(town), 0.0005)
    inner = shapely.intersection(inner, town)
    red = shapely.union_all(_layer(files, "stbhhx"))
    farm = shapely.union_all(_layer(files, "yjjbnt"))
    inner = shapely.difference(shapely.difference(inner, red), farm)
    inner = max(shapely.get_parts(inner), key=lambda g: g.area)
    out = PROCESS.run(Inputs(project=shapely.geometry.mapping(inner)), ctx)
    lines = {r["line"]: r for r in out["compliance"]["lines"]}
    assert lines["czkfbj"]["conclusion"] == "符合"
    assert lines["stbhhx"]["conclusion"] == lines["yjjbnt"]["conclusion"] == "符合"
    report = out["report"]
    assert "<svg" in report and "规划符合性分析报告" in report


def test_bad_project(demo: tuple[DemoFiles, JobContext], tmp_path: Path) -> None:
    _files, ctx = demo
    with pytest.raises(ProcessError):
        PROCESS.run(Inputs(project={"type": "Point", "coordinates": [109.5, 23.0]}), ctx)
    with pytest.raises(ProcessError):
        PROCESS.run(Inputs(project={"type": "Polygon", "coordinates": "x"}), ctx)


def _pdf_fonts(pdf: bytes) -> bytes:
    """The PDF with its compressed streams inflated (font names live there)."""
    import re
    import zlib

    out = [pdf]
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            out.append(zlib.decompress(match.group(1)))
        except zlib.error:
            continue
    return b"".join(out)


def test_pdf_report_embeds_a_chinese_font(demo: Demo) -> None:
    import base64

    files, ctx = demo
    project = shapely.geometry.mapping(_project_across(files))
    out = PROCESS.run(Inputs(project=project, pdf=True), ctx)
    pdf = base64.b64decode(out["report_pdf"])
    assert pdf.startswith(b"%PDF") and len(pdf) > 5000
    assert b"WenQuanYi" in _pdf_fonts(pdf)
    assert "report_pdf" not in PROCESS.run(Inputs(project=project), ctx)
