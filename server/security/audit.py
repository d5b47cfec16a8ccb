"""The audit trail: who did what, when, from where, and how it ended.

Recorded: every write (in the write's own transaction where the provider can, see
providers/audit.py), every process execution and dismissal, every read of non-public
data, every failed authentication and every denial (also a hidden collection's 404).
Rows other than writes are appended by one background thread in batches, so a request
never waits for the audit database. The table lives in PostgreSQL when
``database.url`` is set, else in ``data_dir/audit.sqlite``.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing, suppress
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from config.settings import Settings
from providers.audit import (
    COLUMNS,
    PG_DDL,
    SQLITE_DDL,
    AuditRecord,
    VerifyResult,
    now_stamp,
    pg_append_sync,
    sqlite_append,
    verify_rows,
)
from server.security.auth import Principal
from server.state import state_or_none

log = logging.getLogger("onemap.audit")
_BATCH = 500
_LINGER_S = 0.25  # how long a batch waits for more rows (a commit per batch)
_CREDENTIALS = (b"authorization", b"x-api-key")


def sqlite_path(settings: Settings) -> Path:
    """The embedded default's audit file."""
    return Path(settings.data_dir) / "audit.sqlite"


class AuditLog:
    """The audit table of a deployment: appends, queries, verification, pruning."""

    def __init__(self, settings: Settings) -> None:
        self.url = settings.database.url
        self.path = sqlite_path(settings)
        self.retention_days = settings.security.audit.retention_days
        self._queue: queue.SimpleQueue[AuditRecord | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.failures = 0  # batches that could not be written (logged, counted)
        self._kept: sqlite3.Connection | psycopg.Connection[Any] | None = None

    # --- storage
    def _sqlite(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30, isolation_level=None)

    def _pg(self) -> psycopg.Connection[Any]:
        assert self.url is not None
        return psycopg.connect(self.url, autocommit=True, connect_timeout=10)

    def create(self) -> None:
        """Create the table, its index and the append-only triggers."""
        if self.url:
            with self._pg() as conn, conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(7407002)")
                conn.execute(PG_DDL.encode())
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._sqlite()) as lite:
            for statement in SQLITE_DDL:
                lite.execute(statement)

    def write(self, records: list[AuditRecord]) -> None:
        """Append rows now (one transaction) on a connection of their own."""
        if not records:
            return
        if self.url:
            with self._pg() as conn:
                pg_append_sync(conn, records)
            return
        with closing(self._sqlite()) as lite:
            _sqlite_write(lite, records)

    def _write_kept(self, records: list[AuditRecord]) -> None:
        """:meth:`write` on the writer thread's one connection, opened on first use and
        dropped after a failure (the next batch reconnects): a connection per batch
        cost more than the rows themselves under load."""
        try:
            if self._kept is None:
                self._kept = self._pg() if self.url else self._sqlite()
            if isinstance(self._kept, sqlite3.Connection):
                _sqlite_write(self._kept, records)
            else:
                pg_append_sync(self._kept, records)
        except BaseException:
            self._drop_kept()
            raise

    def _drop_kept(self) -> None:
        kept, self._kept = self._kept, None
        if kept is not None:
            with suppress(Exception):
                kept.close()

    # --- background appends
    def start(self) -> None:
        """Create the table and start the appending thread."""
        self.create()
        self.prune()
        self._thread = threading.Thread(
            target=self._run, name="onemap-audit", daemon=True
        )
        self._thread.start()

    def append(self, record: AuditRecord) -> None:
        """Queue a row (stamped now); the thread writes it within moments."""
        self._queue.put(record.stamped())

    def stop(self) -> None:
        """Write what is queued, then stop the thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            # Rows that arrive shortly after the first share its transaction: under
            # load a batch per row would cost more than the rows themselves. The thread
            # sleeps rather than waits on the queue: a wait woke it (and took the GIL
            # from the event loop) once per request.
            if first is not None and self._queue.qsize() < _BATCH:
                time.sleep(_LINGER_S)
            batch, stopping = self._drain(first)
            if not batch:
                continue
            try:
                self._write_kept(batch)
            except Exception:  # the request already ended: log, never lose silently
                self.failures += 1
                log.exception("could not append %d audit rows", len(batch))
        self._drop_kept()

    def _drain(self, first: AuditRecord | None) -> tuple[list[AuditRecord], bool]:
        """``first`` and what is queued behind it (up to a batch); whether to stop."""
        batch = [] if first is None else [first]
        stopping = first is None
        while len(batch) < _BATCH and not stopping:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                stopping = True
            else:
                batch.append(item)
        return batch, stopping

    # --- reading
    def rows(
        self,
        since: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        collection: str | None = None,
        limit: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Rows oldest first, filtered by time (ISO), actor, action prefix, collection."""
        hole = "%s" if self.url else "?"
        conds, params = [], []
        for column, value in (
            ("at", since),
            ("actor", actor),
            ("collection", collection),
        ):
            if value is not None:
                conds.append(f"{column} {'>=' if column == 'at' else '='} {hole}")
                params.append(value)
        if action is not None:
            conds.append(f"action LIKE {hole}")
            params.append(action.replace("%", "") + "%")
        table = "public.onemap_audit" if self.url else "onemap_audit"
        where = " WHERE " + " AND ".join(conds) if conds else ""
        sql = (
            f"SELECT id, {', '.join(COLUMNS)}, prev, hash FROM {table}{where} "  # noqa: S608
            "ORDER BY id" + (f" LIMIT {int(limit)}" if limit else "")
        )
        names = ["id", *COLUMNS, "prev", "hash"]
        for row in self._select(sql, params):
            yield dict(zip(names, row, strict=True))

    def _select(self, sql: str, params: list[Any]) -> Iterator[tuple[Any, ...]]:
        if self.url:
            with (
                self._pg() as conn,
                conn.transaction(),
                conn.cursor(name="onemap_audit_rows") as cur,
            ):
                cur.execute(sql.encode(), params)
                yield from cur
            return
        with closing(self._sqlite()) as lite:
            yield from lite.execute(sql, params)

    def verify(self) -> VerifyResult:
        """Walk the whole chain."""
        names = ["id", *COLUMNS, "prev", "hash"]
        return verify_rows(tuple(r[n] for n in names) for r in self.rows())

    def prune(self) -> int:
        """Delete rows older than the retention (never younger than 186 days)."""
        cutoff = (datetime.now(UTC) - timedelta(days=self.retention_days)).isoformat()
        if self.url:
            with self._pg() as conn, conn.transaction():
                conn.execute("SET LOCAL onemap.audit_prune = 'on'")
                cur = conn.execute(
                    "DELETE FROM public.onemap_audit WHERE at < %s", (cutoff,)
                )
                return cur.rowcount
        with closing(self._sqlite()) as lite:
            lite.execute("BEGIN IMMEDIATE")
            try:
                lite.execute("INSERT INTO onemap_audit_pruning VALUES (1)")
                deleted = lite.execute("DELETE FROM onemap_audit WHERE at < ?", (cutoff,))
                lite.execute("DELETE FROM onemap_audit_pruning")
            except BaseException:
                lite.execute("ROLLBACK")
                raise
            lite.execute("COMMIT")
            return deleted.rowcount


def _sqlite_write(lite: sqlite3.Connection, records: list[AuditRecord]) -> None:
    lite.execute("BEGIN IMMEDIATE")
    try:
        sqlite_append(lite, records)
    except BaseException:
        lite.execute("ROLLBACK")
        raise
    lite.execute("COMMIT")


def _client(request: Request) -> str:
    return request.client.host if request.client else ""


def audit_record(
    request: Request, action: str, status: int, size: int = 0
) -> AuditRecord:
    """The audit row of a request (its caller, endpoint and target), read from the ASGI
    scope: parsing a URL and a query string took most of a row's cost, and a replayed
    tile (about 1 ms) is an audit row too."""
    scope = request.scope
    principal = scope.get("state", {}).get("principal")
    params = scope.get("path_params", {})
    known = isinstance(principal, Principal)
    query = scope.get("query_string", b"")
    return AuditRecord(
        actor=principal.name if known else "anonymous",
        roles=",".join(sorted(principal.roles)) if known else "",
        action=action,
        outcome=status,
        client=_client(request),
        method=scope["method"],
        endpoint=_endpoint(scope),
        collection=str(params.get("collectionId", "")),
        feature_ids=str(params.get("featureId", "")),
        filter=request.query_params.get("filter", "") if b"filter" in query else "",
        job=str(params.get("jobId", "")),
        size=size,
        request_id=scope.get("state", {}).get("request_id")
        or request.headers.get("x-request-id", ""),
        at=now_stamp(),  # the request's time, not the append's
    )


def _endpoint(scope: Scope) -> str:
    """The path as ``request.url.path`` gives it, without building the URL."""
    path: str = scope["path"]
    return path.replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")


def _action(request: Request, status: int) -> str | None:
    """What a finished request is recorded as (None: not recorded)."""
    state = request.state
    if status == 401:
        has_credentials = any(
            k in request.headers for k in ("authorization", "x-api-key")
        )
        return "auth.failed" if has_credentials else "auth.required"
    if status == 403 or getattr(state, "audit_denied", None):
        return "access.denied"
    path: str = request.scope["path"]  # matched by its literal parts only
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        if getattr(state, "audited", False) and status < 400:
            return None  # recorded in the write's transaction
        if path.endswith("/execution"):
            return "job.execute"
        if path.startswith("/jobs/"):
            return "job.dismiss"
        return f"{request.method.lower()}.{'write' if status < 400 else 'refused'}"
    if getattr(state, "audit_collection", None):
        return "tiles.read" if "/tiles/" in path or "/map" in path else "data.read"
    if path.startswith("/jobs/") and path.endswith("/results") and status < 400:
        return "job.results"  # derived from whatever the job read: always recorded
    return None


class AuditMiddleware:
    """Records each finished request the audit trail must know of (see ``_action``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; record it once its response has been sent."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        seen: dict[str, Any] = {"status": 500, "size": 0, "location": ""}

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                for key, value in message.get("headers", []):
                    if key == b"location":
                        seen["location"] = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                seen["size"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            self._record(scope, seen)

    @staticmethod
    def _record(scope: Scope, seen: dict[str, Any]) -> None:
        audit: AuditLog | None = getattr(state_or_none(scope["app"]), "audit", None)
        if audit is None:
            return
        request = Request(scope)
        action = _action(request, seen["status"])
        if action is None:
            return
        record = audit_record(request, action, seen["status"], seen["size"])
        if action == "job.execute" and "/jobs/" in seen["location"]:
            job = seen["location"].rsplit("/jobs/", 1)[-1]
            record = replace(record, job=job)
        noted = getattr(request.state, "audit_denied", None) or getattr(
            request.state, "audit_collection", None
        )
        if noted and not record.collection:
            record = replace(record, collection=str(noted))
        audit.append(record)
