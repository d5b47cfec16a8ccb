"""Sampling a running server: the RSS of a process, CPU per request between two
snapshots, and the load generator's own CPU."""

from __future__ import annotations

import math
import resource
from pathlib import Path

from lib import measure


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


def self_cpu() -> float:
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
