"""Every 4xx path: OGC exception bodies naming the parameter, never a 500 or a trace."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from tests.conftest import make_settings

ITEMS = "/collections/parcels/items"

BAD_ITEMS = [
    ("bbox=1,2,3", "bbox"),
    ("bbox=1,2,3,4,5", "bbox"),
    ("bbox=109.5,23.1,109.6,23.0", "bbox"),  # south > north
    ("bbox=109.6,23.0,109.5,23.1", "bbox"),  # west > east
    ("bbox=a,b,c,d", "bbox"),
    ("bbox=nan,1,2,3", "bbox"),
    ("bbox=1,inf,2,3", "bbox"),
    ("bbox=0,-91,1,1", "bbox"),
    ("bbox=", "bbox"),
    ("bbox-crs=EPSG:9999999&bbox=1,2,3,4", "bbox-crs"),
    ("bbox-crs=http://www.opengis.net/def/crs/EPSG/0/2000&bbox=1,2,3,4", "bbox-crs"),
    ("crs=http://www.opengis.net/def/crs/EPSG/0/27700", "crs"),
    ("crs=nonsense", "crs"),
    ("limit=0", "limit"),
    ("limit=-1", "limit"),
    ("limit=-10000000000000000000000", "limit"),
    ("limit=ten", "limit"),
    ("limit=1.5", "limit"),
    ("offset=-5", "offset"),
    ("offset=x", "offset"),
    ("datetime=yesterday", "datetime"),
    ("datetime=2023-13-01", "datetime"),
    ("datetime=2023-05-01T10:00:00", "datetime"),  # RFC 3339 needs an offset
    ("datetime=2023-06-01/2023-01-01", "datetime"),
    ("datetime=/", "datetime"),
    ("datetime=..", "datetime"),
    ("properties=NOPE", "properties"),
    ("properties=DLBM,,TBMJ", "properties"),
    ("sortby=NOPE", "sortby"),
    ("sortby=-", "sortby"),
    ("sortby=geom", "sortby"),
    ("f=xml", "f"),
    ("lang=fr", "lang"),
    ("unknown=1", "unknown"),
    ("TBMJ=abc", "TBMJ"),
    ("SJNF=1.5", "SJNF"),
    ("limit=5&limit=6", "limit"),
]


@pytest.mark.parametrize(("query", "parameter"), BAD_ITEMS)
def test_bad_items_parameters(client: TestClient, query: str, parameter: str) -> None:
    r = client.get(f"{ITEMS}?{query}")
    assert r.status_code == 400, r.text
    body = r.json()
    assert r.headers["content-type"] == "application/problem+json"
    assert body["status"] == 400
    assert body["parameter"] == parameter
    assert body["detail"].startswith(parameter + ":")
    assert {"type", "title", "detail"} <= body.keys()
    assert body["type"] == "urn:onemap:error:InvalidParameterValue"


@pytest.mark.parametrize(
    "url",
    [
        "/collections/nope",
        "/collections/nope/items",
        "/collections/nope/items/1",
        "/collections/nope/queryables",
        "/collections/parcels/items/999999",
        "/collections/parcels/items/abc",
        "/collections/parcels/items/-1",
        "/no/such/path",
    ],
)
def test_not_found(client: TestClient, url: str) -> None:
    r = client.get(url)
    assert r.status_code == 404
    assert r.json()["status"] == 404
    # OGC API - Features and Common register no exception types: ours
    assert r.json()["type"] == "urn:onemap:error:NotFound"
    assert r.headers["content-type"] == "application/problem+json"


def test_hidden_collection_answers_like_unknown(client: TestClient) -> None:
    for suffix in ("", "/items", "/items/1", "/queryables"):
        hidden = client.get(f"/collections/secret{suffix}")
        unknown = client.get(f"/collections/secreu{suffix}")
        assert hidden.status_code == unknown.status_code == 404
        assert hidden.content == unknown.content.replace(b"secreu", b"secret")
    ids = [c["id"] for c in client.get("/collections").json()["collections"]]
    assert "secret" not in ids


def test_unknown_collection_checked_before_parameters(client: TestClient) -> None:
    assert client.get("/collections/nope/items?limit=0").status_code == 404


def test_error_language(client: TestClient) -> None:
    zh = client.get(f"{ITEMS}?limit=0").json()
    en = client.get(f"{ITEMS}?limit=0&lang=en").json()
    assert "必须大于等于 1" in zh["detail"]
    assert "must be 1 or more" in en["detail"]
    assert en["title"] == "Invalid parameter"


def test_error_as_html(client: TestClient) -> None:
    r = client.get(f"{ITEMS}?limit=0&f=html")
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("text/html")
    assert "limit" in r.text
    page = client.get("/collections/nope", headers={"Accept": "text/html"})
    assert page.status_code == 404 and "<html" in page.text


def test_not_acceptable(client: TestClient) -> None:
    r = client.get("/collections", headers={"Accept": "image/png"})
    assert r.status_code == 406
    assert r.json()["status"] == 406


def test_method_not_allowed(client: TestClient) -> None:
    r = client.post("/collections")
    assert r.status_code == 405
    assert r.json()["status"] == 405


def test_unknown_parameter_on_other_endpoints(client: TestClient) -> None:
    for url in (
        "/",
        "/conformance",
        "/collections",
        "/collections/parcels",
        "/collections/parcels/items/1",
        "/collections/parcels/queryables",
    ):
        r = client.get(f"{url}?bogus=1")
        assert r.status_code == 400, url
        assert r.json()["parameter"] == "bogus"


@pytest.mark.parametrize(
    "query",
    [
        "bbox=" + ",".join(["1e308"] * 4),
        "limit=" + "9" * 500,
        "offset=" + "9" * 40,
        "sortby=" + "A" * 5000,
        "properties=" + ",".join(["X"] * 2000),
        "datetime=" + "2023-01-01T00:00:00Z/" * 3,
        "crs=" + "%00%ff" * 10,
        "bbox=1,2,3,4&bbox-crs=" + "http://www.opengis.net/def/crs/EPSG/0/" + "4" * 300,
        "DLBM=%27%20OR%201%3D1%20--",
    ],
)
def test_hostile_values_never_500(client: TestClient, query: str) -> None:
    r = client.get(f"{ITEMS}?{query}")
    assert r.status_code < 500
    assert "Traceback" not in r.text and "sqlite" not in r.text.lower()


def test_a_locked_geopackage_is_a_503_with_retry_after(
    store: Path, tmp_path: Path
) -> None:
    """A writer that keeps the file locked beyond the readers' wait: 503 + Retry-After,
    never a 500 (the soak on the embedded default found these)."""
    import shutil
    import sqlite3

    copy = tmp_path / store.name
    shutil.copy(store, copy)
    shutil.copytree(store.parent / "imagery", tmp_path / "imagery")
    import providers.geopackage.provider as geopackage

    local = make_settings(copy, "geopackage", None)
    with TestClient(create_app(local)) as client:
        locker = sqlite3.connect(copy, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        saved = geopackage._READ_BUSY_S
        try:
            geopackage._READ_BUSY_S = 0.2
            r = client.get("/collections/parcels/items/1", params={"lang": "en"})
        finally:
            geopackage._READ_BUSY_S = saved
            locker.execute("ROLLBACK")
            locker.close()
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] == "5"
        assert "sqlite" not in r.text.lower() and "locked" not in r.text
        assert client.get("/collections/parcels/items/1").status_code == 200
