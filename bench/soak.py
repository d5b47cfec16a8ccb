"""Soak and security cost of `onemap serve` on the demo (GeoPackage, or the same demo
loaded into PostGIS with ``--backend postgis``).

1. **Soak**: 32 closed-loop clients (plus one job client) send a mixed load for
   ``--duration`` seconds — feature reads (bbox, CQL2, single items), vector and imagery
   tiles, PATCHes with If-Match on change polygons (a 412 for a stale ETag is an
   expected outcome) — while the job client runs ``monitoring-statistics``
   asynchronously every few seconds and polls it to the end. Per route: count, errors
   (5xx, connection errors, any status the route does not expect), p50/p95/p99; the
   server's RSS (its process tree) every 5 s. A server that dies ends the run (its
   exit status and the faulthandler's stack go to the report).
2. **Security cost**: the read/tile part of the mix in interleaved rounds against two
   servers that differ only in the classification of ``dltb``: (a) anonymous callers,
   ``dltb`` public; (b) API keys of a role with a region and a row filter, ``dltb``
   internal (region and filter in the SQL, an audit row for every read of it). A server
   that dies in a round is restarted and that round is left out of the medians.

Everything stays on 127.0.0.1 (free ports, fresh data directories under
``bench/.work/soak/``; with ``--backend postgis`` a database ``onemap_soak`` in the local
cluster, dropped and re-created per run) and is bounded in time (``--duration``,
``--cost-seconds``) and in requests (``--max-requests`` per run). Results:
``bench/.work/soak/results-<backend>.json``; ``bench/RESULTS_soak.md`` shows every
backend's latest run.

    /work/main/.venv/bin/python bench/soak.py                       # ~8 minutes
    /work/main/.venv/bin/python bench/soak.py --backend postgis     # ~9 minutes
    /work/main/.venv/bin/python bench/soak.py --duration 20 --cost-rounds 1 \\
        --cost-seconds 5 --report /tmp/soak.md                       # smoke test
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import math
import os
import platform
import random
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import measure
import yaml

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / ".work" / "soak"
ONEMAP = ROOT / ".venv" / "bin" / "onemap"
HOST = "127.0.0.1"  # the only address this script sends to
PG_NAME = PG_USER = PG_PASSWORD = "onemap_soak"
sys.path.insert(0, str(ROOT))

ROLE = "county"
REGION_CODE = "450802001"  # 贵城街道, a township of the demo's xzq layer
ROLE_FILTER = "DLBM <> '0702'"
ROLE_CONFIG: dict[str, Any] = {
    "level": "internal",
    "operations": ["read", "tiles", "update", "execute"],
    "region": {"codes": [REGION_CODE]},
    "rules": {"dltb": {"filter": ROLE_FILTER}},
}
# The load's area: inside the township (checked at start) and the imagery's extent.
AREA = (109.56, 23.065, 109.62, 23.13)
# Other townships: dltb ids the role must not see.
OUTSIDE = (109.70, 22.92, 109.78, 22.99)
TILE_ZOOMS = (12, 13, 14, 15)
CQL2 = (
    "DLBM = '0101'",
    "TBMJ > 5000",
    "DLBM IN ('0101','0103') AND TBMJ > 2000",
    "DLMC LIKE '%林地%'",
    "SJNF = 2023 AND DLBM <> '1004'",
)
STATUSES = ("pending", "verified_real", "verified_false", "needs_review")
JOB_DONE = ("successful", "failed", "dismissed")
RSS_EVERY_S = 5.0

R_BBOX = "GET /collections/dltb/items?bbox"
R_CQL2 = "GET /collections/dltb/items?filter (CQL2)"
R_ITEM = "GET /collections/dltb/items/{id}"
R_HIDDEN = "GET /collections/dltb/items/{id} outside the region"
R_MVT = "GET /collections/dltb/tiles/WebMercatorQuad/{z}/{y}/{x}"
R_IMG = "GET /collections/imagery/tiles/WebMercatorQuad/{z}/{y}/{x}"
R_CP_ITEMS = "GET /collections/change-polygons/items"
R_CP_ITEM = "GET /collections/change-polygons/items/{id}"
R_PATCH = "PATCH /collections/change-polygons/items/{id}"
R_EXEC = "POST /processes/monitoring-statistics/execution"
R_JOB = "GET /jobs/{jobId}"
R_RESULTS = "GET /jobs/{jobId}/results"
R_JOB_WALL = "job: submitted → successful (wall time)"


def log(message: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of unsorted values; nan when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: list[float]) -> float:
    ordered = sorted(v for v in values if not math.isnan(v))
    n = len(ordered)
    if not n:
        return math.nan
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


def tiles_of(bounds: tuple[float, float, float, float], z: int) -> list[tuple[int, ...]]:
    """WebMercatorQuad tiles (z, y, x) that meet a lon/lat box."""

    def xy(lon: float, lat: float) -> tuple[int, int]:
        n = 2**z
        y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
        return int((lon + 180) / 360 * n), int(y)

    x0, y0 = xy(bounds[0], bounds[3])
    x1, y1 = xy(bounds[2], bounds[1])
    return [(z, y, x) for y in range(y0, y1 + 1) for x in range(x0, x1 + 1)]


# ------------------------------------------------------------------ data and PostGIS


def demo_data(work: Path) -> Path:
    """The generated demo (``onemap demo``, once), copied into every server's data dir."""
    demo = work / "demo-data"
    if not (demo / "demo" / "onemap_demo.gpkg").exists():
        log(f"generating the demo data into {demo} (~20 s) ...")
        subprocess.run(
            [str(ONEMAP), "demo", "--data-dir", str(demo)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return demo / "demo"


def pg_cluster() -> tuple[int, int]:
    """(port, postmaster pid) of the local PostgreSQL cluster 15/main (must be online)."""
    out = subprocess.run(
        ["pg_lsclusters", "-h"], capture_output=True, text=True, check=True
    ).stdout
    row = next(r.split() for r in out.splitlines() if r.split()[:2] == ["15", "main"])
    if row[3] != "online":
        raise RuntimeError(
            "PostgreSQL 15/main is not running (pg_ctlcluster 15 main start)"
        )
    return int(row[2]), measure.postmaster_pid(row[5])


def psql_admin(port: int, sql: str, db: str = "postgres") -> str:
    """SQL as the postgres superuser (peer authentication)."""
    cmd = ["runuser", "-u", "postgres", "--", "psql", "-p", str(port), "-d", db]
    out = subprocess.run(
        [*cmd, "-qtAX", "-v", "ON_ERROR_STOP=1", "-c", sql],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout


def fresh_database(port: int, work: Path) -> str:
    """Database onemap_soak, re-created, with the demo layers (onemap demo --database)."""
    psql_admin(
        port,
        f"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{PG_USER}') "
        f"THEN CREATE ROLE {PG_USER} LOGIN PASSWORD '{PG_PASSWORD}'; END IF; END$$;",
    )
    psql_admin(port, f"DROP DATABASE IF EXISTS {PG_NAME} WITH (FORCE)")
    psql_admin(port, f"CREATE DATABASE {PG_NAME} OWNER {PG_USER}")
    psql_admin(port, "CREATE EXTENSION IF NOT EXISTS postgis", db=PG_NAME)
    # as bench/run_bench.py: no parallel query, no JIT
    psql_admin(port, f"ALTER DATABASE {PG_NAME} SET max_parallel_workers_per_gather = 0")
    psql_admin(port, f"ALTER DATABASE {PG_NAME} SET jit = off")
    dsn = f"postgresql://{PG_USER}:{PG_PASSWORD}@{HOST}:{port}/{PG_NAME}"
    log(f"loading the demo layers into {PG_NAME} (~30 s) ...")
    subprocess.run(
        [str(ONEMAP), "demo", "--data-dir", str(work / "demo-data"), "--database", dsn],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    # `onemap demo --database` creates the empty change_polygons with a generic GEOMETRY
    # column, on which every POST is refused (400 "must be Geometry, got Polygon"):
    # give it the GeoPackage demo's type.
    psql_admin(
        port,
        "ALTER TABLE public.change_polygons ALTER COLUMN geom "
        "TYPE geometry(Polygon, 4490) USING ST_SetSRID(geom, 4490)",
        db=PG_NAME,
    )
    return dsn


@dataclass(frozen=True)
class Setting:
    """What every server of one run shares."""

    backend: str
    demo: Path
    dsn: str | None = None
    postmaster: int = 0  # 0: no PostgreSQL


def server_config(
    data_dir: Path, port: int, dltb_public: bool, dsn: str | None
) -> dict[str, Any]:
    """The packaged demo configuration, plus the role, one job worker and the port."""
    from config.loader import demo_config_path, demo_on_postgis, interpolate

    text = demo_config_path().read_text(encoding="utf-8")
    conf: dict[str, Any] = yaml.safe_load(
        interpolate(text, {"ONEMAP_DATA_DIR": str(data_dir)})
    )
    if dsn is not None:
        conf = demo_on_postgis(conf)
        conf["database"] = {**conf.get("database", {}), "url": dsn}
    conf["data_dir"] = str(data_dir)
    conf["server"] = {**conf.get("server", {}), "host": HOST, "port": port}
    conf["processes"] = {**conf.get("processes", {}), "workers": 1}
    conf["collections"]["dltb"]["classification"] = (
        "public" if dltb_public else "internal"
    )
    security = dict(conf.get("security") or {})
    security["roles"] = {**security.get("roles", {}), ROLE: ROLE_CONFIG}
    conf["security"] = security
    return conf


# ------------------------------------------------------------------ servers


@dataclass
class Server:
    """One `onemap serve` on a fresh copy of the demo data."""

    name: str
    directory: Path
    dltb_public: bool
    setting: Setting
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    admin_key: str = ""
    keys: list[str] = field(default_factory=list)
    pids: set[int] = field(default_factory=set)
    log_offset: int = 0
    crashes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def config_path(self) -> Path:
        return self.directory / "onemap.yaml"

    @property
    def log_path(self) -> Path:
        return self.directory / "serve.log"

    def prepare(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
        self.data_dir.mkdir(parents=True)
        shutil.copytree(self.setting.demo, self.data_dir / "demo")
        self.port = free_port()
        conf = server_config(self.data_dir, self.port, self.dltb_public, self.setting.dsn)
        self.config_path.write_text(
            yaml.safe_dump(conf, allow_unicode=True, sort_keys=False), encoding="utf-8"
        )

    def start(self, timeout: float = 300) -> None:
        self.log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        env = {**os.environ, "PYTHONFAULTHANDLER": "1"}  # a crash leaves its stack
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(ONEMAP), "serve", "--config", str(self.config_path)],
                cwd=self.directory,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # Ctrl-C reaches only this script; stop() ends it
            )
        deadline = time.monotonic() + timeout
        while self.ready() != 200:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start:\n{self.log_tail()}")
            time.sleep(0.5)
        self.admin_key = (self.data_dir / "admin.key").read_text().strip()
        self.pids = set(self.tree())
        log(f"{self.name}: pid {self.proc.pid} on http://{HOST}:{self.port}/")

    def ready(self) -> int:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=5)
        try:
            conn.request("GET", "/ready")
            resp = conn.getresponse()
            resp.read()
            return resp.status
        except OSError:
            return 0
        finally:
            conn.close()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        with self.log_path.open("rb") as f:
            f.seek(self.log_offset)
            return f.read().decode(errors="replace")[-chars:]

    def crash_report(self) -> dict[str, Any]:
        """The exit status and the faulthandler's report of the crashed thread."""
        assert self.proc is not None
        with self.log_path.open("rb") as f:
            f.seek(self.log_offset)
            text = f.read().decode(errors="replace")
        lines = text.splitlines()
        fatal = next(
            (i for i, ln in enumerate(lines) if "Fatal Python error" in ln), None
        )
        current = next((i for i, ln in enumerate(lines) if "Current thread" in ln), None)
        stack: list[str] = []
        if current is not None:
            for ln in lines[current : current + 12]:
                if not ln.strip():
                    break
                stack.append(ln.strip())
        return {
            "exit": self.proc.returncode,
            "fatal": lines[fatal].strip() if fatal is not None else "",
            "stack": stack,
        }

    def create_keys(self, count: int) -> None:
        """``count`` API keys of the role (``onemap keys create``), 4 at a time."""

        def one(i: int) -> str:
            out = subprocess.run(
                [str(ONEMAP), "keys", "create", f"soak-{i:02d}", "--role", ROLE,
                 "--config", str(self.config_path)],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            return out.stdout.strip().splitlines()[-1]

        with ThreadPoolExecutor(4) as pool:
            self.keys = list(pool.map(one, range(count)))
        assert all(k.startswith("om_") for k in self.keys)

    def tree(self) -> list[int]:
        if self.proc is None:
            return []
        return measure.tree(self.proc.pid, measure.all_stats())

    def snapshot(self) -> measure.Snapshot:
        assert self.proc is not None
        return measure.snapshot(self.proc.pid, self.setting.postmaster, PG_NAME)

    def restart_after_crash(self) -> dict[str, Any]:
        report = self.crash_report()
        self.crashes.append(report)
        log(f"{self.name}: died ({report['exit']}): {report['fatal']}; restarting")
        self._reap()
        self.start()
        return report

    def _reap(self) -> None:
        """End what this server started and left behind (its job worker)."""
        assert self.proc is not None
        for pid in sorted(self.pids - {self.proc.pid}):
            if measure.read_stat(pid) is not None and _is_onemap(pid):
                os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.pids |= set(self.tree())
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._reap()
        log(f"{self.name}: stopped (exit {self.proc.returncode})")
        self.proc = None


def _is_onemap(pid: int) -> bool:
    return str(ROOT / ".venv") in measure.cmdline(pid)


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def process_kind(pid: int, root: int) -> str:
    if pid == root:
        return "web"
    return "job worker" if "server.cli.main worker" in measure.cmdline(pid) else "other"


# ------------------------------------------------------------------ client and records


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


class Client:
    """One keep-alive connection to the server (to 127.0.0.1 only)."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.port = port
        self.headers = headers
        self.conn: http.client.HTTPConnection | None = None

    def send(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> Reply:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=120)
        try:
            self.conn.request(
                method, path, body=body, headers={**self.headers, **(headers or {})}
            )
            resp = self.conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        if resp.getheader("connection", "").lower() == "close":
            self.close()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


@dataclass
class RouteStats:
    latencies: list[float] = field(default_factory=list)  # measured period, s
    statuses: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    warmup: int = 0
    bytes: int = 0


@dataclass
class Plan:
    """The request sets, read from the running server."""

    item_ids: list[int]
    hidden_ids: list[int]
    mvt: list[tuple[int, ...]]
    imagery: list[tuple[int, ...]]
    change_ids: list[int] = field(default_factory=list)


class Run:
    """One load run: its clock and bounds, the request records, shared edit state."""

    def __init__(
        self,
        plan: Plan,
        seconds: float,
        warmup: float,
        max_requests: int,
        alive: Callable[[], bool],
    ) -> None:
        self.plan = plan
        self.warmup = warmup
        self.max_requests = max_requests
        self.alive = alive
        self.start = time.monotonic()
        self.deadline = self.start + warmup + seconds
        self.lock = threading.Lock()
        self.routes: dict[str, RouteStats] = {}
        self.timeline: list[tuple[float, float]] = []  # (end s since start, latency)
        self.error_samples: list[dict[str, Any]] = []
        self.sent = 0
        self.in_window = 0  # completed within the measured period
        self.died_at: float | None = None  # s since start when the server was gone
        self.etags: dict[int, str] = {}

    def running(self) -> bool:
        if self.died_at is None and not self.alive():
            self.died_at = time.monotonic() - self.start
        return (
            self.died_at is None
            and time.monotonic() < self.deadline
            and self.sent < self.max_requests
        )

    def call(
        self,
        client: Client,
        route: str,
        method: str,
        path: str,
        expected: frozenset[int],
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> Reply | None:
        with self.lock:
            self.sent += 1
        began = time.monotonic()
        reply: Reply | None = None
        problem = ""
        try:
            reply = client.send(method, path, headers, body)
        except (OSError, http.client.HTTPException) as exc:
            problem = f"connection: {type(exc).__name__}: {exc}"
        ended = time.monotonic()
        if reply is not None and reply.status not in expected:
            text = reply.body[:300].decode(errors="replace")
            problem = f"status {reply.status}: {text}"
        self.record(route, began, ended, reply, problem, f"{method} {path}")
        return reply

    def record(
        self,
        route: str,
        began: float,
        ended: float,
        reply: Reply | None,
        problem: str,
        request: str,
    ) -> None:
        at = ended - self.start
        with self.lock:
            stats = self.routes.setdefault(route, RouteStats())
            stats.statuses[str(reply.status) if reply else "conn"] += 1
            if problem:
                stats.errors += 1
                if len(self.error_samples) < 30:
                    self.error_samples.append(
                        {
                            "at_s": round(at, 2),
                            "route": route,
                            "request": request[:300],
                            "problem": problem,
                        }
                    )
            if at < self.warmup:
                stats.warmup += 1
                return
            if ended <= self.deadline:
                self.in_window += 1
            stats.latencies.append(ended - began)
            stats.bytes += len(reply.body) if reply else 0
            self.timeline.append((at, ended - began))

    def measured_s(self) -> float:
        """Seconds of the measured period that really ran (less after a crash)."""
        end = self.deadline - self.start
        if self.died_at is not None:
            end = min(end, self.died_at)
        return max(end - self.warmup, 1e-9)


# ------------------------------------------------------------------ the mix

Action = Callable[[Run, Client, random.Random], None]
OK = frozenset({200})
TILE_OK = frozenset({200, 204})


def _box(rng: random.Random) -> str:
    side = rng.uniform(0.004, 0.02)
    x = rng.uniform(AREA[0], AREA[2] - side)
    y = rng.uniform(AREA[1], AREA[3] - side)
    return f"{x:.5f},{y:.5f},{x + side:.5f},{y + side:.5f}"


def items_bbox(run: Run, client: Client, rng: random.Random) -> None:
    path = f"/collections/dltb/items?bbox={_box(rng)}&limit=100"
    run.call(client, R_BBOX, "GET", path, OK)


def items_cql2(run: Run, client: Client, rng: random.Random) -> None:
    query = {"filter": rng.choice(CQL2), "filter-lang": "cql2-text", "limit": "50"}
    if rng.random() < 0.7:  # a map view; else the whole collection
        query["bbox"] = _box(rng)
    path = "/collections/dltb/items?" + urlencode(query, quote_via=quote)
    run.call(client, R_CQL2, "GET", path, OK)


def item(run: Run, client: Client, rng: random.Random) -> None:
    fid = rng.choice(run.plan.item_ids)
    run.call(client, R_ITEM, "GET", f"/collections/dltb/items/{fid}", OK)


def hidden_item(run: Run, client: Client, rng: random.Random) -> None:
    fid = rng.choice(run.plan.hidden_ids)
    path = f"/collections/dltb/items/{fid}"
    run.call(client, R_HIDDEN, "GET", path, frozenset({404}))


def mvt_tile(run: Run, client: Client, rng: random.Random) -> None:
    z = rng.choice(TILE_ZOOMS)
    _, y, x = rng.choice([t for t in run.plan.mvt if t[0] == z])
    path = f"/collections/dltb/tiles/WebMercatorQuad/{z}/{y}/{x}"
    run.call(client, R_MVT, "GET", path, TILE_OK)


def imagery_tile(run: Run, client: Client, rng: random.Random) -> None:
    z = rng.choice(TILE_ZOOMS)
    _, y, x = rng.choice([t for t in run.plan.imagery if t[0] == z])
    fmt = rng.choice(("png", "jpeg"))
    path = f"/collections/imagery/tiles/WebMercatorQuad/{z}/{y}/{x}?f={fmt}"
    run.call(client, R_IMG, "GET", path, TILE_OK)


def change_items(run: Run, client: Client, rng: random.Random) -> None:
    path = f"/collections/change-polygons/items?bbox={_box(rng)}&limit=50"
    run.call(client, R_CP_ITEMS, "GET", path, OK)


def edit(run: Run, client: Client, rng: random.Random) -> None:
    """Read a change polygon (half the time), then PATCH its status with If-Match: the
    last ETag any client saw, which another client may have made stale (412)."""
    fid = rng.choice(run.plan.change_ids)
    path = f"/collections/change-polygons/items/{fid}"
    etag = run.etags.get(fid)
    if etag is None or rng.random() < 0.5:
        got = run.call(client, R_CP_ITEM, "GET", path, OK)
        if got is None or got.status != 200:
            return
        etag = got.headers.get("etag", "")
        run.etags[fid] = etag
    body = {"properties": {"status": rng.choice(STATUSES), "remark": f"soak {run.sent}"}}
    headers = {"If-Match": etag, "Content-Type": "application/merge-patch+json"}
    expected = frozenset({204, 412})
    done = run.call(
        client, R_PATCH, "PATCH", path, expected, headers, json.dumps(body).encode()
    )
    if done is not None and done.headers.get("etag"):
        run.etags[fid] = done.headers["etag"]


READS: list[tuple[Action, int]] = [
    (items_bbox, 20),
    (items_cql2, 10),
    (item, 15),
    (mvt_tile, 25),
    (imagery_tile, 15),
]
SOAK_MIX: list[tuple[Action, int]] = [
    *READS,
    (hidden_item, 2),
    (change_items, 5),
    (edit, 8),
]


def clients_loop(
    run: Run, client: Client, mix: list[tuple[Action, int]], seed: int
) -> None:
    rng = random.Random(seed)
    actions = [a for a, _ in mix]
    weights = [w for _, w in mix]
    try:
        while run.running():
            rng.choices(actions, weights)[0](run, client, rng)
    finally:
        client.close()


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def one_job(run: Run, client: Client, timeout: float = 300) -> None:
    """Submit monitoring-statistics asynchronously, poll until it ends, read results."""
    began = time.monotonic()
    headers = {"Prefer": "respond-async", "Content-Type": "application/json"}
    path = "/processes/monitoring-statistics/execution"
    sent = run.call(
        client, R_EXEC, "POST", path, frozenset({201}), headers, b'{"inputs": {}}'
    )
    if sent is None or sent.status != 201:
        return
    job = _path(sent.headers["location"])
    status = "accepted"
    while status not in JOB_DONE and time.monotonic() - began < timeout:
        time.sleep(0.5)
        if run.died_at is not None or not run.alive():
            return
        got = run.call(client, R_JOB, "GET", job, OK)
        if got is not None and got.status == 200:
            status = json.loads(got.body)["status"]
    problem = "" if status == "successful" else f"job {job} ended {status}"
    if status == "successful":
        run.call(client, R_RESULTS, "GET", f"{job}/results", OK)
    reply = Reply(200 if not problem else 0, {}, b"")
    run.record(R_JOB_WALL, began, time.monotonic(), reply, problem, f"job {job}")


def jobs_loop(run: Run, client: Client, interval: float) -> None:
    try:
        while run.running():
            began = time.monotonic()
            one_job(run, client)
            pause = interval - (time.monotonic() - began)
            if pause > 2:
                client.close()  # do not outlive the server's keep-alive timeout
            time.sleep(max(0.0, min(pause, run.deadline - time.monotonic())))
    finally:
        client.close()


def sample_rss(server: Server, run: Run, samples: list[dict[str, Any]]) -> None:
    assert server.proc is not None
    root = server.proc.pid
    while True:
        pids = server.tree()
        server.pids |= set(pids)
        per = {f"{process_kind(p, root)} {p}": rss_kb(p) for p in pids}
        samples.append({"at_s": round(time.monotonic() - run.start, 1), "rss_kb": per})
        if not run.running():
            return
        time.sleep(RSS_EVERY_S)


def load(
    server: Server,
    plan: Plan,
    headers: list[dict[str, str]],
    mix: list[tuple[Action, int]],
    seconds: float,
    *,
    warmup: float = 0.0,
    max_requests: int,
    seed: int,
    job_headers: dict[str, str] | None = None,
    job_interval: float = 5.0,
    rss: list[dict[str, Any]] | None = None,
) -> Run:
    """Run ``len(headers)`` mixed clients (and the job client) until the time or the
    request bound is reached or the server is gone; every thread is joined (requests in
    flight complete)."""
    run = Run(plan, seconds, warmup, max_requests, server.alive)
    threads = [
        threading.Thread(
            target=clients_loop, args=(run, Client(server.port, h), mix, seed * 1000 + i)
        )
        for i, h in enumerate(headers)
    ]
    if job_headers is not None:
        job_client = Client(server.port, job_headers)
        threads.append(
            threading.Thread(target=jobs_loop, args=(run, job_client, job_interval))
        )
    if rss is not None:
        threads.append(threading.Thread(target=sample_rss, args=(server, run, rss)))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(1.0, run.deadline - time.monotonic()) + 600)
        if t.is_alive():
            raise RuntimeError("a client did not finish within 10 minutes of the end")
    return run


# ------------------------------------------------------------------ set-up of a server


def _get_json(client: Client, path: str) -> Any:
    reply = client.send("GET", path)
    if reply.status != 200:
        raise RuntimeError(f"GET {path}: {reply.status} {reply.body[:300]!r}")
    return json.loads(reply.body)


def _ids(client: Client, bbox: tuple[float, ...], limit: int = 5000) -> list[int]:
    box = ",".join(str(v) for v in bbox)
    data = _get_json(client, f"/collections/dltb/items?bbox={box}&limit={limit}")
    return [int(f["id"]) for f in data["features"]]


def make_plan(server: Server) -> Plan:
    """Item ids the role sees (inside the area) and ones it must not (elsewhere)."""
    import shapely
    import shapely.geometry

    county = Client(server.port, {"X-API-Key": server.keys[0]})
    admin = Client(server.port, {"X-API-Key": server.admin_key})
    try:
        xzq = _get_json(county, f"/collections/xzq/items?XZQDM={REGION_CODE}")
        township = shapely.geometry.shape(xzq["features"][0]["geometry"])
        if not township.contains(shapely.box(*AREA)):
            raise RuntimeError(f"AREA {AREA} is not inside township {REGION_CODE}")
        visible = _ids(county, AREA)
        hidden = _ids(admin, OUTSIDE, 500)
    finally:
        county.close()
        admin.close()
    tiles = [t for z in TILE_ZOOMS for t in tiles_of(AREA, z)]
    return Plan(item_ids=visible, hidden_ids=hidden, mvt=tiles, imagery=tiles)


def prime_tiles(server: Server, plan: Plan) -> dict[str, dict[str, float]]:
    """Fetch every tile of the plan once, one at a time (what ``onemap seed`` does for
    a published layer), so that the soak measures tiles served from the cache; the
    first renders' own latencies are returned and reported beside it."""
    client = Client(server.port, {"X-API-Key": server.keys[0]})
    paths = {
        "MVT": [
            f"/collections/dltb/tiles/WebMercatorQuad/{z}/{y}/{x}" for z, y, x in plan.mvt
        ],
        "imagery": [
            f"/collections/imagery/tiles/WebMercatorQuad/{z}/{y}/{x}?f={fmt}"
            for z, y, x in plan.imagery
            for fmt in ("png", "jpeg")
        ],
    }
    found: dict[str, dict[str, float]] = {}
    try:
        for kind, wanted in paths.items():
            took = []
            for path in wanted:
                started = time.perf_counter()
                reply = client.send("GET", path)
                if reply.status not in TILE_OK:
                    raise RuntimeError(f"priming {path}: {reply.status}")
                took.append((time.perf_counter() - started) * 1000)
            found[kind] = {
                "tiles": len(took),
                "p50_ms": percentile(took, 50),
                "max_ms": max(took),
            }
    finally:
        client.close()
    return found


def add_change_polygons(server: Server, count: int, seed: int) -> list[int]:
    """``count`` pending change polygons inside the area, POSTed with the admin key."""
    rng = random.Random(seed)
    admin = Client(
        server.port,
        {"X-API-Key": server.admin_key, "Content-Type": "application/geo+json"},
    )
    ids = []
    try:
        for i in range(count):
            x = rng.uniform(AREA[0], AREA[2] - 0.002)
            y = rng.uniform(AREA[1], AREA[3] - 0.002)
            ring = [[x, y], [x + 0.002, y], [x + 0.002, y + 0.0015], [x, y + 0.0015]]
            feature = {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
                "properties": {
                    "class": "construction",
                    "status": "pending",
                    "XZQDM": REGION_CODE,
                    "JCMJ": 40000.0 + i,
                    "JCSDH": f"SOAK{i:03d}",
                },
            }
            body = json.dumps(feature).encode()
            reply = admin.send("POST", "/collections/change-polygons/items", None, body)
            if reply.status != 201:
                raise RuntimeError(f"POST change polygon: {reply.status} {reply.body!r}")
            ids.append(int(reply.headers["location"].rstrip("/").rsplit("/", 1)[1]))
    finally:
        admin.close()
    return ids


def security_checks(server: Server, plan: Plan) -> list[dict[str, Any]]:
    """That security really applies on the soak server, before the load."""
    clients = {
        "anonymous": Client(server.port, {}),
        "role": Client(server.port, {"X-API-Key": server.keys[0]}),
        "admin": Client(server.port, {"X-API-Key": server.admin_key}),
    }
    edge = "/collections/dltb/items?bbox=109.62,23.10,109.68,23.16&limit=5000"
    probes: list[tuple[str, str, str, Callable[[Reply], bool]]] = [
        ("anonymous: dltb is hidden (404)", "anonymous",
         "/collections/dltb/items?limit=1", lambda r: r.status == 404),
        ("role: a dltb item outside its region is 404", "role",
         f"/collections/dltb/items/{plan.hidden_ids[0]}", lambda r: r.status == 404),
        ("role: no row of the class its filter excludes", "role",
         "/collections/dltb/items?filter=DLBM%3D%270702%27&limit=10",
         lambda r: r.status == 200 and not json.loads(r.body)["features"]),
    ]  # fmt: skip
    checks = []
    try:
        for what, who, path, want in probes:
            reply = clients[who].send("GET", path)
            checks.append({"check": what, "status": reply.status, "ok": want(reply)})
        mine = len(_get_json(clients["role"], edge)["features"])
        everything = len(_get_json(clients["admin"], edge)["features"])
        checks.append(
            {
                "check": f"role: {mine} of admin's {everything} parcels in a box "
                "across its region's edge",
                "status": 200,
                "ok": 0 < mine < everything,
            }
        )
    finally:
        for c in clients.values():
            c.close()
    return checks


def audit_rows(server: Server) -> dict[str, int]:
    """Rows of the audit trail by action (SQLite file, or PostgreSQL with a database)."""
    sql = "SELECT action, count(*) FROM onemap_audit GROUP BY action ORDER BY 2 DESC"
    if server.setting.dsn is not None:
        import psycopg

        with psycopg.connect(server.setting.dsn) as conn:
            rows = conn.execute(sql).fetchall()
        return {str(a): int(n) for a, n in rows}
    path = server.data_dir / "audit.sqlite"
    if not path.exists():
        return {}
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute(sql).fetchall()
    finally:
        db.close()
    return {str(a): int(n) for a, n in rows}


def audit_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    delta = {k: v - before.get(k, 0) for k, v in after.items()}
    return {k: v for k, v in sorted(delta.items(), key=lambda kv: -kv[1]) if v}


def log_problems(server: Server) -> dict[str, Any]:
    """ERROR/WARNING lines, tracebacks and fatal errors in the server's log."""
    levels: Counter[str] = Counter()
    samples: list[str] = []
    for line in server.log_path.read_text(errors="replace").splitlines():
        level = ""
        if line.startswith("{"):
            try:
                level = str(json.loads(line).get("level", ""))
            except ValueError:
                level = ""
        elif "Fatal Python error" in line:
            level = "FATAL"
        elif "Traceback" in line or " ERROR " in line:
            level = "ERROR"
        elif " WARNING " in line:
            level = "WARNING"
        if level in ("FATAL", "ERROR", "CRITICAL", "WARNING"):
            levels[level] += 1
            if len(samples) < 10:
                samples.append(line[:400])
    return {"levels": dict(levels), "samples": samples}


# ------------------------------------------------------------------ summaries


def route_table(run: Run) -> list[dict[str, Any]]:
    rows = []
    for route, s in run.routes.items():
        lat = [v * 1000 for v in s.latencies]
        p50, p99 = percentile(lat, 50), percentile(lat, 99)
        rows.append(
            {
                "route": route,
                "count": len(lat),
                "warmup": s.warmup,
                "statuses": dict(s.statuses),
                "errors": s.errors,
                "p50_ms": p50,
                "p95_ms": percentile(lat, 95),
                "p99_ms": p99,
                "max_ms": max(lat) if lat else math.nan,
                "p99_over_p50": p99 / p50 if lat and p50 > 0 else math.nan,
                "kb_per_response": s.bytes / len(lat) / 1024 if lat else math.nan,
            }
        )
    return rows


def timeline(run: Run, step: float = 60.0) -> list[dict[str, Any]]:
    """Requests/s, p50 and p99 per minute of the measured period."""
    out = []
    start, stop = run.warmup, run.warmup + run.measured_s()
    while start < stop - 1:
        end = min(start + step, stop)
        lat = [v * 1000 for t, v in run.timeline if start <= t < end]
        out.append(
            {
                "from_s": start - run.warmup,
                "to_s": end - run.warmup,
                "rps": len(lat) / (end - start),
                "p50_ms": percentile(lat, 50),
                "p99_ms": percentile(lat, 99),
            }
        )
        start = end
    return out


def memory_summary(samples: list[dict[str, Any]], warmup: float) -> dict[str, Any]:
    """Web process, job worker and whole tree RSS: first and last minute means."""

    def total(sample: dict[str, Any], kind: str | None) -> float:
        kb = sum(
            v for k, v in sample["rss_kb"].items() if kind is None or k.startswith(kind)
        )
        return kb / 1024

    out: dict[str, Any] = {}
    for name, kind in (("web", "web"), ("job worker", "job worker"), ("tree", None)):
        points = [(s["at_s"] - warmup, total(s, kind)) for s in samples]
        measured = [(t, v) for t, v in points if t >= 0 and v > 0]
        if not measured:
            continue
        end = measured[-1][0]
        first = [v for t, v in measured if t < 60]
        last = [v for t, v in measured if t > end - 60]
        out[name] = {
            "start_mb": points[0][1],
            "first_minute_mb": sum(first) / len(first),
            "last_minute_mb": sum(last) / len(last),
            "max_mb": max(v for _, v in measured),
            "growth_pct": 100 * (sum(last) / len(last) / (sum(first) / len(first)) - 1),
        }
    return out


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


NO_CPU = {
    "server_cpu_ms_per_request": math.nan,
    "pg_cpu_ms_per_request": math.nan,
    "machine_busy_cores": math.nan,
}


def cpu_figures(
    before: measure.Snapshot, after: measure.Snapshot, requests: int
) -> dict[str, float]:
    delta = measure.cpu_delta(before, after)
    n = max(requests, 1)
    return {
        "server_cpu_ms_per_request": delta["server_cpu_s"] * 1000 / n,
        "pg_cpu_ms_per_request": delta["pg_cpu_s"] * 1000 / n,
        "machine_busy_cores": delta["machine_busy_cores"],
    }


# ------------------------------------------------------------------ the two parts


def soak(args: argparse.Namespace, setting: Setting) -> dict[str, Any]:
    server = Server("soak", WORK / f"soak-{setting.backend}", False, setting)
    server.prepare()
    server.start()
    try:
        server.create_keys(args.clients + 1)
        plan = make_plan(server)
        plan.change_ids = add_change_polygons(server, args.change_polygons, args.seed)
        checks = security_checks(server, plan)
        primed = prime_tiles(server, plan)
        log(f"soak: primed the plan's tiles: {primed}")
        audit0 = audit_rows(server)
        log(
            f"soak: {args.clients} clients + 1 job client, {args.warmup:.0f} s warm-up "
            f"+ {args.duration:.0f} s on :{server.port}"
        )
        load_before = os.getloadavg()
        snap0, self0 = server.snapshot(), _self_cpu()
        rss: list[dict[str, Any]] = []
        run = load(
            server,
            plan,
            [{"X-API-Key": k} for k in server.keys[1:]],
            SOAK_MIX,
            args.duration,
            warmup=args.warmup,
            max_requests=args.max_requests,
            seed=args.seed,
            job_headers={"X-API-Key": server.keys[0]},
            job_interval=args.job_interval,
            rss=rss,
        )
        crash = server.crash_report() if not server.alive() else None
        snap1, self1 = server.snapshot(), _self_cpu()
        load_after = os.getloadavg()
        audit1 = audit_rows(server)
    finally:
        server.stop()
    done = sum(len(s.latencies) + s.warmup for s in run.routes.values())
    if crash is not None:
        log(f"soak: the server died after {run.died_at:.1f} s: {crash['fatal']}")
    return {
        "port": server.port,
        "clients": args.clients,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "requests": run.sent,
        "measured_s": run.measured_s(),
        "rps": run.in_window / run.measured_s(),
        "errors": sum(s.errors for s in run.routes.values()),
        "crash": None if crash is None else {**crash, "at_s": run.died_at},
        "routes": route_table(run),
        "timeline": timeline(run),
        "error_samples": run.error_samples,
        "memory": memory_summary(rss, args.warmup),
        "rss_samples": rss,
        **(cpu_figures(snap0, snap1, done) if crash is None else NO_CPU),
        "client_cpu_s": self1 - self0,
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "checks": checks,
        "primed": primed,
        "audit_rows": audit_delta(audit0, audit1),
        "log": log_problems(server),
        "data_mb": {
            p.name: p.stat().st_size / 2**20
            for p in sorted(server.data_dir.glob("*.sqlite"))
        },
    }


def cost(args: argparse.Namespace, setting: Setting) -> dict[str, Any]:
    """Interleaved rounds: (a) anonymous on public dltb, (b) the role on internal dltb."""
    open_ = Server("open", WORK / f"open-{setting.backend}", True, setting)
    secure = Server("secure", WORK / f"secure-{setting.backend}", False, setting)
    for s in (open_, secure):
        s.prepare()
    try:
        for s in (open_, secure):
            s.start()
        secure.create_keys(args.clients)
        plan = make_plan(secure)
        audit0 = {s.name: audit_rows(s) for s in (open_, secure)}
        modes = {
            "a": (open_, [{} for _ in range(args.clients)]),
            "b": (secure, [{"X-API-Key": k} for k in secure.keys]),
        }
        for name, (server, headers) in modes.items():
            log(f"cost: warming {name} ({server.name}) {args.cost_warmup:.0f} s")
            bounded_load(args, server, plan, headers, args.cost_warmup, args.seed)
        rounds = []
        for r in range(args.cost_rounds):
            for name in ("a", "b") if r % 2 == 0 else ("b", "a"):
                server, headers = modes[name]
                rounds.append(cost_run(args, name, server, headers, plan, r))
        per_route = breakdown(args, modes, plan) if args.breakdown_seconds > 0 else []
        audit1 = {s.name: audit_rows(s) for s in (open_, secure)}
    finally:
        for s in (open_, secure):
            s.stop()
    if setting.dsn is not None:  # both servers write to the same audit table
        audit0 = {"both servers (one table)": audit0["secure"]}
        audit1 = {"both servers (one table)": audit1["secure"]}
    return {
        "rounds": rounds,
        "breakdown": per_route,
        "crashes": {s.name: s.crashes for s in (open_, secure)},
        "audit_rows": {k: audit_delta(audit0[k], audit1[k]) for k in audit0},
        "log": {s.name: log_problems(s) for s in (open_, secure)},
        **cost_summary(rounds),
    }


def bounded_load(
    args: argparse.Namespace,
    server: Server,
    plan: Plan,
    headers: list[dict[str, str]],
    seconds: float,
    seed: int,
    mix: list[tuple[Action, int]] = READS,
) -> tuple[Run, dict[str, Any] | None]:
    """A read/tile run; a server that died in it is restarted (its report returned)."""
    run = load(
        server, plan, headers, mix, seconds, max_requests=args.max_requests, seed=seed
    )
    return run, (None if server.alive() else server.restart_after_crash())


def cost_run(
    args: argparse.Namespace,
    name: str,
    server: Server,
    headers: list[dict[str, str]],
    plan: Plan,
    round_no: int,
) -> dict[str, Any]:
    measure.wait_idle(0.3, 30)
    _, crashed = bounded_load(args, server, plan, headers, 3, args.seed + 7)
    idle = measure.wait_idle(0.3, 30)
    snap0, self0 = server.snapshot(), _self_cpu()
    run, crash = bounded_load(
        args, server, plan, headers, args.cost_seconds, args.seed + round_no
    )
    valid = crash is None and crashed is None
    done = sum(len(s.latencies) for s in run.routes.values())
    record = {
        "mode": name,
        "round": round_no,
        "valid": valid,
        "crash": crash or crashed,
        "idle_before": idle,
        "rps": run.in_window / run.measured_s(),
        "requests": done,
        "errors": sum(s.errors for s in run.routes.values()),
        "error_samples": run.error_samples[:5],
        **(cpu_figures(snap0, server.snapshot(), done) if valid else {}),
        "client_cpu_s": _self_cpu() - self0,
        "routes": route_table(run),
    }
    log(
        f"cost {name} round {round_no}: {record['rps']:.1f} req/s, "
        f"{record.get('server_cpu_ms_per_request', math.nan):.2f} server CPU ms/req, "
        f"{record['errors']} errors{'' if valid else ', the server died'}"
    )
    return record


ROUTE_OF: dict[Action, str] = {
    items_bbox: R_BBOX,
    items_cql2: R_CQL2,
    item: R_ITEM,
    mvt_tile: R_MVT,
    imagery_tile: R_IMG,
}


def breakdown(
    args: argparse.Namespace,
    modes: dict[str, tuple[Server, list[dict[str, str]]]],
    plan: Plan,
) -> list[dict[str, Any]]:
    """Each read/tile route alone, (a) then (b): where the cost of security lies."""
    rows = []
    for action, _ in READS:
        row: dict[str, Any] = {"route": ROUTE_OF[action]}
        for name in ("a", "b"):
            server, headers = modes[name]
            mix = [(action, 1)]
            measure.wait_idle(0.3, 30)
            bounded_load(args, server, plan, headers, 2, args.seed + 11, mix)
            measure.wait_idle(0.3, 30)
            snap0 = server.snapshot()
            run, crash = bounded_load(
                args, server, plan, headers, args.breakdown_seconds, args.seed, mix
            )
            done = sum(len(s.latencies) for s in run.routes.values())
            row[name] = {
                "valid": crash is None,
                "rps": run.in_window / run.measured_s(),
                "errors": sum(s.errors for s in run.routes.values()),
                **(
                    cpu_figures(snap0, server.snapshot(), done)
                    if crash is None
                    else NO_CPU
                ),
            }
        log(
            f"breakdown {row['route']}: a {row['a']['rps']:.1f}, "
            f"b {row['b']['rps']:.1f} req/s"
        )
        rows.append(row)
    return rows


def cost_summary(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    per: dict[str, dict[str, Any]] = {}
    for mode in ("a", "b"):
        mine = [r for r in rounds if r["mode"] == mode and r["valid"]]
        p50: dict[str, list[float]] = {}
        kb: dict[str, list[float]] = {}
        for r in mine:
            for row in r["routes"]:
                p50.setdefault(row["route"], []).append(row["p50_ms"])
                kb.setdefault(row["route"], []).append(row["kb_per_response"])
        per[mode] = {
            "rounds": len(mine),
            "rps": median([r["rps"] for r in mine]),
            "cpu_ms": median([r["server_cpu_ms_per_request"] for r in mine]),
            "pg_cpu_ms": median([r["pg_cpu_ms_per_request"] for r in mine]),
            "errors": sum(r["errors"] for r in rounds if r["mode"] == mode),
            "route_p50_ms": {k: median(v) for k, v in p50.items()},
            "route_kb": {k: median(v) for k, v in kb.items()},
        }
    a, b = per["a"], per["b"]
    return {
        "modes": per,
        "rps_ratio_b_over_a": b["rps"] / a["rps"] if a["rps"] else math.nan,
        "cpu_ratio_b_over_a": (b["cpu_ms"] + b["pg_cpu_ms"])
        / (a["cpu_ms"] + a["pg_cpu_ms"])
        if a["cpu_ms"]
        else math.nan,
    }


# ------------------------------------------------------------------ report


def _f(value: float | None, digits: int = 1) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _crash_lines(crash: dict[str, Any]) -> list[str]:
    lines = [f"    exit status {crash['exit']}: {crash['fatal']}"]
    return lines + [f"    {ln}" for ln in crash["stack"][:8]]


def render_soak(s: dict[str, Any]) -> list[str]:
    lines = []
    if s["crash"]:
        at, warm = s["crash"]["at_s"], s["warmup_s"]
        when = (
            f"{at - warm:.1f} s into the measured period ({at:.1f} s after the load "
            "began)"
            if at >= warm
            else f"during the warm-up, {at:.1f} s after the load began"
        )
        lines += [
            f"**The server died {when}**; the run ended there. Its faulthandler report "
            "(the crashed thread):",
            "",
            *_crash_lines(s["crash"]),
            "",
        ]
    lines += [
        f"Load: {s['clients']} closed-loop clients + 1 job client, {s['warmup_s']:.0f} s "
        f"warm-up (errors counted, latencies not) + {s['duration_s']:.0f} s measured "
        f"({s['measured_s']:.0f} s ran); {s['requests']} requests in all, "
        f"**{s['rps']:.1f} req/s**; **errors: {s['errors']}**; server CPU "
        f"{_f(s['server_cpu_ms_per_request'], 2)} ms/request (PostgreSQL "
        f"{_f(s['pg_cpu_ms_per_request'], 2)}); machine {_f(s['machine_busy_cores'], 2)} "
        f"busy cores of {os.cpu_count()} (load average before "
        f"{s['loadavg_before'][0]:.2f}, after {s['loadavg_after'][0]:.2f}); the load "
        f"generator itself used {_f(s['client_cpu_s'], 0)} CPU s.",
        "",
        "| route | requests | non-2xx | errors | p50 ms | p95 ms | p99 ms | max ms "
        "| p99/p50 | ≤ 4× | KB/resp |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in s["routes"]:
        other = ", ".join(
            f"{k}: {v}" for k, v in sorted(r["statuses"].items()) if not k.startswith("2")
        )
        ratio = r["p99_over_p50"]
        ok = "–" if math.isnan(ratio) else ("yes" if ratio <= 4 else "**no**")
        lines.append(
            f"| `{r['route']}` | {r['count']} | {other or '–'} | {r['errors']} "
            f"| {_f(r['p50_ms'])} | {_f(r['p95_ms'])} | {_f(r['p99_ms'])} "
            f"| {_f(r['max_ms'])} | {_f(ratio)} | {ok} | {_f(r['kb_per_response'])} |"
        )
    lines += [
        "",
        "| minute | req/s | p50 ms (all routes) | p99 ms |",
        "|---|---:|---:|---:|",
    ]
    for t in s["timeline"]:
        lines.append(
            f"| {t['from_s'] / 60:.0f}–{t['to_s'] / 60:.1f} | {_f(t['rps'])} "
            f"| {_f(t['p50_ms'])} | {_f(t['p99_ms'])} |"
        )
    lines += [
        "",
        "| RSS (every 5 s) | at start MB | first minute MB | last minute MB | max MB "
        "| last/first |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, m in s["memory"].items():
        lines.append(
            f"| {name} | {_f(m['start_mb'])} | {_f(m['first_minute_mb'])} "
            f"| {_f(m['last_minute_mb'])} | {_f(m['max_mb'])} "
            f"| {m['growth_pct']:+.1f} % |"
        )
    return lines + _soak_notes(s)


def _soak_notes(s: dict[str, Any]) -> list[str]:
    checks = "; ".join(
        f"{c['check']} — {'ok' if c['ok'] else '**FAILED**'}" for c in s["checks"]
    )
    audit = ", ".join(f"{k} {v}" for k, v in s["audit_rows"].items())
    files = ", ".join(f"{k} {v:.1f} MB" for k, v in s["data_mb"].items())
    levels = s["log"]["levels"] or "no ERROR, WARNING or fatal lines"
    primed = "; ".join(
        f"{k} {v['tiles']} tiles, p50 {v['p50_ms']:.0f} ms, max {v['max_ms']:.0f} ms"
        for k, v in (s.get("primed") or {}).items()
    )
    lines = [
        "",
        f"Tiles: before the load every tile of the plan was fetched once, one at a "
        f"time, as `onemap seed` would (first renders: {primed or 'not done'}); the "
        "tile routes above are served from the tile caches.",
        "",
        f"Security checks before the load: {checks}.",
        "",
        f"Audit rows written during the load: {audit or 'none'}. Files at the end: "
        f"{files}.",
        "",
        f"Server log: {levels}.",
    ]
    if s["error_samples"]:
        lines += ["", "First errors:", ""]
        lines += [
            f"- {e['at_s']} s `{e['route']}`: `{e['request'][:160]}` → "
            f"{e['problem'][:200]}"
            for e in s["error_samples"][:8]
        ]
    return lines


def render_cost(c: dict[str, Any]) -> list[str]:
    a, b = c["modes"]["a"], c["modes"]["b"]
    ratio = c["rps_ratio_b_over_a"]
    lines = []
    crashes = {k: v for k, v in c["crashes"].items() if v}
    if crashes:
        lines += [
            "**Server crashes during these rounds**: "
            + ", ".join(f"{k} {len(v)}×" for k, v in crashes.items())
            + " (each restarted; rounds with a crash are left out of the medians). "
            "First report:",
            "",
            *_crash_lines(next(iter(crashes.values()))[0]),
            "",
        ]
    cost_pct = "–" if math.isnan(ratio) else f"{100 * (1 - ratio):.0f} %"
    lines += [
        f"**Throughput b/a = {_f(ratio, 2)}** (security costs {cost_pct} of the "
        f"throughput; bar ≤ 10 %); CPU per request (server + PostgreSQL) b/a = "
        f"{_f(c['cpu_ratio_b_over_a'], 2)}. Medians of {a['rounds']} (a) and "
        f"{b['rounds']} (b) valid interleaved rounds. Errors: a {a['errors']}, "
        f"b {b['errors']}.",
        "",
        "| mode | req/s | server CPU ms/req | PostgreSQL CPU ms/req |",
        "|---|---:|---:|---:|",
        f"| (a) anonymous, dltb public | {_f(a['rps'])} | {_f(a['cpu_ms'], 2)} "
        f"| {_f(a['pg_cpu_ms'], 2)} |",
        f"| (b) role with region + filter, dltb internal | {_f(b['rps'])} "
        f"| {_f(b['cpu_ms'], 2)} | {_f(b['pg_cpu_ms'], 2)} |",
        "",
        "| route | p50 ms (a) | p50 ms (b) | b/a | KB/resp (a) | KB/resp (b) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for route in sorted(set(a["route_p50_ms"]) | set(b["route_p50_ms"])):
        pa = a["route_p50_ms"].get(route, math.nan)
        pb = b["route_p50_ms"].get(route, math.nan)
        lines.append(
            f"| `{route}` | {_f(pa)} | {_f(pb)} | {_f(pb / pa, 2)} "
            f"| {_f(a['route_kb'].get(route, math.nan))} "
            f"| {_f(b['route_kb'].get(route, math.nan))} |"
        )
    lines += [
        "",
        "| round | mode | idle before (cores) | req/s | server CPU ms/req "
        "| PostgreSQL CPU ms/req | busy cores | errors | crash |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in c["rounds"]:
        lines.append(
            f"| {r['round']} | {r['mode']} | {_f(r['idle_before'], 2)} | {_f(r['rps'])} "
            f"| {_f(r.get('server_cpu_ms_per_request'), 2)} "
            f"| {_f(r.get('pg_cpu_ms_per_request'), 2)} "
            f"| {_f(r.get('machine_busy_cores'), 2)} | {r['errors']} "
            f"| {'yes' if r['crash'] else '–'} |"
        )
    audit = "; ".join(
        f"{name}: " + (", ".join(f"{k} {v}" for k, v in rows.items()) or "none")
        for name, rows in c["audit_rows"].items()
    )
    return [
        *lines,
        *_breakdown_lines(c.get("breakdown", [])),
        "",
        f"Audit rows written during the cost runs: {audit}.",
    ]


def _breakdown_lines(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    lines = [
        "",
        "Each route alone (32 clients, one run per mode after a 2 s warm-up; CPU per "
        "request = server + PostgreSQL):",
        "",
        "| route alone | req/s (a) | req/s (b) | b/a | CPU ms/req (a) | CPU ms/req (b) "
        "| b/a | errors (a/b) |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        a, b = r["a"], r["b"]
        ca = a["server_cpu_ms_per_request"] + a["pg_cpu_ms_per_request"]
        cb = b["server_cpu_ms_per_request"] + b["pg_cpu_ms_per_request"]
        crashed = "" if a["valid"] and b["valid"] else " (server died)"
        ra = a["rps"] if a["valid"] else math.nan
        rb = b["rps"] if b["valid"] else math.nan
        lines.append(
            f"| `{r['route']}` | {_f(ra)} | {_f(rb)} "
            f"| {_f(rb / ra if ra else math.nan, 2)} "
            f"| {_f(ca, 2)} | {_f(cb, 2)} | {_f(cb / ca if ca else math.nan, 2)} "
            f"| {a['errors']}/{b['errors']}{crashed} |"
        )
    return lines


def render_backend(data: dict[str, Any]) -> list[str]:
    source = (
        "GeoPackage files (the embedded default)"
        if data["backend"] == "geopackage"
        else "PostGIS (the demo layers loaded with `onemap demo --database`, database "
        f"`{PG_NAME}` in the local cluster; audit trail and job queue in PostgreSQL)"
    )
    lines = [
        f"## Backend: {data['backend']}",
        "",
        f"`{data['command']}` — {data['started']}, {data['machine']}. Layers from "
        f"{source}.",
        "",
    ]
    if "soak" in data:
        lines += ["### Soak", "", *render_soak(data["soak"]), ""]
    if "cost" in data:
        lines += ["### Security cost", "", *render_cost(data["cost"]), ""]
    return lines


def render(results: list[dict[str, Any]]) -> str:
    lines = [
        "# Soak and security cost",
        "",
        "Written by `bench/soak.py` (see `bench/README.md`). `onemap serve` with the "
        "packaged demo configuration (1 web process, `processes.workers: 1`, tile cache "
        "at its default), a fresh data directory, 127.0.0.1 only. Role "
        f"`{ROLE}`: level internal, operations read, tiles, update, execute, region = "
        f"township {REGION_CODE} (XZQDM), row filter `{ROLE_FILTER}` on `dltb`, which is "
        "classified internal; one API key per client (`onemap keys create`). Load area "
        f"{AREA} (inside the township), tiles z {TILE_ZOOMS[0]}–{TILE_ZOOMS[-1]}. Mix "
        "(weights): dltb bbox pages (limit 100) 20, CQL2 pages (limit 50; 70 % with a "
        "bbox) 10, single items 15, MVT tiles 25, imagery tiles (PNG/JPEG) 15; in the "
        "soak also items outside the region (expect 404) 2, change-polygon pages 5, "
        "edits (GET + PATCH with If-Match, 412 expected when stale) 8, and the job "
        "client. Latencies are per request as the client saw them (closed loop: they "
        "include the wait behind the other 31 clients on a saturated server).",
        "",
    ]
    for data in results:
        lines += render_backend(data)
    return "\n".join(lines)


# ------------------------------------------------------------------ main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--backend", choices=("geopackage", "postgis"), default="geopackage")
    add("--duration", type=float, default=180, help="soak seconds (measured)")
    add("--warmup", type=float, default=15, help="soak warm-up seconds")
    add("--clients", type=int, default=32)
    add("--max-requests", type=int, default=300_000, help="bound per run")
    add("--job-interval", type=float, default=5, help="seconds between job submissions")
    add("--change-polygons", type=int, default=24)
    add("--cost-rounds", type=int, default=3, help="rounds per mode")
    add("--cost-seconds", type=float, default=20)
    add("--cost-warmup", type=float, default=15, help="first warm-up per mode")
    add("--breakdown-seconds", type=float, default=8, help="per route alone; 0: none")
    add("--seed", type=int, default=1)
    add("--skip-soak", action="store_true")
    add("--skip-cost", action="store_true")
    add("--report", type=Path, default=BENCH / "RESULTS_soak.md")
    add("--render-only", action="store_true", help="only rewrite the report")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.render_only:
        write_report(args.report)
        return
    WORK.mkdir(parents=True, exist_ok=True)
    demo = demo_data(WORK)
    if args.backend == "postgis":
        port, postmaster = pg_cluster()
        setting = Setting("postgis", demo, fresh_database(port, WORK), postmaster)
    else:
        setting = Setting("geopackage", demo)
    data: dict[str, Any] = {
        "backend": args.backend,
        "command": " ".join([".venv/bin/python", "bench/soak.py", *sys.argv[1:]]),
        "started": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": f"{platform.node()}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.2f} at start",
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    if not args.skip_soak:
        data["soak"] = soak(args, setting)
    if not args.skip_cost:
        data["cost"] = cost(args, setting)
    out = WORK / f"results-{args.backend}.json"
    out.write_text(json.dumps(data, indent=1, ensure_ascii=False))
    write_report(args.report)
    log(f"wrote {out}")
    print(render([data]))


def write_report(report: Path) -> None:
    """The report of every backend's latest run."""
    results = [
        json.loads((WORK / f"results-{b}.json").read_text())
        for b in ("geopackage", "postgis")
        if (WORK / f"results-{b}.json").exists()
    ]
    report.write_text(render(results) + "\n", encoding="utf-8")
    log(f"wrote {report}")


if __name__ == "__main__":
    main()
