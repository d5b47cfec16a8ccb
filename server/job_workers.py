"""The job workers that `onemap serve` keeps running beside the web server.

Each is an `onemap worker` process (it inherits the settings through the ONEMAP_*
environment); one that dies is started again, so a killed worker costs its job one
attempt, never the service.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading

log = logging.getLogger("onemap.workers")

_COMMAND = (sys.executable, "-m", "server.cli", "worker")


class JobWorkers:
    """Start ``count`` workers and restart any that exits until ``stop()``."""

    def __init__(self, count: int) -> None:
        self._procs = [subprocess.Popen(_COMMAND) for _ in range(count)]
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
                    self._procs[i] = subprocess.Popen(_COMMAND)

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
