"""bench/RESULTS.md from the records (medians over rounds, ratios to the peers).

results.json holds the records of one or more runs ("sessions"): a run of some
workloads replaces those workloads' records and keeps the others.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

FEATURES = ("W1", "W2", "W3", "W4")
TILES = ("W5png", "W5jpg", "W6")
ORDER = ("onemap", "onemap-cached", "tipg", "pygeoapi", "titiler", "rio-tiler")
# the peer each workload is compared with, and the in-process ceiling where measured
PEER = {**dict.fromkeys(FEATURES, "tipg"), "W5png": "titiler", "W5jpg": "titiler"}
PEER["W6"] = "tipg"
LIMIT = {"W5png": "rio-tiler", "W5jpg": "rio-tiler"}
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
Medians = dict[Cell, dict[str, dict[str, float]]]


@dataclass(frozen=True)
class Target:
    """``server`` / ``against`` of ``metric`` >= bound (or <= bound if at_most)."""

    server: str
    against: str
    metric: str
    bound: float
    at_most: bool = False

    def text(self) -> str:
        """How the target reads in the table."""
        what = "req/s" if self.metric == "rps" else "server CPU"
        sign = "<=" if self.at_most else ">="
        return f"{self.server} {sign} {self.bound:g}x {self.against} {what}"


_W5 = [Target("onemap", "titiler", "rps", 1.5), Target("onemap", "rio-tiler", "rps", 0.8)]
TARGETS: dict[str, list[Target]] = {
    "W1": [Target("onemap", "tipg", "rps", 10.0)],
    "W2": [
        Target("onemap", "tipg", "rps", 4.0),
        Target("onemap", "tipg", "server_cpu_ms_per_req", 0.25, at_most=True),
    ],
    "W3": [Target("onemap", "tipg", "rps", 4.0)],
    "W4": [Target("onemap", "tipg", "rps", 2.0)],
    "W5png": _W5,
    "W5jpg": _W5,
    "W6": [
        Target("onemap", "tipg", "rps", 1.5),
        Target("onemap-cached", "tipg", "rps", 20.0),
    ],
}


def sessions(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The runs the records come from (a results.json of one run has only "meta")."""
    found: list[dict[str, Any]] = data.get("sessions") or [data["meta"]]
    return found


def one_worker(run: dict[str, Any]) -> bool:
    """True when one of the 2 workers did (nearly) all the work (baseline finding 9)."""
    busiest = sorted(run["worker_cpu_s"], reverse=True)[:2]
    return len(busiest) == 2 and busiest[1] < 0.25 * busiest[0]


def medians(runs: list[dict[str, Any]]) -> Medians:
    """(workload, connections) -> server -> metric -> median over rounds."""
    groups: dict[tuple[str, int, str], list[dict[str, Any]]] = defaultdict(list)
    for r in runs:
        groups[(r["workload"], r["connections"], r["server"])].append(r)
    out: Medians = defaultdict(dict)
    for (wl, conns, server), rs in groups.items():
        m = {k: statistics.median(r[k] for r in rs) for k in METRICS}
        m["non_2xx"] = sum(r["non_2xx"] for r in rs)
        m["socket_errors"] = sum(r["socket_errors"] for r in rs)
        m["rounds"] = len(rs)
        m["one_worker"] = sum(one_worker(r) for r in rs)
        out[(wl, conns)][server] = m
    return out


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a is not None and b else "-"


def _n(x: float) -> str:
    """A number with sensible precision for a table."""
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def _group(med: Medians, workloads: tuple[str, ...]) -> tuple[list[Cell], list[str]]:
    """The cells of a group of workloads and the servers that ran in them, in order."""
    cells = [c for c in med if c[0] in workloads]
    present = {name for c in cells for name in med[c]}
    return cells, [n for n in ORDER if n in present] + sorted(present - set(ORDER))


# ratio columns: (header, server, whom it is compared with: "peer" or "limit")
_RATIOS = {
    FEATURES: [("OneMap/tipg", "onemap", "peer")],
    TILES: [
        ("OneMap/peer", "onemap", "peer"),
        ("cached/peer", "onemap-cached", "peer"),
        ("OneMap/limit", "onemap", "limit"),
    ],
}


def _ratio_cells(per: dict[str, dict[str, float]], wl: str, group: Any, key: str) -> str:
    cells = []
    for _, server, whom in _RATIOS[group]:
        other = PEER.get(wl) if whom == "peer" else LIMIT.get(wl)
        a, b = per.get(server), per.get(other or "")
        cells.append(f"**{_ratio(a[key], b[key]) if a and b else '-'}**")
    return " | ".join(cells)


def _table(med: Medians, group: tuple[str, ...], cpu: bool) -> list[str]:
    cells, names = _group(med, group)
    if not cells:
        return []
    heads = [h for h, _, _ in _RATIOS[group]]
    key = "server_cpu_ms_per_req" if cpu else "rps"
    lines = [
        "| workload | conc | " + " | ".join(names + heads) + " |",
        "|---|---:|" + "---|" * len(names) + "---:|" * len(heads),
    ]
    for wl, conns in cells:
        per = med[(wl, conns)]
        row = []
        for n in names:
            m = per.get(n)
            if m is None:
                row.append("-")
            elif cpu:
                row.append(
                    f"{_n(m['server_cpu_ms_per_req'])} / {_n(m['pg_cpu_ms_per_req'])}"
                )
            else:
                row.append(f"**{_n(m['rps'])}** ({_n(m['p50_ms'])} / {_n(m['p99_ms'])})")
        ratios = _ratio_cells(per, wl, group, key)
        lines.append(f"| {wl} | {conns} | " + " | ".join(row) + f" | {ratios} |")
    return [*lines, ""]


def key_tables(data: dict[str, Any]) -> str:
    """Throughput and CPU tables per group (features, tiles), with the ratios."""
    med = medians(data["runs"])
    lines = ["req/s (p50 / p99 ms), medians over rounds (tiles: tiles/s)", ""]
    lines += _table(med, FEATURES, cpu=False) + _table(med, TILES, cpu=False)
    lines += [
        "CPU ms per request: server process tree / PostgreSQL backends, medians "
        "(ratios: server CPU)",
        "",
    ]
    lines += _table(med, FEATURES, cpu=True) + _table(med, TILES, cpu=True)
    if any(c[0] in TILES for c in med):
        lines.append(
            "Tiles: peer = titiler (W5), tipg (W6); limit = rio-tiler in process "
            "(2 processes, no HTTP; the same figure whatever the concurrency); "
            "onemap = tile cache off (cold), onemap-cached = cache on, primed."
        )
    return "\n".join(lines).rstrip() + "\n"


def targets(data: dict[str, Any]) -> str:
    """DESIGN.md §6's targets, per concurrency: met, or by how much missed."""
    med = medians(data["runs"])
    lines = ["| workload | target | conc | ratio | met |", "|---|---|---:|---:|---|"]
    for (wl, conns), per in med.items():
        for t in TARGETS.get(wl, []):
            if t.server not in per or not per.get(t.against, {}).get(t.metric):
                continue
            ratio = per[t.server][t.metric] / per[t.against][t.metric]
            if t.at_most:
                ok = ratio <= t.bound
                miss = f"missed: {ratio / t.bound:.1f}x the allowed"
            else:
                ok = ratio >= t.bound
                miss = f"missed: {ratio / t.bound:.0%} of the target"
            met = "yes" if ok else f"no ({miss})"
            lines.append(f"| {wl} | {t.text()} | {conns} | {ratio:.2f} | {met} |")
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
    """Every measured run, in the order it ran (per workload)."""
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


def _tile_row(wl: str, name: str, i: dict[str, Any]) -> str:
    if i["kind"] == "mvt":
        what = (
            f"{i['inside']} features inside the tile + "
            f"{i['features'] - i['inside']} in the buffer only; layer "
            f"{', '.join(i['layers'])}; {len(i['properties'])} properties"
        )
        extra = ", ".join(i["ids_sample"])
    else:
        what = i["shape"]
        diff = i.get("rgb_mean_abs_diff")
        extra = (
            "-"
            if "rgb_mean_abs_diff" not in i
            else f"{diff} (max {i.get('rgb_max_abs_diff')})"
        )
    return (
        f"| {wl} | {name} | {i['tile']} | {i['content_type']} | "
        f"{i['body_bytes'] / 1024:.1f} | {what} | {extra} |"
    )


def checks(data: dict[str, Any]) -> str:
    """What each server returned for one request of each workload."""
    features = [
        "| workload | server | features | numberMatched | body KB | content type | "
        "first vertex | ids (first 5) |",
        "|---|---|---:|---:|---:|---|---|---|",
    ]
    tiles = [
        "| workload | server | tile | content type | body KB | image bands x rows x cols"
        " / MVT | RGB mean abs diff vs the first server / ids (first 5) |",
        "|---|---|---|---|---:|---|---|",
    ]
    for wl, per in data["checks"]["workloads"].items():
        for name, i in per.items():
            if isinstance(i, list):
                tiles += [_tile_row(wl, name, t) for t in i]
                continue
            features.append(
                f"| {wl} | {name} | {i['features']} | {i['number_matched']} | "
                f"{i['body_bytes'] / 1024:.1f} | {i['content_type']} | "
                f"{i['first_vertex']} | {', '.join(i['ids_sample'])} |"
            )
    lines = [*features, ""] if len(features) > 2 else []
    lines += [*tiles, ""] if len(tiles) > 2 else []
    diffs = data["checks"]["differences"]
    lines += ["Differences: " + ("; ".join(diffs) if diffs else "none") + "."]
    return "\n".join(lines) + "\n"


def _flat(versions: dict[str, Any]) -> dict[str, str]:
    out = {}
    for key, value in versions.items():
        if isinstance(value, dict):
            out.update({f"{key}: {k}": str(v) for k, v in value.items()})
        else:
            out[key] = str(value)
    return out


def versions(data: dict[str, Any]) -> str:
    """Component | version, one column per run."""
    runs = [_flat(s["versions"]) for s in sessions(data)]
    keys = list(dict.fromkeys(k for r in runs for k in r))
    heads = [f"run {i + 1}" for i in range(len(runs))] if len(runs) > 1 else ["version"]
    lines = ["| component | " + " | ".join(heads) + " |", "|---|" + "---|" * len(runs)]
    for k in keys:
        lines.append(f"| {k} | " + " | ".join(r.get(k, "-") for r in runs) + " |")
    return "\n".join(lines) + "\n"


def _runs(data: dict[str, Any]) -> str:
    lines = []
    for i, s in enumerate(sessions(data)):
        lines.append(
            f"- run {i + 1}, {s['started']} to {s.get('finished', '?')}: "
            f"{', '.join(s['workloads'])} ({s['rounds']} rounds, warm-up "
            f"{s['warmup_s']:g} s, measured {s['duration_s']:g} s, connections "
            f"{' '.join(str(c) for c in s['connections'])}; busy cores before the start "
            f"{s['idle_before_start_cores']:.2f}): `{s['command']}`"
        )
    return "\n".join(lines)


_FEATURE_NOTES = """W2 box (CRS84): `109.595117,23.095508,109.604883,23.104492`.
pygeoapi gets `crs=EPSG:4490` on every request (output in the storage CRS, no
reprojection; its default CRS84 output costs a new pyproj Transformer per request,
~0.6 s) and the W2 box with `bbox-crs=EPSG:4490` in the storage's x/y order; OneMap and
tipg get plain requests (CRS84 output). OneMap uses its default `count=auto` (exact
numberMatched only when the planner expects <= 20,000 matches: W2 yes, W1 and W3 no);
tipg and pygeoapi always count.
"""

_TILE_NOTES = """Tiles (W5, W6): `onemap` runs with its tile cache off
(`tiles.cache_mb: 0`, the cold figure), `onemap-cached` with the default 64 MB per
worker; before its first measured run of a workload every tile is requested 8 times on
new connections so that both workers' caches hold it. W5: OneMap's collection `cog`
carries bands 3,2,1, rescale 0-4000 and nearest resampling in its configuration (URL
`...?f=png|jpeg`); titiler gets `url=<COG>&bidx=3&bidx=2&bidx=1&rescale=0,4000`
(nearest is its default); the same pixels come out (checked below). PNG deflate levels
differ: OneMap's `tiles.png_zlevel` is 2, titiler's and rio-tiler's 6 (see KB/resp);
JPEG quality is 85 everywhere. **rio-tiler** is the in-process ceiling
(`bench/limit_riotiler.py`: 2 processes, the COG opened once per process, no HTTP), run
in every round like a server: its figure does not depend on the concurrency column, and
its CPU ms per request is CPU per tile. W6: OneMap keeps every feature like tipg
(`mvt_min_feature_px: 0`; its default drops those under 0.5 px) and its default buffer
(64 of 4096; tipg's is 256). The two select differently: OneMap also sends the features
that lie only in the buffer ring, tipg only those whose box meets the tile itself; the
check compares the features that reach into the tile (same count, same ids) and shows
the buffer-only ones. OneMap keeps a PostGIS tile only 10 s in its cache (the table
may change outside the server), so `onemap-cached` rebuilds each tile about every 10 s
per worker (PG CPU shows it). pygeoapi is not in W6 (0.7 tiles/s in the baseline:
text-CRS ST_Transform per row) nor in W5 (no COG tiles).
"""


def render(data: dict[str, Any]) -> str:
    """The whole RESULTS.md."""
    runs = sessions(data)
    described: dict[str, str] = {}
    for s in runs:
        described.update(s["workloads"])
    order = [*FEATURES, *TILES]
    workloads = "\n".join(
        f"- **{k}**: {described[k]}" for k in sorted(described, key=order.index)
    )
    notes = (_FEATURE_NOTES if set(described) & set(FEATURES) else "") + (
        "\n" + _TILE_NOTES if set(described) & set(TILES) else ""
    )
    cpus = runs[-1]["versions"]["cpus"]
    return f"""# Benchmark results: OneMap vs tipg, pygeoapi and titiler

Generated by `bench/run_bench.py` (see `bench/README.md`); raw records in
`bench/results.json`. A run of some workloads replaces their records and keeps the
others; these records come from:

{_runs(data)}

Each (workload, concurrency) cell ran every server in rounds A,B,C then C,B,A. Each
run: wait for an idle machine, warm up, measure; wrk 1 thread, keep-alive. All numbers
are medians over the rounds. wrk, the servers and PostgreSQL share the same {cpus}
cores.

{workloads}

{notes}
## Key tables

{key_tables(data)}
## Targets (DESIGN.md §6, same run)

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
