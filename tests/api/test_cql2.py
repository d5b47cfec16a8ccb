"""Features Part 3: CQL2 text and JSON filters, each result set checked against an
independent evaluation (Python and shapely over every feature), on both providers."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import shape

ITEMS = "/collections/parcels/items"
Feature = dict[str, Any]


def _day(f: Feature) -> date:
    return date.fromisoformat(f["properties"]["GXSJ"])


def _geom(f: Feature) -> shapely.Geometry:
    return shape(f["geometry"])


def _p(f: Feature, name: str) -> Any:
    return f["properties"][name]


# Edges off the grid lines: output coordinates are rounded (PostGIS: 9 decimals), which
# would make "touches the edge" ambiguous for the independent evaluation.
BOX = shapely.box(109.5101, 23.0101, 109.5301, 23.0301)
CASES: list[tuple[str, Callable[[Feature], bool]]] = [
    # basic CQL2
    ("DLBM = '0101'", lambda f: _p(f, "DLBM") == "0101"),
    ("TBMJ > 250100", lambda f: _p(f, "TBMJ") > 250100),
    ("SJNF <> 2021", lambda f: _p(f, "SJNF") != 2021),
    (
        "TBMJ >= 250100 AND SJNF = 2022",
        lambda f: _p(f, "TBMJ") >= 250100 and _p(f, "SJNF") == 2022,
    ),
    ("DLBM = '0101' OR DLBM = '0301'", lambda f: _p(f, "DLBM") in ("0101", "0301")),
    ("NOT (DLBM = '0101')", lambda f: _p(f, "DLBM") != "0101"),
    ("DLMC IS NULL", lambda f: False),
    ("DLMC IS NOT NULL", lambda f: True),
    (
        "SJNF <= 2020 OR NOT (TBMJ < 250290)",
        lambda f: _p(f, "SJNF") <= 2020 or _p(f, "TBMJ") >= 250290,
    ),
    # advanced comparison
    ("DLBM LIKE '01%'", lambda f: _p(f, "DLBM").startswith("01")),
    ("DLBM LIKE '0_01'", lambda f: _p(f, "DLBM") in ("0101", "0301")),
    ("DLBM NOT LIKE '01%'", lambda f: not _p(f, "DLBM").startswith("01")),
    ("MCEN LIKE 'paddy'", lambda f: False),  # LIKE is case-sensitive
    ("TBMJ BETWEEN 250010 AND 250020", lambda f: 250010 <= _p(f, "TBMJ") <= 250020),
    (
        "TBMJ NOT BETWEEN 250010 AND 250290",
        lambda f: not 250010 <= _p(f, "TBMJ") <= 250290,
    ),
    ("DLBM IN ('0101', '1101')", lambda f: _p(f, "DLBM") in ("0101", "1101")),
    ("SJNF NOT IN (2020, 2021)", lambda f: _p(f, "SJNF") not in (2020, 2021)),
    # case- and accent-insensitive
    ("CASEI(MCEN) = CASEI('PADDY')", lambda f: _p(f, "MCEN") == "Paddy"),
    ("CASEI(MCEN) LIKE CASEI('for%')", lambda f: _p(f, "MCEN") == "Forêt"),
    ("ACCENTI(MCEN) = ACCENTI('Riviere')", lambda f: _p(f, "MCEN") == "Rivière"),
    (
        "ACCENTI(CASEI(MCEN)) = ACCENTI(CASEI('FORET'))",
        lambda f: _p(f, "MCEN") == "Forêt",
    ),
    # spatial
    (
        "S_INTERSECTS(geometry, POLYGON((109.5101 23.0101, 109.5301 23.0101, "
        "109.5301 23.0301, 109.5101 23.0301, 109.5101 23.0101)))",
        lambda f: _geom(f).intersects(BOX),
    ),
    (
        "S_WITHIN(geometry, BBOX(109.5, 23.0, 109.52, 23.02))",
        lambda f: _geom(f).within(shapely.box(109.5, 23.0, 109.52, 23.02)),
    ),
    (
        "S_CONTAINS(geometry, POINT(109.5125 23.0125))",
        lambda f: _geom(f).contains(shapely.Point(109.5125, 23.0125)),
    ),
    (
        "S_DISJOINT(geometry, BBOX(109.5, 23.0, 109.55, 23.05))",
        lambda f: _geom(f).disjoint(shapely.box(109.5, 23.0, 109.55, 23.05)),
    ),
    (
        "S_TOUCHES(geometry, POINT(109.5 23.0))",
        lambda f: _geom(f).touches(shapely.Point(109.5, 23.0)),
    ),
    (
        "S_OVERLAPS(geometry, BBOX(109.5125, 23.0125, 109.5175, 23.0175))",
        lambda f: _geom(f).overlaps(shapely.box(109.5125, 23.0125, 109.5175, 23.0175)),
    ),
    (
        "S_CROSSES(geometry, LINESTRING(109.5 23.0025, 109.52 23.0025))",
        lambda f: _geom(f).crosses(
            shapely.LineString([(109.5, 23.0025), (109.52, 23.0025)])
        ),
    ),
    (
        "S_EQUALS(geometry, POLYGON((109.5 23.0, 109.505 23.0, 109.505 23.005, "
        "109.5 23.005, 109.5 23.0)))",
        lambda f: _geom(f).equals(shapely.box(109.5, 23.0, 109.505, 23.005)),
    ),
    # temporal (GXSJ is a date)
    ("GXSJ = DATE('2023-01-05')", lambda f: _day(f) == date(2023, 1, 5)),
    ("GXSJ >= DATE('2023-12-01')", lambda f: _day(f) >= date(2023, 12, 1)),
    ("T_BEFORE(GXSJ, DATE('2023-01-10'))", lambda f: _day(f) < date(2023, 1, 10)),
    (
        "T_AFTER(GXSJ, TIMESTAMP('2023-10-01T00:00:00Z'))",
        lambda f: _day(f) > date(2023, 10, 1),
    ),
    (
        "T_DURING(GXSJ, INTERVAL('2023-01-03', '2023-01-08'))",
        lambda f: date(2023, 1, 3) < _day(f) < date(2023, 1, 8),
    ),
    (
        "T_INTERSECTS(GXSJ, INTERVAL('2023-10-20', '..'))",
        lambda f: _day(f) >= date(2023, 10, 20),
    ),
    ("T_EQUALS(GXSJ, DATE('2023-02-01'))", lambda f: _day(f) == date(2023, 2, 1)),
    (
        "T_DISJOINT(GXSJ, INTERVAL('2023-01-03', '2023-12-31'))",
        lambda f: not date(2023, 1, 3) <= _day(f) <= date(2023, 12, 31),
    ),
    (
        "T_MEETS(GXSJ, INTERVAL('2023-01-04', '2023-01-09'))",
        lambda f: _day(f) == date(2023, 1, 4),
    ),
    # arrays (literal arrays; no collection publishes array properties)
    ("A_CONTAINS(('a', 'b', 'c'), ('a', 'c'))", lambda f: True),
    ("A_OVERLAPS(('a', 'b'), ('c', 'd'))", lambda f: False),
    (
        "A_EQUALS(('a', 'b'), ('a', 'b')) AND DLBM = '0103'",
        lambda f: _p(f, "DLBM") == "0103",
    ),
    # property-property and arithmetic
    ("TBMJ > SJNF", lambda f: True),
    ("DLBM = DLMC", lambda f: False),
    ("TBMJ - 250000 < 10", lambda f: _p(f, "TBMJ") - 250000 < 10),
    ("TBMJ * 2 > 500500", lambda f: _p(f, "TBMJ") * 2 > 500500),
    ("(SJNF + 1) = 2022", lambda f: _p(f, "SJNF") + 1 == 2022),
    ("TBMJ / 1000 >= 250.2", lambda f: _p(f, "TBMJ") / 1000 >= 250.2),
]


@pytest.fixture(scope="module")
def everything(client: TestClient) -> list[Feature]:
    features: list[Feature] = client.get(ITEMS, params={"limit": 1000}).json()["features"]
    assert len(features) == 300
    return features


def _ids(client: TestClient, **params: str) -> list[int]:
    r = client.get(ITEMS, params={"limit": "1000", **params})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["numberMatched"] == body["numberReturned"]
    return sorted(f["id"] for f in body["features"])


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0][:60] for c in CASES])
def test_cql2_text(
    client: TestClient,
    everything: list[Feature],
    text: str,
    expected: Callable[[Feature], bool],
) -> None:
    assert _ids(client, filter=text) == sorted(f["id"] for f in everything if expected(f))


@pytest.mark.parametrize(
    ("text", "expected"), CASES[::4], ids=[c[0][:60] for c in CASES[::4]]
)
def test_cql2_json_gives_the_same(
    client: TestClient,
    everything: list[Feature],
    text: str,
    expected: Callable[[Feature], bool],
) -> None:
    import cql2

    as_json = json.dumps(cql2.parse_text(text).to_json())
    ids = _ids(client, filter=as_json, **{"filter-lang": "cql2-json"})
    assert ids == sorted(f["id"] for f in everything if expected(f))


def test_filter_with_other_parameters(client: TestClient) -> None:
    ids = _ids(
        client,
        filter="DLBM = '0101'",
        bbox="109.5,23.0,109.52,23.02",
        datetime="../2023-03-01",
    )
    assert ids and all((i - 1) % 5 == 0 for i in ids)
    page = client.get(ITEMS, params={"filter": "DLBM = '0101'", "limit": 7}).json()
    assert page["numberReturned"] == 7 and page["numberMatched"] == 60
    nxt = next(link["href"] for link in page["links"] if link["rel"] == "next")
    assert "filter=DLBM" in nxt


def test_filter_crs_axis_order(client: TestClient) -> None:
    crs84 = _ids(client, filter="S_WITHIN(geometry, BBOX(109.5, 23.0, 109.52, 23.02))")
    lat_lon = _ids(
        client,
        filter="S_WITHIN(geometry, BBOX(23.0, 109.5, 23.02, 109.52))",
        **{"filter-crs": "http://www.opengis.net/def/crs/EPSG/0/4490"},
    )
    assert crs84 == lat_lon and len(crs84) == 16


# (filter, a fragment of the 400's detail)
BAD_FILTERS = [
    ("NOPE = 1", "NOPE"),
    ("DLBM = 5", "compare"),
    ("DLBM =", "cql2-text"),
    ("DLBM", ""),
    ("TBMJ + 1", ""),
    ("S_INTERSECTS(DLBM, POINT(1 2))", "geometry"),
    ("T_BEFORE(DLBM, DATE('2023-01-01'))", "T_"),
    ("FOO(DLBM) = 1", "foo"),
    ("geom IS NULL", "geom"),
    ("(" * 200 + "DLBM = '1'" + ")" * 200, "48"),
    (" AND ".join(["DLBM = '1'"] * 3000), ""),
    ("x" * 40000, "32768"),
]


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        *[({"filter": text}, fragment) for text, fragment in BAD_FILTERS],
        ({"filter": "DLBM = 'x'", "filter-lang": "sql"}, "sql"),
        ({"filter-lang": "sql"}, "sql"),
        ({"filter": "{not json", "filter-lang": "cql2-json"}, "cql2-json"),
        ({"filter": "DLBM = '1'", "filter-crs": "EPSG:27700"}, "27700"),
    ],
)
def test_bad_filters(client: TestClient, params: dict[str, str], fragment: str) -> None:
    r = client.get(ITEMS, params={**params, "lang": "en"})
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["parameter"] in ("filter", "filter-lang", "filter-crs")
    assert fragment in body["detail"]


def test_deep_or_huge_filters_are_refused(client: TestClient) -> None:
    deep = (
        '{"op":"not","args":[' * 1_000
        + '{"op":"=","args":[{"property":"DLBM"},"1"]}'
        + "]}" * 1_000
    )
    r = client.get(
        ITEMS, params={"filter": deep, "filter-lang": "cql2-json", "lang": "en"}
    )
    assert r.status_code == 400 and "48" in r.json()["detail"]
    wide = " OR ".join(f"SJNF = {i}" for i in range(700))
    r = client.get(ITEMS, params={"filter": wide, "lang": "en"})
    assert r.status_code == 400 and "2000" in r.json()["detail"]


def test_error_in_both_languages(client: TestClient) -> None:
    zh = client.get(ITEMS, params={"filter": "NOPE = 1"}).json()["detail"]
    en = client.get(ITEMS, params={"filter": "NOPE = 1", "lang": "en"}).json()["detail"]
    assert "未知的属性" in zh and "Unknown property" in en


def test_division_by_zero_is_a_400_or_empty(client: TestClient) -> None:
    r = client.get(ITEMS, params={"filter": "TBMJ / 0 > 1"})
    assert r.status_code in (200, 400)
    if r.status_code == 200:
        assert r.json()["numberMatched"] == 0


def test_conformance_lists_cql2(client: TestClient) -> None:
    classes = client.get("/conformance").json()["conformsTo"]
    for name in ("filter", "features-filter"):
        assert f"http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/{name}" in classes
    for name in (
        "cql2-text",
        "cql2-json",
        "basic-cql2",
        "advanced-comparison-operators",
        "case-insensitive-comparison",
        "accent-insensitive-comparison",
        "basic-spatial-functions",
        "spatial-functions",
        "temporal-functions",
        "array-functions",
        "property-property",
        "arithmetic",
    ):
        assert f"http://www.opengis.net/spec/cql2/1.0/conf/{name}" in classes


@pytest.mark.parametrize(
    "expr",
    [
        {"op": "not", "args": []},
        {"op": "=", "args": [{"property": "DLBM"}]},
        {"op": "and", "args": [{"op": "like", "args": [{"property": "DLBM"}, 5]}]},
        {"op": "between", "args": [{"property": "TBMJ"}, 1]},
        {"op": "in", "args": [{"property": "DLBM"}, "0101"]},
        {"op": "s_intersects", "args": [{"property": "geometry"}, {"type": "Point"}]},
        {"op": "t_before", "args": [{"property": "GXSJ"}, {"interval": ["2023-01-01"]}]},
        {"op": "casei", "args": []},
        {"op": "isNull", "args": []},
        {"property": "DLBM"},
        {"op": "a_contains", "args": [["a"], {"property": "DLBM"}]},
    ],
)
def test_malformed_json_filters(client: TestClient, expr: Any) -> None:
    r = client.get(ITEMS, params={"filter": json.dumps(expr), "filter-lang": "cql2-json"})
    assert r.status_code == 400, r.text
    assert r.json()["parameter"] == "filter"
