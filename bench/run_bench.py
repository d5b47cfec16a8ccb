"""Side-by-side HTTP benchmark: OneMap vs tipg, pygeoapi and titiler.

    .venv/bin/python bench/run_bench.py            # the full run (~40 min)
    .venv/bin/python bench/run_bench.py --quick    # 3 s cells, a smoke test
    .venv/bin/python bench/run_bench.py --workloads W5png W5jpg W6

One command: makes sure PostgreSQL 15 + PostGIS run and hold the 300,000-polygon table
(bench/make_dltb.py) and, for W5, that the COG exists (bench/make_cog.py), creates the
peers' venvs (bench/.venvs/), starts the servers the workloads need (2 workers each, no
access log), checks that they answer each workload alike, then drives them with wrk
(1 thread, 8 and 32 keep-alive connections), each (workload, concurrency) cell in rounds
A,B,C then C,B,A (the in-process rio-tiler ceiling of W5 takes its turn like a server),
and merges the records into bench/results.json (replacing the workloads it ran) and
writes bench/RESULTS.md from them. Every server it started is stopped at the end, on
Ctrl-C and on error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import psycopg
import report
import servers
import tileloads
from lib import measure
from lib.cluster import prepare_database, sh, start_cluster
from servers import BENCH, FEATURES, ROOT, SERVES, W5, WORK, Limit, Server, fetch, log

DB_NAME = DB_USER = DB_PASSWORD = "onemap_bench"  # the database and its owner
ROWS = 300_000
# W2: a ~1 km2 box (0.00977 x 0.00898 deg) in the town centre of make_dltb.py
BBOX = "109.595117,23.095508,109.604883,23.104492"
W3_FILTER = "dlbm='0101'"
W4_IDS = list(range(1, ROWS + 1, 300))  # 1,000 ids spread over the table, cycled
WORKLOADS = {
    "W1": "items, first page, limit=100",
    "W2": "bbox ~1 km2 (~750 polygons), limit=1000",
    "W3": f"CQL2 text filter {W3_FILTER}, limit=500",
    "W4": f"single item by id ({len(W4_IDS)} ids cycled)",
    **tileloads.DESCRIPTIONS,
}
PORTS = {
    "onemap": 18081,
    "onemap-cached": 18085,
    "tipg": 18082,
    "pygeoapi": 18083,
    "titiler": 18084,
    "rio-tiler": 0,  # in process, no port
}
Runner = Server | Limit


# --- PostgreSQL ----------------------------------------------------------------------


def ensure_database(port: int) -> str:
    """Role, database, PostGIS, settings and the table; returns the DSN."""
    dsn = prepare_database(port, DB_NAME, DB_PASSWORD, recreate=False, log=log)
    subprocess.run(
        [sys.executable, str(BENCH / "make_dltb.py"), "--dsn", dsn, "--rows", str(ROWS)],
        check=True,
    )
    return dsn


def pg_versions(dsn: str) -> dict[str, str]:
    """Server, PostGIS and PROJ versions, and the settings the run used."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT version(), postgis_lib_version(), postgis_proj_version(), "
            "current_setting('shared_buffers'), current_setting('jit'), "
            "current_setting('max_parallel_workers_per_gather'), "
            "pg_size_pretty(pg_total_relation_size('public.dltb'))"
        ).fetchone()
    assert row is not None
    return {
        "PostgreSQL": str(row[0]).split(" on ")[0],
        "PostGIS": str(row[1]),
        "PostGIS PROJ": str(row[2]).split(",")[0],
        "shared_buffers": str(row[3]),
        "jit (database)": str(row[4]),
        "max_parallel_workers_per_gather (database)": str(row[5]),
        "dltb size with indexes": str(row[6]),
    }


# --- workloads -----------------------------------------------------------------------


def paths(server: Server, workload: str) -> list[str]:
    """The request paths (with query) that this server gets for a workload."""
    if workload not in FEATURES:
        return tileloads.paths(server, workload)
    items = f"/collections/{server.collection}/items"

    def q(params: dict[str, str]) -> str:
        return urlencode({**params, **server.extra}, quote_via=quote, safe=",")

    if workload == "W1":
        return [f"{items}?{q({'limit': '100'})}"]
    if workload == "W2":
        return [f"{items}?{q({'bbox': BBOX, 'limit': '1000', **server.bbox_extra})}"]
    if workload == "W3":
        params = {"filter": W3_FILTER, "filter-lang": "cql2-text", "limit": "500"}
        return [f"{items}?{q(params)}"]
    tail = f"?{q({})}" if server.extra else ""
    return [f"{items}/{fid}{tail}" for fid in W4_IDS]


def _first_vertex(features: list[dict[str, Any]]) -> list[float] | None:
    if not features:
        return None
    vertex: list[float] = features[0]["geometry"]["coordinates"][0][0]
    return vertex


def check(runners: list[Runner], workloads: list[str]) -> dict[str, Any]:
    """One request per workload and server: do they return the same features?"""
    out: dict[str, Any] = {"workloads": {}, "differences": []}
    for wl in workloads:
        taking = [r for r in runners if wl in r.workloads]
        if wl not in FEATURES:
            out["workloads"][wl], diffs = tileloads.check(wl, taking)
            out["differences"] += diffs
            continue
        per: dict[str, Any] = {}
        servers_ = [s for s in taking if isinstance(s, Server)]
        for s in servers_:
            urls = paths(s, wl)[:5] if wl == "W4" else paths(s, wl)
            ids: list[str] = []
            info: dict[str, Any] = {"url": urls[0]}
            for url in urls:
                status, ctype, body = fetch(s.base + url)
                if status != 200:
                    raise SystemExit(f"{s.name} {wl}: HTTP {status} for {url}")
                doc = json.loads(body)
                feats = doc.get("features", [doc])
                ids += [str(f.get("id")) for f in feats]
                info.update(
                    status=status,
                    content_type=ctype,
                    body_bytes=len(body),
                    features=len(feats),
                    number_matched=doc.get("numberMatched"),
                    number_returned=doc.get("numberReturned"),
                    dlbm=sorted({str(f["properties"].get("dlbm")) for f in feats}),
                    first_vertex=_first_vertex(feats),
                )
            info["ids"] = ids
            per[s.name] = info
        first = servers_[0].name
        for name, info in per.items():
            base = per[first]
            if info["features"] != base["features"]:
                out["differences"].append(
                    f"{wl}: {name} returns {info['features']} features, "
                    f"{first} {base['features']}"
                )
            elif set(info["ids"]) != set(base["ids"]):
                out["differences"].append(f"{wl}: {name} returns other ids than {first}")
            if info["first_vertex"] != base["first_vertex"]:
                out["differences"].append(
                    f"{wl}: first vertex {name} {info['first_vertex']} vs {first} "
                    f"{base['first_vertex']}"
                )
        for info in per.values():
            info["ids_sample"] = info.pop("ids")[:5]
        out["workloads"][wl] = per
        log(
            f"check {wl}: "
            + ", ".join(
                f"{n} {i['features']} features ({i['body_bytes'] / 1024:.0f} KB)"
                for n, i in per.items()
            )
        )
    if out["differences"]:
        log("differences: " + "; ".join(out["differences"]))
    return out


# --- the run -------------------------------------------------------------------------


def run_cell(
    s: Server,
    wl: str,
    conns: int,
    args: argparse.Namespace,
    postmaster: int,
) -> dict[str, Any]:
    """Warm up, then one measured wrk run with CPU counters around it."""
    assert s.proc is not None
    paths_file = WORK / f"paths_{s.name}_{wl}.txt"
    paths_file.write_text("\n".join(paths(s, wl)) + "\n")
    script = BENCH / "wrk_paths.lua"
    idle = measure.wait_idle()
    if args.warmup > 0:
        measure.run_wrk(s.base, paths_file, conns, args.warmup, script)
        # the requests wrk abandons at the end of the warm-up may still be running
        # on the server (a slow tile at c=32: seconds of CPU); let them finish
        measure.wait_idle()
    before = measure.snapshot(s.proc.pid, postmaster, DB_NAME)
    res = measure.run_wrk(s.base, paths_file, conns, args.duration, script)
    after = measure.snapshot(s.proc.pid, postmaster, DB_NAME)
    cpu = measure.cpu_delta(before, after)
    n = max(int(res["requests"]), 1)
    seconds = res["duration_us"] / 1e6
    errors = int(res["connect"] + res["read"] + res["write"] + res["timeout"])
    return {
        "server": s.name,
        "workload": wl,
        "connections": conns,
        "requests": int(res["requests"]),
        "rps": res["requests"] / seconds,
        "p50_ms": res["p50_us"] / 1000,
        "p90_ms": res["p90_us"] / 1000,
        "p99_ms": res["p99_us"] / 1000,
        "max_ms": res["max_us"] / 1000,
        "bytes_per_response": res["bytes"] / n,
        "non_2xx": int(res["status"]),
        "socket_errors": errors,
        "server_cpu_ms_per_req": 1000 * float(cpu["server_cpu_s"]) / n,
        "pg_cpu_ms_per_req": 1000 * float(cpu["pg_cpu_s"]) / n,
        "idle_before_cores": idle,
        **cpu,
    }


def run_all(
    runners: list[Runner], args: argparse.Namespace, postmaster: int, out: Path
) -> list[dict[str, Any]]:
    """Every workload x concurrency cell, servers interleaved A,B,C then C,B,A."""
    records: list[dict[str, Any]] = []
    cells = [(wl, c) for wl in args.workloads for c in args.connections]
    total = sum(args.rounds * sum(wl in r.workloads for r in runners) for wl, _ in cells)
    primed: set[tuple[str, str]] = set()
    for wl, conns in cells:
        taking = [r for r in runners if wl in r.workloads]
        for rnd in range(args.rounds):
            order = taking if rnd % 2 == 0 else taking[::-1]
            for pos, s in enumerate(order):
                if isinstance(s, Limit):
                    rec = tileloads.run_limit(s, wl, conns, args.duration, args.warmup)
                else:
                    if s.cached and (s.name, wl) not in primed:
                        tileloads.prime(s, paths(s, wl))
                        primed.add((s.name, wl))
                    rec = run_cell(s, wl, conns, args, postmaster)
                rec.update(round=rnd + 1, position=pos + 1)
                records.append(rec)
                out.write_text(json.dumps({"partial": True, "runs": records}, indent=1))
                log(
                    f"[{len(records)}/{total}] {wl} c={conns} r{rnd + 1} {s.name}: "
                    f"{rec['rps']:.1f} req/s, p50 {rec['p50_ms']:.1f} ms, "
                    f"p99 {rec['p99_ms']:.1f} ms, CPU {rec['server_cpu_ms_per_req']:.2f}"
                    f" + PG {rec['pg_cpu_ms_per_req']:.2f} ms/req, "
                    f"busy {rec['machine_busy_cores']:.2f} cores"
                )
    return records


def versions(servers_: list[Runner], dsn: str) -> dict[str, Any]:
    """Everything that identifies what was measured."""
    commit = sh(["git", "-C", str(ROOT), "rev-parse", "HEAD"]).strip()
    dirty = sh(["git", "-C", str(ROOT), "status", "--porcelain", "--", ".", ":!bench"])
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout
    out: dict[str, Any] = {
        "OneMap git commit": commit + (" (+ uncommitted changes)" if dirty else ""),
        "wrk": wrk.splitlines()[0] if wrk else "?",
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        **pg_versions(dsn),
    }
    for s in servers_:
        out[s.name] = servers.package_versions(s.python, s.packages)
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=15, help="measured s per run")
    p.add_argument("--warmup", type=float, default=3, help="warm-up s before each run")
    p.add_argument("--rounds", type=int, default=2, help="A,B,C then C,B,A ...")
    p.add_argument("--connections", type=int, nargs="+", default=[8, 32])
    p.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=WORKLOADS)
    p.add_argument(
        "--servers", nargs="+", default=list(PORTS), choices=list(PORTS), help="order"
    )
    p.add_argument("--quick", action="store_true", help="3 s runs, 1 s warm-up")
    p.add_argument(
        "--output",
        type=Path,
        help="results directory (default bench/, with --quick bench/.work/quick/)",
    )
    p.add_argument(
        "--render-only",
        action="store_true",
        help="only rewrite RESULTS.md from the results.json of --output",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.duration, args.warmup = 3.0, 1.0
    if args.output is None:
        args.output = WORK / "quick" if args.quick else BENCH
    return args


def merge(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """The new run's records, checks and session, plus the old ones of the workloads
    it did not run (a partial run keeps the rest of results.json)."""
    if old is None:
        return new
    redo = set(new["sessions"][-1]["workloads"])
    order = list(WORKLOADS)
    runs = [r for r in old["runs"] if r["workload"] not in redo] + new["runs"]
    runs.sort(key=lambda r: order.index(r["workload"]))  # stable: rounds keep order
    checks = {k: v for k, v in old["checks"]["workloads"].items() if k not in redo}
    checks.update(new["checks"]["workloads"])
    diffs = [d for d in old["checks"]["differences"] if d.split(":")[0] not in redo]
    sessions = []
    for session in report.sessions(old):
        kept = {w: d for w, d in session["workloads"].items() if w not in redo}
        if kept:
            sessions.append({**session, "workloads": kept})
    return {
        "sessions": [*sessions, *new["sessions"]],
        "checks": {
            "workloads": dict(sorted(checks.items(), key=lambda kv: order.index(kv[0]))),
            "differences": diffs + new["checks"]["differences"],
        },
        "runs": runs,
    }


def write_results(output: Path, data: dict[str, Any], records: bool = True) -> None:
    """results.json (unless not ``records``) and RESULTS.md, then the key tables."""
    if records:
        json_out = output / "results.json"
        json_out.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
        log(f"wrote {json_out}")
    (output / "RESULTS.md").write_text(report.render(data))
    log(f"wrote {output / 'RESULTS.md'}")
    print(report.key_tables(data))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    json_out = args.output / "results.json"
    if args.render_only:
        write_results(args.output, json.loads(json_out.read_text()), records=False)
        return 0
    # Ctrl-C and kill stop the servers (finally below), also when started with SIGINT
    # ignored (a background job of a non-interactive shell)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    WORK.mkdir(parents=True, exist_ok=True)
    args.output.mkdir(parents=True, exist_ok=True)
    args.workloads = [w for w in WORKLOADS if w in args.workloads]
    names = [n for n in args.servers if set(SERVES[n]) & set(args.workloads)]
    started = dt.datetime.now().astimezone()
    port, data_dir = start_cluster(log)
    dsn = ensure_database(port)
    db: dict[str, str | int] = {
        "host": "127.0.0.1",
        "port": port,
        "dbname": DB_NAME,
        "user": DB_USER,
        "password": DB_PASSWORD,
    }
    cog = None
    if set(W5) & set(args.workloads):
        cog = tileloads.COG
        subprocess.run(
            [sys.executable, str(BENCH / "make_cog.py"), "--out", str(cog)], check=True
        )
    make: dict[str, Callable[[], Runner]] = {
        "onemap": lambda: servers.onemap("onemap", PORTS["onemap"], dsn, cog, 0),
        "onemap-cached": lambda: servers.onemap(
            "onemap-cached", PORTS["onemap-cached"], dsn, cog, 64
        ),
        "tipg": lambda: servers.tipg(PORTS["tipg"], dsn),
        "pygeoapi": lambda: servers.pygeoapi(PORTS["pygeoapi"], db),
        "titiler": lambda: servers.titiler(PORTS["titiler"]),
        "rio-tiler": servers.Limit,
    }
    running: list[Runner] = [make[name]() for name in names]
    try:
        for s in running:
            s.start()
        for s in running:
            s.wait_ready()
        checks = check(running, args.workloads)
        meta = {
            "command": " ".join([sys.executable, *sys.argv]),
            "started": started.isoformat(timespec="seconds"),
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "rounds": args.rounds,
            "connections": args.connections,
            "workloads": {w: WORKLOADS[w] for w in args.workloads},
            "bbox": BBOX,
            "filter": W3_FILTER,
            "tiles": tileloads.meta(),
            "servers": {
                s.name: {"url": s.base, "cmd": s.cmd}
                if isinstance(s, Server)
                else {"cmd": [s.python, str(s.script)]}
                for s in running
            },
            "idle_before_start_cores": measure.busy_cores(2.0),
            "versions": versions(running, dsn),
        }
        postmaster = measure.postmaster_pid(data_dir)
        # records so far go to bench/.work/results.partial.json while the run goes on
        records = run_all(running, args, postmaster, WORK / "results.partial.json")
        meta["finished"] = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    finally:
        for s in running:
            s.stop()
    new = {"sessions": [meta], "checks": checks, "runs": records}
    old = json.loads(json_out.read_text()) if json_out.exists() else None
    write_results(args.output, merge(old, new))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted; every server started was stopped")
        sys.exit(130)
