"""Measuring one run: CPU time from /proc, wrk, and waiting for an idle machine.

CPU is read as utime+stime (clock ticks) from /proc/<pid>/stat:
- a server = its whole process tree (the uvicorn supervisor and its workers), plus the
  supervisor's cutime+cstime so that a worker that exits is not lost;
- PostgreSQL = the backends connected to the benchmark database (their process title
  names it), compared pid by pid (a backend that appears counts from zero);
- the machine = the non-idle jiffies of /proc/stat, as busy cores.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcStat:
    """The fields of /proc/<pid>/stat that matter here."""

    ppid: int
    cpu: int  # utime + stime, ticks
    children_cpu: int  # cutime + cstime, ticks


def read_stat(pid: int) -> ProcStat | None:
    """A process's stat, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = raw[raw.rindex(")") + 2 :].split()
    return ProcStat(
        ppid=int(rest[1]),
        cpu=int(rest[11]) + int(rest[12]),
        children_cpu=int(rest[13]) + int(rest[14]),
    )


def all_stats() -> dict[int, ProcStat]:
    """Every process on the machine."""
    out = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            stat = read_stat(int(entry.name))
            if stat is not None:
                out[int(entry.name)] = stat
    return out


def tree(root: int, stats: dict[int, ProcStat]) -> list[int]:
    """root and all its descendants."""
    children: dict[int, list[int]] = {}
    for pid, st in stats.items():
        children.setdefault(st.ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            found.append(pid)
            todo.extend(children.get(pid, []))
    return found


def cmdline(pid: int) -> str:
    """A process's command line (its title, for PostgreSQL backends)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # up to steal; guest time is already in user
    return total - idle, total


@dataclass(frozen=True)
class Snapshot:
    """CPU counters at one moment."""

    when: float
    server: int  # ticks, whole tree incl. reaped children
    workers: dict[int, int]  # ticks per worker process
    pg: dict[int, int]  # ticks per backend of the benchmark database
    pg_all: int  # ticks of the whole cluster incl. reaped children
    machine: tuple[int, int]
    self_children: float  # seconds of CPU of this process's reaped children (wrk)


def snapshot(server_pid: int, postmaster: int, dbname: str) -> Snapshot:
    """Read every counter once."""
    stats = all_stats()
    pids = tree(server_pid, stats)
    root = stats.get(server_pid)
    server = sum(stats[p].cpu for p in pids) + (root.children_cpu if root else 0)
    workers = {p: stats[p].cpu for p in pids if p != server_pid}
    pg_pids = tree(postmaster, stats)
    pm = stats.get(postmaster)
    pg_all = sum(stats[p].cpu for p in pg_pids) + (pm.children_cpu if pm else 0)
    marker = f" {dbname} "
    pg = {p: stats[p].cpu for p in pg_pids if p != postmaster and marker in cmdline(p)}
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return Snapshot(
        when=time.monotonic(),
        server=server,
        workers=workers,
        pg=pg,
        pg_all=pg_all,
        machine=machine_jiffies(),
        self_children=usage.ru_utime + usage.ru_stime,
    )


def cpu_delta(before: Snapshot, after: Snapshot) -> dict[str, Any]:
    """CPU seconds used between two snapshots, per consumer."""
    pg_ticks = sum(t - before.pg.get(p, 0) for p, t in after.pg.items())
    busy = after.machine[0] - before.machine[0]
    total = after.machine[1] - before.machine[1]
    wall = after.when - before.when
    ncpu = os.cpu_count() or 1
    return {
        "wall_s": wall,
        "server_cpu_s": (after.server - before.server) / TICK,
        "worker_cpu_s": sorted(
            ((t - before.workers.get(p, 0)) / TICK for p, t in after.workers.items()),
            reverse=True,
        ),
        "pg_cpu_s": pg_ticks / TICK,
        "pg_backends_gone": len(set(before.pg) - set(after.pg)),
        "pg_cluster_cpu_s": (after.pg_all - before.pg_all) / TICK,
        "wrk_cpu_s": after.self_children - before.self_children,
        "machine_busy_cores": ncpu * busy / total if total else 0.0,
    }


def postmaster_pid(data_dir: str) -> int:
    """The PostgreSQL cluster's postmaster (first line of postmaster.pid)."""
    return int(Path(data_dir, "postmaster.pid").read_text().split("\n")[0])


def busy_cores(interval: float = 1.0) -> float:
    """How many cores the machine kept busy over ``interval`` seconds."""
    b0, t0 = machine_jiffies()
    time.sleep(interval)
    b1, t1 = machine_jiffies()
    return (os.cpu_count() or 1) * (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0


def wait_idle(threshold: float = 0.3, timeout: float = 30.0) -> float:
    """Wait until the machine is (nearly) idle; return the last busy-cores reading."""
    deadline = time.monotonic() + timeout
    level = busy_cores()
    while level > threshold and time.monotonic() < deadline:
        level = busy_cores()
    return level


def run_wrk(
    base_url: str,
    paths_file: Path,
    connections: int,
    seconds: float,
    script: Path,
    timeout_s: int = 30,
) -> dict[str, float]:
    """One wrk run (1 thread, keep-alive); its JSON summary line, parsed."""
    cmd = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds:g}s",
        f"--timeout={timeout_s}s",
        "--latency",
        "-s",
        str(script),
        base_url,
        "--",
        str(paths_file),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.startswith("WRKJSON "):
            result: dict[str, float] = json.loads(line[len("WRKJSON ") :])
            return result
    raise RuntimeError(f"no summary from wrk: {out[-500:]}")
