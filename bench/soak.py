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

    .venv/bin/python bench/soak.py                       # ~8 minutes
    .venv/bin/python bench/soak.py --backend postgis     # ~9 minutes
    .venv/bin/python bench/soak.py --duration 20 --cost-rounds 1 \\
        --cost-seconds 5 --report /tmp/soak.md                       # smoke test
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import random
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import yaml
from lib import measure
from lib.cluster import online_cluster, prepare_database, psql_admin
from lib.load import HOST, OK, TILE_OK, Action, Client, Reply, Run, load
from lib.markdown import render_cost, render_soak
from lib.onemap_server import (
    ONEMAP,
    OnemapServer,
    Setting,
    audit_delta,
    audit_rows,
    log_problems,
)
from lib.progress import logger
from lib.sampling import NO_CPU, cpu_figures, self_cpu
from lib.stats import median, memory_summary, percentile, route_table, timeline

BENCH = Path(__file__).resolve().parent
WORK = BENCH / ".work" / "soak"
PG_NAME = PG_PASSWORD = "onemap_soak"  # the database and its owner

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


log = logger("soak", sys.stdout)


def tiles_of(bounds: tuple[float, float, float, float], z: int) -> list[tuple[int, ...]]:
    """WebMercatorQuad tiles (z, y, x) that meet a lon/lat box."""

    def xy(lon: float, lat: float) -> tuple[int, int]:
        n = 2**z
        y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
        return int((lon + 180) / 360 * n), int(y)

    x0, y0 = xy(bounds[0], bounds[3])
    x1, y1 = xy(bounds[2], bounds[1])
    return [(z, y, x) for y in range(y0, y1 + 1) for x in range(x0, x1 + 1)]


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


def fresh_database(port: int, work: Path) -> str:
    """Database onemap_soak, re-created, with the demo layers (onemap demo --database)."""
    dsn = prepare_database(port, PG_NAME, PG_PASSWORD, recreate=True, log=log)
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


def demo_server(name: str, setting: Setting, dltb_public: bool) -> OnemapServer:
    """A server of this run in bench/.work/soak/<name>-<backend>/."""

    def configure(data_dir: Path, port: int) -> dict[str, Any]:
        return server_config(data_dir, port, dltb_public, setting.dsn)

    directory = WORK / f"{name}-{setting.backend}"
    return OnemapServer(name, directory, setting, configure, log)


@dataclass
class Plan:
    """The request sets, read from the running server."""

    item_ids: list[int]
    hidden_ids: list[int]
    mvt: list[tuple[int, ...]]
    imagery: list[tuple[int, ...]]
    change_ids: list[int] = field(default_factory=list)


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


def _get_json(client: Client, path: str) -> Any:
    reply = client.send("GET", path)
    if reply.status != 200:
        raise RuntimeError(f"GET {path}: {reply.status} {reply.body[:300]!r}")
    return json.loads(reply.body)


def _ids(client: Client, bbox: tuple[float, ...], limit: int = 5000) -> list[int]:
    box = ",".join(str(v) for v in bbox)
    data = _get_json(client, f"/collections/dltb/items?bbox={box}&limit={limit}")
    return [int(f["id"]) for f in data["features"]]


def make_plan(server: OnemapServer) -> Plan:
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


def prime_tiles(server: OnemapServer, plan: Plan) -> dict[str, dict[str, float]]:
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


def add_change_polygons(server: OnemapServer, count: int, seed: int) -> list[int]:
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


def security_checks(server: OnemapServer, plan: Plan) -> list[dict[str, Any]]:
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


def soak(args: argparse.Namespace, setting: Setting) -> dict[str, Any]:
    server = demo_server("soak", setting, dltb_public=False)
    server.prepare()
    server.start()
    try:
        server.create_keys(args.clients + 1, ROLE)
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
        snap0, self0 = server.snapshot(), self_cpu()
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
            job=one_job,
            job_headers={"X-API-Key": server.keys[0]},
            job_interval=args.job_interval,
            rss=rss,
        )
        crash = server.crash_report() if not server.alive() else None
        snap1, self1 = server.snapshot(), self_cpu()
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
    open_ = demo_server("open", setting, dltb_public=True)
    secure = demo_server("secure", setting, dltb_public=False)
    for s in (open_, secure):
        s.prepare()
    try:
        for s in (open_, secure):
            s.start()
        secure.create_keys(args.clients, ROLE)
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
    server: OnemapServer,
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
    server: OnemapServer,
    headers: list[dict[str, str]],
    plan: Plan,
    round_no: int,
) -> dict[str, Any]:
    measure.wait_idle(0.3, 30)
    _, crashed = bounded_load(args, server, plan, headers, 3, args.seed + 7)
    idle = measure.wait_idle(0.3, 30)
    snap0, self0 = server.snapshot(), self_cpu()
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
        "client_cpu_s": self_cpu() - self0,
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
    modes: dict[str, tuple[OnemapServer, list[dict[str, str]]]],
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
        port, postmaster = online_cluster()
        dsn = fresh_database(port, WORK)
        setting = Setting("postgis", demo, dsn, postmaster, PG_NAME)
    else:
        setting = Setting("geopackage", demo, dbname=PG_NAME)
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
