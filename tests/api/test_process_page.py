"""The HTML page of a process: readable input types, defaults and the execute form, in
zh-CN and en."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from processes.registry import PROCESSES


def _page(client: TestClient, process_id: str, **headers: str) -> str:
    params = {"f": "html"}
    if "lang" in headers:
        params["lang"] = headers.pop("lang")
    r = client.get(f"/processes/{process_id}", params=params, headers=headers)
    assert r.status_code == 200
    assert "script-src" in r.headers["content-security-policy"]
    return r.text


def test_landuse_statistics_page_in_english(client: TestClient) -> None:
    page = _page(client, "landuse-statistics", lang="en")
    assert '<html lang="en">' in page
    for text in (
        "collection id",
        "one of: dlbm, level1, sandalei",
        "bbox [minLon, minLat, maxLon, maxLat] or GeoJSON geometry",
        "length ≤ 64",
        "<code>&#34;dltb&#34;</code>",  # the default, as JSON
        "optional",
        "Default",
        "text (text/csv)",  # an output
    ):
        assert text in page, text
    assert '"additionalProperties"' not in page  # no raw JSON Schema
    # the form: one control per input, defaults filled in
    assert re.search(
        r'<input type="text" id="input-landuse" value="dltb"[^>]*maxlength="64"', page
    )
    assert '<option value="&#34;dlbm&#34;" selected>dlbm</option>' in page
    assert '<textarea id="input-aoi"' in page
    assert 'id="execute-async" checked' in page
    assert 'data-url="http://testserver/processes/landuse-statistics/execution"' in page
    assert "<script>" not in page  # the CSP allows scripts from /static only
    assert '/static/onemap-process.js" defer' in page


def test_landuse_statistics_page_in_chinese(client: TestClient) -> None:
    page = _page(client, "landuse-statistics", **{"Accept-Language": "zh-CN,zh;q=0.9"})
    assert '<html lang="zh-CN">' in page
    for text in (
        "数据集合 id",
        "取值之一：dlbm, level1, sandalei",
        "经纬度范围 [最小经度, 最小纬度, 最大经度, 最大纬度] 或 GeoJSON 几何",
        "长度 ≤ 64",
        "默认值",
        "可选",
        "地类图斑",  # the input's Chinese title
        "文本（text/csv）",
    ):
        assert text in page, text


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_nested_defaults_units_and_required_inputs(client: TestClient, lang: str) -> None:
    en = lang == "en"
    cd = _page(client, "change-detection", lang=lang)
    assert cd.count("number (m²)" if en else "数值（m²）") == 3  # min_area_m2's fields
    assert 'data-param="min_area_m2.construction"' in cd
    assert "&gt; 0" in cd and "&lt; 1" in cd  # thresholds.shadow_ratio
    assert (
        '<textarea id="input-min_area_m2"' in cd and "&#34;construction&#34;: 200" in cd
    )
    assert '<input type="checkbox" id="input-publish" checked>' in cd
    pc = _page(client, "planning-compliance", lang=lang)
    assert ("GeoJSON geometry" if en else "GeoJSON 几何") in pc
    assert re.search(r'<textarea id="input-project"[^>]* required>', pc)
    assert ("* required" if en else "* 必填") in pc
    assert re.search(
        r'<input type="number" id="input-sliver_m2" value="1.0" step="any" min="0.0"', pc
    )


@pytest.mark.parametrize("process_id", sorted(PROCESSES))
def test_every_process_page_renders(client: TestClient, process_id: str) -> None:
    for lang in ("en", "zh-CN"):
        page = _page(client, process_id, lang=lang)
        assert page.count('class="field"') == len(
            PROCESSES[process_id].inputs.model_fields
        )
