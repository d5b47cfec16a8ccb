"""One `onemap serve` on a fresh copy of the demo data, and what it leaves behind:
audit rows and the problems in its log."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lib import measure
from tests.support.live_server import LiveServer
from tests.support.ports import LOOPBACK as HOST
from tests.support.ports import free_port

BENCH = Path(__file__).resolve().parent.parent
ROOT = BENCH.parent
ONEMAP = ROOT / ".venv" / "bin" / "onemap"


@dataclass(frozen=True)
class Setting:
    """What every server of one run shares."""

    backend: str
    demo: Path
    dsn: str | None = None
    postmaster: int = 0  # 0: no PostgreSQL
    dbname: str = ""  # the database whose backends count as the server's PostgreSQL CPU


# The configuration of a server from its data directory and port.
Configure = Callable[[Path, int], dict[str, Any]]


@dataclass
class OnemapServer:
    """One `onemap serve` on a fresh copy of the demo data."""

    name: str
    directory: Path
    setting: Setting
    configure: Configure
    log: Callable[[str], None] = print
    port: int = 0
    live: LiveServer | None = None
    admin_key: str = ""
    keys: list[str] = field(default_factory=list)
    pids: set[int] = field(default_factory=set)
    crashes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def config_path(self) -> Path:
        return self.directory / "onemap.yaml"

    @property
    def log_path(self) -> Path:
        return self.directory / "serve.log"

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        return self.live.proc if self.live is not None else None

    def prepare(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
        self.data_dir.mkdir(parents=True)
        shutil.copytree(self.setting.demo, self.data_dir / "demo")
        self.port = free_port(HOST)
        conf = self.configure(self.data_dir, self.port)
        self.config_path.write_text(
            yaml.safe_dump(conf, allow_unicode=True, sort_keys=False), encoding="utf-8"
        )

    def start(self, timeout: float = 300) -> None:
        self.live = LiveServer(
            [str(ONEMAP), "serve", "--config", str(self.config_path)],
            self.log_path,
            env={**os.environ, "PYTHONFAULTHANDLER": "1"},  # a crash leaves its stack
            cwd=self.directory,
            new_session=True,  # Ctrl-C reaches only this script; stop() ends it
        )
        self.live.start(append=True)
        url = f"http://{HOST}:{self.port}/ready"
        try:
            self.live.wait_ready(url, timeout, poll=0.5, request_timeout=5)
        except RuntimeError as exc:
            raise RuntimeError(f"{self.name} did not start:\n{exc}") from None
        self.admin_key = (self.data_dir / "admin.key").read_text().strip()
        self.pids = set(self.tree())
        self.log(f"{self.name}: pid {self.live.pid} on http://{HOST}:{self.port}/")

    def alive(self) -> bool:
        return self.live is not None and self.live.alive()

    def crash_report(self) -> dict[str, Any]:
        """The exit status and the faulthandler's report of the crashed thread."""
        assert self.live is not None and self.live.proc is not None
        lines = self.live.log_tail(chars=None).splitlines()
        fatal = next(
            (i for i, ln in enumerate(lines) if "Fatal Python error" in ln), None
        )
        current = next((i for i, ln in enumerate(lines) if "Current thread" in ln), None)
        stack: list[str] = []
        if current is not None:
            for ln in lines[current : current + 12]:
                if not ln.strip():
                    break
                stack.append(ln.strip())
        return {
            "exit": self.live.proc.returncode,
            "fatal": lines[fatal].strip() if fatal is not None else "",
            "stack": stack,
        }

    def create_keys(self, count: int, role: str, prefix: str = "soak") -> None:
        """``count`` API keys of ``role`` (``onemap keys create``), 4 at a time."""

        def one(i: int) -> str:
            out = subprocess.run(
                [str(ONEMAP), "keys", "create", f"{prefix}-{i:02d}", "--role", role,
                 "--config", str(self.config_path)],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            return out.stdout.strip().splitlines()[-1]

        with ThreadPoolExecutor(4) as pool:
            self.keys = list(pool.map(one, range(count)))
        assert all(k.startswith("om_") for k in self.keys)

    def tree(self) -> list[int]:
        if self.proc is None:
            return []
        return measure.tree(self.proc.pid, measure.all_stats())

    def snapshot(self) -> measure.Snapshot:
        assert self.proc is not None
        return measure.snapshot(
            self.proc.pid, self.setting.postmaster, self.setting.dbname
        )

    def restart_after_crash(self) -> dict[str, Any]:
        report = self.crash_report()
        self.crashes.append(report)
        self.log(f"{self.name}: died ({report['exit']}): {report['fatal']}; restarting")
        self._reap()
        self.start()
        return report

    def _reap(self) -> None:
        """End what this server started and left behind (its job worker)."""
        assert self.proc is not None
        for pid in sorted(self.pids - {self.proc.pid}):
            if measure.read_stat(pid) is not None and _is_onemap(pid):
                os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        if self.live is None or self.live.proc is None:
            return
        self.pids |= set(self.tree())
        self.live.stop(grace=30)
        self._reap()
        self.log(f"{self.name}: stopped (exit {self.live.proc.returncode})")
        self.live = None


def _is_onemap(pid: int) -> bool:
    return str(ROOT / ".venv") in measure.cmdline(pid)


def audit_rows(server: OnemapServer) -> dict[str, int]:
    """Rows of the audit trail by action (SQLite file, or PostgreSQL with a database)."""
    sql = "SELECT action, count(*) FROM onemap_audit GROUP BY action ORDER BY 2 DESC"
    if server.setting.dsn is not None:
        import psycopg

        with psycopg.connect(server.setting.dsn) as conn:
            rows = conn.execute(sql).fetchall()
        return {str(a): int(n) for a, n in rows}
    path = server.data_dir / "audit.sqlite"
    if not path.exists():
        return {}
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute(sql).fetchall()
    finally:
        db.close()
    return {str(a): int(n) for a, n in rows}


def audit_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    delta = {k: v - before.get(k, 0) for k, v in after.items()}
    return {k: v for k, v in sorted(delta.items(), key=lambda kv: -kv[1]) if v}


def log_problems(server: OnemapServer) -> dict[str, Any]:
    """ERROR/WARNING lines, tracebacks and fatal errors in the server's log."""
    levels: Counter[str] = Counter()
    samples: list[str] = []
    for line in server.log_path.read_text(errors="replace").splitlines():
        level = ""
        if line.startswith("{"):
            try:
                level = str(json.loads(line).get("level", ""))
            except ValueError:
                level = ""
        elif "Fatal Python error" in line:
            level = "FATAL"
        elif "Traceback" in line or " ERROR " in line:
            level = "ERROR"
        elif " WARNING " in line:
            level = "WARNING"
        if level in ("FATAL", "ERROR", "CRITICAL", "WARNING"):
            levels[level] += 1
            if len(samples) < 10:
                samples.append(line[:400])
    return {"levels": dict(levels), "samples": samples}
