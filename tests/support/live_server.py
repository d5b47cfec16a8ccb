"""A server command in a child process: started, waited for until a URL answers 200,
stopped (SIGTERM, then SIGKILL after a grace period)."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path


class ServerFailed(RuntimeError):
    """The server exited, or did not answer in time, while it was awaited."""


class ServerExited(ServerFailed):
    """The server exited while it was awaited."""


class ServerTimedOut(ServerFailed):
    """The server did not answer in time (it was stopped)."""


def http_status(url: str, timeout: float = 2) -> int:
    """The HTTP status of a GET of ``url``; 0 when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            resp.read()
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, http.client.HTTPException):
        return 0


def serve_command(*args: str, port: int) -> list[str]:
    """`onemap serve` of the running interpreter's environment on ``port``."""
    return [sys.executable, "-m", "server.cli.main", "serve", *args, "--port", str(port)]


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without ONEMAP_* settings, plus ``extra``: a server
    under test reads only the settings its test gives it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONEMAP_")}
    return {**env, **(extra or {})}


@dataclass
class LiveServer:
    """One run of a server command; its output (stdout and stderr) goes to
    ``log_path``. ``new_session``: the server gets a process group of its own, so a
    Ctrl-C of the caller does not reach it; ``signal_group``: stop() signals that whole
    group (the server and every process it started), else only the server."""

    command: list[str]
    log_path: Path
    env: dict[str, str] | None = None  # the whole environment; None: this process's
    cwd: Path | None = None
    new_session: bool = False
    signal_group: bool = False
    proc: subprocess.Popen[bytes] | None = None
    log_offset: int = 0  # where this run's output begins in the log

    def start(self, append: bool = False) -> None:
        """Start the command (``append``: keep what the log holds)."""
        exists = append and self.log_path.exists()
        self.log_offset = self.log_path.stat().st_size if exists else 0
        with self.log_path.open("ab" if append else "wb") as log:
            self.proc = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=self.new_session,
            )

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(
        self, url: str, seconds: float, poll: float = 0.1, request_timeout: float = 2
    ) -> None:
        """Poll ``url`` until it answers 200; ServerFailed when the server exits or
        ``seconds`` pass (ServerTimedOut; then it is stopped)."""
        assert self.proc is not None, "not started"
        deadline = time.monotonic() + seconds
        while http_status(url, request_timeout) != 200:
            if self.proc.poll() is not None:
                raise ServerExited(
                    f"server exited ({self.proc.returncode}):\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise ServerTimedOut(
                    f"server did not start in {seconds:g} s: {url}\n{self.log_tail()}"
                )
            time.sleep(poll)

    def log_tail(self, chars: int | None = 3000) -> str:
        """The last ``chars`` characters of this run's output (None: all of it)."""
        with self.log_path.open("rb") as f:
            f.seek(self.log_offset)
            text = f.read().decode(errors="replace")
        return text if chars is None else text[-chars:]

    def stop(self, grace: float = 15, kill_wait: float = 10) -> None:
        """SIGTERM, SIGKILL when it is still running after ``grace`` seconds."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self._signal(signal.SIGTERM)
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.proc.wait(timeout=kill_wait)
        except ProcessLookupError:
            pass

    def _signal(self, signum: int) -> None:
        assert self.proc is not None
        if self.signal_group:
            os.killpg(self.proc.pid, signum)
        else:
            self.proc.send_signal(signum)
