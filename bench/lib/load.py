"""Closed-loop load: keep-alive clients (127.0.0.1 only) that run a weighted mix of
actions until the time or the request bound is reached or the server is gone; every
request is recorded per route (status, latency, bytes, the first errors)."""

from __future__ import annotations

import http.client
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lib.sampling import process_kind, rss_kb
from tests.support.ports import LOOPBACK as HOST  # the only address the load goes to

if TYPE_CHECKING:
    from lib.onemap_server import OnemapServer

RSS_EVERY_S = 5.0


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


class Client:
    """One keep-alive connection to the server (to 127.0.0.1 only)."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.port = port
        self.headers = headers
        self.conn: http.client.HTTPConnection | None = None

    def send(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> Reply:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=120)
        try:
            self.conn.request(
                method, path, body=body, headers={**self.headers, **(headers or {})}
            )
            resp = self.conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        if resp.getheader("connection", "").lower() == "close":
            self.close()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


@dataclass
class RouteStats:
    latencies: list[float] = field(default_factory=list)  # measured period, s
    statuses: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    warmup: int = 0
    bytes: int = 0


class Run:
    """One load run: its clock and bounds, the request records, shared edit state."""

    def __init__(
        self,
        plan: Any,  # what the actions draw their requests from
        seconds: float,
        warmup: float,
        max_requests: int,
        alive: Callable[[], bool],
    ) -> None:
        self.plan = plan
        self.warmup = warmup
        self.max_requests = max_requests
        self.alive = alive
        self.start = time.monotonic()
        self.deadline = self.start + warmup + seconds
        self.lock = threading.Lock()
        self.routes: dict[str, RouteStats] = {}
        self.timeline: list[tuple[float, float]] = []  # (end s since start, latency)
        self.error_samples: list[dict[str, Any]] = []
        self.sent = 0
        self.in_window = 0  # completed within the measured period
        self.died_at: float | None = None  # s since start when the server was gone
        self.etags: dict[int, str] = {}

    def running(self) -> bool:
        if self.died_at is None and not self.alive():
            self.died_at = time.monotonic() - self.start
        return (
            self.died_at is None
            and time.monotonic() < self.deadline
            and self.sent < self.max_requests
        )

    def call(
        self,
        client: Client,
        route: str,
        method: str,
        path: str,
        expected: frozenset[int],
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> Reply | None:
        with self.lock:
            self.sent += 1
        began = time.monotonic()
        reply: Reply | None = None
        problem = ""
        try:
            reply = client.send(method, path, headers, body)
        except (OSError, http.client.HTTPException) as exc:
            problem = f"connection: {type(exc).__name__}: {exc}"
        ended = time.monotonic()
        if reply is not None and reply.status not in expected:
            text = reply.body[:300].decode(errors="replace")
            problem = f"status {reply.status}: {text}"
        self.record(route, began, ended, reply, problem, f"{method} {path}")
        return reply

    def record(
        self,
        route: str,
        began: float,
        ended: float,
        reply: Reply | None,
        problem: str,
        request: str,
    ) -> None:
        at = ended - self.start
        with self.lock:
            stats = self.routes.setdefault(route, RouteStats())
            stats.statuses[str(reply.status) if reply else "conn"] += 1
            if problem:
                stats.errors += 1
                if len(self.error_samples) < 30:
                    self.error_samples.append(
                        {
                            "at_s": round(at, 2),
                            "route": route,
                            "request": request[:300],
                            "problem": problem,
                        }
                    )
            if at < self.warmup:
                stats.warmup += 1
                return
            if ended <= self.deadline:
                self.in_window += 1
            stats.latencies.append(ended - began)
            stats.bytes += len(reply.body) if reply else 0
            self.timeline.append((at, ended - began))

    def measured_s(self) -> float:
        """Seconds of the measured period that really ran (less after a crash)."""
        end = self.deadline - self.start
        if self.died_at is not None:
            end = min(end, self.died_at)
        return max(end - self.warmup, 1e-9)


Action = Callable[[Run, Client, random.Random], None]
OK = frozenset({200})
TILE_OK = frozenset({200, 204})


def clients_loop(
    run: Run, client: Client, mix: list[tuple[Action, int]], seed: int
) -> None:
    rng = random.Random(seed)
    actions = [a for a, _ in mix]
    weights = [w for _, w in mix]
    try:
        while run.running():
            rng.choices(actions, weights)[0](run, client, rng)
    finally:
        client.close()


Job = Callable[[Run, Client], None]


def jobs_loop(run: Run, client: Client, job: Job, interval: float) -> None:
    """``job`` again and again, every ``interval`` seconds."""
    try:
        while run.running():
            began = time.monotonic()
            job(run, client)
            pause = interval - (time.monotonic() - began)
            if pause > 2:
                client.close()  # do not outlive the server's keep-alive timeout
            time.sleep(max(0.0, min(pause, run.deadline - time.monotonic())))
    finally:
        client.close()


def sample_rss(server: OnemapServer, run: Run, samples: list[dict[str, Any]]) -> None:
    assert server.proc is not None
    root = server.proc.pid
    while True:
        pids = server.tree()
        server.pids |= set(pids)
        per = {f"{process_kind(p, root)} {p}": rss_kb(p) for p in pids}
        samples.append({"at_s": round(time.monotonic() - run.start, 1), "rss_kb": per})
        if not run.running():
            return
        time.sleep(RSS_EVERY_S)


def load(
    server: OnemapServer,
    plan: Any,
    headers: list[dict[str, str]],
    mix: list[tuple[Action, int]],
    seconds: float,
    *,
    warmup: float = 0.0,
    max_requests: int,
    seed: int,
    job: Job | None = None,
    job_headers: dict[str, str] | None = None,
    job_interval: float = 5.0,
    rss: list[dict[str, Any]] | None = None,
) -> Run:
    """Run ``len(headers)`` mixed clients (and one that runs ``job``) until the time or
    the request bound is reached or the server is gone; every thread is joined
    (requests in flight complete)."""
    run = Run(plan, seconds, warmup, max_requests, server.alive)
    threads = [
        threading.Thread(
            target=clients_loop, args=(run, Client(server.port, h), mix, seed * 1000 + i)
        )
        for i, h in enumerate(headers)
    ]
    if job is not None:
        job_client = Client(server.port, job_headers or {})
        threads.append(
            threading.Thread(target=jobs_loop, args=(run, job_client, job, job_interval))
        )
    if rss is not None:
        threads.append(threading.Thread(target=sample_rss, args=(server, run, rss)))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(1.0, run.deadline - time.monotonic()) + 600)
        if t.is_alive():
            raise RuntimeError("a client did not finish within 10 minutes of the end")
    return run
