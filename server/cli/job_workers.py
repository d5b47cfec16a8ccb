"""The job workers that `onemap serve` keeps running beside the web server.

Each is an `onemap worker` process (it inherits the settings through the ONEMAP_*
environment); one that dies is started again, so a killed worker costs its job one
attempt, never the service.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading

log = logging.getLogger("onemap.workers")

_COMMAND = (sys.executable, "-m", "server.cli.main", "worker")
PARENT_ENV = "ONEMAP_WORKER_PARENT"  # the server's pid, for die_with_parent()
_PR_SET_PDEATHSIG = 1


def _start() -> subprocess.Popen[bytes]:
    env = {**os.environ, PARENT_ENV: str(os.getpid())}
    return subprocess.Popen(_COMMAND, env=env)


def die_with_parent() -> None:
    """In a worker that `onemap serve` started: ask Linux for a SIGTERM when the
    server ends, even by kill -9, so that no worker outlives it; and end now if it
    already has (its pid is no longer the parent's)."""
    parent = os.environ.pop(PARENT_ENV, None)
    if parent is None:
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: stop() still ends the workers
        return
    if str(os.getppid()) != parent:
        raise SystemExit(0)


class JobWorkers:
    """Start ``count`` workers and restart any that exits until ``stop()``."""

    def __init__(self, count: int) -> None:
        self._procs = [_start() for _ in range(count)]
        self._stopping = threading.Event()
        self._watcher = threading.Thread(target=self._watch, daemon=True)
        if count:
            self._watcher.start()

    def _watch(self) -> None:
        while not self._stopping.wait(1.0):
            for i, proc in enumerate(self._procs):
                if proc.poll() is not None and not self._stopping.is_set():
                    log.warning("job worker %d exited (%s): restarting", proc.pid,
                                proc.returncode)  # fmt: skip
                    self._procs[i] = _start()

    def stop(self) -> None:
        """Terminate the workers (each stops after its current job check)."""
        self._stopping.set()
        for proc in self._procs:
            proc.terminate()
        for proc in self._procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
