"""The access matrix: every role × collection × operation over HTTP with real tokens,
and what each role receives checked against its grant (region, row filter, properties)
on both providers. A hidden collection answers exactly like an unknown one."""

from __future__ import annotations

import io
import json
import os
import random
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import mapbox_vector_tile
import morecantile
import numpy as np
import pytest
import shapely
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from PIL import Image

from config.security import (
    CollectionRule,
    EditionConfig,
    JwtConfig,
    RegionConfig,
    RoleConfig,
    SecurityConfig,
)
from config.settings import CollectionConfig, Settings
from config.sources import GeoPackageSource
from server.app import create_app
from server.state import app_state
from tests.conftest import make_settings
from tests.fixtures import parcel_grid, write_layer

ISSUER, AUDIENCE = "https://idp.example.cn/realms/bureau", "onemap"
EDGE = 109.5325  # the county's region ends at this meridian (mid-cell of the grid)
REGION = shapely.box(109.40, 22.90, EDGE, 23.20)
COUNTY_PROPS = {"BSM", "DLBM", "DLMC", "TBMJ"}
LEVELS = {
    "parcels": "internal",
    "editable": "internal",
    "wells": "public",
    "secret": "secret",
    "pair": "internal",
    "gk_image": "public",
    "secret_image": "secret",
}
RASTERS = {"pair", "gk_image", "secret_image"}
ROLES = {
    "county": RoleConfig(
        level="internal",
        operations=["read", "tiles", "update"],
        region=RegionConfig(geometry=json.loads(shapely.to_geojson(REGION))),
        rules={
            "parcels": CollectionRule(
                filter="DLBM <> '0702'", properties=sorted(COUNTY_PROPS)
            ),
            "editable": CollectionRule(operations=["read", "update"]),
        },
    ),
    "mapper": RoleConfig(level="internal", operations=["tiles"]),
    "analyst": RoleConfig(
        level="internal",
        operations=["read", "tiles", "execute"],
        processes=["monitoring-statistics"],
    ),
    "spy": RoleConfig(level="secret", collections=["secret", "secret_image"]),
}
PRINCIPALS = ("anonymous", "county", "mapper", "analyst", "spy", "admin")
RANK = {"public": 0, "internal": 1, "secret": 2}
# Randomized requests per role: a bounded number in CI, more in a bench run.
RANDOM_REQUESTS = int(os.environ.get("ONEMAP_MATRIX_REQUESTS", "40"))


def _sees(who: str, cid: str) -> bool:
    level = LEVELS[cid]
    if who == "admin" or level == "public":
        return True
    if who == "anonymous":
        return False
    role = ROLES[who]
    if RANK[level] > RANK[role.level]:
        return False
    return role.collections is None or cid in role.collections


def _may(who: str, cid: str, op: str) -> bool:
    """The oracle: what the configuration grants, computed independently."""
    if who == "admin":
        return True
    ops = set()
    if LEVELS[cid] == "public":
        ops |= {"read", "tiles"}
    if (
        who != "anonymous"
        and _sees(who, cid)
        and not (LEVELS[cid] == "public" and ROLES[who].collections is not None)
    ):
        rule = ROLES[who].rules.get(cid)
        granted = rule.operations if rule and rule.operations is not None else None
        ops |= set(granted if granted is not None else ROLES[who].operations)
    return op in ops


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _token(key: Any, who: str) -> dict[str, str]:
    if who == "anonymous":
        return {}
    now = int(time.time())
    roles = ["admin"] if who == "admin" else [who]
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": f"{who}.user", "iat": now,
              "exp": now + 3600, "roles": roles}  # fmt: skip
    value = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})
    return {"Authorization": f"Bearer {value}"}


def matrix_settings(base: Settings, jwks: str) -> Settings:
    collections = {
        cid: conf.model_copy(update={"classification": LEVELS.get(cid, "public")})
        for cid, conf in base.collections.items()
    }
    security = SecurityConfig(
        jwt=JwtConfig(jwks=jwks, issuer=ISSUER, audience=AUDIENCE),
        roles=ROLES,
        editions={
            "internet": EditionConfig(level="public", path_prefix="/public"),
            "government": EditionConfig(level="internal", hosts=["gov.example.cn"]),
        },
    )
    return base.model_copy(update={"collections": collections, "security": security})


@pytest.fixture(scope="module")
def matrix(
    settings: Settings,
    signing_key: rsa.RSAPrivateKey,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(signing_key.public_key()))
    jwks = tmp_path_factory.mktemp("idp") / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig"}]}))
    app = create_app(matrix_settings(settings, str(jwks)))
    with TestClient(app) as client:
        yield client, {who: _token(signing_key, who) for who in PRINCIPALS}


def _tile_of(lon: float, lat: float, z: int) -> str:
    t = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, z)
    return f"WebMercatorQuad/{t.z}/{t.y}/{t.x}"


FEATURE_OPS = {
    "items": ("read", "/collections/{c}/items?limit=5"),
    "item": ("read", "/collections/{c}/items/1"),
    "cql2": ("read", "/collections/{c}/items?filter=1%3D1&limit=2"),
    "queryables": ("read", "/collections/{c}/queryables"),
    "schema": ("read", "/collections/{c}/schema"),
    "items_html": ("read", "/collections/{c}/items?f=html&limit=2"),
    "stream": ("read", "/collections/{c}/items?limit=1000"),  # the largest page
    "mvt": ("tiles", "/collections/{c}/tiles/" + _tile_of(109.52, 23.02, 14)),
}
RASTER_OPS = {
    "cog": ("tiles", "/collections/{c}/tiles/" + _tile_of(109.52, 23.03, 14)),
}


def _expected(who: str, cid: str, op: str) -> set[int]:
    if not _sees(who, cid):
        return {404}
    if not _may(who, cid, op):
        return {401} if who == "anonymous" else {403}
    if cid == "gk_image":
        return {404}  # its image lies elsewhere: the tile is outside its limits
    if op == "tiles" and cid not in RASTERS:
        return {200, 204}  # an empty vector tile is 204
    return {200}


def test_every_role_collection_and_operation(
    matrix: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    client, headers = matrix
    mismatches, cases = [], 0
    for who in PRINCIPALS:
        for cid in LEVELS:
            ops = RASTER_OPS if cid in RASTERS else FEATURE_OPS
            for name, (op, template) in ops.items():
                r = client.get(template.format(c=cid), headers=headers[who])
                cases += 1
                if r.status_code not in _expected(who, cid, op):
                    mismatches.append((who, cid, name, r.status_code))
    assert cases == len(PRINCIPALS) * (4 * len(FEATURE_OPS) + 3 * len(RASTER_OPS))
    assert mismatches == []


def test_wmts_and_wms_serve_only_the_public_edition(
    matrix: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    """MapProxy knows nothing of callers, so it is built from the public collections
    only: whatever the credentials, its capabilities list no other layer and a tile
    of another one is refused like a layer that does not exist."""
    client, headers = matrix
    public = {c for c, level in LEVELS.items() if level == "public"}
    hidden = set(LEVELS) - public
    names = re.compile(r"<(?:ows:Identifier|Name)>([^<]+)</")
    for who in PRINCIPALS:
        for path in (
            "/wmts/1.0.0/WMTSCapabilities.xml",
            "/service?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.3.0",
        ):
            r = client.get(path, headers=headers[who])
            assert r.status_code == 200, (who, path, r.text[:200])
            layers = set(names.findall(r.text))
            leaked = {
                n for n in layers for c in hidden if n == c or n.startswith(c + "_")
            }
            assert leaked == set(), (who, path, leaked)
            assert "wells" in layers, (who, path, layers)
        for cid in hidden:
            unknown = client.get(
                f"/wmts/{cid}/webmercator/14/0/0.png", headers=headers[who]
            )
            nothing = client.get("/wmts/nothing/webmercator/14/0/0.png")
            assert unknown.status_code == nothing.status_code, (who, cid)
            assert unknown.status_code >= 400


def test_the_listing_shows_what_each_role_sees(
    matrix: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    client, headers = matrix
    for who in PRINCIPALS:
        listed = {
            c["id"]
            for c in client.get("/collections", headers=headers[who]).json()[
                "collections"
            ]
        }
        assert listed == {c for c in LEVELS if _sees(who, c)}, who


def _without_volatile(r: Any) -> tuple[int, bytes, dict[str, str]]:
    skip = {"date", "x-request-id", "server"}
    return r.status_code, r.content, {k: v for k, v in r.headers.items() if k not in skip}


HIDDEN_PATHS = [
    "/collections/{c}",
    "/collections/{c}/items",
    "/collections/{c}/items/1",
    "/collections/{c}/items?filter=BSM%3D%27x%27",
    "/collections/{c}/queryables",
    "/collections/{c}/schema",
    "/collections/{c}/items/1/history",
    "/collections/{c}/tiles",
    "/collections/{c}/tiles/" + _tile_of(109.52, 23.02, 14),
    "/collections/{c}/map/tiles/" + _tile_of(109.52, 23.02, 14),
]


@pytest.mark.parametrize("who", ["anonymous", "county", "analyst"])
def test_a_hidden_collection_answers_like_an_unknown_one(
    matrix: tuple[TestClient, dict[str, dict[str, str]]], who: str
) -> None:
    client, headers = matrix
    for path in HIDDEN_PATHS:
        for method in ("GET", "PATCH", "DELETE"):
            if method != "GET" and "/items/1" not in path:
                continue
            body = b"{}" if method == "PATCH" else None
            extra = {"Content-Type": "application/merge-patch+json"} if body else {}
            hidden = client.request(
                method,
                path.format(c="secret"),
                headers={**headers[who], **extra},
                content=body,
            )
            unknown = client.request(
                method,
                path.format(c="zzzzzz"),
                headers={**headers[who], **extra},
                content=body,
            )
            h_status, h_body, h_headers = _without_volatile(hidden)
            u_status, u_body, u_headers = _without_volatile(unknown)
            assert h_status == u_status, (path, method)
            assert h_body.replace(b"secret", b"zzzzzz") == u_body, (path, method)
            assert h_headers == u_headers, (path, method)


def _feature_ok(feature: dict[str, Any]) -> list[str]:
    problems = []
    geom = shapely.geometry.shape(feature["geometry"])
    if not geom.intersects(REGION):
        problems.append(f"outside region: {feature['id']}")
    props = feature["properties"]
    if set(props) - COUNTY_PROPS:
        problems.append(f"hidden properties {set(props) - COUNTY_PROPS}")
    if props.get("DLBM") == "0702":
        problems.append(f"filtered row {feature['id']}")
    return problems


def _random_items_path(rng: random.Random) -> str:
    x0, y0 = rng.uniform(109.49, 109.60), rng.uniform(22.99, 23.075)
    w, h = rng.uniform(0.002, 0.06), rng.uniform(0.002, 0.06)
    parts = [f"limit={rng.choice([1, 3, 10, 50, 300])}", f"offset={rng.randint(0, 60)}"]
    if rng.random() < 0.7:
        parts.append(f"bbox={x0},{y0},{x0 + w},{y0 + h}")
    if rng.random() < 0.5:
        parts.append("filter=" + rng.choice([
            "DLBM%20IN%20(%270101%27,%270702%27)", "TBMJ%20%3E%20250100",
            "NOT%20(DLBM%20%3D%20%270301%27)", "BSM%20LIKE%20%27450802%25%27",
            "S_INTERSECTS(geometry,POLYGON((109.5 23,109.6 23,109.6 23.1,109.5 23)))",
        ]))  # fmt: skip
    if rng.random() < 0.3:
        parts.append("sortby=" + rng.choice(["-TBMJ", "DLBM", "BSM"]))
    if rng.random() < 0.3:
        parts.append("properties=" + rng.choice(["DLBM", "DLBM,TBMJ", "BSM"]))
    return "/collections/parcels/items?" + "&".join(parts)


def test_county_sees_only_its_region_rows_and_properties(
    matrix: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    client, headers = matrix
    everything = client.get(
        "/collections/parcels/items?limit=1000", headers=headers["admin"]
    )
    all_features = everything.json()["features"]
    granted = {
        f["id"]
        for f in all_features
        if shapely.geometry.shape(f["geometry"]).intersects(REGION)
        and f["properties"]["DLBM"] != "0702"
    }
    mine = client.get("/collections/parcels/items?limit=1000", headers=headers["county"])
    assert mine.headers["Cache-Control"].startswith("private")
    assert "Authorization" in mine.headers["Vary"]
    assert {f["id"] for f in mine.json()["features"]} == granted
    assert mine.json()["numberMatched"] == len(granted)
    rng = random.Random(20261204)
    problems, seen = [], 0
    for _ in range(RANDOM_REQUESTS):
        r = client.get(_random_items_path(rng), headers=headers["county"])
        assert r.status_code == 200, r.text
        for feature in r.json()["features"]:
            seen += 1
            problems += _feature_ok(feature)
    assert seen > 0 and problems == []
    # a row outside the grant is not there, one inside is
    outside = next(f["id"] for f in all_features if f["id"] not in granted)
    r = client.get(f"/collections/parcels/items/{outside}", headers=headers["county"])
    assert r.status_code == 404
    inside = next(iter(granted))
    item = client.get(f"/collections/parcels/items/{inside}", headers=headers["county"])
    assert item.status_code == 200 and set(item.json()["properties"]) <= COUNTY_PROPS


def test_a_denied_property_is_refused_like_an_unknown_one(
    matrix: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    client, headers = matrix
    county = headers["county"]
    for template in (
        "/collections/parcels/items?filter=MCEN%3D%27x%27",
        "/collections/parcels/items?sortby=MCEN",
        "/collections/parcels/items?properties=MCEN",
        "/collections/parcels/items?MCEN=x",
    ):
        denied = client.get(template, headers=county)
        unknown = client.get(template.replace("MCEN", "NOPE"), headers=county)
        assert denied.status_code == unknown.status_code == 400, template
        assert denied.content.replace(b"MCEN", b"NOPE") == unknown.content
        assert client.get(template, headers=headers["admin"]).status_code == 200
    queryables = client.get("/collections/parcels/queryables", headers=county).json()
    assert set(queryables["properties"]) - {"geometry"} <= COUNTY_PROPS


def _tile_features(data: bytes) -> list[dict[str, Any]]:
    layers = mapbox_vector_tile.decode(data) if data else {}
    return [f for layer in layers.values() for f in layer["features"]]


def test_vector_tiles_hold_only_the_grant_and_never_cross_roles(
    matrix: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    client, headers = matrix
    wmq = morecantile.tms.get("WebMercatorQuad")
    rng = random.Random(7)
    checked = 0
    geoms, attrs = parcel_grid()
    shapes = dict(zip(attrs["BSM"], geoms, strict=True))
    for _ in range(max(6, RANDOM_REQUESTS // 4)):
        z = rng.choice([13, 14, 15])
        t = wmq.tile(rng.uniform(109.50, 109.60), rng.uniform(23.0, 23.075), z)
        path = f"/collections/parcels/tiles/WebMercatorQuad/{z}/{t.y}/{t.x}"
        admin = client.get(path, headers=headers["admin"])  # cached first, as admin
        county = client.get(path, headers=headers["county"])
        assert admin.status_code in (200, 204) and county.status_code in (200, 204)
        assert county.headers["Cache-Control"].startswith("private")
        for feature in _tile_features(county.content):
            checked += 1
            props = feature["properties"]
            assert set(props) <= COUNTY_PROPS, props
            assert props.get("DLBM") != "0702"
            # tiles clip geometries: the parcel (by its BSM) must meet the region
            assert shapes[props["BSM"]].intersects(REGION), (path, props["BSM"])
    assert checked > 0


def _audited(client: TestClient, request_ids: set[str]) -> list[dict[str, Any]]:
    """The audit rows of these requests, once they have landed (the audit thread
    writes them within moments)."""
    audit = app_state(client.app).audit
    deadline = time.monotonic() + 10
    while True:
        rows = [r for r in audit.rows() if r["request_id"] in request_ids]
        if len(rows) >= len(request_ids) or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def test_replayed_tiles_never_cross_grants_and_are_audited(
    matrix: tuple[TestClient, dict[str, dict[str, str]]],
    signing_key: rsa.RSAPrivateKey,
) -> None:
    """Tiles of callers with credentials are replayed before routing, per grant: the
    replay authenticates, is limited and audited like a routed request."""
    client, headers = matrix
    counts = app_state(client.app).hot_tiles
    # a query no other test sends: this test's requests are the first of it
    path = f"/collections/parcels/tiles/{_tile_of(EDGE, 23.03, 14)}?properties=BSM,DLBM"
    admin = client.get(path, headers=headers["admin"])
    hits = counts["hits"]
    again = client.get(path, headers=headers["admin"])
    assert again.content == admin.content and counts["hits"] == hits + 1
    county = client.get(  # not the admin's bytes
        path, headers={**headers["county"], "X-Request-ID": "replay-test-1"}
    )
    assert counts["hits"] == hits + 1
    assert county.status_code == 200 and county.content != admin.content
    county_again = client.get(
        path, headers={**headers["county"], "X-Request-ID": "replay-test-2"}
    )
    assert counts["hits"] == hits + 2 and county_again.content == county.content
    assert county_again.headers["Cache-Control"].startswith("private")
    # kept compressed: the replay sends the bytes and headers the first one had
    assert county.headers["Content-Encoding"] == "gzip"
    same = ("content-encoding", "content-length", "etag", "vary", "cache-control")
    assert {h: county_again.headers.get(h) for h in same} == {
        h: county.headers.get(h) for h in same
    }
    for feature in _tile_features(county_again.content):
        assert set(feature["properties"]) <= {"BSM", "DLBM"}
    # both county reads are in the audit trail, the replayed one like the first
    rows = _audited(client, {"replay-test-1", "replay-test-2"})
    assert len(rows) == 2
    for row in rows:
        assert row["actor"] == "county.user" and row["action"] == "tiles.read"
        assert row["collection"] == "parcels" and row["outcome"] == 200
    # credentials are checked on every replay
    now = int(time.time())
    expired = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "county.user", "iat": now - 7200,
         "exp": now - 3600, "roles": ["county"]},
        signing_key, algorithm="RS256", headers={"kid": "k1"},
    )  # fmt: skip
    refused = client.get(path, headers={"Authorization": f"Bearer {expired}"})
    assert refused.status_code == 401 and counts["hits"] == hits + 2
    # a role that may not read the collection is not answered from another's replay
    spy = client.get(path, headers=headers["spy"])
    assert spy.status_code == 404 and counts["hits"] == hits + 2
    # an edition caps the grant: the public edition does not show parcels
    hidden = client.get("/public" + path, headers=headers["admin"])
    assert hidden.status_code == 404 and counts["hits"] == hits + 2


def test_imagery_tiles_are_clipped_at_the_region_edge(
    matrix: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    client, headers = matrix
    wmq = morecantile.tms.get("WebMercatorQuad")
    t = wmq.tile(EDGE, 23.03, 14)
    path = f"/collections/pair/tiles/WebMercatorQuad/{t.z}/{t.y}/{t.x}?f=png"
    whole = client.get(path, headers=headers["admin"])
    clipped = client.get(path, headers=headers["county"])
    assert whole.status_code == clipped.status_code == 200
    b = wmq.bounds(t)
    lons = b.left + (np.arange(256) + 0.5) / 256 * (b.right - b.left)
    for response, cut in ((whole, False), (clipped, True)):
        alpha = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGBA"))[
            ..., 3
        ]
        east = alpha[:, lons > EDGE + 2 * (b.right - b.left) / 256]
        west = alpha[:, lons < EDGE - 2 * (b.right - b.left) / 256]
        assert west.max() == 255
        assert (east.max() == 0) == cut


def test_edits_stay_inside_the_region(
    matrix: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    client, headers = matrix
    county = {**headers["county"], "Content-Type": "application/merge-patch+json"}
    features = client.get(
        "/collections/editable/items?limit=100", headers=headers["admin"]
    ).json()["features"]
    inside = next(
        f for f in features if shapely.geometry.shape(f["geometry"]).within(REGION)
    )
    outside = next(
        f
        for f in features
        if not shapely.geometry.shape(f["geometry"]).intersects(REGION)
    )
    url = "/collections/editable/items/{}"
    etag = client.get(url.format(inside["id"]), headers=headers["county"]).headers["ETag"]
    ok = client.patch(url.format(inside["id"]), headers={**county, "If-Match": etag},
                      content=json.dumps({"properties": {"SJNF": 2031}}))  # fmt: skip
    assert ok.status_code == 204, ok.text
    # a feature outside the region does not exist for the county
    other = client.patch(url.format(outside["id"]), headers={**county, "If-Match": "*"},
                         content=json.dumps({"properties": {"SJNF": 1}}))  # fmt: skip
    unknown = client.patch(url.format(999999), headers={**county, "If-Match": "*"},
                           content=json.dumps({"properties": {"SJNF": 1}}))  # fmt: skip
    assert other.status_code == unknown.status_code == 404
    # moving a feature out of the region is refused (and nothing changes)
    moved = shapely.affinity.translate(
        shapely.geometry.shape(inside["geometry"]), xoff=0.05
    )
    etag = client.get(url.format(inside["id"]), headers=headers["county"]).headers["ETag"]
    moved_body = json.dumps({"geometry": json.loads(shapely.to_geojson(moved))})
    away = client.patch(
        url.format(inside["id"]), headers={**county, "If-Match": etag}, content=moved_body
    )
    assert away.status_code == 403, away.text
    after = client.get(url.format(inside["id"]), headers=headers["county"])
    assert after.headers["ETag"] == etag
    # the county may update, not create or delete
    create = client.post(
        "/collections/editable/items", headers=county, content=json.dumps(inside)
    )
    delete = client.delete(
        url.format(inside["id"]), headers={**headers["county"], "If-Match": etag}
    )
    assert create.status_code == delete.status_code == 403


def test_processes_honour_the_grant(
    matrix: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    client, headers = matrix
    body = {"inputs": {"collection": "secret", "group_by": ["class"]}}
    url = "/processes/monitoring-statistics/execution"
    async_ = {"Prefer": "respond-async"}
    hidden = client.post(url, json=body, headers={**headers["analyst"], **async_})
    nowhere = {"inputs": {"collection": "zzzzzz", "group_by": ["class"]}}
    unknown = client.post(url, json=nowhere, headers={**headers["analyst"], **async_})
    assert hidden.status_code == unknown.status_code == 400
    assert hidden.content.replace(b"secret", b"zzzzzz") == unknown.content
    # a hidden image read by its path is refused like a path outside the roots
    change = "/processes/change-detection/execution"
    pair = {
        "before": {"href": "imagery/before.tif"},
        "after": {"href": "imagery/after.tif"},
    }
    by_path = client.post(
        change, json={"inputs": pair}, headers={**headers["county"], **async_}
    )
    assert by_path.status_code == 403  # county may not execute at all
    # roles without execute, or without this process
    assert client.post(url, json=body, headers=headers["mapper"]).status_code == 403
    other = "/processes/landuse-statistics/execution"
    assert (
        client.post(other, json={"inputs": {}}, headers=headers["analyst"]).status_code
        == 403
    )
    assert client.post(url, json=body, headers=headers["anonymous"]).status_code == 401
    mine = {"inputs": {"collection": "parcels", "group_by": ["class"]}}
    job = client.post(url, json=mine, headers={**headers["analyst"], **async_})
    assert job.status_code == 201, job.text
    job_url = job.headers["Location"].split("testserver", 1)[-1]
    assert client.get(job_url, headers=headers["analyst"]).status_code == 200
    assert client.get(job_url, headers=headers["county"]).status_code == 404
    assert client.get(job_url, headers=headers["admin"]).status_code == 200


def test_editions_cap_what_anyone_sees(
    matrix: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    client, headers = matrix
    public = client.get("/public/collections", headers=headers["admin"])
    assert public.status_code == 200
    ids = {c["id"] for c in public.json()["collections"]}
    assert ids == {c for c, level in LEVELS.items() if level == "public"}
    assert all("/public/" in link["href"] for link in public.json()["links"])
    assert (
        client.get(
            "/public/collections/parcels/items", headers=headers["admin"]
        ).status_code
        == 404
    )
    gov = client.get(
        "/collections", headers={**headers["admin"], "Host": "gov.example.cn"}
    )
    assert {c["id"] for c in gov.json()["collections"]} == {
        c for c, level in LEVELS.items() if level != "secret"
    }
    everything = client.get("/collections", headers=headers["admin"])
    assert {c["id"] for c in everything.json()["collections"]} == set(LEVELS)


def _store_with_divisions(store: Path, directory: Path) -> Path:
    """A copy of the test data plus two township divisions (west, east of EDGE)."""
    copy = directory / store.name
    shutil.copy(store, copy)
    shutil.copytree(store.parent / "imagery", directory / "imagery")
    west = shapely.box(109.45, 22.95, EDGE, 23.10)
    east = shapely.box(EDGE, 22.95, 109.65, 23.10)
    codes = np.array(["450802001", "450802002"], dtype=object)
    write_layer(copy, "xzq", np.array([west, east], dtype=object), {"XZQDM": codes}, 4490)
    return copy


def _with_xzq(settings: Settings, roles: dict[str, RoleConfig]) -> Settings:
    xzq = CollectionConfig(title="Townships", source=GeoPackageSource(
        path=Path("store.gpkg"), layer="xzq"))  # fmt: skip
    collections = {
        **settings.collections,
        "xzq": xzq,
        "parcels": settings.collections["parcels"].model_copy(
            update={"classification": "internal"}
        ),
    }
    return settings.model_copy(
        update={"collections": collections, "security": SecurityConfig(roles=roles)}
    )


def test_regions_by_admin_code_and_several_roles_together(
    store: Path, tmp_path: Path
) -> None:
    from server.security.api_keys import ApiKeys
    from server.security.grants import GrantError

    copy = _store_with_divisions(store, tmp_path)
    base = make_settings(copy)
    roles = {
        "town1": RoleConfig(level="internal", region=RegionConfig(codes=["450802001"])),
        "paddy": RoleConfig(
            level="internal",
            rules={"parcels": CollectionRule(filter="DLBM = '0101'")},
        ),
    }
    settings = _with_xzq(base, roles)
    keys = ApiKeys(settings.data_dir)
    town, _ = keys.create("town", ["town1"], None)
    both, _ = keys.create("both", ["town1", "paddy"], None)
    boss, _ = keys.create("boss", ["admin"], None)
    with TestClient(create_app(settings)) as client:
        url = "/collections/parcels/items?limit=1000"
        every = client.get(url, headers={"X-API-Key": boss}).json()["features"]
        shapes = {f["id"]: shapely.geometry.shape(f["geometry"]) for f in every}
        west = shapely.box(109.45, 22.95, EDGE, 23.10)
        mine = client.get(url, headers={"X-API-Key": town}).json()["features"]
        assert {f["id"] for f in mine} == {
            i for i, g in shapes.items() if g.intersects(west)
        }
        # two roles: rows either grants (the west, or paddy fields anywhere)
        union = client.get(url, headers={"X-API-Key": both}).json()["features"]
        expected = {
            f["id"]
            for f in every
            if shapes[f["id"]].intersects(west) or f["properties"]["DLBM"] == "0101"
        }
        assert {f["id"] for f in union} == expected
        assert len(expected) > len(mine)
    # a code no division has, and a filter on an unknown property, stop the start
    for bad in (
        RoleConfig(level="internal", region=RegionConfig(codes=["450899"])),
        RoleConfig(
            rules={"parcels": CollectionRule(filter="NOPE = 1")}, level="internal"
        ),
    ):
        with (
            pytest.raises(GrantError),
            TestClient(create_app(_with_xzq(base, {"bad": bad}))),
        ):
            pass


def test_a_job_reads_imagery_only_inside_the_submitters_region(store: Path) -> None:
    from processes.base import JobContext, ProcessError
    from processes.imagery_pair import image_region
    from providers.base import AccessScope

    settings = make_settings(store)
    before = str((store.parent / "imagery" / "before.tif").resolve())
    regional = AccessScope(
        collections=frozenset({"pair"}),
        per_collection={
            "pair": AccessScope(collections=frozenset({"pair"}), region=REGION)
        },
    )
    ctx = JobContext(settings, regional, "en", "region01")
    # before.tif is the pair's before image (seen, regionally) and the secret image's
    found = image_region(ctx, before)
    assert found is not None and found.equals(REGION)
    hidden = JobContext(settings, AccessScope(collections=frozenset()), "en", "region02")
    with pytest.raises(ProcessError):
        image_region(hidden, before)
    assert image_region(JobContext(settings, AccessScope(), "en", "r3"), before) is None
    assert image_region(ctx, "/nowhere/else.tif") is None


def test_a_region_bounds_writes_on_a_public_collection(
    store: Path, tmp_path: Path
) -> None:
    """The public grant reads every row; the role's region still bounds its writes."""
    from server.security.api_keys import ApiKeys

    shutil.copy(store, tmp_path / store.name)
    shutil.copytree(store.parent / "imagery", tmp_path / "imagery")
    base = make_settings(tmp_path / store.name)
    role = RoleConfig(
        operations=["read", "tiles", "update"],
        region=RegionConfig(geometry=json.loads(shapely.to_geojson(REGION))),
    )
    settings = base.model_copy(update={"security": SecurityConfig(roles={"town": role})})
    secret, _ = ApiKeys(settings.data_dir).create("town", ["town"], None)
    key = {"X-API-Key": secret, "Content-Type": "application/merge-patch+json"}
    with TestClient(create_app(settings)) as client:
        features = client.get("/collections/editable/items?limit=100").json()["features"]
        shapes = {f["id"]: shapely.geometry.shape(f["geometry"]) for f in features}
        inside = next(i for i, g in shapes.items() if g.within(REGION))
        outside = next(i for i, g in shapes.items() if not g.intersects(REGION))
        body = json.dumps({"properties": {"SJNF": 2033}})
        # reading is public: every row; writing is the region's
        assert client.get(f"/collections/editable/items/{outside}").status_code == 200
        url = "/collections/editable/items/{}"
        out = client.patch(
            url.format(outside), headers={**key, "If-Match": "*"}, content=body
        )
        assert out.status_code == 404
        ok = client.patch(
            url.format(inside), headers={**key, "If-Match": "*"}, content=body
        )
        assert ok.status_code == 204
