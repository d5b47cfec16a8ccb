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
backend's latest run. This script is the scenario; its parts are in bench/lib/ (the
demo's request mix and set-up, the server, the load, sampling, statistics, Markdown).

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
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from lib import measure
from lib.cluster import online_cluster, prepare_database, psql_admin
from lib.demo_load import (
    AREA,
    READS,
    REGION_CODE,
    ROUTE_OF,
    SOAK_MIX,
    TILE_ZOOMS,
    Plan,
    one_job,
)
from lib.demo_setup import add_change_polygons, make_plan, prime_tiles, security_checks
from lib.load import HOST, Action, Run, load
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
from lib.stats import cost_summary, memory_summary, route_table, timeline

BENCH = Path(__file__).resolve().parent
WORK = BENCH / ".work" / "soak"
PG_NAME = PG_PASSWORD = "onemap_soak"  # the database and its owner

ROLE = "county"
ROLE_FILTER = "DLBM <> '0702'"
ROLE_CONFIG: dict[str, Any] = {
    "level": "internal",
    "operations": ["read", "tiles", "update", "execute"],
    "region": {"codes": [REGION_CODE]},
    "rules": {"dltb": {"filter": ROLE_FILTER}},
}


log = logger("soak", sys.stdout)


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
