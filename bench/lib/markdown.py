"""Markdown of a soak run and of a security-cost run (bench/RESULTS_soak.md)."""

from __future__ import annotations

import math
import os
from typing import Any


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
