"""Processes on a live `onemap serve` of the embedded default: the demo data, the job
workers that serve starts, real callbacks, OWSLib, a restart with a job waiting."""

from __future__ import annotations

import http.server
import json
import shutil
import threading
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyogrio
import pytest
import shapely

from processes.geometry import CGCS2000_GEOD
from tests.clients.conftest import serve_live

live_server = contextmanager(serve_live)

EXEC = "/processes/landuse-statistics/execution"


def _key(data_dir: Path) -> dict[str, str]:
    """The admin key a server printed and kept in its data dir at its first start."""
    return {"X-API-Key": (data_dir / "admin.key").read_text().strip()}


def _post(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    with urllib.request.urlopen(request, timeout=90) as r:
        return r.status, r.headers, json.loads(r.read())


def _get(url: str, key: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(url, headers=key or {})
    with urllib.request.urlopen(request, timeout=30) as r:
        return json.loads(r.read())


def _wait(
    url: str, seconds: float = 60, key: dict[str, str] | None = None
) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        status = _get(url, key)
        if status["status"] in ("successful", "failed", "dismissed"):
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.2)


def _parcels(demo_dir: Path) -> dict[str, Any]:
    gpkg = demo_dir / "demo" / "onemap_demo.gpkg"
    _meta, _fids, wkb, fields = pyogrio.raw.read(
        gpkg, layer="dltb", columns=["DLBM", "ZLDWDM", "TBMJ", "TBDLMJ"]
    )
    return {
        "geoms": shapely.from_wkb(wkb),
        "DLBM": fields[0],
        "ZLDWDM": fields[1],
        "TBMJ": fields[2],
        "TBDLMJ": fields[3],
    }


def test_landuse_statistics_match_the_parcels(demo_url: str, demo_dir: Path) -> None:
    status, _headers, results = _post(demo_url + EXEC, {"inputs": {}}, _key(demo_dir))
    assert status == 200
    rows = results["statistics"]["rows"]
    p = _parcels(demo_dir)
    expected: dict[tuple[str, str], float] = defaultdict(float)
    for code, zl, net in zip(p["DLBM"], p["ZLDWDM"], p["TBDLMJ"], strict=True):
        expected[(zl[:9], code[:4])] += net
    got = {(r["XZQDM"], r["code"]): r["area_m2"] for r in rows}
    assert got.keys() == expected.keys()
    for key, area in expected.items():
        assert got[key] == pytest.approx(area, abs=0.02), key
    assert all(r["XZQMC"] for r in rows)  # named from the townships collection
    assert results["statistics"]["total_mu"] == pytest.approx(
        sum(expected.values()) * 0.0015, abs=0.05
    )
    assert results["csv"].splitlines()[0].startswith("XZQDM,XZQMC,code,name,area_m2")


def test_landuse_statistics_within_an_area(demo_url: str, demo_dir: Path) -> None:
    aoi = [109.55, 23.05, 109.60, 23.10]
    body = {"inputs": {"level": "sandalei", "aoi": aoi, "townships": None}}
    headers = {"Accept-Language": "en", **_key(demo_dir)}
    _status, _headers, results = _post(demo_url + EXEC, body, headers)
    got = defaultdict(float)
    for r in results["statistics"]["rows"]:
        got[r["name"]] += r["area_m2"]
    p = _parcels(demo_dir)
    box = shapely.box(*aoi)
    hit = shapely.intersects(p["geoms"], box)
    expected = 0.0
    for geom, whole, net in zip(
        p["geoms"][hit], p["TBMJ"][hit], p["TBDLMJ"][hit], strict=True
    ):
        part, _ = CGCS2000_GEOD.geometry_area_perimeter(shapely.intersection(geom, box))
        expected += abs(part) * net / whole
    assert sum(got.values()) == pytest.approx(expected, rel=1e-6)
    assert set(got) <= {"agricultural land", "construction land", "unused land"}
    # the area of interest on the ellipsoid bounds the total
    inside, _ = CGCS2000_GEOD.geometry_area_perimeter(box)
    assert 0 < sum(got.values()) <= abs(inside)


class _Callbacks(http.server.BaseHTTPRequestHandler):
    received: ClassVar[dict[str, list[dict[str, Any]]]] = defaultdict(list)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received[self.path].append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture(scope="module")
def callbacks() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Callbacks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_async_job_with_callbacks(
    demo_url: str, demo_dir: Path, callbacks: str, tmp_path: Path
) -> None:
    del demo_url  # its server generated the demo data copied here
    # A copy of the demo: on demo_dir's queue the session's other server could take the
    # job, and its workers may not call this test's listener (not an allowed source).
    data = tmp_path / "data"
    shutil.copytree(demo_dir / "demo", data / "demo")
    demo_dir = data
    env = {"ONEMAP_ALLOWED_SOURCES": callbacks}
    log = tmp_path / "serve-callbacks.log"
    with live_server(["--data-dir", str(data)], log, 120, env) as url:
        subscriber = {
            "successUri": callbacks + "done",
            "inProgressUri": callbacks + "running",
            "failedUri": callbacks + "failed",
        }
        body = {"inputs": {"level": "level1"}, "subscriber": subscriber}
        status, headers, info = _post(
            url + EXEC, body, {"Prefer": "respond-async", **_key(demo_dir)}
        )
        assert status == 201 and headers["Location"] == f"{url}/jobs/{info['jobID']}"
        final = _wait(headers["Location"], key=_key(demo_dir))
        assert final["status"] == "successful" and final["progress"] == 100
        results = _get(f"{headers['Location']}/results", _key(demo_dir))
        assert {r["code"] for r in results["statistics"]["rows"]} <= {
            f"{i:02d}" for i in range(13)
        }
        deadline = time.monotonic() + 10
        while not _Callbacks.received["/done"] and time.monotonic() < deadline:
            time.sleep(0.1)
        done = _Callbacks.received["/done"][-1]
        assert done["jobID"] == info["jobID"] and done["status"] == "successful"
        assert _Callbacks.received["/running"][-1]["jobID"] == info["jobID"]
        assert not _Callbacks.received["/failed"]


def _copy_of_the_demo(demo_dir: Path, tmp_path: Path) -> tuple[Path, list[str]]:
    """A copy of the demo data (a job queue no other server's worker takes from) and
    the `onemap serve` arguments for it."""
    data = tmp_path / "data"
    shutil.copytree(demo_dir / "demo", data / "demo")
    return data, ["--data-dir", str(data)]


def _submit(url: str, inputs: dict[str, Any], data: Path) -> tuple[Any, Any]:
    """An asynchronous execution with the admin key of ``data``: headers, job info."""
    _status, headers, info = _post(
        url, {"inputs": inputs}, {"Prefer": "respond-async", **_key(data)}
    )
    return headers, info


@pytest.mark.usefixtures("demo_url")  # its server generates the demo data copied here
def test_a_restart_loses_no_waiting_job(demo_dir: Path, tmp_path: Path) -> None:
    # A job accepted while no worker runs is still there after the server restarts,
    # and runs then. (A copy of the demo: a queue no other server's worker takes from.)
    data, args = _copy_of_the_demo(demo_dir, tmp_path)
    log = tmp_path / "serve-restart.log"
    with live_server(args, log, 120, {"ONEMAP_PROCESSES__WORKERS": "0"}) as url:
        headers, info = _submit(url + EXEC, {"level": "sandalei"}, data)
        time.sleep(1)
        assert _get(headers["Location"], _key(data))["status"] == "accepted"
    with live_server(args, log, 120) as url:
        final = _wait(f"{url}/jobs/{info['jobID']}", key=_key(data))
        assert final["status"] == "successful"


@pytest.mark.usefixtures("demo_url")  # its server generates the demo data copied here
def test_a_restart_while_a_job_runs_finishes_it(demo_dir: Path, tmp_path: Path) -> None:
    # The worker that stops with the server gives its running job back to the queue;
    # the restarted server's worker runs it to the end.
    data, args = _copy_of_the_demo(demo_dir, tmp_path)
    log = tmp_path / "serve-running.log"
    with live_server(args, log, 120) as url:
        execution = url + "/processes/change-detection/execution"
        headers, info = _submit(execution, {"publish": False}, data)
        deadline = time.monotonic() + 60
        while _get(headers["Location"], _key(data))["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.1)
    with live_server(args, log, 120) as url:
        final = _wait(f"{url}/jobs/{info['jobID']}", seconds=120, key=_key(data))
        assert final["status"] == "successful", final
        assert (
            _get(f"{url}/jobs/{info['jobID']}/results", _key(data))["summary"]["count"]
            > 0
        )


def test_owslib_lists_and_executes(demo_url: str, demo_dir: Path) -> None:
    from owslib.ogcapi.processes import Processes

    # not Processes(url, headers=...): OWSLib 0.36 adds them to its module-wide default
    # headers, and every later OWSLib client in this process would send our key
    client = Processes(demo_url)
    client.headers = {**client.headers, **_key(demo_dir)}
    ids = {p["id"] for p in client.processes()}
    assert "landuse-statistics" in ids
    description = client.process("landuse-statistics")
    assert "level" in description["inputs"]
    results = client.execute("landuse-statistics", {"level": "sandalei"})
    names = {r["name"] for r in results["statistics"]["rows"]}
    zh = {"农用地", "建设用地", "未利用地"}
    en = {"agricultural land", "construction land", "unused land"}
    assert names and (names <= zh or names <= en)
    assert np.isclose(
        sum(r["area_m2"] for r in results["statistics"]["rows"]),
        results["statistics"]["total_m2"],
        atol=1,
    )


def test_monitoring_loop_on_the_demo(demo_url: str, demo_dir: Path) -> None:
    # change-detection as a job → polygons in change-polygons (pending) → a department
    # records its verdict by PATCH (history kept) → monitoring-statistics counts it.
    key = _key(demo_dir)
    _status, headers, info = _post(
        demo_url + "/processes/change-detection/execution",
        {"inputs": {}},
        {"Prefer": "respond-async", **key},
    )
    final = _wait(headers["Location"], seconds=120, key=key)
    assert final["status"] == "successful", final
    results = _get(headers["Location"] + "/results", key)
    truth = demo_dir / "demo" / "imagery" / "changes_truth.geojson"
    from tests.change_accuracy import accuracy

    acc = accuracy(truth, results["changes"]["features"])
    assert acc.f1 >= 0.85 and acc.area_error <= 0.05, acc.line()
    items = _get(
        f"{demo_url}/collections/change-polygons/items?limit=1000&job_id={info['jobID']}"
    )
    assert len(items["features"]) == results["summary"]["published"] > 0
    assert {f["properties"]["status"] for f in items["features"]} == {"pending"}
    # on the map: the collection's vector tile at a polygon holds it
    import mapbox_vector_tile
    import morecantile

    lon, lat = shapely.geometry.shape(items["features"][0]["geometry"]).centroid.coords[0]
    t = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, 15)
    tile_url = (
        f"{demo_url}/collections/change-polygons/tiles/WebMercatorQuad/15/{t.y}/{t.x}"
    )
    with urllib.request.urlopen(tile_url, timeout=30) as r:
        layer = mapbox_vector_tile.decode(r.read())["change-polygons"]
    assert any(f["properties"]["job_id"] == info["jobID"] for f in layer["features"])
    target = items["features"][0]
    url = f"{demo_url}/collections/change-polygons/items/{target['id']}"
    with urllib.request.urlopen(url, timeout=30) as r:
        etag = r.headers["ETag"]
    verdict = {
        "properties": {
            "status": "verified_real",
            "verified_by": "国土所",
            "verified_at": "2024-10-08",
            "remark": "现场核实",
        }
    }
    request = urllib.request.Request(
        url,
        data=json.dumps(verdict).encode(),
        method="PATCH",
        headers={
            "Content-Type": "application/merge-patch+json",
            "If-Match": etag,
            **key,
        },
    )
    with urllib.request.urlopen(request, timeout=30) as r:
        assert r.status in (200, 204)
    assert _get(url)["properties"]["status"] == "verified_real"
    versions = _get(url + "/history")["versions"]
    # the job's insert and the department's verdict, both kept
    assert len(versions) == 2, versions
    assert "国土所" in json.dumps(versions[-1], ensure_ascii=False)
    _s, _h, stats = _post(
        demo_url + "/processes/monitoring-statistics/execution",
        {"inputs": {"group_by": ["status"]}},
        key,
    )
    by_status = stats["statistics"]["by_status"]
    assert by_status["verified_real"]["count"] >= 1
    assert by_status["pending"]["count"] >= len(items["features"]) - 1
