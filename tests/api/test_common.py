"""Landing page, conformance, API definition, negotiation and caching."""

from __future__ import annotations

from fastapi.testclient import TestClient

FEATURES_CORE = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"
CRS_CLASS = "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs"


def test_landing_links(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    rels = {link["rel"]: link for link in r.json()["links"]}
    for rel in (
        "self",
        "alternate",
        "service-desc",
        "service-doc",
        "conformance",
        "data",
    ):
        assert rel in rels, rel
    assert rels["data"]["href"] == "http://testserver/collections"
    assert rels["service-desc"]["type"].startswith("application/vnd.oai.openapi+json")


def test_landing_languages(client: TestClient) -> None:
    zh = client.get("/", headers={"Accept-Language": "zh-CN"})
    en = client.get("/", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert zh.json()["title"] == "自然资源一张图服务"
    assert en.json()["title"] == "OneMap natural-resources service"
    assert en.headers["content-language"] == "en"
    assert client.get("/?lang=en").json()["title"] == en.json()["title"]
    # lang= wins over the header
    assert client.get("/?lang=zh-CN", headers={"Accept-Language": "en"}).json()[
        "title"
    ] == ("自然资源一张图服务")


def test_landing_html(client: TestClient) -> None:
    r = client.get("/", headers={"Accept": "text/html,application/xhtml+xml"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "自然资源一张图服务" in r.text
    assert "/collections?f=html" in r.text
    en = client.get("/?f=html&lang=en")
    assert "Collections" in en.text and 'lang="en"' in en.text


def test_conformance(client: TestClient) -> None:
    body = client.get("/conformance").json()
    assert FEATURES_CORE in body["conformsTo"]
    assert CRS_CLASS in body["conformsTo"]
    assert (
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson"
        in body["conformsTo"]
    )


def test_api_is_openapi_30(client: TestClient) -> None:
    r = client.get("/api")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.oai.openapi+json;version=3.0"
    doc = r.json()
    assert doc["openapi"].startswith("3.0")
    assert "/collections/{collectionId}/items" in doc["paths"]
    params = {
        p["name"]
        for p in doc["paths"]["/collections/{collectionId}/items"]["get"]["parameters"]
    }
    assert {"bbox", "bbox-crs", "limit", "offset", "crs", "datetime", "sortby"} <= params
    # no OpenAPI 3.1 null types left
    assert '"type":"null"' not in r.text.replace(" ", "")


def test_api_html_page(client: TestClient) -> None:
    r = client.get("/api?f=html")
    assert r.status_code == 200
    assert "swagger-ui" in r.text
    assert "/static/vendor/swagger-ui-bundle.js" in r.text


def test_etag_conditional_get(client: TestClient) -> None:
    for url in (
        "/",
        "/collections",
        "/collections/parcels",
        "/collections/parcels/items",
        "/collections/parcels/items/1",
        "/conformance",
    ):
        first = client.get(url)
        etag = first.headers["etag"]
        again = client.get(url, headers={"If-None-Match": etag})
        assert again.status_code == 304, url
        assert again.content == b""
        other = client.get(url, headers={"If-None-Match": '"something-else"'})
        assert other.status_code == 200, url
    assert "max-age" in client.get("/collections").headers["cache-control"]


def test_cors_and_gzip(client: TestClient) -> None:
    r = client.get(
        "/collections/parcels/items?limit=200",
        headers={"Origin": "https://gis.example.cn", "Accept-Encoding": "gzip"},
    )
    assert r.headers["access-control-allow-origin"] == "*"
    assert r.headers["content-encoding"] == "gzip"
    assert "ETag" in r.headers["access-control-expose-headers"]
    preflight = client.options(
        "/collections",
        headers={"Origin": "https://a.cn", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 200


def test_static_vendor_served(client: TestClient) -> None:
    r = client.get("/static/onemap-map.js")
    assert r.status_code == 200
    assert "maplibregl" in r.text
