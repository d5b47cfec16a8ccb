"""Features Part 4: create, replace, merge patch, delete, ETag / If-Match, history."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from pyproj import Transformer

from tests.conftest import AsCaller

ITEMS = "/collections/editable/items"
GEOJSON = {"Content-Type": "application/geo+json"}
SQUARE = {
    "type": "Polygon",
    "coordinates": [
        [
            [109.70, 23.20],
            [109.701, 23.20],
            [109.701, 23.201],
            [109.70, 23.201],
            [109.70, 23.20],
        ]
    ],
}


def _feature(**props: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": SQUARE,
        "properties": {
            "BSM": "450802999999999999",
            "DLBM": "0101",
            "DLMC": "水田",
            "TBMJ": 1234.5,
            "SJNF": 2024,
            "GXSJ": "2024-05-01",
            **props,
        },
    }


def _create(client: TestClient, **props: Any) -> tuple[str, str]:
    r = client.post(ITEMS, json=_feature(**props), headers=GEOJSON)
    assert r.status_code == 201, r.text
    return r.headers["location"], r.headers["etag"]


@pytest.fixture
def client(client: TestClient, admin: dict[str, str]) -> AsCaller:
    """Edits need a key: every request here is the admin's."""
    return AsCaller(client, admin)


def test_create_then_read(client: TestClient) -> None:
    location, etag = _create(client, DLMC="新地块")
    assert location.startswith("http://testserver/collections/editable/items/")
    path = location.removeprefix("http://testserver")
    got = client.get(path)
    assert got.status_code == 200
    assert got.headers["etag"] == etag
    body = got.json()
    assert body["properties"]["DLMC"] == "新地块"
    assert body["properties"]["GXSJ"] == "2024-05-01"
    assert body["geometry"]["coordinates"][0][0] == pytest.approx([109.70, 23.20])
    history = client.get(path + "/history").json()["versions"]
    assert [v["operation"] for v in history] == ["create"]
    # who made the edit is recorded: the admin key's name
    assert history[0]["actor"] == "key:tests" and history[0]["old"] is None


def _first_vertex_posted_in(
    client: TestClient, feature: dict[str, Any], code: int
) -> list[float]:
    """POST ``feature`` with Content-Crs EPSG:``code`` (201), then the first vertex of
    the created feature as the server returns it (CRS84)."""
    crs = f"<http://www.opengis.net/def/crs/EPSG/0/{code}>"
    r = client.post(ITEMS, json=feature, headers={**GEOJSON, "Content-Crs": crs})
    assert r.status_code == 201, r.text
    got = client.get(r.headers["location"].removeprefix("http://testserver")).json()
    vertex: list[float] = got["geometry"]["coordinates"][0][0]
    return vertex


def test_content_crs_lat_lon(client: TestClient) -> None:
    feature = _feature()
    feature["geometry"] = {
        "type": "Polygon",
        "coordinates": [
            [
                [23.3, 109.7],
                [23.3, 109.701],
                [23.301, 109.701],
                [23.301, 109.7],
                [23.3, 109.7],
            ]
        ],
    }
    assert _first_vertex_posted_in(client, feature, 4490) == pytest.approx([109.7, 23.3])


def test_content_crs_gauss_kruger(client: TestClient) -> None:
    to_gk = Transformer.from_crs(4490, 4524, always_xy=True)
    ring = [to_gk.transform(x, y) for x, y in SQUARE["coordinates"][0]]
    feature = _feature()
    feature["geometry"] = {"type": "Polygon", "coordinates": [[[n, e] for e, n in ring]]}
    assert _first_vertex_posted_in(client, feature, 4524) == pytest.approx(
        [109.70, 23.20], abs=1e-8
    )


def test_replace_with_if_match(client: TestClient) -> None:
    location, etag = _create(client)
    path = location.removeprefix("http://testserver")
    r = client.put(
        path,
        json=_feature(DLBM="0301", DLMC="乔木林地"),
        headers={**GEOJSON, "If-Match": etag},
    )
    assert r.status_code == 204, r.text
    new_etag = r.headers["etag"]
    assert new_etag != etag
    got = client.get(path)
    assert got.headers["etag"] == new_etag and got.json()["properties"]["DLBM"] == "0301"
    stale = client.put(path, json=_feature(), headers={**GEOJSON, "If-Match": etag})
    assert stale.status_code == 412
    assert stale.headers["etag"] == new_etag
    assert client.get(path).json()["properties"]["DLBM"] == "0301"  # nothing overwritten


def test_merge_patch(client: TestClient) -> None:
    location, etag = _create(client)
    path = location.removeprefix("http://testserver")
    r = client.patch(
        path,
        json={"properties": {"DLMC": "已核查", "TBMJ": None}},
        headers={"Content-Type": "application/merge-patch+json", "If-Match": etag},
    )
    assert r.status_code == 204, r.text
    props = client.get(path).json()["properties"]
    assert props["DLMC"] == "已核查"
    assert props["TBMJ"] is None  # null removes (sets NULL)
    assert props["DLBM"] == "0101"  # untouched
    moved = {
        "type": "Polygon",
        "coordinates": [
            [
                [109.71, 23.21],
                [109.711, 23.21],
                [109.711, 23.211],
                [109.71, 23.211],
                [109.71, 23.21],
            ]
        ],
    }
    r2 = client.patch(
        path,
        json={"geometry": moved},
        headers={
            "Content-Type": "application/merge-patch+json",
            "If-Match": r.headers["etag"],
        },
    )
    assert r2.status_code == 204
    body = client.get(path).json()
    assert body["geometry"]["coordinates"][0][0] == pytest.approx([109.71, 23.21])
    assert body["properties"]["DLMC"] == "已核查"
    history = client.get(path + "/history").json()["versions"]
    assert [v["operation"] for v in history] == ["create", "update", "update"]
    assert history[1]["old"]["properties"]["DLMC"] == "水田"
    assert history[1]["new"]["properties"]["DLMC"] == "已核查"


def test_delete(client: TestClient) -> None:
    location, etag = _create(client)
    path = location.removeprefix("http://testserver")
    assert client.delete(path, headers={"If-Match": '"nope"'}).status_code == 412
    assert client.delete(path, headers={"If-Match": etag}).status_code == 204
    assert client.get(path).status_code == 404
    assert client.delete(path, headers={"If-Match": etag}).status_code == 404
    versions = client.get(path + "/history").json()["versions"]
    assert [v["operation"] for v in versions] == ["create", "delete"]
    assert (
        versions[-1]["new"] is None
        and versions[-1]["old"]["properties"]["DLBM"] == "0101"
    )


def test_if_match_star_and_required(client: TestClient) -> None:
    location, _ = _create(client)
    path = location.removeprefix("http://testserver")
    missing = client.patch(
        path,
        json={"properties": {"DLMC": "x"}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert missing.status_code == 428
    star = client.patch(
        path,
        json={"properties": {"DLMC": "x"}},
        headers={"Content-Type": "application/merge-patch+json", "If-Match": "*"},
    )
    assert star.status_code == 204


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "FeatureCollection", "features": []}, "body"),
        ({**_feature(), "geometry": None}, "geometry"),
        (
            {**_feature(), "geometry": {"type": "Point", "coordinates": [109.7, 23.2]}},
            "geometry",
        ),
        (
            {
                **_feature(),
                "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]},
            },
            "geometry",
        ),
        (
            {
                **_feature(),
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]],
                },
            },
            "geometry",
        ),  # self-intersecting
        (
            {
                **_feature(),
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[179, 0], [181, 0], [181, 1], [179, 0]]],
                },
            },
            "geometry",
        ),  # beyond longitude 180
        (
            {
                **_feature(),
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[0, 0], [1e308, 0], [1e308, 1e308], [0, 0]]],
                },
            },
            "geometry",
        ),  # finite, but no place on earth
        (_feature(NOPE=1), "properties.NOPE"),
        (_feature(TBMJ="big"), "properties.TBMJ"),
        (_feature(SJNF=2024.5), "properties.SJNF"),
        (_feature(GXSJ="yesterday"), "properties.GXSJ"),
        (_feature(DLBM=5), "properties.DLBM"),
        ({**_feature(), "properties": [1, 2]}, "properties"),
    ],
)
def test_invalid_bodies(client: TestClient, body: dict[str, Any], field: str) -> None:
    r = client.post(ITEMS, json=body, headers={**GEOJSON, "Accept-Language": "en"})
    assert r.status_code == 400, r.text
    assert r.json()["parameter"] == field


def test_request_errors(client: TestClient) -> None:
    assert client.post(ITEMS, content=b"{not json", headers=GEOJSON).status_code == 400
    r = client.post(ITEMS, content=b"<xml/>", headers={"Content-Type": "application/xml"})
    assert r.status_code == 415
    huge = b'{"type":"Feature","properties":{"DLMC":"' + b"x" * 10_100_000 + b'"}}'
    assert client.post(ITEMS, content=huge, headers=GEOJSON).status_code == 413
    bad_crs = client.post(
        ITEMS, json=_feature(), headers={**GEOJSON, "Content-Crs": "<EPSG:27700>"}
    )
    assert bad_crs.status_code == 400 and bad_crs.json()["parameter"] == "Content-Crs"
    for method in ("put", "patch", "delete"):
        r = client.request(
            method.upper(),
            f"{ITEMS}/999999",
            json=_feature(),
            headers={**GEOJSON, "If-Match": "*"},
        )
        assert r.status_code == 404, method


def test_read_only_and_hidden_collections(client: TestClient) -> None:
    r = client.post("/collections/parcels/items", json=_feature(), headers=GEOJSON)
    assert r.status_code == 405 and "GET" in r.headers["allow"]
    # the admin sees the secret collection: it exists, and is read-only
    assert (
        client.post(
            "/collections/secret/items", json=_feature(), headers=GEOJSON
        ).status_code
        == 405
    )
    assert (
        client.post(
            "/collections/nope/items", json=_feature(), headers=GEOJSON
        ).status_code
        == 404
    )
    assert (
        client.delete(
            "/collections/parcels/items/1", headers={"If-Match": "*"}
        ).status_code
        == 405
    )
    assert client.get("/collections/parcels/items/1").status_code == 200


def test_conformance_lists_part4(client: TestClient) -> None:
    classes = client.get("/conformance").json()["conformsTo"]
    assert (
        "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete"
        in (classes)
    )


def test_allowed_values_are_enforced_on_every_write(settings: Any, admin: Any) -> None:
    """A verification state outside the configured list is a 400 naming the field."""
    from server.app import create_app

    editable = settings.collections["editable"].model_copy(
        update={"allowed_values": {"DLBM": ["0101", "0103"]}}
    )
    changed = settings.model_copy(
        update={"collections": {**settings.collections, "editable": editable}}
    )
    with TestClient(create_app(changed)) as raw:
        client = AsCaller(raw, admin)
        schema = client.get("/collections/editable/queryables").json()
        assert schema["properties"]["DLBM"]["enum"] == ["0101", "0103"]
        bad = client.post(ITEMS, json=_feature(DLBM="9999"), headers=GEOJSON)
        assert bad.status_code == 400 and "properties.DLBM" in bad.text
        location, etag = _create(client, DLBM="0103")
        path = location.removeprefix("http://testserver")
        merge = {"Content-Type": "application/merge-patch+json", "If-Match": etag}
        patched = client.patch(path, json={"properties": {"DLBM": "0702"}}, headers=merge)
        assert patched.status_code == 400 and "0101, 0103" in patched.text
        whole = client.put(
            path, json=_feature(DLBM="x"), headers={**GEOJSON, "If-Match": etag}
        )
        assert whole.status_code == 400
        assert client.get(path).headers["etag"] == etag  # nothing changed
