"""Statistics of load runs: percentiles, medians, per-route tables, the timeline per
minute and the memory of a server over a run."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lib.load import Run


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
