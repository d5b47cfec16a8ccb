"""OGC API - Processes over the real app, a real worker process and the real job table
(SQLite with GeoPackage, PostgreSQL with PostGIS)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from config import Settings
from tests.conftest import AsCaller, Workers

EXEC = "/processes/landuse-statistics/execution"
ASYNC = {"Prefer": "respond-async"}
PARCELS = {"landuse": "parcels", "townships": None}


@pytest.fixture
def client(client: TestClient, admin: dict[str, str]) -> AsCaller:
    """Execution needs a key: every request here is the admin's."""
    return AsCaller(client, admin)


def _wait(client: TestClient, job_id: str, seconds: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        status = client.get(f"/jobs/{job_id}").json()
        if status["status"] in ("successful", "failed", "dismissed"):
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.1)


def test_process_list_and_description_in_both_languages(client: TestClient) -> None:
    listing = client.get("/processes", params={"lang": "en"}).json()
    ids = {p["id"] for p in listing["processes"]}
    assert "landuse-statistics" in ids
    en = client.get("/processes/landuse-statistics", params={"lang": "en"}).json()
    zh = client.get("/processes/landuse-statistics", params={"lang": "zh-CN"}).json()
    assert en["title"] == "Land-use statistics" and zh["title"] == "土地利用现状统计"
    assert en["inputs"]["level"]["schema"]["enum"] == ["dlbm", "level1", "sandalei"]
    assert zh["inputs"]["level"]["title"] == "分类级别"
    assert en["inputs"]["level"]["minOccurs"] == 0
    assert {"statistics", "csv"} <= set(en["outputs"])
    assert "async-execute" in en["jobControlOptions"]
    rels = {link["rel"] for link in en["links"]}
    assert "http://www.opengis.net/def/rel/ogc/1.0/execute" in rels
    html = client.get("/processes/landuse-statistics", params={"f": "html", "lang": "en"})
    assert html.status_code == 200 and "Execute" in html.text
    landing = {link["rel"] for link in client.get("/").json()["links"]}
    assert "http://www.opengis.net/def/rel/ogc/1.0/processes" in landing
    conformance = client.get("/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/core" in conformance


OGC = "http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/"


def test_unknown_process_and_job_are_404(client: TestClient) -> None:
    for path, kind in (
        ("/processes/nope", "no-such-process"),
        ("/jobs/nope", "no-such-job"),
        ("/jobs/nope/results", "no-such-job"),
    ):
        r = client.get(path)
        assert r.status_code == 404, path
        assert r.json()["type"] == OGC + kind, path
    r = client.post("/processes/nope/execution", json={})
    assert r.status_code == 404 and r.json()["type"] == OGC + "no-such-process"
    r = client.delete("/jobs/nope")
    assert r.status_code == 404 and r.json()["type"] == OGC + "no-such-job"


def test_results_of_an_unfinished_job_are_not_ready(client: TestClient) -> None:
    # no worker runs here: the job stays accepted
    job_id = client.post(EXEC, json={"inputs": PARCELS}, headers=ASYNC).json()["jobID"]
    r = client.get(f"/jobs/{job_id}/results")
    assert r.status_code == 404 and r.json()["type"] == OGC + "result-not-ready"


def test_invalid_process_parameters_are_invalid_parameter_value(
    client: TestClient,
) -> None:
    for r in (
        client.post(EXEC, json={"inputs": {"level": "nope"}}),
        client.post(EXEC, json=[1]),
        client.get("/jobs", params={"status": "nope"}),
        client.get("/jobs", params={"limit": "x"}),
    ):
        assert r.status_code == 400, r.text
        assert r.json()["type"] == OGC + "invalid-parameter-value", r.text


def test_invalid_inputs_are_listed_one_by_one(client: TestClient) -> None:
    r = client.post(
        EXEC,
        json={"inputs": {"level": "nope", "aoi": "x", "extra": 1}},
        headers={"Accept-Language": "zh-CN"},
    )
    assert r.status_code == 400
    body = r.json()
    names = {f["input"] for f in body["invalidInputs"]}
    assert {"level", "extra"} <= names and any(n.startswith("aoi") for n in names)
    assert body["detail"].startswith("inputs: 输入无效")


@pytest.mark.parametrize(
    ("body", "media", "status"),
    [
        (b"{", "application/json", 400),
        (b"[]", "application/json", 400),
        (b'{"inputs": []}', "application/json", 400),
        (b'{"inputs": {}}', "text/plain", 415),
        (b'{"inputs": {}, "subscriber": "x"}', "application/json", 400),
    ],
)
def test_malformed_execute_requests(
    client: TestClient, body: bytes, media: str, status: int
) -> None:
    r = client.post(EXEC, content=body, headers={"Content-Type": media})
    assert r.status_code == status, r.text


@pytest.mark.parametrize(
    "uri",
    [
        "http://169.254.169.254/latest/meta-data",
        "file:///etc/passwd",
        "gopher://127.0.0.1:25/",
        "http://user:pw@example.com/x",
    ],
)
def test_subscriber_outside_the_allowed_sources_is_refused(
    client: TestClient, uri: str
) -> None:
    r = client.post(
        EXEC,
        json={"inputs": PARCELS, "subscriber": {"successUri": uri}},
        headers=ASYNC,
    )
    assert r.status_code == 400 and r.json()["parameter"] == "subscriber.successUri"


def test_async_job_runs_in_the_worker_and_fails_with_the_reason(
    client: TestClient, job_worker: Workers
) -> None:
    # The test parcels lack ZLDWDM/TBDLMJ: the job fails, and says why, in the
    # submitter's language.
    headers = {**ASYNC, "Accept-Language": "en"}
    r = client.post(EXEC, json={"inputs": PARCELS}, headers=headers)
    assert r.status_code == 201, r.text
    job_id = r.json()["jobID"]
    assert r.headers["location"].endswith(f"/jobs/{job_id}")
    assert r.json()["status"] in ("accepted", "running")
    status = _wait(client, job_id)
    assert status["status"] == "failed"
    assert "lacks the fields" in status["message"] and "ZLDWDM" in status["message"]
    results = client.get(f"/jobs/{job_id}/results")
    assert results.status_code == 400 and "ZLDWDM" in results.json()["detail"]
    listed = client.get("/jobs", params={"processID": "landuse-statistics"}).json()
    assert job_id in {j["jobID"] for j in listed["jobs"]}
    assert client.get("/jobs", params={"status": "nope"}).status_code == 400
    assert client.get("/jobs", params={"limit": "-1"}).status_code == 400
    failed = client.get("/jobs", params={"status": "failed"}).json()["jobs"]
    assert all(j["status"] == "failed" for j in failed) and failed
    assert client.get("/jobs").headers["cache-control"].startswith("private")


def test_sync_execution_answers_with_the_outcome(
    client: TestClient, job_worker: Workers
) -> None:
    headers = {"Accept-Language": "zh-CN"}
    r = client.post(EXEC, json={"inputs": PARCELS}, headers=headers)
    assert r.status_code == 400 and "缺少字段" in r.json()["detail"]


def test_dismissed_job_results_are_gone(client: TestClient, job_worker: Workers) -> None:
    r = client.post(EXEC, json={"inputs": PARCELS}, headers=ASYNC)
    job_id = r.json()["jobID"]
    dismissed = client.delete(f"/jobs/{job_id}")
    assert dismissed.status_code == 200 and dismissed.json()["status"] == "dismissed"
    assert client.get(f"/jobs/{job_id}").json()["status"] == "dismissed"
    gone = client.get(f"/jobs/{job_id}/results")
    assert gone.status_code == 410 and gone.json()["type"] == "urn:onemap:error:Gone"


# ------------------------------------------------------------ the engine


def _sleep_job(client: TestClient, seconds: float, marker: Path) -> str:
    r = client.post(
        "/processes/engine-test-sleep/execution",
        json={"inputs": {"seconds": seconds, "marker": str(marker)}},
        headers=ASYNC,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["jobID"])


def _lines(marker: Path) -> list[list[str]]:
    if not marker.exists():
        return []
    return [line.split() for line in marker.read_text().splitlines()]


def _until(check: Any, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_progress_and_dismiss_stop_the_compute(
    client: TestClient, job_worker: Workers, tmp_path: Path
) -> None:
    marker = tmp_path / "dismiss.log"
    job_id = _sleep_job(client, 60, marker)
    _until(lambda: len(_lines(marker)) >= 5)
    status = client.get(f"/jobs/{job_id}").json()
    assert status["status"] == "running" and 0 <= status["progress"] < 100
    _until(lambda: client.get(f"/jobs/{job_id}").json()["progress"] > 0)
    dismissed_at = time.time()
    r = client.delete(f"/jobs/{job_id}")
    assert r.status_code == 200 and r.json()["status"] == "dismissed"
    time.sleep(2.5)  # the worker looks every second
    last = max(float(t) for _pid, t, _i in _lines(marker))
    assert last < dismissed_at + 1.5, "the job kept computing after dismissal"
    assert client.get(f"/jobs/{job_id}").json()["status"] == "dismissed"
    assert client.get(f"/jobs/{job_id}/results").status_code == 410


def test_a_killed_worker_loses_no_job(
    client: TestClient, job_worker: Workers, settings: Settings, tmp_path: Path
) -> None:
    # kill -9 of the worker mid-job: its child stops with it, the lease runs out and
    # another worker runs the job again to its end (attempt 2).
    from processes.worker import open_store

    store = open_store(settings)
    marker = tmp_path / "kill.log"
    job_id = _sleep_job(client, 1.5, marker)
    _until(lambda: len(_lines(marker)) >= 3)
    job = store.get(job_id)
    assert job is not None and job.worker is not None
    first_pid = int(_lines(marker)[0][0])
    worker_pid = int(job.worker.rsplit(":", 1)[1])
    os.kill(worker_pid, signal.SIGKILL)
    killed_at = time.time()
    for proc in job_worker.procs:
        if proc.pid == worker_pid:
            proc.join(5)
    job_worker.alive()
    status = _wait(client, job_id, seconds=30)
    assert status["status"] == "successful", status
    done = store.get(job_id)
    assert done is not None and done.attempts == 2
    assert client.get(f"/jobs/{job_id}/results").json() == {"steps": 15}
    first_run = [float(t) for pid, t, _i in _lines(marker) if int(pid) == first_pid]
    assert max(first_run) < killed_at + 0.5, "the killed worker's job kept running"


def test_jobs_of_lost_workers_fail_after_max_attempts(tmp_path: Path) -> None:
    from processes.jobs import JobStore

    store = JobStore(None, tmp_path / "jobs.sqlite")  # a queue of its own
    job = store.submit("engine-test-sleep", "anonymous", {"inputs": {}})
    first = store.claim("a:1", lease_s=-1, max_attempts=2)  # lease already over
    assert first is not None and first.id == job.id and first.attempts == 1
    second = store.claim("b:2", lease_s=-1, max_attempts=2)
    assert second is not None and second.id == job.id and second.attempts == 2
    assert not store.finish(first, "successful", b"{}")  # a lost run changes nothing
    assert store.claim("c:3", lease_s=30, max_attempts=2) is None
    lost = store.get(job.id)
    assert lost is not None and lost.status == "failed" and lost.error == "worker_lost"


def test_carrying_capacity_by_value_with_a_report(
    client: TestClient, job_worker: Workers
) -> None:
    counties = [
        {"XZQDM": "450802", "XZQMC": "港北区", "D": 0.2, "water_use": 50,
         "water_quota": 100, "R": -0.5, "H": 0.01, "efficiency_worse": True,
         "emission_worse": 3, "ecology_worse": False},
        {"XZQDM": "450803", "XZQMC": "港南区", "D": -0.5, "water_use": 95,
         "water_quota": 100, "R": -0.5, "H": 0.01, "efficiency_worse": False,
         "emission_worse": 1, "ecology_worse": False},
    ]  # fmt: skip
    r = client.post(
        "/processes/carrying-capacity/execution", json={"inputs": {"counties": counties}}
    )
    assert r.status_code == 200, r.text
    props = [f["properties"] for f in r.json()["counties"]["features"]]
    assert [p["warning"] for p in props] == ["red", "blue"]
    report = r.json()["report"]
    assert report.startswith("<!DOCTYPE html>") and "<svg" in report
    assert "资源环境承载能力监测预警评价报告" in report and "港南区" in report
    bad = client.post(
        "/processes/carrying-capacity/execution",
        json={
            "inputs": {"counties": [{"XZQDM": "1", "D": "x"}], "collection": "parcels"}
        },
    )
    assert bad.status_code == 400
    fields = {f["input"] for f in bad.json()["invalidInputs"]}
    assert {"counties.0.D", "counties.0.water_use"} <= fields


def test_a_job_past_its_timeout_is_stopped_and_failed(
    settings: Settings, tmp_path: Path
) -> None:
    from processes.jobs import JobStore
    from processes.registry import PROCESSES
    from processes.worker import supervise
    from tests.engine_process import PROCESS

    PROCESSES.setdefault(PROCESS.id, PROCESS)
    short = settings.model_copy(
        update={
            "processes": settings.processes.model_copy(update={"job_timeout_s": 1}),
            "data_dir": tmp_path,
        }
    )
    store = JobStore(None, tmp_path / "jobs.sqlite")
    marker = tmp_path / "timeout.log"
    inputs = {"seconds": 30, "marker": str(marker)}
    store.submit(PROCESS.id, "anonymous", {"inputs": inputs, "language": "zh-CN"})
    job = store.claim("t:1", lease_s=30, max_attempts=2)
    assert job is not None
    started = time.time()
    supervise(store, short, job)
    assert time.time() - started < 5
    done = store.get(job.id)
    assert done is not None and done.status == "failed" and done.error == "timeout"
    assert done.message is not None and "1 秒" in done.message
    last = max(float(t) for _pid, t, _i in _lines(marker))
    time.sleep(0.5)
    assert max(float(t) for _pid, t, _i in _lines(marker)) == last  # compute stopped


@pytest.mark.parametrize(
    "href",
    ["/etc/passwd", "../../etc/passwd", "/vsicurl/http://169.254.169.254/x",
     "file:///etc/passwd", "http://127.0.0.1:9/x.tif"],
)  # fmt: skip
def test_image_href_outside_the_allowed_sources_is_400(
    client: TestClient, href: str
) -> None:
    r = client.post(
        "/processes/change-detection/execution",
        json={"inputs": {"before": {"href": href}, "landuse": "parcels",
                         "townships": None}},
        headers=ASYNC,
    )  # fmt: skip
    assert r.status_code == 400, r.text
    assert r.json()["invalidInputs"][0]["input"] == "before"


def test_image_input_without_an_href_is_400(client: TestClient) -> None:
    r = client.post(
        "/processes/change-detection/execution",
        json={"inputs": {"after": {"url": "x.tif"}, "landuse": "parcels",
                         "townships": None}},
    )  # fmt: skip
    assert r.status_code == 400 and r.json()["invalidInputs"][0]["input"] == "after"
