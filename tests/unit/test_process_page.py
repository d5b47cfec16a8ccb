"""The process page's reading of input JSON Schemas: every registered process, both
languages, and schemas the page must survive."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from processes.registry import PROCESSES
from server.routes.process_page import Param, describe_inputs, describe_outputs

LANGS = ("en", "zh-CN")


def _all(params: list[Param]) -> Iterator[Param]:
    for p in params:
        yield p
        yield from _all(list(p.fields))


def _schemas(schema: Any, defs: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every sub-schema an input uses (to find the enums its description must list)."""
    if isinstance(schema, dict):
        yield schema
        ref = schema.get("$ref", "")
        if ref.startswith("#/$defs/"):
            yield from _schemas(defs[ref.rsplit("/", 1)[-1]], defs)
        for key, value in schema.items():
            if key != "$defs":
                yield from _schemas(value, defs)
    elif isinstance(schema, list):
        for value in schema:
            yield from _schemas(value, defs)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("process_id", sorted(PROCESSES))
def test_every_input_of_every_process_is_described(process_id: str, lang: str) -> None:
    process = PROCESSES[process_id]
    document = process.description_document(lang)
    params = describe_inputs(process, document, lang)
    assert [p.id for p in params] == list(document["inputs"])
    for p in _all(params):
        assert p.type.strip(), p.id
        assert '"type"' not in p.type and "anyOf" not in p.type, p.type  # no raw schema
        assert p.title.strip()
        assert p.control in {
            "text", "number", "checkbox", "select", "multiselect", "json", "text-or-json"
        }  # fmt: skip
    for p in params:
        entry = document["inputs"][p.id]
        assert p.required == bool(entry["minOccurs"])
        if "default" in entry["schema"]:
            assert json.loads(p.default or "") == entry["schema"]["default"]
        shown = {c.label for q in _all([p]) for c in q.enum}
        for sub in _schemas(entry["schema"], entry["schema"].get("$defs", {})):
            for value in sub.get("enum", []):
                assert str(value) in shown, (p.id, value)
    for o in describe_outputs(document, lang):
        assert o.type.strip() and o.title.strip()


def _by_id(process_id: str, lang: str = "en") -> dict[str, Param]:
    process = PROCESSES[process_id]
    params = describe_inputs(process, process.description_document(lang), lang)
    return {p.id: p for p in _all(params)}


def test_landuse_statistics_in_both_languages() -> None:
    en, zh = _by_id("landuse-statistics"), _by_id("landuse-statistics", "zh-CN")
    assert en["level"].control == "select"
    assert [c.label for c in en["level"].enum] == ["dlbm", "level1", "sandalei"]
    assert en["level"].selected == ('"dlbm"',)
    assert en["landuse"].type == "collection id" and zh["landuse"].type == "数据集合 id"
    assert en["landuse"].value == "dltb" and "length ≤ 64" in en["landuse"].limits
    assert en["aoi"].type == "bbox [minLon, minLat, maxLon, maxLat] or GeoJSON geometry"
    assert zh["aoi"].type.endswith(" 或 GeoJSON 几何") and zh["aoi"].title == "统计范围"
    assert en["aoi"].control == "json" and en["aoi"].nullable and not en["aoi"].required


def test_objects_show_their_fields_defaults_and_units() -> None:
    cd = _by_id("change-detection")
    area = cd["min_area_m2"]
    assert area.type == "object with fields construction, agricultural, other"
    assert json.loads(area.value) == {
        "construction": 200,
        "agricultural": 400,
        "other": 600,
    }
    assert cd["min_area_m2.construction"].type == "number (m²)"
    assert cd["min_area_m2.construction"].minimum == 0
    assert cd["thresholds.shadow_ratio"].limits == ("> 0", "< 1")
    assert cd["before"].type == 'collection id or link {"href": URL or path}'
    assert cd["before"].control == "text-or-json"
    assert cd["publish"].control == "checkbox" and cd["publish"].value == "true"
    pc = _by_id("planning-compliance", "zh-CN")
    assert pc["project"].required and pc["project"].type == "GeoJSON 几何"
    assert pc["sliver_m2"].type == "数值（m²）"
    cc = _by_id("carrying-capacity")
    assert cc["counties"].type == "list of object with fields " + ", ".join(
        p.id.split(".")[-1] for p in cc["counties"].fields
    )
    assert cc["counties[].emission_worse"].step == "1"
    assert cc["counties[].XZQDM"].required and not cc["counties[].XZQMC"].required
    ms = _by_id("monitoring-statistics")
    assert ms["group_by"].control == "multiselect"
    assert ms["group_by"].selected == ('"class"', '"XZQDM"', '"status"')


BAD_SCHEMAS: list[Any] = [
    None,
    "not a schema",
    {},
    {"$ref": "#/$defs/Missing"},
    {"$ref": "http://elsewhere/schema.json"},
    {"$ref": "#/$defs/Loop", "$defs": {"Loop": {"$ref": "#/$defs/Loop"}}},
    {
        "$ref": "#/$defs/Deep",
        "$defs": {"Deep": {"type": "array", "items": {"$ref": "#/$defs/Deep"}}},
    },
    {"type": ["string", "null"]},
    {"type": "mystery"},
    {"type": 7},
    {"anyOf": ["junk", 3, None, {"type": "null"}]},
    {"oneOf": [{"type": "integer", "minimum": "low"}, {"type": "boolean"}]},
    {"type": "object", "properties": "none"},
    {"type": "object", "properties": {"x": "junk"}, "required": "x"},
    {"type": "array", "items": [1, 2]},
    {"enum": "abc"},
    {"enum": [1, None, {"a": 1}], "default": {"a": 1}},
    {"type": "number", "minimum": True, "maxLength": "x"},
]


@pytest.mark.parametrize("schema", BAD_SCHEMAS)
def test_bad_schemas_still_get_a_type(schema: Any) -> None:
    process = PROCESSES["landuse-statistics"]
    document = {"inputs": {"odd": {"title": "Odd", "schema": schema}, "junk": "x"}}
    for lang in LANGS:
        params = describe_inputs(process, document, lang)
        assert [p.id for p in params] == ["odd", "junk"]
        for p in _all(params):
            assert p.type.strip()


def test_documents_without_inputs_or_outputs() -> None:
    process = PROCESSES["landuse-statistics"]
    assert describe_inputs(process, {}, "en") == []
    assert describe_inputs(process, {"inputs": "junk"}, "en") == []
    odd = {"inputs": {"x": {"schema": {"enum": "abc"}, "minOccurs": 1}}}
    (x,) = describe_inputs(process, odd, "en")
    assert x.enum == () and x.required and x.title == "x"
    assert describe_outputs({"outputs": {"x": "junk"}}, "en") == []
    assert describe_outputs({"outputs": {"x": {}}}, "zh-CN")[0].type == "任意 JSON 值"
