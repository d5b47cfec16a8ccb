"""Operations endpoints: liveness, readiness (database, job queue, workers), metrics."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient

from config import Settings
from server.app import create_app
from server.state import app_state
from tests.conftest import Workers


def test_health(client: TestClient) -> None:
    r = client.get("/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_ready_counts_the_workers(client: TestClient, job_worker: Workers) -> None:
    deadline = time.monotonic() + 15
    while (body := client.get("/ready").json())["checks"]["workers"] < 1:
        assert time.monotonic() < deadline, body
        time.sleep(0.2)
    assert body["status"] == "ready" and body["checks"]["job_queue"] == "ok"
    if app_state(client.app).settings.database.url:
        assert body["checks"]["database"] == "ok"


def test_not_ready_without_the_expected_workers(
    settings: Settings, tmp_path: Path
) -> None:
    # a deployment that starts workers is not ready until one reports (a queue of
    # its own: no other test's worker reports there)
    expects = {"workers": 1, "queue": "sqlite"}
    alone = settings.model_copy(
        update={
            "data_dir": tmp_path,
            "processes": settings.processes.model_copy(update=expects),
            "collections": {},
        }
    )
    with TestClient(create_app(alone)) as fresh:
        r = fresh.get("/ready")
        assert r.status_code == 503 and r.headers["retry-after"] == "5", r.text
        assert r.json()["checks"]["workers"] == 0


def test_metrics(client: TestClient) -> None:
    client.get("/collections/parcels")
    client.get("/collections/nope")
    text = client.get("/metrics").text
    assert (
        'onemap_requests_total{method="GET",route="/collections/{collectionId}",status="200"}'
        in text
    )
    assert 'route="/collections/{collectionId}",status="404"' in text
    assert "onemap_request_seconds_bucket{" in text
    assert 'onemap_jobs{status="accepted"}' in text
    assert 'onemap_hot_tiles{what="hits"}' in text
