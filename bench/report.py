"""bench/RESULTS.md from the records of a run (medians over rounds, ratios to tipg)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

# workload -> (min req/s ratio to tipg, max server-CPU ratio to tipg or None)
TARGETS: dict[str, tuple[float, float | None]] = {
    "W1": (10.0, None),
    "W2": (4.0, 0.25),
    "W3": (4.0, None),
    "W4": (2.0, None),
}
METRICS = (
    "rps",
    "p50_ms",
    "p99_ms",
    "server_cpu_ms_per_req",
    "pg_cpu_ms_per_req",
    "bytes_per_response",
    "machine_busy_cores",
)

Cell = tuple[str, int]  # (workload, connections)


def one_worker(run: dict[str, Any]) -> bool:
    """True when one of the 2 workers did (nearly) all the work (baseline finding 9)."""
    busiest = sorted(run["worker_cpu_s"], reverse=True)[:2]
    return len(busiest) == 2 and busiest[1] < 0.25 * busiest[0]


def medians(runs: list[dict[str, Any]]) -> dict[Cell, dict[str, dict[str, float]]]:
    """(workload, connections) -> server -> metric -> median over rounds."""
    groups: dict[tuple[str, int, str], list[dict[str, Any]]] = defaultdict(list)
    for r in runs:
        groups[(r["workload"], r["connections"], r["server"])].append(r)
    out: dict[Cell, dict[str, dict[str, float]]] = defaultdict(dict)
    for (wl, conns, server), rs in groups.items():
        m = {k: statistics.median(r[k] for r in rs) for k in METRICS}
        m["non_2xx"] = sum(r["non_2xx"] for r in rs)
        m["socket_errors"] = sum(r["socket_errors"] for r in rs)
        m["rounds"] = len(rs)
        m["one_worker"] = sum(one_worker(r) for r in rs)
        out[(wl, conns)][server] = m
    return out


def _servers(data: dict[str, Any]) -> list[str]:
    return list(data["meta"]["servers"])


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a is not None and b else "-"


def _n(x: float) -> str:
    """A number with sensible precision for a table."""
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def key_tables(data: dict[str, Any]) -> str:
    """Throughput and CPU tables: the three servers per cell, OneMap/tipg ratios."""
    med = medians(data["runs"])
    names = _servers(data)
    lines = [
        "req/s (p50 / p99 ms), medians over rounds",
        "",
        "| workload | conc | " + " | ".join(names) + " | OneMap/tipg req/s |",
        "|---|---:|" + "---|" * len(names) + "---:|",
    ]
    for (wl, conns), per in med.items():
        cells = []
        for n in names:
            m = per.get(n)
            text = (
                f"**{_n(m['rps'])}** ({_n(m['p50_ms'])} / {_n(m['p99_ms'])})" if m else ""
            )
            cells.append(text or "-")
        om, tg = per.get("onemap"), per.get("tipg")
        ratio = _ratio(om and om["rps"], tg and tg["rps"])
        lines.append(f"| {wl} | {conns} | " + " | ".join(cells) + f" | **{ratio}** |")
    lines += [
        "",
        "CPU ms per request: server process tree / PostgreSQL backends, medians",
        "",
        "| workload | conc | " + " | ".join(names) + " | OneMap/tipg server CPU |",
        "|---|---:|" + "---|" * len(names) + "---:|",
    ]
    for (wl, conns), per in med.items():
        cells = [
            f"{_n(per[n]['server_cpu_ms_per_req'])} / {_n(per[n]['pg_cpu_ms_per_req'])}"
            if n in per
            else "-"
            for n in names
        ]
        om, tg = per.get("onemap"), per.get("tipg")
        ratio = _ratio(
            om and om["server_cpu_ms_per_req"], tg and tg["server_cpu_ms_per_req"]
        )
        lines.append(f"| {wl} | {conns} | " + " | ".join(cells) + f" | **{ratio}** |")
    return "\n".join(lines) + "\n"


def targets(data: dict[str, Any]) -> str:
    """The issue's targets, per concurrency: met, or by how much missed."""
    med = medians(data["runs"])
    lines = [
        "| workload | target | conc | OneMap/tipg req/s | OneMap/tipg server CPU | met |",
        "|---|---|---:|---:|---:|---|",
    ]
    for (wl, conns), per in med.items():
        if wl not in TARGETS or "onemap" not in per or "tipg" not in per:
            continue
        want_rps, want_cpu = TARGETS[wl]
        rps = per["onemap"]["rps"] / per["tipg"]["rps"]
        cpu_key = "server_cpu_ms_per_req"
        cpu = per["onemap"][cpu_key] / per["tipg"][cpu_key]
        target = f">= {want_rps:g}x req/s"
        verdict = []
        if rps < want_rps:
            verdict.append(f"req/s missed: {rps / want_rps:.0%} of the target")
        if want_cpu is not None:
            target += f", <= {want_cpu:g}x CPU"
            if cpu > want_cpu:
                verdict.append(f"CPU missed: {cpu / want_cpu:.1f}x the allowed")
        met = "yes" if not verdict else "no (" + "; ".join(verdict) + ")"
        lines.append(f"| {wl} | {target} | {conns} | {rps:.2f} | {cpu:.2f} | {met} |")
    return "\n".join(lines) + "\n"


def detail(data: dict[str, Any]) -> str:
    """All medians per cell and server."""
    med = medians(data["runs"])
    lines = [
        "| workload | conc | server | req/s | p50 ms | p99 ms | server CPU ms/req | "
        "PG CPU ms/req | KB/resp | non-2xx | socket errors | busy cores | rounds | "
        "one-worker rounds |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (wl, conns), per in med.items():
        for name, m in per.items():
            lines.append(
                f"| {wl} | {conns} | {name} | {_n(m['rps'])} | {_n(m['p50_ms'])} | "
                f"{_n(m['p99_ms'])} | {_n(m['server_cpu_ms_per_req'])} | "
                f"{_n(m['pg_cpu_ms_per_req'])} | {m['bytes_per_response'] / 1024:.1f} | "
                f"{m['non_2xx']:.0f} | {m['socket_errors']:.0f} | "
                f"{m['machine_busy_cores']:.2f} | {m['rounds']:.0f} | "
                f"{m['one_worker']:.0f} |"
            )
    return "\n".join(lines) + "\n"


def raw(data: dict[str, Any]) -> str:
    """Every measured run, in the order it ran."""
    lines = [
        "| workload | conc | round | pos | server | req/s | p50 ms | p99 ms | "
        "server CPU ms/req | PG CPU ms/req | worker CPU s | busy cores | idle before |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for r in data["runs"]:
        workers = " / ".join(f"{w:.1f}" for w in r["worker_cpu_s"] if w >= 0.05)
        if one_worker(r):
            workers += " **(1 worker)**"
        lines.append(
            f"| {r['workload']} | {r['connections']} | {r['round']} | {r['position']} | "
            f"{r['server']} | {r['rps']:.1f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
            f"{r['server_cpu_ms_per_req']:.2f} | {r['pg_cpu_ms_per_req']:.2f} | "
            f"{workers} | {r['machine_busy_cores']:.2f} | {r['idle_before_cores']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def checks(data: dict[str, Any]) -> str:
    """What each server returned for one request of each workload."""
    lines = [
        "| workload | server | features | numberMatched | body KB | content type | "
        "first vertex | ids (first 5) |",
        "|---|---|---:|---:|---:|---|---|---|",
    ]
    for wl, per in data["checks"]["workloads"].items():
        for name, i in per.items():
            lines.append(
                f"| {wl} | {name} | {i['features']} | {i['number_matched']} | "
                f"{i['body_bytes'] / 1024:.1f} | {i['content_type']} | "
                f"{i['first_vertex']} | {', '.join(i['ids_sample'])} |"
            )
    diffs = data["checks"]["differences"]
    lines += ["", "Differences: " + ("; ".join(diffs) if diffs else "none") + "."]
    return "\n".join(lines) + "\n"


def versions(data: dict[str, Any]) -> str:
    """A flat component | version table."""
    lines = ["| component | version |", "|---|---|"]
    for key, value in data["meta"]["versions"].items():
        if isinstance(value, dict):
            lines += [f"| {key}: {k} | {v} |" for k, v in value.items()]
        else:
            lines.append(f"| {key} | {value} |")
    return "\n".join(lines) + "\n"


def render(data: dict[str, Any]) -> str:
    """The whole RESULTS.md."""
    meta = data["meta"]
    idle = meta["idle_before_start_cores"]
    workloads = "\n".join(f"- **{k}**: {v}" for k, v in meta["workloads"].items())
    return f"""# Benchmark results: OneMap vs tipg vs pygeoapi

Generated by `bench/run_bench.py` (see `bench/README.md`); raw records in
`bench/results.json`. Run {meta["started"]} to {meta["finished"]}, command:

```
{meta["command"]}
```

Each (workload, concurrency) cell ran every server in rounds A,B,C then C,B,A
({meta["rounds"]} rounds). Each run: wait for an idle machine, warm up for
{meta["warmup_s"]:g} s, measure for {meta["duration_s"]:g} s; wrk 1 thread, keep-alive.
All numbers are medians over the rounds. wrk, the servers and PostgreSQL share the
same {meta["versions"]["cpus"]} cores; busy cores before the start: {idle:.2f}.

{workloads}

W2 box (CRS84): `{meta["bbox"]}`. pygeoapi gets `crs=EPSG:4490` on every
request (output in the storage CRS, no reprojection; its default CRS84 output costs a
new pyproj Transformer per request, ~0.6 s) and the W2 box with `bbox-crs=EPSG:4490`
in the storage's x/y order; OneMap and tipg get plain requests (CRS84 output). OneMap uses
its default `count=auto` (exact numberMatched only when the planner expects <= 20,000
matches: W2 yes, W1 and W3 no); tipg and pygeoapi always count.

## Key tables

{key_tables(data)}
## Targets (OneMap vs tipg, same run)

{targets(data)}
## All medians

{detail(data)}
"busy cores" = machine-wide non-idle CPU during the run (2 = saturated). KB/resp
includes the HTTP headers (from wrk's byte count). "one-worker rounds" = rounds in
which one of the server's 2 workers got (nearly) all keep-alive connections and did
over 80 % of the work (baseline finding 9): such a round shows up to half the req/s
of a balanced one, while its CPU ms per request hardly changes. Read req/s ratios of
cells with such rounds with that in mind; the CPU ratios are the steadier figure.

## Correctness: one request per workload and server

{checks(data)}
## Raw per-round numbers

"worker CPU s" = CPU seconds of each worker process during the measured run (shows
how evenly the 2 workers shared the keep-alive connections; "(1 worker)" marks a run
where one worker did over 80 % of the work).

{raw(data)}
## Versions

{versions(data)}"""
