"""Features Part 1: collections, items, paging, filters, properties, sortby, HTML."""

from __future__ import annotations

from typing import Any

import pytest
import shapely
from fastapi.testclient import TestClient

from tests.conftest import MAX_LIMIT
from tests.fixtures import CELL, GRID_COLS, GRID_ORIGIN, GRID_ROWS

ITEMS = "/collections/parcels/items"
TOTAL = GRID_COLS * GRID_ROWS


def _items(client: TestClient, query: str = "") -> dict[str, Any]:
    r = client.get(f"{ITEMS}?{query}")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/geo+json"
    return r.json()  # type: ignore[no-any-return]


def test_collections_document(client: TestClient) -> None:
    body = client.get("/collections").json()
    ids = [c["id"] for c in body["collections"]]
    assert ids == ["parcels", "wells", "editable", "pair", "gk_image"]
    parcels = body["collections"][0]
    assert parcels["itemType"] == "feature"
    bbox = parcels["extent"]["spatial"]["bbox"][0]
    expected = [
        GRID_ORIGIN[0],
        GRID_ORIGIN[1],
        GRID_ORIGIN[0] + GRID_COLS * CELL,
        GRID_ORIGIN[1] + GRID_ROWS * CELL,
    ]
    assert bbox == pytest.approx(expected)
    assert parcels["extent"]["temporal"]["interval"][0][0] == "2023-01-01"
    assert parcels["storageCrs"] == "http://www.opengis.net/def/crs/EPSG/0/4490"
    crs = parcels["crs"]
    assert crs[0] == "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
    # the 3-degree zone (CM 108 and CM 111 cover 109.5-109.6) and the 6-degree zone 19
    for code in (4524, 4545, 4497, 4508, 3857, 4326):
        assert f"http://www.opengis.net/def/crs/EPSG/0/{code}" in crs
    rels = {(link["rel"], link["type"]) for link in parcels["links"]}
    assert ("items", "application/geo+json") in rels
    assert ("items", "text/html") in rels


def test_first_page_defaults(client: TestClient) -> None:
    body = _items(client)
    assert body["type"] == "FeatureCollection"
    assert body["numberReturned"] == 10 == len(body["features"])
    assert body["numberMatched"] == TOTAL
    assert body["timeStamp"].endswith("Z")
    rels = {link["rel"] for link in body["links"]}
    assert {"self", "alternate", "next", "collection"} <= rels
    assert "prev" not in rels
    feature = body["features"][0]
    assert feature["id"] == 1
    assert feature["properties"]["DLBM"] == "0101"
    assert feature["geometry"]["type"] == "Polygon"


def test_paging_walks_every_feature_once(client: TestClient) -> None:
    seen: list[int] = []
    url: str | None = f"{ITEMS}?limit=37"
    pages = 0
    while url:
        r = client.get(url)
        body = r.json()
        seen += [f["id"] for f in body["features"]]
        nxt = [link["href"] for link in body["links"] if link["rel"] == "next"]
        url = nxt[0].removeprefix("http://testserver") if nxt else None
        pages += 1
    assert sorted(seen) == list(range(1, TOTAL + 1))
    assert len(seen) == len(set(seen))
    assert pages == -(-TOTAL // 37)


def test_exact_multiple_page_has_no_next(client: TestClient) -> None:
    body = _items(client, f"limit={TOTAL // 2}&offset={TOTAL // 2}")
    assert body["numberReturned"] == TOTAL // 2
    rels = {link["rel"] for link in body["links"]}
    assert "next" not in rels and "prev" in rels


def test_offset_past_the_end(client: TestClient) -> None:
    body = _items(client, f"offset={TOTAL + 5}")
    assert body["features"] == [] and body["numberReturned"] == 0


def test_max_limit(client: TestClient) -> None:
    body = _items(client, "limit=1000")
    assert body["numberReturned"] == TOTAL


@pytest.mark.parametrize("limit", ["1001", "10000000000000000000000"])
def test_limit_above_the_maximum_is_the_maximum(client: TestClient, limit: str) -> None:
    # Part 1 7.15.4: a larger limit is served as the maximum, with a next link
    body = _items(client, f"limit={limit}")
    assert body["numberReturned"] == min(TOTAL, MAX_LIMIT)
    nexts = [x["href"] for x in body["links"] if x["rel"] == "next"]
    assert all(f"limit={MAX_LIMIT}" in href for href in nexts)


@pytest.mark.parametrize("height", [0.0, 0.001])
def test_bbox_of_no_width_is_a_line_or_point(client: TestClient, height: float) -> None:
    # a bbox of zero width (a line) or of zero width and height (a point) inside cell
    # (col 2, row 1) meets that one parcel
    x = GRID_ORIGIN[0] + 2 * CELL + 0.001
    y = GRID_ORIGIN[1] + 1 * CELL + 0.001
    body = _items(client, f"bbox={x},{y},{x},{y + height}")
    assert [f["id"] for f in body["features"]] == [1 * GRID_COLS + 2 + 1]


def test_bbox_exact_intersection(client: TestClient) -> None:
    # A bbox inside cell (col 2, row 1) and touching nothing else: exactly 1 parcel.
    x = GRID_ORIGIN[0] + 2 * CELL
    y = GRID_ORIGIN[1] + 1 * CELL
    body = _items(client, f"bbox={x + 0.001},{y + 0.001},{x + 0.002},{y + 0.002}")
    assert [f["id"] for f in body["features"]] == [1 * GRID_COLS + 2 + 1]
    assert body["numberMatched"] == 1
    # A bbox covering 3 x 2 cells (strictly inside their borders).
    body = _items(
        client,
        f"bbox={x + 0.001},{y + 0.001},{x + 2 * CELL + 0.001},"
        f"{y + CELL + 0.001}&limit=100",
    )
    assert body["numberMatched"] == 6
    box = shapely.box(x + 0.001, y + 0.001, x + 2 * CELL + 0.001, y + CELL + 0.001)
    for f in body["features"]:
        assert shapely.geometry.shape(f["geometry"]).intersects(box)


def test_bbox_outside_data(client: TestClient) -> None:
    body = _items(client, "bbox=100,10,101,11")
    assert body["numberMatched"] == 0 and body["features"] == []


def test_bbox_3d_accepted(client: TestClient) -> None:
    body = _items(client, "bbox=109.5001,23.0001,0,109.5002,23.0002,100")
    assert body["numberMatched"] == 1


def test_datetime(client: TestClient) -> None:
    # GXSJ = 2023-01-01 + (id - 1) days
    assert _items(client, "datetime=2023-01-05")["numberMatched"] == 1
    body = _items(client, "datetime=2023-01-05/2023-01-09&limit=100")
    assert [f["id"] for f in body["features"]] == [5, 6, 7, 8, 9]
    assert _items(client, "datetime=../2023-01-03")["numberMatched"] == 3
    assert (
        _items(client, "datetime=2023-10-01T00:00:00Z/..")["numberMatched"] == TOTAL - 273
    )
    assert (
        _items(client, "datetime=2023-01-02T12:00:00%2B08:00/2023-01-03T00:00:00Z")[
            "numberMatched"
        ]
        == 1
    )


def test_properties_selection(client: TestClient) -> None:
    body = _items(client, "properties=DLBM,TBMJ&limit=3")
    for f in body["features"]:
        assert set(f["properties"]) == {"DLBM", "TBMJ"}
    assert _items(client, "properties=&limit=1")["features"][0]["properties"] == {}


def test_sortby(client: TestClient) -> None:
    desc = _items(client, "sortby=-TBMJ&limit=5")
    values = [f["properties"]["TBMJ"] for f in desc["features"]]
    assert values == sorted(values, reverse=True) and values[0] == 250000.0 + TOTAL - 1
    asc = _items(client, "sortby=%2BDLBM,-TBMJ&limit=100")
    keys = [(f["properties"]["DLBM"], -f["properties"]["TBMJ"]) for f in asc["features"]]
    assert keys == sorted(keys)


def test_property_equality_filter(client: TestClient) -> None:
    body = _items(client, "DLBM=0301&limit=1000")
    assert body["numberMatched"] == TOTAL // 5
    assert {f["properties"]["DLBM"] for f in body["features"]} == {"0301"}
    assert _items(client, "SJNF=2021&DLBM=0103")["numberMatched"] == TOTAL // 20


def test_single_item(client: TestClient) -> None:
    r = client.get(f"{ITEMS}/42")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/geo+json"
    assert r.headers["content-crs"] == "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"
    body = r.json()
    assert body["id"] == 42 and body["type"] == "Feature"
    rels = {link["rel"] for link in body["links"]}
    assert {"self", "alternate", "collection"} <= rels


def test_queryables(client: TestClient) -> None:
    r = client.get("/collections/parcels/queryables")
    assert r.headers["content-type"] == "application/schema+json"
    props = r.json()["properties"]
    assert props["DLBM"] == {"title": "地类编码", "type": "string"}
    assert props["TBMJ"]["type"] == "number"
    assert props["SJNF"]["type"] == "integer"
    assert props["GXSJ"] == {"title": "更新时间", "type": "string", "format": "date"}
    assert props["geometry"]["format"] == "geometry-polygon"
    en = client.get("/collections/parcels/queryables?lang=en").json()["properties"]
    assert en["DLBM"]["title"] == "Land-use code"


def test_html_pages(client: TestClient) -> None:
    collections = client.get("/collections?f=html")
    assert (
        "地块" in collections.text and "/collections/parcels?f=html" in collections.text
    )
    collection = client.get("/collections/parcels?f=html&lang=en")
    assert "Parcels" in collection.text and 'id="map"' in collection.text
    items = client.get(f"{ITEMS}?f=html&limit=5")
    assert items.status_code == 200
    assert items.text.count("/collections/parcels/items/") >= 5
    assert 'id="features"' in items.text and "maplibre-gl.js" in items.text
    item = client.get(f"{ITEMS}/3?f=html")
    assert "乔木林地" in item.text and "地类编码" in item.text
    queryables = client.get("/collections/parcels/queryables?f=html")
    assert "DLBM" in queryables.text


def test_html_escapes_data(client: TestClient) -> None:
    page = client.get(f"{ITEMS}?f=html&DLBM=%3Cscript%3E")
    assert page.status_code == 200
    assert "<script>alert" not in page.text


def test_count_modes(client: TestClient) -> None:
    assert "numberMatched" not in _items(client, "count=none")
    assert _items(client, "count=exact")["numberMatched"] == TOTAL
    # the test table is small: auto counts exactly, estimated is the planner's number
    assert _items(client, "count=auto&DLBM=0101")["numberMatched"] == TOTAL // 5
    estimate = _items(client, "count=estimated")["numberMatched"]
    assert 0 < estimate <= 10 * TOTAL
    r = client.get(f"{ITEMS}?count=some")
    assert r.status_code == 400 and r.json()["parameter"] == "count"
