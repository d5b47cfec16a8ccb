"""Operations: /health (the process answers), /ready (database, job queue, workers) and
Prometheus metrics at /metrics (requests by route, status and latency; jobs; database
pool; hot tiles). Metrics are per web process (each uvicorn worker has its own)."""

from __future__ import annotations

import time
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from processes.worker import HEARTBEAT_S
from server.http.landing import LandingLink
from server.http.responses import json_bytes
from server.state import get_state

LANDING: tuple[LandingLink, ...] = ()
CONFORMANCE: set[str] = set()
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    """The registry of one app (not the global one: tests build many apps)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "onemap_requests_total", "HTTP requests", ["route", "method", "status"],
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "onemap_request_seconds", "HTTP request latency", ["route", "method"],
            buckets=_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.jobs = Gauge(
            "onemap_jobs", "Jobs by status", ["status"], registry=self.registry
        )
        self.workers = Gauge(
            "onemap_job_workers", "Job workers seen lately", registry=self.registry
        )
        self.pool = Gauge(
            "onemap_db_pool", "Database pool", ["stat"], registry=self.registry
        )
        self.hot_tiles = Gauge(
            "onemap_hot_tiles", "Hot tile replays and kept responses", ["what"],
            registry=self.registry,
        )  # fmt: skip


class MetricsMiddleware:
    """Counts and times every HTTP request by its route template."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Time the request; label it with the matched route (or 'unmatched')."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def record(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", None) or (
                "hot-tile" if scope.get("onemap.hot_hit") else "unmatched"
            )
            method = scope["method"]
            self.metrics.requests.labels(name, method, str(status[0])).inc()
            self.metrics.latency.labels(name, method).observe(
                time.perf_counter() - started
            )


async def readiness(request: Request) -> tuple[bool, dict[str, Any]]:
    """Whether the server can do its work: the database answers, the job queue is
    reachable and (when this deployment starts workers) a worker reported lately."""
    checks: dict[str, Any] = {}
    ok = True
    for provider in get_state(request).catalog.providers:
        ping = getattr(provider, "ping", None)
        if ping is None:
            continue
        try:
            await ping()
            checks["database"] = "ok"
        except Exception:
            checks["database"] = "unavailable"
            ok = False
    store = get_state(request).job_store
    try:
        await to_thread.run_sync(store.counts)
        checks["job_queue"] = "ok"
        seen = await to_thread.run_sync(store.workers_seen, 3 * HEARTBEAT_S)
    except Exception:
        checks["job_queue"] = "unavailable"
        return False, checks
    checks["workers"] = seen
    if get_state(request).settings.processes.workers > 0 and seen == 0:
        ok = False
    return ok, checks


async def refresh(request: Request) -> Metrics:
    """The gauges read at scrape time."""
    m: Metrics = get_state(request).metrics
    store = get_state(request).job_store
    counts = await to_thread.run_sync(store.counts)
    for status in ("accepted", "running", "successful", "failed", "dismissed"):
        m.jobs.labels(status).set(counts.get(status, 0))
    m.workers.set(await to_thread.run_sync(store.workers_seen, 3 * HEARTBEAT_S))
    for provider in get_state(request).catalog.providers:
        stats = getattr(provider, "pool_stats", None)
        if stats is not None:
            for key, value in stats().items():
                m.pool.labels(key).set(value)
    for key, value in get_state(request).hot_tiles.items():
        m.hot_tiles.labels(key).set(value)
    return m


router = APIRouter(tags=["Operations"])


@router.get("/health", summary="Liveness: the process answers")
async def health() -> Response:
    """Liveness: the process answers."""
    return Response(json_bytes({"status": "ok"}), media_type="application/json",
                    headers={"Cache-Control": "no-store"})  # fmt: skip


@router.get(
    "/ready",
    summary="Readiness: database, job queue, workers",
    responses={503: {"description": "Not ready: the checks say which part"}},
)
async def ready(request: Request) -> Response:
    """Readiness: database, job queue and workers."""
    ok, checks = await readiness(request)
    body = {"status": "ready" if ok else "not ready", "checks": checks}
    headers = {"Cache-Control": "no-store"}
    if not ok:
        headers["Retry-After"] = "5"
    return Response(json_bytes(body), status_code=200 if ok else 503,
                    media_type="application/json", headers=headers)  # fmt: skip


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus metrics."""
    m = await refresh(request)
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)


def build_router() -> APIRouter:
    """/health, /ready, /metrics."""
    return router
