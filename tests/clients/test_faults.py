"""Faults with real components: a live `onemap serve`, real PostgreSQL, real workers.

1. 100 clients race GET → increment → PATCH (If-Match) on one feature: no update is
   lost (final = start + number of 204s), the losers get 412, no If-Match → 428.
2. kill -9 of `onemap serve` in the middle of a burst of creates: after a restart on
   the same data every acknowledged (201) feature is there.
3. PostgreSQL stopped with ``-m immediate`` under read load (a private cluster, never
   the shared one): meanwhile 503 + Retry-After (never 500, never a hang), 10 s after
   it is back every request succeeds, and the server process never restarted.
4. Job workers killed with -9 again and again mid-job (SQLite and PostgreSQL queues):
   every job ends within 60 s, successful, computed to its end exactly once; a job
   taken over after a kill still stops within 10 s of its dismissal.

Each runs on GeoPackage and PostGIS where both apply. The defaults keep the whole file
to a few minutes on 2 cores; FAULTS_* environment variables scale it up for a bench
run (see bench/RESULTS.md, "Faults"); with ``-s`` each test prints its figures.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import morecantile
import psycopg
import pytest

from server.cli.importer import import_to_postgis
from tests.fixtures import write_test_store
from tests.support.database import fresh_database
from tests.support.live_server import LiveServer, clean_env, serve_command
from tests.support.ports import free_port

pytestmark = pytest.mark.clients


def _env(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


CLIENTS = int(_env("FAULTS_CLIENTS", 100))  # 1: clients racing on one feature
ROUNDS = int(_env("FAULTS_ROUNDS", 3))  # 1: GET → PATCH rounds per client
WRITES = int(_env("FAULTS_WRITES", 1000))  # 2: creates in the burst
WRITERS = int(_env("FAULTS_WRITERS", 8))  # 2: client threads sending them
KILL_AT = _env("FAULTS_KILL_AT", 0.4)  # 2: kill -9 once this share is acknowledged
PG_CYCLES = int(_env("FAULTS_PG_CYCLES", 1))  # 3: PostgreSQL stops under load
# 3: how long it stays down, one value per cycle, repeated (0: pg_ctl restart)
PG_DOWN_S = [float(s) for s in os.environ.get("FAULTS_PG_DOWN_S", "3").split(",")]
READERS = int(_env("FAULTS_READERS", 4))  # 3: client threads reading
JOBS = int(_env("FAULTS_JOBS", 4))  # 4: jobs per queue
WORKERS = int(_env("FAULTS_WORKERS", 2))  # 4: job workers
KILLS = int(_env("FAULTS_KILLS_PER_JOB", 2))  # 4: kill -9 of the worker per job
PG_BIN = Path(os.environ.get("FAULTS_PG_BIN", "/usr/lib/postgresql/15/bin"))

RECOVERY_S = 10  # every request succeeds this long after PostgreSQL is back
HANG_S = 5  # no request waits longer than this while PostgreSQL is down
JOB_DEADLINE_S = 60  # every job is terminal this long after its submission
DISMISS_S = 10  # a dismissed job's compute stops within this


def _report(test: str, **figures: object) -> None:
    """The figures of a run (shown with -s; the bench copies them)."""
    print(f"\nFAULTS {test}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))


# ------------------------------------------------------------ HTTP and the server


@dataclass(frozen=True)
class Reply:
    status: int  # 0: no HTTP response (refused, reset, timed out)
    headers: dict[str, str]  # lower-case names
    body: bytes
    started: float  # time.monotonic() when the request was sent
    seconds: float


def _call(
    method: str,
    url: str,
    body: object = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60,
) -> Reply:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data, headers or {}, method=method)
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            status, head, content = int(r.status), r.headers, r.read()
    except urllib.error.HTTPError as exc:
        status, head, content = int(exc.code), exc.headers, exc.read()
    except (OSError, http.client.HTTPException):
        return Reply(0, {}, b"", started, time.monotonic() - started)
    names = {k.lower(): v for k, v in head.items()}
    return Reply(status, names, content, started, time.monotonic() - started)


class Server:
    """`onemap serve` in a child process that a test may kill -9 and start again."""

    def __init__(self, config: Path, data_dir: Path) -> None:
        self.config = config
        self.data_dir = data_dir
        self.live: LiveServer | None = None
        self.url = ""
        self.starts = 0

    def start(self, seconds: float = 60) -> None:
        port = free_port()
        log_path = self.config.with_name(f"serve-{self.starts}.log")
        command = serve_command("--config", str(self.config), port=port)
        self.live = LiveServer(command, log_path, env=clean_env())
        self.live.start()
        self.url = f"http://127.0.0.1:{port}"
        self.starts += 1
        self.live.wait_ready(self.url + "/conformance", seconds)

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        return self.live.proc if self.live else None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def admin(self) -> dict[str, str]:
        """The admin key the server kept in its data dir at its first start."""
        return {"X-API-Key": (self.data_dir / "admin.key").read_text().strip()}

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()


def _config(
    directory: Path,
    collections: str,
    database: str | None = None,
    extra: str = "",
) -> Path:
    path = directory / "onemap.yaml"
    path.write_text(
        f"data_dir: {directory}\n"
        + (
            f"database: {{url: '{database}', pool_min: 2, pool_max: 4}}\n"
            if database
            else ""
        )
        + "processes: {workers: 0}\n"
        # 100 clients on one key are the point here, not the caller's rate
        + "security: {rate_limit: {requests_per_s: 0}}\n"
        + extra
        + "collections:\n"
        + collections,
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module", params=["geopackage", "postgis"])
def edit_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A live server with one editable collection of 20 parcels (its own copy)."""
    directory = tmp_path_factory.mktemp(f"faults-{request.param}")
    store = write_test_store(directory)
    database = None
    if request.param == "postgis":
        database = request.getfixturevalue("pg_url")
        import_to_postgis(
            store, database, "public.faults_edit", layer="editable", overwrite=True
        )
        source = "{type: postgis, table: public.faults_edit}"
    else:
        source = f"{{path: {store.name}, layer: editable}}"
    collections = (
        "  edit:\n    title: Edit\n    editable: true\n    require_if_match: true\n"
        f"    source: {source}\n"
    )
    server = Server(_config(directory, collections, database), directory)
    server.start()
    yield server
    server.stop()


# ------------------------------------------------------------ 1. lost updates


def _patch(url: str, value: int, etag: str | None, key: dict[str, str]) -> Reply:
    headers = {"Content-Type": "application/merge-patch+json", **key}
    if etag is not None:
        headers["If-Match"] = etag
    return _call("PATCH", url, {"properties": {"SJNF": value}}, headers)


def _read(url: str) -> tuple[int, str]:
    got = _call("GET", url)
    assert got.status == 200, got
    return int(json.loads(got.body)["properties"]["SJNF"]), got.headers["etag"]


def _updates(url: str) -> int:
    got = _call("GET", url + "/history")
    assert got.status == 200, got
    return sum(v["operation"] == "update" for v in json.loads(got.body)["versions"])


def test_100_clients_lose_no_update(edit_server: Server) -> None:
    if not edit_server.alive():
        edit_server.start()
    url = f"{edit_server.url}/collections/edit/items/3"
    key = edit_server.admin()
    start, _ = _read(url)
    updates_before = _updates(url)
    barrier = threading.Barrier(CLIENTS)

    def client(_: int) -> list[int]:
        barrier.wait(60)  # every client starts at once
        statuses = []
        for _round in range(ROUNDS):
            value, etag = _read(url)
            statuses.append(_patch(url, value + 1, etag, key).status)
        return statuses

    started = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        replies = [s for result in pool.map(client, range(CLIENTS)) for s in result]
    seconds = time.monotonic() - started
    statuses = Counter(replies)
    final, _ = _read(url)
    _report(
        "lost-updates",
        clients=CLIENTS,
        rounds=ROUNDS,
        patches=len(replies),
        ok=statuses[204],
        conflicts=statuses[412],
        start=start,
        final=final,
        lost=start + statuses[204] - final,
        seconds=f"{seconds:.1f}",
    )
    assert set(statuses) <= {204, 412}, statuses
    assert final == start + statuses[204]  # every acknowledged increment is there
    assert statuses[204] > 0 and statuses[412] > 0  # they raced; the losers got 412
    assert _updates(url) - updates_before == statuses[204]  # one version per 204
    assert _patch(url, 0, None, key).status == 428  # If-Match is required here
    assert _read(url)[0] == final


# ------------------------------------------------------------ 2. kill -9 of the server


def _parcel(bsm: str, i: int) -> dict[str, Any]:
    x, y = 109.70 + (i % 100) * 0.001, 23.20 + (i // 100) * 0.001
    ring = [[x, y], [x + 0.001, y], [x + 0.001, y + 0.001], [x, y + 0.001], [x, y]]
    return {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {"BSM": bsm, "DLBM": "0101", "DLMC": "水田", "SJNF": i},
    }


def _tagged(server: Server, tag: str) -> dict[str, str]:
    """Feature id → BSM of the features whose BSM starts with ``tag``."""
    cql = urllib.parse.quote(f"BSM LIKE '{tag}%'")
    got = _call("GET", f"{server.url}/collections/edit/items?limit=10000&filter={cql}")
    assert got.status == 200, got
    return {
        str(f["id"]): f["properties"]["BSM"] for f in json.loads(got.body)["features"]
    }


def test_kill9_mid_burst_loses_no_acknowledged_write(edit_server: Server) -> None:
    if not edit_server.alive():
        edit_server.start()
    items = f"{edit_server.url}/collections/edit/items"
    headers = {"Content-Type": "application/geo+json", **edit_server.admin()}
    tag = f"K{uuid.uuid4().hex[:8]}"
    lock = threading.Lock()
    acknowledged: dict[str, str] = {}  # feature id → BSM
    outcome: Counter[str] = Counter()
    next_write = iter(range(WRITES))
    killed = threading.Event()
    kill_after = max(1, int(WRITES * KILL_AT))
    victim = edit_server.pid

    def writer(_: int) -> None:
        while True:
            with lock:
                i = next(next_write, None)
            if i is None:
                return
            bsm = f"{tag}{i:06d}"
            reply = _call("POST", items, _parcel(bsm, i), headers, timeout=30)
            with lock:
                if reply.status == 201:
                    fid = reply.headers["location"].rsplit("/", 1)[1]
                    acknowledged[fid] = bsm
                    outcome["201"] += 1
                    if len(acknowledged) >= kill_after and not killed.is_set():
                        killed.set()
                        os.kill(victim, signal.SIGKILL)  # others are mid-request
                elif reply.status == 0 and killed.is_set():
                    outcome["no answer (server gone)"] += 1
                else:
                    outcome[f"unexpected {reply.status}"] += 1

    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(writer, range(WRITERS)))
    assert killed.is_set() and edit_server.proc is not None
    edit_server.proc.wait(10)
    assert edit_server.proc.returncode == -signal.SIGKILL
    edit_server.start()  # same data, same configuration
    items = f"{edit_server.url}/collections/edit/items"
    present = _tagged(edit_server, tag)
    with ThreadPoolExecutor(8) as pool:
        got = list(
            pool.map(lambda fid: _call("GET", f"{items}/{fid}"), list(acknowledged))
        )
    missing = [fid for fid, r in zip(acknowledged, got, strict=True) if r.status != 200]
    wrong = [
        fid
        for fid, r in zip(acknowledged, got, strict=True)
        if r.status == 200
        and json.loads(r.body)["properties"]["BSM"] != acknowledged[fid]
    ]
    unacknowledged = set(present) - set(acknowledged)
    _report(
        "kill9-server",
        writes=WRITES,
        writers=WRITERS,
        acknowledged=len(acknowledged),
        lost=len(missing),
        committed_unacknowledged=len(unacknowledged),
        outcome=dict(outcome),
    )
    assert not [k for k in outcome if k.startswith("unexpected")], outcome
    assert not missing and not wrong, (missing[:5], wrong[:5])
    assert set(acknowledged) <= set(present)
    # at most the writes in flight at the kill were committed without an answer
    assert len(unacknowledged) <= WRITERS
    # and the restarted server writes again
    after = _call("POST", items, _parcel(f"{tag}after", 0), headers)
    assert after.status == 201, after


# ------------------------------------------------------------ 3. PostgreSQL restart


class PrivateCluster:
    """A PostgreSQL cluster of this test alone (initdb in a temporary directory, run
    as the ``postgres`` user when the tests run as root), PostGIS available."""

    def __init__(self) -> None:
        if not (PG_BIN / "initdb").exists():
            pytest.fail(f"no PostgreSQL binaries in {PG_BIN} (set FAULTS_PG_BIN)")
        # not under pytest's basetemp: the postgres user must reach it
        self.root = Path(tempfile.mkdtemp(prefix="onemap-faults-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def create(self) -> None:
        if os.geteuid() == 0:
            import pwd

            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--no-sync")  # fmt: skip
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.root}'\nshared_buffers = 32MB\n"
                "max_connections = 40\nfsync = off\n"
            )

    def _run(self, tool: str, *args: str) -> None:
        command = [str(PG_BIN / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{tool}: {done.stdout}{done.stderr}"

    def pg_ctl(self, action: str, *args: str) -> None:
        self._run("pg_ctl", action, "-D", str(self.data), "-l", str(self.log), "-w",
                  "-t", "60", *args)  # fmt: skip

    def destroy(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self.pg_ctl("stop", "-m", "immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def private_pg() -> Iterator[PrivateCluster]:
    """A private PostgreSQL 15 cluster, torn down at the end (also on failure)."""
    cluster = PrivateCluster()
    try:
        cluster.create()
        cluster.pg_ctl("start")
        yield cluster
    finally:
        cluster.destroy()


@dataclass(frozen=True)
class Outage:
    down: float  # monotonic time PostgreSQL was stopped
    up: float  # ... and was accepting connections again


def _reads(url: str) -> list[str]:
    """Item pages, single items and vector tiles over the parcel grid."""
    tms = morecantile.tms.get("WebMercatorQuad")
    tiles = [
        f"/collections/parcels/tiles/WebMercatorQuad/{t.z}/{t.y}/{t.x}"
        for t in tms.tiles(109.50, 23.00, 109.60, 23.075, [13, 14])
    ]
    pages = [f"/collections/parcels/items?limit=20&offset={i * 20}" for i in range(15)]
    items = [f"/collections/parcels/items/{i}" for i in range(1, 300, 7)]
    return [url + p for p in [*tiles, *pages, *items]]


def _load(paths: list[str], stop: threading.Event, out: list[Reply], n: int) -> None:
    i = n
    while not stop.is_set():
        out.append(_call("GET", paths[i % len(paths)], timeout=60))
        i += READERS


def test_postgresql_restart_under_load(
    private_pg: PrivateCluster, tmp_path: Path
) -> None:
    with psycopg.connect(private_pg.url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION postgis")
    store = write_test_store(tmp_path)
    import_to_postgis(store, private_pg.url, "public.parcels", layer="parcels")
    collections = (
        "  parcels:\n    title: Parcels\n"
        "    source: {type: postgis, table: public.parcels}\n"
    )
    extra = "tiles: {cache_mb: 0}\n"  # every tile is read from PostgreSQL
    server = Server(_config(tmp_path, collections, private_pg.url, extra), tmp_path)
    server.start()
    pid = server.pid
    replies: list[Reply] = []
    stop = threading.Event()
    paths = _reads(server.url)
    threads = [
        threading.Thread(target=_load, args=(paths, stop, replies, n))
        for n in range(READERS)
    ]
    outages: list[Outage] = []
    try:
        for t in threads:
            t.start()
        time.sleep(2)
        for cycle in range(PG_CYCLES):
            hold = PG_DOWN_S[cycle % len(PG_DOWN_S)]
            down = time.monotonic()
            if hold > 0:
                private_pg.pg_ctl("stop", "-m", "immediate")
                time.sleep(hold)
                private_pg.pg_ctl("start")
            else:
                private_pg.pg_ctl("restart", "-m", "immediate")
            outages.append(Outage(down, time.monotonic()))
            time.sleep(RECOVERY_S + 3)
        alive = server.alive() and server.pid == pid and server.starts == 1
    finally:
        stop.set()
        for t in threads:
            t.join(90)
        server.stop()
    _check_outages(replies, outages, alive)


def _check_outages(replies: list[Reply], outages: list[Outage], alive: bool) -> None:
    first = outages[0].down
    before = [r for r in replies if r.started + r.seconds < first]
    statuses = Counter(r.status for r in replies)
    unavailable = [r for r in replies if r.status == 503]
    seen_down: list[float] = []  # from the stop to the last failure's answer
    recovered: list[float] = []  # from PostgreSQL's return to that answer
    late_failures = []
    ends = [o.down for o in outages[1:]] + [float("inf")]
    for outage, end in zip(outages, ends, strict=True):
        # this outage's failures: answered after the stop, before the next stop
        failed = [
            r
            for r in replies
            if r.status != 200 and outage.down <= r.started + r.seconds < end
        ]
        last = max((r.started + r.seconds for r in failed), default=outage.down)
        seen_down.append(last - outage.down)
        recovered.append(max(0.0, last - outage.up))
        late_failures += [r for r in failed if r.started >= outage.up + RECOVERY_S]
    _report(
        "postgresql-restart",
        cycles=len(outages),
        down_s=",".join(f"{o.up - o.down:.2f}" for o in outages),
        requests=len(replies),
        statuses=dict(statuses),
        status_5xx_not_503=sum(r.status >= 500 and r.status != 503 for r in replies),
        without_retry_after=sum("retry-after" not in r.headers for r in unavailable),
        longest_s=f"{max(r.seconds for r in replies):.1f}",
        clients_saw_503_for_s=",".join(f"{s:.2f}" for s in seen_down),
        last_503_after_return_s=",".join(f"{s:.2f}" for s in recovered),
        server_restarted=not alive,
    )
    assert alive, "the server process died or was restarted"
    assert before and all(r.status == 200 for r in before)
    assert set(statuses) <= {200, 503}, statuses  # never a 500, never no answer
    assert unavailable, "no request met the outage"
    assert all(r.headers.get("retry-after", "").isdigit() for r in unavailable)
    assert max(r.seconds for r in replies) < HANG_S  # nobody hung
    assert not late_failures, late_failures[:3]  # all well 10 s after


# ------------------------------------------------------------ 4. worker kill -9


@pytest.fixture
def queue_url(admin_db_url: str) -> Iterator[str]:
    """A database of its own for a PostgreSQL job queue: no other test's workers."""
    with fresh_database(admin_db_url, "onemap_faults", postgis=False) as url:
        yield url


def _runs(marker: Path) -> list[list[tuple[float, int]]]:
    """The runs of a job's compute as its marker file shows them (one per child
    process), each a list of (time, step), in the order they started."""
    runs: dict[str, list[tuple[float, int]]] = {}
    if marker.exists():
        for line in marker.read_text().splitlines():
            if len(fields := line.split()) == 3:  # not a line being written
                pid, stamp, step = fields
                runs.setdefault(pid, []).append((float(stamp), int(step)))
    return sorted(runs.values(), key=lambda steps: steps[0][0])


class KillableWorkers:
    """Job workers (the real `onemap worker` loop, forked: it knows the engine test
    process) that the test kills with -9 and starts again."""

    def __init__(self, settings: Any, count: int) -> None:
        from tests.conftest import start_worker

        self._start = lambda: start_worker(settings)
        self.procs = [self._start() for _ in range(count)]
        self.started = count

    def pids(self) -> set[int]:
        return {p.pid for p in self.procs if p.is_alive() and p.pid is not None}

    def kill(self, pid: int) -> None:
        """kill -9, and wait until it is gone: a dying process still counts as
        alive for a while, and under load that while is longer than a poll."""
        os.kill(pid, signal.SIGKILL)
        for proc in self.procs:
            if proc.pid == pid:
                proc.join(10)

    def restart_dead(self) -> None:
        for i, proc in enumerate(self.procs):
            if not proc.is_alive():
                proc.join(5)
                self.procs[i] = self._start()
                self.started += 1

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.join(10)


def _worker_pid(job: Any) -> int | None:
    return int(job.worker.rsplit(":", 1)[1]) if job.worker else None


@pytest.mark.parametrize("queue", ["sqlite", "postgres"])
def test_workers_killed_mid_job_lose_no_job(
    queue: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from config.settings import DatabaseConfig, ProcessesConfig, Settings
    from processes.worker import open_store
    from tests.engine_process import PROCESS

    url = request.getfixturevalue("queue_url") if queue == "postgres" else None
    settings = Settings(
        data_dir=tmp_path,
        database=DatabaseConfig(url=url),
        processes=ProcessesConfig(
            queue=queue, workers=0, lease_s=3, max_attempts=KILLS + 1
        ),
    )
    store = open_store(settings)
    seconds, steps = 2.0, 20  # each job: 20 steps of 0.1 s
    workers = KillableWorkers(settings, WORKERS)
    try:
        jobs: dict[str, Path] = {}
        submitted = time.monotonic()
        for i in range(JOBS):
            marker = tmp_path / f"job-{i}.log"
            inputs = {"seconds": seconds, "marker": str(marker)}
            job = store.submit(PROCESS.id, "faults", {"inputs": inputs, "language": "en"})
            jobs[job.id] = marker
        kills: dict[str, list[float]] = {job_id: [] for job_id in jobs}
        ended: dict[str, float] = {}
        while len(ended) < len(jobs) and time.monotonic() < submitted + JOB_DEADLINE_S:
            for job_id in jobs:
                job = store.get(job_id)
                assert job is not None, "a job was lost"
                if job.status in ("successful", "failed", "dismissed"):
                    ended.setdefault(job_id, time.monotonic() - submitted)
                    continue
                pid = _worker_pid(job)
                # mid-run (the progress is of this run: a claim resets it), never
                # near the end: a kill there could not tell "run twice" from a retry;
                # one kill per attempt (the row still names a worker being killed)
                if (
                    job.status == "running"
                    and len(kills[job_id]) < KILLS
                    and job.attempts == len(kills[job_id]) + 1
                    and 10 <= job.progress <= 60
                    and pid in workers.pids()
                ):
                    assert pid is not None
                    workers.kill(pid)
                    kills[job_id].append(time.time())
            workers.restart_dead()
            time.sleep(0.1)
        dismiss = _dismiss_after_a_takeover(store, workers, tmp_path / "dismiss.log")
    finally:
        workers.stop()
    _check_jobs(store, jobs, kills, ended, steps, dismiss, queue, workers.started)


def _dismiss_after_a_takeover(
    store: Any, workers: KillableWorkers, marker: Path
) -> float:
    """A long job whose worker is killed, taken over by another worker, then
    dismissed: how long its compute ran on after the dismissal (s)."""
    from tests.engine_process import PROCESS

    inputs = {"seconds": 60, "marker": str(marker)}
    job_id = store.submit(PROCESS.id, "faults", {"inputs": inputs}).id

    def running(attempt: int) -> Any:
        deadline = time.monotonic() + 30
        while True:
            workers.restart_dead()
            job = store.get(job_id)
            if job.status == "running" and job.attempts == attempt and job.progress > 0:
                return job
            assert time.monotonic() < deadline, job
            time.sleep(0.1)

    first = running(1)
    workers.kill(_worker_pid(first) or 0)
    second = running(2)  # another worker took it over after the lease ran out
    assert second.worker != first.worker
    dismissed_at = time.time()
    assert store.dismiss(job_id).status == "dismissed"
    last = 0.0
    while True:  # until the marker has not grown for a second
        time.sleep(1)
        now = max(t for t, _step in _runs(marker)[-1])
        if now == last or time.time() > dismissed_at + DISMISS_S + 1:
            break
        last = now
    time.sleep(max(0.0, dismissed_at + 4 - time.time()))  # a lease (3 s) and a poll
    runs = _runs(marker)
    assert len(runs) == 2, "the dismissed job ran again"
    assert store.get(job_id).status == "dismissed"
    return max(t for t, _step in runs[-1]) - dismissed_at


def _check_jobs(
    store: Any,
    jobs: dict[str, Path],
    kills: dict[str, list[float]],
    ended: dict[str, float],
    steps: int,
    dismiss: float,
    queue: str,
    started: int,
) -> None:
    problems = []
    complete_runs = 0
    for job_id, marker in jobs.items():
        job = store.get(job_id)
        runs = _runs(marker)
        complete = [r for r in runs if r[-1][1] == steps - 1]
        complete_runs += len(complete)
        if job.status != "successful" or json.loads(store.results(job_id)) != {
            "steps": steps
        }:
            problems.append(f"{job_id}: {job.status} {job.error}")
        if job.attempts != len(kills[job_id]) + 1 or len(runs) != job.attempts:
            problems.append(f"{job_id}: {job.attempts} attempts, {len(runs)} runs")
        if len(complete) != 1:
            problems.append(f"{job_id}: computed to the end {len(complete)} times")
        for run, killed_at in zip(runs, kills[job_id], strict=False):
            if run[-1][0] > killed_at + 0.5:  # the child dies with its worker
                problems.append(f"{job_id}: a killed run went on")
    counts = store.counts()
    _report(
        f"worker-kill9 ({queue} queue)",
        jobs=len(jobs),
        kills=sum(len(k) for k in kills.values()),
        workers_started=started,
        successful=counts.get("successful", 0),
        lost=len(jobs) - sum(counts.get(s, 0) for s in ("successful", "failed")),
        stuck_running=counts.get("running", 0),
        complete_runs=complete_runs,
        slowest_s=f"{max(ended.values(), default=float('nan')):.1f}",
        dismiss_stop_s=f"{dismiss:.1f}",
    )
    assert len(ended) == len(jobs), "a job was not terminal within 60 s"
    assert max(ended.values()) < JOB_DEADLINE_S
    assert not problems, problems
    assert counts.get("running", 0) == 0 and counts.get("accepted", 0) == 0, counts
    assert sum(len(k) for k in kills.values()) == len(jobs) * KILLS  # all happened
    assert dismiss < DISMISS_S


# ------------------------------------------------- 5. no worker outlives its server


def _workers_of(pid: int) -> list[int]:
    import psutil

    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return [c.pid for c in children if "worker" in " ".join(c.cmdline())]


def _gone(pids: list[int], seconds: float) -> bool:
    import psutil

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(psutil.pid_exists(p) and _running(p) for p in pids):
            return True
        time.sleep(0.1)
    return False


def _running(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_no_job_worker_outlives_its_server(how: str, tmp_path: Path) -> None:
    """`onemap serve` starts job workers; stopping it (SIGTERM, as systemd and Docker
    do) or killing it (-9) ends them too."""
    store = write_test_store(tmp_path)
    collections = (
        f"  wells:\n    title: Wells\n    source: {{path: {store.name}, layer: wells}}\n"
    )
    config = _config(tmp_path, collections)
    config.write_text(
        config.read_text().replace("processes: {workers: 0}", "processes: {workers: 2}")
    )
    server = Server(config, tmp_path)
    server.start()
    try:
        deadline = time.monotonic() + 30
        while len(workers := _workers_of(server.pid)) < 2:
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.2)
        os.kill(server.pid, getattr(signal, how))
        assert server.proc is not None
        server.proc.wait(30)
        assert _gone(workers, 20), f"workers {workers} outlived the server ({how})"
        if how == "SIGTERM":
            assert server.proc.returncode in (0, 128 + signal.SIGTERM, -signal.SIGTERM)
    finally:
        server.stop()
