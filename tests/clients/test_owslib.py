"""OWSLib's OGC API - Features client against the live server."""

from __future__ import annotations

import pytest
from owslib.ogcapi.features import Features

from tests.fixtures import GRID_COLS, GRID_ROWS

pytestmark = pytest.mark.clients


def test_owslib_reads_collections_and_items(live_url: str) -> None:
    api = Features(live_url)
    ids = [c["id"] for c in api.collections()["collections"]]
    assert ids == ["parcels", "wells", "editable", "imagery"]
    assert (
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"
        in (api.conformance()["conformsTo"])
    )
    items = api.collection_items("parcels", limit=1000)
    assert items["numberMatched"] == GRID_COLS * GRID_ROWS == len(items["features"])
    crs = api.collection_items(
        "parcels", limit=1, crs="http://www.opengis.net/def/crs/EPSG/0/4490"
    )
    assert crs["features"][0]["geometry"]["coordinates"][0][0] == pytest.approx(
        [23.0, 109.505]
    )
    queryables = api.collection_queryables("parcels")
    assert queryables["properties"]["DLBM"]["type"] == "string"
    filtered = api.collection_items(
        "parcels",
        limit=1000,
        filter="DLBM = '0301' AND SJNF >= 2021",
        crs="http://www.opengis.net/def/crs/EPSG/0/4490",
    )
    assert filtered["numberMatched"] == len(filtered["features"]) == 45
    assert {f["properties"]["DLBM"] for f in filtered["features"]} == {"0301"}
    lat, lon = filtered["features"][0]["geometry"]["coordinates"][0][0]
    assert 23.0 <= lat <= 23.1 and 109.5 <= lon <= 109.6
    item = api.collection_item("parcels", "5")
    assert item["properties"]["DLBM"] == "0702"
