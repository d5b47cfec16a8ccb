"""Hardening: request ids, structured access logs without secrets, security headers on
pages, rate limits per caller and a brake on failed authentications per address."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from config.security import RateLimitConfig, SecurityConfig
from server.app import create_app
from server.http.logs import JsonFormatter
from server.http.request_context import redact_query
from server.security.api_keys import ApiKeys
from server.security.audit import AuditLog
from server.security.rate_limit import RateLimit
from server.state import app_state
from tests.conftest import make_settings

SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@contextmanager
def app_with(
    store: Path, address: str = "testclient", **security: Any
) -> Iterator[TestClient]:
    """A geopackage app of its own (fresh limiter state) with these security settings,
    called from ``address``."""
    settings = make_settings(store, settings={"security": SecurityConfig(**security)})
    with TestClient(create_app(settings), client=(address, 50000)) as client:
        yield client


def _admin_key(store: Path) -> dict[str, str]:
    secret, _key = ApiKeys(store.parent).create("hardening", ["admin"], None)
    return {"X-API-Key": secret}


def _limiter(client: TestClient) -> RateLimit:
    layer: Any = client.app.middleware_stack
    while not isinstance(layer, RateLimit):
        layer = layer.app
    return layer


# ----------------------------------------------------------------- request ids


def test_a_sane_request_id_is_echoed(client: TestClient) -> None:
    for sent in ("abc-123", "a.b_C-9", "x" * 64, str(uuid.uuid4())):
        r = client.get("/conformance", headers={"X-Request-ID": sent})
        assert r.headers["x-request-id"] == sent
    # also on errors and on pages
    r = client.get("/nope", headers={"X-Request-ID": "err-1"})
    assert r.status_code == 404 and r.headers["x-request-id"] == "err-1"
    assert client.get("/?f=html").headers["x-request-id"]


def test_a_missing_or_hostile_request_id_is_replaced(client: TestClient) -> None:
    generated = {client.get("/conformance").headers["x-request-id"] for _ in range(3)}
    assert len(generated) == 3 and all(SANE_ID.match(i) for i in generated)
    hostile: list[str | bytes] = [
        "x" * 65,
        "two words",
        "a;b",
        "<script>alert(1)</script>",
        "../../etc/passwd",
        "id\tTAB",
        "",
        "é".encode(),
    ]
    for sent in hostile:
        r = client.get("/conformance", headers={"X-Request-ID": sent})
        answered = r.headers["x-request-id"]
        assert answered != sent and SANE_ID.match(answered), sent
    # two ids: neither is trusted
    r = client.get(
        "/conformance", headers=[("X-Request-ID", "one"), ("X-Request-ID", "two")]
    )
    assert r.headers["x-request-id"] not in ("one", "two")
    assert len(r.headers.get_list("x-request-id")) == 1


def test_the_audit_trail_records_the_answered_id(store: Path) -> None:
    with app_with(store) as client:
        r = client.get(
            "/collections",
            headers={"X-API-Key": "om_wrong", "X-Request-ID": "<evil>\u2028".encode()},
        )
        assert r.status_code == 401
        answered = r.headers["x-request-id"]
        assert SANE_ID.match(answered)
        log = AuditLog(app_state(client.app).settings)
        deadline = time.monotonic() + 10
        ids: set[str] = set()
        while answered not in ids and time.monotonic() < deadline:
            time.sleep(0.2)  # rows are appended by a background thread
            ids = {row["request_id"] for row in log.rows(action="auth.failed")}
        assert answered in ids
        assert not any("evil" in i for i in ids)


# ----------------------------------------------------------------- access log

SECRETS = ("S3cretQuery1", "S3cretQuery2", "S3cretBearer", "S3cretApiKey", "S3cretCookie")


def _access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    formatter = JsonFormatter()
    return [
        json.loads(formatter.format(r))
        for r in caplog.records
        if r.name == "onemap.access"
    ]


def test_one_json_access_line_per_request_without_secrets(
    client: TestClient, admin: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="onemap")
    r = client.get(
        "/collections?api_key=S3cretQuery1&limit=1&ToKen=S3cretQuery2&access_token=",
        headers={
            "Authorization": "Bearer S3cretBearer",
            "X-API-Key": "S3cretApiKey",
            "Cookie": "session=S3cretCookie",
            "X-Request-ID": "log-test-1",
        },
    )
    assert r.status_code == 401
    ok = client.get("/collections?limit=1", headers=admin)
    assert ok.status_code == 200
    client.get("/conformance?key=" + admin["X-API-Key"])  # 400: an unknown parameter
    lines = _access_lines(caplog)
    assert len(lines) == 3
    failed, good, keyed = lines
    assert failed["request_id"] == "log-test-1"
    assert failed["method"] == "GET" and failed["status"] == 401
    assert failed["path"] == (
        "/collections?api_key=***&limit=1&ToKen=***&access_token=***"
    )
    assert failed["client"] == "testclient"
    assert failed["level"] == "INFO" and failed["logger"] == "onemap.access"
    assert isinstance(failed["duration_ms"], float) and failed["duration_ms"] >= 0
    assert failed["ts"].endswith("+00:00")
    assert "principal" not in failed  # the credentials named nobody
    assert good["principal"].startswith("key:")
    assert good["request_id"] == ok.headers["x-request-id"]
    assert good["path"] == "/collections?limit=1" and good["bytes"] > 0
    assert keyed["path"] == "/conformance?key=***" and keyed["status"] == 400
    # nothing anywhere in the captured logs (any logger, any format) names a secret
    everything = caplog.text + "".join(
        JsonFormatter().format(rec) for rec in caplog.records
    )
    for secret in (*SECRETS, admin["X-API-Key"]):
        assert secret not in everything, secret


def test_query_redaction() -> None:
    assert redact_query("") == ""
    assert redact_query("a=1&key=x&b") == "a=1&key=***&b"
    assert redact_query("API%5FKEY=x&tokens=y") == "API%5FKEY=***&tokens=y"
    assert redact_query("token") == "token"  # a flag without a value


def test_log_lines_in_json_or_text() -> None:
    script = (
        "import logging, sys\n"
        "from server.http.logs import configure_logging, REQUEST_ID\n"
        "configure_logging(sys.argv[1])\n"
        "REQUEST_ID.set('rid-7')\n"
        "logging.getLogger('onemap.test').info('hello %s', 'world')\n"
        "logging.getLogger('other').info('not ours')\n"
    )

    def run(fmt: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", script, fmt],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        return done.stdout

    lines = run("json").splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert line["msg"] == "hello world" and line["request_id"] == "rid-7"
    assert line["logger"] == "onemap.test" and line["level"] == "INFO"
    text = run("text")
    assert "INFO onemap.test hello world" in text and not text.startswith("{")


# ----------------------------------------------------------------- headers

PAGES = [
    "/?f=html",
    "/collections?f=html",
    "/collections/parcels?f=html",
    "/collections/parcels/items?f=html&limit=5",
    "/api?f=html",
    "/processes/landuse-statistics?f=html",
    "/map",
]


def test_pages_carry_a_content_security_policy(client: TestClient) -> None:
    for path in PAGES:
        r = client.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith(
            "text/html"
        ), path
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "'unsafe-eval'" not in csp
        assert "worker-src 'self' blob:" in csp and "img-src 'self' data: blob:" in csp
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"
        # the policy allows no inline script: every script is a file or JSON data
        for tag in re.findall(r"<script\b[^>]*>", r.text):
            assert "src=" in tag or 'type="application/json"' in tag, (path, tag)
    for path in ("/static/onemap-api.js", "/static/onemap-process.js"):
        assert client.get(path).status_code == 200


def test_data_carries_nosniff_only(client: TestClient) -> None:
    for path, accept in (
        ("/?f=json", None),
        ("/collections/parcels/items?limit=1", None),
        ("/collections/parcels/tiles/WebMercatorQuad/15/14034/26461", None),
        ("/nope", "application/json"),
    ):
        r = client.get(path, headers={"Accept": accept} if accept else {})
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert "content-security-policy" not in r.headers, path
        assert "x-frame-options" not in r.headers, path


def test_framing_by_a_portal(store: Path) -> None:
    with app_with(store, frame_ancestors=["https://portal.example.cn"]) as client:
        r = client.get("/?f=html")
        assert (
            "frame-ancestors https://portal.example.cn"
            in r.headers["content-security-policy"]
        )
        assert "x-frame-options" not in r.headers


# ----------------------------------------------------------------- rate limits


def test_a_caller_over_its_rate_gets_429(store: Path) -> None:
    limits = RateLimitConfig(requests_per_s=0.2, burst=3)
    admin = _admin_key(store)
    with app_with(store, rate_limit=limits) as client:
        # a key that authenticated is a caller of its own, not the address's
        assert client.get("/collections", headers=admin).status_code == 200
        for _ in range(2):
            assert client.get("/conformance").status_code == 200
        en = client.get("/conformance", headers={"Accept-Language": "en"})
        assert en.status_code == 429
        assert re.fullmatch(r"[1-9][0-9]*", en.headers["retry-after"])
        assert 1 <= int(en.headers["retry-after"]) <= 5
        assert en.headers["content-type"] == "application/problem+json"
        assert en.headers["x-request-id"] and en.headers["cache-control"] == "no-store"
        body = en.json()
        assert body["status"] == 429 and body["code"] == "TooManyRequests"
        assert body["title"] == "Too many requests"
        assert f"retry in {en.headers['retry-after']} s" in body["detail"]
        zh = client.get("/conformance?lang=zh-CN")
        assert zh.status_code == 429 and zh.json()["title"] == "请求过于频繁"
        assert "秒后重试" in zh.json()["detail"]
        assert zh.headers["content-language"] == "zh-CN"
        page = client.get("/", headers={"Accept": "text/html"})
        assert page.status_code == 429 and "retry-after" in page.headers
        assert "content-security-policy" in page.headers
        # operations endpoints are never limited
        for path in ("/health", "/ready", "/metrics"):
            assert client.get(path).status_code in (200, 503), path
        assert client.get("/collections", headers=admin).status_code == 200
        assert client.get("/conformance").status_code == 429
        # a made-up credential is no caller of its own: it counts for the address
        fake = client.get("/conformance", headers={"X-API-Key": "om_made_up"})
        assert fake.status_code == 429
        # CORS: a browser app can read the 429 and when to retry
        cors = client.get("/conformance", headers={"Origin": "https://app.example.cn"})
        assert cors.status_code == 429
        assert cors.headers["access-control-allow-origin"] == "*"
        exposed = cors.headers["access-control-expose-headers"].lower()
        assert "retry-after" in exposed and "x-request-id" in exposed


def test_a_bucket_refills(store: Path) -> None:
    with app_with(store, rate_limit=RateLimitConfig(requests_per_s=20, burst=1)) as c:
        assert c.get("/conformance").status_code == 200
        assert c.get("/conformance").status_code == 429
        time.sleep(0.1)
        assert c.get("/conformance").status_code == 200


def test_parallel_wrong_keys_are_throttled(store: Path) -> None:
    limits = RateLimitConfig(failed_auth_per_min=10)
    admin = _admin_key(store)
    with app_with(store, rate_limit=limits) as client:
        # a system whose key worked before is not held back by a neighbour's guesses
        assert client.get("/collections", headers=admin).status_code == 200

        def guess(i: int) -> int:
            key = f"om_{uuid.uuid4().hex}{i}"
            return client.get("/collections", headers={"X-API-Key": key}).status_code

        with ThreadPoolExecutor(32) as pool:
            statuses = list(pool.map(guess, range(32)))
        assert set(statuses) <= {401, 429}
        assert statuses.count(401) <= 10 and statuses.count(429) >= 22
        refused = client.get("/collections", headers={"Authorization": "Bearer x.y.z"})
        assert refused.status_code == 429 and refused.json()["code"] == "TooManyRequests"
        assert 1 <= int(refused.headers["retry-after"]) <= 6  # a token in 60/10 s
        assert (
            "authentication" in refused.json()["detail"]
            or "身份验证" in (refused.json()["detail"])
        )
        # anonymous reads and the proven key still work from that address
        assert client.get("/collections").status_code == 200
        assert client.get("/collections", headers=admin).status_code == 200
        # the limiter keeps digests, never a credential
        limiter = _limiter(client)
        keys = [*limiter.proven.keys(), *limiter.requests.keys()]
        assert all(isinstance(k, str) or len(k) == 16 for k in keys)
        assert not any(
            admin["X-API-Key"].encode() in k for k in keys if isinstance(k, bytes)
        )


def test_without_limits(store: Path) -> None:
    limits = RateLimitConfig(requests_per_s=0, failed_auth_per_min=0)
    with app_with(store, rate_limit=limits) as client:
        statuses = {
            client.get("/collections", headers={"X-API-Key": f"om_{i}"}).status_code
            for i in range(40)
        }
        assert statuses == {401}


def test_loopback_is_not_limited_when_anonymous(store: Path) -> None:
    # MapProxy fetches the server's own tiles from 127.0.0.1 (internal_url)
    limits = RateLimitConfig(requests_per_s=0.1, burst=2, failed_auth_per_min=3)
    with app_with(store, address="127.0.0.1", rate_limit=limits) as client:
        assert {client.get("/conformance").status_code for _ in range(10)} == {200}
        wrong = [
            client.get("/collections", headers={"X-API-Key": f"om_{i}"}).status_code
            for i in range(6)
        ]
        # unproven credentials count, from every address
        assert wrong[:2] == [401, 401] and set(wrong[2:]) == {429}
