"""The audit trail: what is recorded, in the write's own transaction, chained with SM3
so that an edited or deleted row is found; `onemap audit` lists, exports, verifies."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from config.settings import Settings
from providers.audit import GENESIS, AuditRecord, chain_hash, verify_rows
from server.app import create_app
from server.security.api_keys import ApiKeys
from server.security.audit import AuditLog
from tests.conftest import make_settings


@pytest.fixture
def audited(
    provider: str, store: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[TestClient, Settings, dict[str, str]]]:
    """An app on a copy of the test data, so that its audit trail is its own."""
    shutil.copy(store, tmp_path / store.name)
    shutil.copytree(store.parent / "imagery", tmp_path / "imagery")
    database = None
    if provider == "postgis":
        database = request.getfixturevalue("pg_store")
        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS public.onemap_audit")
    settings = make_settings(tmp_path / store.name, provider, database)
    secret, _ = ApiKeys(settings.data_dir).create("auditor", ["admin"], None)
    with TestClient(create_app(settings)) as client:
        yield client, settings, {"X-API-Key": secret}


def _rows(settings: Settings) -> list[dict[str, Any]]:
    log = AuditLog(settings)
    deadline = time.monotonic() + 10
    rows = list(log.rows())
    while time.monotonic() < deadline:  # background rows land within moments
        time.sleep(0.3)
        again = list(log.rows())
        if len(again) == len(rows):
            break
        rows = again
    return rows


def test_writes_denials_failures_and_secret_reads_are_recorded(
    audited: tuple[TestClient, Settings, dict[str, str]],
) -> None:
    client, settings, admin = audited
    patch = {**admin, "Content-Type": "application/merge-patch+json"}
    etag = client.get("/collections/editable/items/2").headers["ETag"]
    body = json.dumps({"properties": {"SJNF": 2040}})
    ok = client.patch(
        "/collections/editable/items/2", headers={**patch, "If-Match": etag}, content=body
    )
    assert ok.status_code == 204
    stale = client.patch(
        "/collections/editable/items/2", headers={**patch, "If-Match": etag}, content=body
    )
    assert stale.status_code == 412
    assert client.get("/collections", headers={"X-API-Key": "wrong"}).status_code == 401
    assert client.get("/collections/secret/items").status_code == 404  # hidden
    assert (
        client.get("/collections/secret/items?limit=2", headers=admin).status_code == 200
    )
    assert client.get("/collections/parcels/items?limit=2").status_code == 200  # public
    dataset = "/tiles/WebMercatorQuad/14/7114/13176?collections=secret,parcels"
    assert client.get(dataset, headers=admin).status_code in (200, 204)
    rows = _rows(settings)
    actions = [(r["action"], r["outcome"], r["collection"]) for r in rows]
    assert ("feature.update", 204, "editable") in actions
    assert ("patch.refused", 412, "editable") in actions
    assert ("auth.failed", 401, "") in actions
    assert ("access.denied", 404, "secret") in actions
    assert ("data.read", 200, "secret") in actions
    assert any(a == "tiles.read" and c == "secret" for a, _o, c in actions)
    assert not any(c == "parcels" for _a, _o, c in actions)  # public reads are not
    update = next(r for r in rows if r["action"] == "feature.update")
    assert update["actor"].startswith("key:") or update["actor"] == "auditor"
    assert update["feature_ids"] == "2" and update["method"] == "PATCH"
    read = next(r for r in rows if r["action"] == "data.read")
    assert read["size"] > 0 and read["endpoint"] == "/collections/secret/items"
    assert AuditLog(settings).verify().ok


def test_executions_results_and_dismissals_are_recorded(
    audited: tuple[TestClient, Settings, dict[str, str]],
) -> None:
    from tests.conftest import start_worker

    client, settings, admin = audited
    worker = start_worker(settings)  # also registers the engine's test process
    execute = "/processes/engine-test-sleep/execution"
    marker = settings.data_dir / "sleep.log"
    body = {"inputs": {"seconds": 0.2, "marker": str(marker)}}
    try:
        run = client.post(
            execute,
            json=body,
            headers={**admin, "Prefer": "respond-async", "X-Request-ID": "exec-1"},
        )
        assert run.status_code == 201, run.text
        job = run.json()["jobID"]
        deadline = time.monotonic() + 60
        while (status := client.get(f"/jobs/{job}", headers=admin).json())[
            "status"
        ] not in ("successful", "failed"):
            assert time.monotonic() < deadline, status
            time.sleep(0.2)
        assert status["status"] == "successful", status["message"]
        results = client.get(
            f"/jobs/{job}/results", headers={**admin, "X-Request-ID": "results-1"}
        )
        assert results.status_code == 200
        other = client.post(
            execute,
            json=body,
            headers={**admin, "Prefer": "respond-async", "X-Request-ID": "exec-2"},
        ).json()["jobID"]
        dismissed = client.delete(
            f"/jobs/{other}", headers={**admin, "X-Request-ID": "dismiss-1"}
        )
        assert dismissed.status_code == 200
    finally:
        worker.terminate()
        worker.join(10)
    wanted = {"exec-1", "results-1", "exec-2", "dismiss-1"}
    deadline = time.monotonic() + 10
    while {r["request_id"] for r in _rows(settings)} < wanted:
        assert time.monotonic() < deadline, "rows missing"
    rows = {r["request_id"]: r for r in _rows(settings) if r["request_id"] in wanted}
    assert (rows["exec-1"]["action"], rows["exec-1"]["job"]) == ("job.execute", job)
    assert (rows["results-1"]["action"], rows["results-1"]["job"]) == ("job.results", job)
    assert (rows["exec-2"]["action"], rows["exec-2"]["job"]) == ("job.execute", other)
    assert (rows["dismiss-1"]["action"], rows["dismiss-1"]["job"]) == (
        "job.dismiss",
        other,
    )
    assert {r["actor"] for r in rows.values()} == {"key:auditor"}


def test_a_failed_write_leaves_no_audit_row_of_success(
    audited: tuple[TestClient, Settings, dict[str, str]],
) -> None:
    """The write's row is in its transaction: a rolled-back write has none."""
    client, settings, admin = audited
    before = [r for r in _rows(settings) if r["action"].startswith("feature.")]
    bad = client.post(
        "/collections/editable/items",
        headers={**admin, "Content-Type": "application/geo+json"},
        content=json.dumps({"type": "Feature", "geometry": None, "properties": {}}),
    )
    assert bad.status_code == 400
    after = _rows(settings)
    assert [r for r in after if r["action"].startswith("feature.")] == before
    assert any(r["action"] == "post.refused" and r["outcome"] == 400 for r in after)


def test_the_chain_finds_an_edited_or_deleted_row(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "store.gpkg")
    log = AuditLog(settings)
    log.create()
    log.write(
        [AuditRecord(actor=f"user{i}", action="data.read", outcome=200) for i in range(6)]
    )
    assert log.verify().ok and log.verify().rows == 6
    db = sqlite3.connect(tmp_path / "audit.sqlite")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE onemap_audit SET actor = 'nobody' WHERE id = 3")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM onemap_audit WHERE id = 3")
    # someone who drops the triggers can change rows; the chain still tells
    db.execute("DROP TRIGGER onemap_audit_no_update")
    db.execute("UPDATE onemap_audit SET actor = 'nobody' WHERE id = 3")
    db.commit()
    edited = log.verify()
    assert not edited.ok and edited.broken_at == 3 and edited.reason == "hash"
    db.execute("UPDATE onemap_audit SET actor = 'user2' WHERE id = 3")
    db.execute("DROP TRIGGER onemap_audit_no_delete")
    db.execute("DELETE FROM onemap_audit WHERE id = 4")
    db.commit()
    db.close()
    deleted = log.verify()
    assert not deleted.ok and deleted.broken_at == 5 and deleted.reason == "link"
    cli = [sys.executable, "-m", "server.cli.main", "audit"]
    env_args = ["--data-dir", str(tmp_path)]
    broken = subprocess.run([*cli, "verify", *env_args], capture_output=True, text=True)
    assert broken.returncode == 1 and "row 5" in broken.stderr
    listed = subprocess.run([*cli, "list", "--actor", "user5", *env_args],
                            capture_output=True, text=True, check=True)  # fmt: skip
    assert "user5" in listed.stdout and "user1" not in listed.stdout
    out = tmp_path / "audit.csv"
    subprocess.run([*cli, "export", "--output", str(out), *env_args], check=True)
    assert out.read_text().count("\n") == 1 + 5  # header + the rows left


def test_chain_hash_is_sm3() -> None:
    record = AuditRecord(
        actor="a", action="b", outcome=200, at="2026-12-04T00:00:00.000+00:00"
    )
    digest = chain_hash(GENESIS, record)
    assert len(digest) == 64 and digest != chain_hash(GENESIS[:-1] + "1", record)
    row = (1, *record.__dict__.values(), GENESIS, digest)
    assert verify_rows([row]).ok


def test_retention_cannot_be_below_186_days() -> None:
    from pydantic import ValidationError

    from config.security import AuditConfig

    with pytest.raises(ValidationError):
        AuditConfig(retention_days=30)
    assert AuditConfig().retention_days == 186
