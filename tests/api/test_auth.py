"""Authentication: bearer tokens signed by a test identity provider (its JWKS in a
file), API keys, roles → what a caller sees; every bad credential is the same 401."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from config.security import JwtConfig, RoleConfig, SecurityConfig
from server.app import create_app
from server.security.api_keys import ApiKeys
from server.state import app_state
from tests.conftest import make_settings

ISSUER, AUDIENCE = "https://idp.example.cn/realms/bureau", "onemap"


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def auth_client(
    store: Path, signing_key: rsa.RSAPrivateKey, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(signing_key.public_key()))
    jwks = tmp_path_factory.mktemp("idp") / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig"}]}))
    security = SecurityConfig(
        jwt=JwtConfig(jwks=str(jwks), issuer=ISSUER, audience=AUDIENCE),
        roles={
            "secret_reader": RoleConfig(
                level="secret", collections=["secret"], operations=["read", "execute"]
            ),
            "internal_reader": RoleConfig(level="internal"),
            "editor": RoleConfig(
                level="internal", operations=["read", "create", "update", "execute"]
            ),
        },
    )
    settings = make_settings(store, settings={"security": security})
    with TestClient(create_app(settings)) as client:
        yield client


def token(key: Any, alg: str = "RS256", kid: str = "k1", **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "zhang.san", "iat": now,
            "exp": now + 300, "roles": ["secret_reader"], **claims}  # fmt: skip
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(body, key, algorithm=alg, headers={"kid": kid})


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def test_roles_decide_what_a_caller_sees(
    auth_client: TestClient, signing_key: rsa.RSAPrivateKey
) -> None:
    assert auth_client.get("/collections/secret").status_code == 404
    ok = bearer(token(signing_key))
    assert auth_client.get("/collections/secret", headers=ok).status_code == 200
    items = auth_client.get("/collections/secret/items", headers=ok)
    assert items.status_code == 200 and items.json()["features"]
    ids = {
        c["id"] for c in auth_client.get("/collections", headers=ok).json()["collections"]
    }
    assert "secret" in ids
    internal = bearer(token(signing_key, roles=["internal_reader"]))
    assert auth_client.get("/collections/secret", headers=internal).status_code == 404
    admin = bearer(token(signing_key, roles=["admin"]))
    assert auth_client.get("/collections/secret", headers=admin).status_code == 200
    nobody = bearer(token(signing_key, roles=["no_such_role"]))
    assert auth_client.get("/collections/secret", headers=nobody).status_code == 404
    leeway = bearer(token(signing_key, exp=int(time.time()) - 30))  # within 60 s skew
    assert auth_client.get("/collections/secret", headers=leeway).status_code == 200


def _unsigned(**claims: Any) -> str:
    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": now + 300,
            "roles": ["admin"], **claims}  # fmt: skip
    return f"{part({'alg': 'none', 'kid': 'k1'})}.{part(body)}."


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _hs256_with(secret: bytes) -> str:
    """The classic key-confusion token: HMAC keyed with the RSA public key (made by
    hand: PyJWT itself refuses to sign so)."""
    import hashlib
    import hmac

    now = int(time.time())
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
    body = _b64(json.dumps({"iss": ISSUER, "aud": AUDIENCE, "sub": "x",
                            "exp": now + 300, "roles": ["admin"]}).encode())  # fmt: skip
    sig = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(sig)}"


def _tampered(key: Any) -> str:
    head, body, sig = token(key).split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["roles"] = ["admin"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{sig}"


def test_every_bad_credential_is_the_same_401(
    auth_client: TestClient, signing_key: rsa.RSAPrivateKey
) -> None:
    now = int(time.time())
    public_pem = signing_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    revoked_secret, revoked = ApiKeys(
        app_state(auth_client.app).settings.data_dir
    ).create("old system", ["secret_reader"], None)
    ApiKeys(app_state(auth_client.app).settings.data_dir).revoke(revoked.id)
    attacks = {
        "expired": bearer(token(signing_key, exp=now - 3600)),
        "not yet valid": bearer(token(signing_key, nbf=now + 3600)),
        "wrong issuer": bearer(token(signing_key, iss="https://evil.example")),
        "wrong audience": bearer(token(signing_key, aud="someone-else")),
        "no expiry": bearer(token(signing_key, exp=None)),
        "alg none": bearer(_unsigned()),
        "HS256 with the public key": bearer(_hs256_with(public_pem)),
        "unknown kid": bearer(token(signing_key, kid="k2")),
        "path-like kid": bearer(token(signing_key, kid="../../etc/passwd")),
        "another signer": bearer(token(other)),
        "tampered claims": bearer(_tampered(signing_key)),
        "garbage": bearer("not.a.token"),
        "empty bearer": {"Authorization": "Bearer "},
        "basic": {"Authorization": "Basic dXNlcjpwYXNz"},
        "wrong API key": {"X-API-Key": "om_" + "x" * 43},
        "revoked API key": {"X-API-Key": revoked_secret},
    }
    audit = app_state(auth_client.app).audit
    failed_before = len(list(audit.rows(action="auth.failed")))
    bodies = set()
    for name, headers in attacks.items():
        r = auth_client.get("/collections/secret", headers=headers)
        assert r.status_code == 401, name
        assert r.headers["www-authenticate"].startswith("Bearer"), name
        bodies.add(r.content)
        # the same on any endpoint, and nothing public leaks either
        assert auth_client.get("/collections", headers=headers).status_code == 401, name
    assert len(bodies) == 1
    # each attempt is in the audit trail (written by a background thread)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        failed = len(list(audit.rows(action="auth.failed"))) - failed_before
        if failed >= 2 * len(attacks):
            break
        time.sleep(0.2)
    assert failed == 2 * len(attacks)


def test_api_keys(auth_client: TestClient) -> None:
    keys = ApiKeys(app_state(auth_client.app).settings.data_dir)
    secret, key = keys.create("county system", ["secret_reader"], days=30)
    for headers in ({"X-API-Key": secret}, {"Authorization": f"ApiKey {secret}"}):
        assert auth_client.get("/collections/secret", headers=headers).status_code == 200
    stored = keys.path.read_bytes()
    assert secret.encode() not in stored  # only the hash is kept
    assert keys.revoke(key.id) and not keys.revoke(key.id)
    assert (
        auth_client.get("/collections/secret", headers={"X-API-Key": secret}).status_code
        == 401
    )
    expired_secret, expired = keys.create("temp", ["secret_reader"], days=1)
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(keys.path)) as db, db:
        db.execute(
            "UPDATE onemap_api_keys SET expires = '2020-01-01T00:00:00+00:00' "
            "WHERE id = ?",
            (expired.id,),
        )
    assert (
        auth_client.get(
            "/collections/secret", headers={"X-API-Key": expired_secret}
        ).status_code
        == 401
    )


def test_keys_cli(tmp_path: Path) -> None:
    def onemap(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "server.cli.main", "keys", *args, "--data-dir",
             str(tmp_path)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    created = onemap("create", "provincial platform", "--role", "admin", "--days", "90")
    assert created.returncode == 0, created.stderr
    key_id = created.stdout.split()[1]
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("om_")
    listed = onemap("list")
    assert key_id in listed.stdout and secret not in listed.stdout
    assert ApiKeys(tmp_path).verify(secret) is not None
    assert onemap("revoke", key_id).returncode == 0
    assert "revoked" in onemap("list").stdout
    assert ApiKeys(tmp_path).verify(secret) is None
    assert onemap("revoke", key_id).returncode == 2
    bad = onemap("create", "x", "--role", "no_such_role")
    assert bad.returncode == 2 and "unknown roles" in bad.stderr


def test_jobs_belong_to_their_owner(
    auth_client: TestClient, signing_key: rsa.RSAPrivateKey
) -> None:
    mine = bearer(token(signing_key, sub="li.si"))
    r = auth_client.post(
        "/processes/landuse-statistics/execution",
        json={"inputs": {"landuse": "parcels", "townships": None}},
        headers={**mine, "Prefer": "respond-async"},
    )
    assert r.status_code == 201, r.text
    job = r.json()["jobID"]
    assert auth_client.get(f"/jobs/{job}", headers=mine).status_code == 200
    assert auth_client.get(f"/jobs/{job}").status_code == 404  # anonymous
    other = bearer(token(signing_key, sub="wang.wu"))
    assert auth_client.get(f"/jobs/{job}", headers=other).status_code == 404
    assert auth_client.delete(f"/jobs/{job}", headers=other).status_code == 404
    listed = auth_client.get("/jobs", headers=other).json()["jobs"]
    assert job not in {j["jobID"] for j in listed}


def test_operations_need_the_right_roles(
    auth_client: TestClient, signing_key: rsa.RSAPrivateKey
) -> None:
    point = {"type": "Point", "coordinates": [109.5, 23]}
    feature = {"type": "Feature", "geometry": point, "properties": {}}
    geojson = {"Content-Type": "application/geo+json", "Accept-Language": "en"}
    run = "/processes/landuse-statistics/execution"
    inputs = {"inputs": {"landuse": "parcels", "townships": None}}
    # anonymous: authentication needed (not the bad-credential 401)
    anon = auth_client.post("/collections/editable/items", json=feature, headers=geojson)
    assert anon.status_code == 401 and "authentication" in anon.json()["detail"].lower()
    assert auth_client.post(run, json=inputs).status_code == 401
    # a reader: 403 for writes and execution
    reader = bearer(token(signing_key, roles=["internal_reader"]))
    r = auth_client.post("/collections/editable/items", json=feature,
                         headers={**geojson, **reader})  # fmt: skip
    assert r.status_code == 403 and r.json()["code"] == "Forbidden"
    assert auth_client.post(run, json=inputs, headers=reader).status_code == 403
    # an editor may, but a collection it cannot see is an unknown one, also as input
    editor = bearer(token(signing_key, roles=["editor"]))
    hidden = auth_client.post(run, json={"inputs": {"landuse": "secret"}}, headers=editor)
    unknown = auth_client.post(
        run, json={"inputs": {"landuse": "zzzzzz"}}, headers=editor
    )
    assert hidden.status_code == unknown.status_code == 400
    assert hidden.json()["invalidInputs"][0]["input"] == "landuse"
    assert hidden.text.replace("secret", "zzzzzz") == unknown.text
    write = auth_client.post("/collections/secret/items", json=feature,
                             headers={**geojson, **editor})  # fmt: skip
    assert write.status_code == 404
    accepted = auth_client.post(
        run, json=inputs, headers={**editor, "Prefer": "respond-async"}
    )
    assert accepted.status_code == 201
