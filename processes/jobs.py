"""Durable jobs: the job table is the queue, in SQLite (embedded) or PostgreSQL.

A job is inserted ``accepted``; a worker claims it (``running``, a lease and an attempt
number), renews the lease while it runs and ends it (``successful``/``failed``). A
worker that dies leaves a lease that runs out: the next claim takes the job over, or
fails it with the reason once ``max_attempts`` runs were lost. Every write a worker makes
names its attempt, so a worker that lost its lease can no longer change the job.
``dismissed`` is set by the API; the worker running the job sees it and stops it.

The statements are constants with parameters; ``?`` becomes ``%s`` for psycopg.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import orjson
import psycopg
from psycopg.rows import dict_row

Status = Literal["accepted", "running", "successful", "failed", "dismissed"]
FINISHED: frozenset[str] = frozenset({"successful", "failed", "dismissed"})

_COLUMNS = (
    "id, process, owner, status, request, progress, message, created, started, "
    "finished, updated, attempts, lease_until, worker, error, dismiss"
)
_DDL = """
CREATE TABLE IF NOT EXISTS onemap_jobs (
    id TEXT PRIMARY KEY,
    process TEXT NOT NULL,
    owner TEXT NOT NULL,
    status TEXT NOT NULL,
    request TEXT NOT NULL,
    progress INTEGER NOT NULL DEFAULT 0,
    message TEXT,
    created TEXT NOT NULL,
    started TEXT,
    finished TEXT,
    updated TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_until DOUBLE PRECISION,
    worker TEXT,
    error TEXT,
    dismiss INTEGER NOT NULL DEFAULT 0,
    results {blob}
)
"""
_NEXT = (
    "SELECT id FROM onemap_jobs WHERE status = 'accepted' "
    "OR (status = 'running' AND lease_until < ?) ORDER BY created LIMIT 1"
)
_NEXT_PG = _NEXT + " FOR UPDATE SKIP LOCKED"  # workers on other machines skip it
_WORKERS_DDL = (
    "CREATE TABLE IF NOT EXISTS onemap_workers "
    "(name TEXT PRIMARY KEY, seen DOUBLE PRECISION NOT NULL)"
)
_INDEX = "CREATE INDEX IF NOT EXISTS onemap_jobs_queue ON onemap_jobs (status, created)"


def now_iso() -> str:
    """The current time as RFC 3339 UTC (what the API shows)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_CONNECT_TIMEOUT_S = 10  # a database that does not answer fails the call


@dataclass(frozen=True)
class Job:
    """One job as stored."""

    id: str
    process: str
    owner: str
    status: Status
    request: dict[str, Any]  # inputs, outputs, response, subscriber, scope, language
    progress: int
    message: str | None
    created: str
    started: str | None
    finished: str | None
    updated: str
    attempts: int
    lease_until: float | None
    worker: str | None
    error: str | None
    dismiss: bool

    @classmethod
    def of(cls, row: dict[str, Any]) -> Job:
        """From a row (a dict of the columns)."""
        values = {**row}
        values["request"] = orjson.loads(values["request"])
        values["dismiss"] = bool(values["dismiss"])
        return cls(**{k: values[k] for k in cls.__dataclass_fields__})


class _Sqlite:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn


class JobStore:
    """The job table: submit, read, claim, report, finish, dismiss."""

    def __init__(self, url: str | None, sqlite_path: Path) -> None:
        self.postgres = url is not None
        self._url = url
        self._sqlite = _Sqlite(sqlite_path)
        with self._tx() as cur:
            cur.execute(_DDL.format(blob="BYTEA" if self.postgres else "BLOB"))
            cur.execute(_INDEX)
            cur.execute(_WORKERS_DDL)

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        """A cursor in one transaction (SQLite: taken with a write lock at once)."""
        if self._url is not None:
            with (
                psycopg.connect(
                    self._url, row_factory=dict_row, connect_timeout=_CONNECT_TIMEOUT_S
                ) as pg,
                pg.cursor() as cur,
            ):
                yield _PgCursor(cur)
            return
        conn = self._sqlite.connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield _SqliteCursor(conn.cursor())
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()

    # ------------------------------------------------------------ the API's side

    def submit(self, process: str, owner: str, request: dict[str, Any]) -> Job:
        """A new accepted job."""
        job_id = uuid.uuid4().hex
        stamp = now_iso()
        with self._tx() as cur:
            cur.execute(
                "INSERT INTO onemap_jobs (id, process, owner, status, request, created, "
                "updated) VALUES (?, ?, ?, 'accepted', ?, ?, ?)",
                (job_id, process, owner, orjson.dumps(request).decode(), stamp, stamp),
            )
        found = self.get(job_id)
        assert found is not None
        return found

    def get(self, job_id: str) -> Job | None:
        """A job by id."""
        with self._tx() as cur:
            cur.execute(f"SELECT {_COLUMNS} FROM onemap_jobs WHERE id = ?", (job_id,))  # noqa: S608
            row = cur.fetchone()
        return Job.of(row) if row else None

    def list(
        self,
        owner: str | None,
        processes: Sequence[str],
        statuses: Sequence[str],
        limit: int,
        offset: int,
    ) -> list[Job]:
        """Jobs, newest first; ``owner`` None = everybody's."""
        where, params = ["1 = 1"], []
        if owner is not None:
            where.append("owner = ?")
            params.append(owner)
        for column, values in (("process", processes), ("status", statuses)):
            if values:
                where.append(f"{column} IN ({', '.join('?' for _ in values)})")
                params.extend(values)
        with self._tx() as cur:
            cur.execute(
                f"SELECT {_COLUMNS} FROM onemap_jobs WHERE {' AND '.join(where)} "  # noqa: S608
                "ORDER BY created DESC, id LIMIT ? OFFSET ?",
                (*params, limit, offset),
            )
            return [Job.of(r) for r in cur.fetchall()]

    def results(self, job_id: str) -> bytes | None:
        """The results document of a successful job."""
        with self._tx() as cur:
            cur.execute("SELECT results FROM onemap_jobs WHERE id = ?", (job_id,))
            row = cur.fetchone()
        return bytes(row["results"]) if row and row["results"] is not None else None

    def dismiss(self, job_id: str) -> Job | None:
        """Mark a job dismissed (its worker stops it); results are dropped."""
        stamp = now_iso()
        with self._tx() as cur:
            cur.execute(
                "UPDATE onemap_jobs SET dismiss = 1, status = 'dismissed', "
                "results = NULL, message = NULL, finished = COALESCE(finished, ?), "
                "updated = ? "
                "WHERE id = ?",
                (stamp, stamp, job_id),
            )
        return self.get(job_id)

    def purge(self, older_than_days: int) -> int:
        """Delete jobs finished more than this many days ago."""
        cutoff = datetime.fromtimestamp(time.time() - older_than_days * 86400, UTC)
        with self._tx() as cur:
            cur.execute(
                "DELETE FROM onemap_jobs WHERE finished IS NOT NULL AND finished < ?",
                (cutoff.isoformat(timespec="milliseconds").replace("+00:00", "Z"),),
            )
            return int(cur.rowcount)

    def counts(self) -> dict[str, int]:
        """How many jobs are in each status."""
        with self._tx() as cur:
            cur.execute("SELECT status, count(*) AS n FROM onemap_jobs GROUP BY status")
            return {str(r["status"]): int(r["n"]) for r in cur.fetchall()}

    def workers_seen(self, within_s: float) -> int:
        """Workers that reported in the last ``within_s`` seconds."""
        with self._tx() as cur:
            cur.execute(
                "SELECT count(*) AS n FROM onemap_workers WHERE seen > ?",
                (time.time() - within_s,),
            )
            row = cur.fetchone()
        return int(row["n"]) if row else 0

    # ------------------------------------------------------------ the worker's side

    def heartbeat(self, worker: str) -> None:
        """A worker says it is alive (the readiness check counts them)."""
        with self._tx() as cur:
            cur.execute(
                "INSERT INTO onemap_workers (name, seen) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET seen = excluded.seen",
                (worker, time.time()),
            )

    def claim(self, worker: str, lease_s: float, max_attempts: int) -> Job | None:
        """Take the oldest waiting job, or one whose worker was lost; jobs that lost
        ``max_attempts`` runs are failed on the way."""
        now = time.time()
        stamp = now_iso()
        with self._tx() as cur:
            cur.execute(
                "UPDATE onemap_jobs SET status = 'failed', finished = ?, updated = ?, "
                "error = 'worker_lost', lease_until = NULL "
                "WHERE status = 'running' AND lease_until < ? AND attempts >= ?",
                (stamp, stamp, now, max_attempts),
            )
            cur.execute(_NEXT_PG if self.postgres else _NEXT, (now,))
            row = cur.fetchone()
            if row is None:
                return None
            cur.execute(
                "UPDATE onemap_jobs SET status = 'running', attempts = attempts + 1, "
                "worker = ?, lease_until = ?, started = ?, updated = ?, progress = 0 "
                "WHERE id = ?",
                (worker, now + lease_s, stamp, stamp, row["id"]),
            )
        return self.get(row["id"])

    def renew(self, job: Job, lease_s: float) -> bool:
        """Extend the lease; False when the job is no longer this run's (dismissed or
        taken over)."""
        with self._tx() as cur:
            cur.execute(
                "UPDATE onemap_jobs SET lease_until = ? WHERE id = ? AND attempts = ? "
                "AND status = 'running'",
                (time.time() + lease_s, job.id, job.attempts),
            )
            return bool(cur.rowcount)

    def release(self, job: Job) -> None:
        """Give a running job back to the queue (its worker stops): not an attempt."""
        with self._tx() as cur:
            cur.execute(
                "UPDATE onemap_jobs SET status = 'accepted', attempts = attempts - 1, "
                "worker = NULL, lease_until = NULL, progress = 0, updated = ? "
                "WHERE id = ? AND attempts = ? AND status = 'running'",
                (now_iso(), job.id, job.attempts),
            )

    def report(self, job: Job, progress: int, message: str | None) -> None:
        """Progress of a running job (ignored once the run is not current)."""
        with self._tx() as cur:
            cur.execute(
                "UPDATE onemap_jobs SET progress = ?, message = ?, updated = ? "
                "WHERE id = ? AND attempts = ? AND status = 'running'",
                (max(0, min(100, progress)), message, now_iso(), job.id, job.attempts),
            )

    def finish(
        self,
        job: Job,
        status: Literal["successful", "failed"],
        results: bytes | None = None,
        error: str | None = None,
        message: str | None = None,
    ) -> bool:
        """End this run of the job; False when it is no longer this run's."""
        stamp = now_iso()
        with self._tx() as cur:
            cur.execute(
                "UPDATE onemap_jobs SET status = ?, results = ?, error = ?, message = ?, "
                "progress = CASE WHEN ? = 'successful' THEN 100 ELSE progress END, "
                "finished = ?, updated = ?, lease_until = NULL "
                "WHERE id = ? AND attempts = ? AND status = 'running'",
                (
                    status,
                    results,
                    error,
                    message,
                    status,
                    stamp,
                    stamp,
                    job.id,
                    job.attempts,
                ),
            )
            return bool(cur.rowcount)


class _SqliteCursor:
    def __init__(self, cur: sqlite3.Cursor) -> None:
        self._cur = cur

    def execute(self, statement: str, params: Sequence[Any] = ()) -> None:
        self._cur.execute(statement.replace("DOUBLE PRECISION", "REAL"), params)

    def fetchone(self) -> dict[str, Any] | None:
        row = self._cur.fetchone()
        return dict(row) if row is not None else None

    def fetchall(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._cur.fetchall()]

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount


class _PgCursor:
    def __init__(self, cur: psycopg.Cursor[dict[str, Any]]) -> None:
        self._cur = cur

    def execute(self, statement: str, params: Sequence[Any] = ()) -> None:
        self._cur.execute(statement.replace("?", "%s"), params)

    def fetchone(self) -> dict[str, Any] | None:
        return self._cur.fetchone()

    def fetchall(self) -> list[dict[str, Any]]:
        return self._cur.fetchall()

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount
