"""The audit trail's table: append-only rows chained with SM3 hashes.

Each row's ``hash`` is SM3 over the previous row's hash and the row's own fields (as
canonical JSON), so an edited, inserted or deleted row breaks the chain at that point;
`onemap audit verify` walks it. Rows are appended under a lock that orders the chain:
SQLite's write lock (``BEGIN IMMEDIATE``), PostgreSQL's transaction advisory lock. A
write's row is inserted in the write's own transaction. Triggers refuse UPDATE and
DELETE; pruning old rows (retention) lifts that for its own transaction only.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any

import orjson
from psycopg import AsyncConnection, Connection

GENESIS = "0" * 64
_LOCK = 7_407_001  # advisory lock id ordering the chain on PostgreSQL
MAX_TEXT = 2000  # longer filters and id lists are cut (the row stays one row)


def now_stamp() -> str:
    """An audit row's time: UTC, milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class AuditRecord:
    """What one audit row says (``at`` is set when it is appended if empty)."""

    actor: str
    action: str  # e.g. feature.create, items.read, auth.failed, access.denied
    outcome: int  # HTTP status
    roles: str = ""
    client: str = ""
    method: str = ""
    endpoint: str = ""
    collection: str = ""
    feature_ids: str = ""
    filter: str = ""
    job: str = ""
    size: int = 0
    request_id: str = ""
    at: str = ""

    def stamped(self) -> AuditRecord:
        """The record with its time (UTC, milliseconds) and texts cut to size."""
        changes: dict[str, Any] = {
            name: value[:MAX_TEXT]
            for name in COLUMNS
            if isinstance(value := getattr(self, name), str) and len(value) > MAX_TEXT
        }
        if not self.at:
            changes["at"] = now_stamp()
        return replace(self, **changes) if changes else self

    def values(self) -> dict[str, Any]:
        """The fields by name (flat: a cheaper ``asdict``)."""
        return {name: getattr(self, name) for name in COLUMNS}


COLUMNS = [f.name for f in fields(AuditRecord)]


def chain_hash(previous: str, record: AuditRecord) -> str:
    """SM3 (GB/T 32905) of the previous hash and the record's canonical JSON."""
    body = orjson.dumps(record.values(), option=orjson.OPT_SORT_KEYS)
    return hashlib.new("sm3", previous.encode() + body).hexdigest()


_COLUMN_DDL = ", ".join(
    f"{c} {'bigint' if c in ('outcome', 'size') else 'text'} NOT NULL" for c in COLUMNS
)

SQLITE_DDL = [
    "CREATE TABLE IF NOT EXISTS onemap_audit (id INTEGER PRIMARY KEY, "
    f"{_COLUMN_DDL}, prev text NOT NULL, hash text NOT NULL)",
    "CREATE INDEX IF NOT EXISTS onemap_audit_at ON onemap_audit (at)",
    "CREATE TABLE IF NOT EXISTS onemap_audit_pruning (active integer NOT NULL)",
    "CREATE TRIGGER IF NOT EXISTS onemap_audit_no_update BEFORE UPDATE ON onemap_audit "
    "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS onemap_audit_no_delete BEFORE DELETE ON onemap_audit "
    "WHEN NOT EXISTS (SELECT 1 FROM onemap_audit_pruning) "
    "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END",
]

PG_DDL = f"""
CREATE TABLE IF NOT EXISTS public.onemap_audit (
    id bigserial PRIMARY KEY, {_COLUMN_DDL}, prev text NOT NULL, hash text NOT NULL
);
CREATE INDEX IF NOT EXISTS onemap_audit_at ON public.onemap_audit (at);
CREATE OR REPLACE FUNCTION public.onemap_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('onemap.audit_prune', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the audit trail is append-only';
END $$;
DO $$ BEGIN
    CREATE TRIGGER onemap_audit_append_only BEFORE UPDATE OR DELETE
        ON public.onemap_audit FOR EACH ROW
        EXECUTE FUNCTION public.onemap_audit_append_only();
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
"""

_INSERT = "INSERT INTO {table} ({cols}, prev, hash) VALUES ({holes})"


_COPY = f"COPY public.onemap_audit ({', '.join(COLUMNS)}, prev, hash) FROM STDIN"


def _insert_sql(table: str, hole: str) -> str:
    return _INSERT.format(
        table=table, cols=", ".join(COLUMNS), holes=", ".join([hole] * (len(COLUMNS) + 2))
    )


def _rows(previous: str, records: Iterable[AuditRecord]) -> Iterator[tuple[Any, ...]]:
    for record in records:
        stamped = record.stamped()
        digest = chain_hash(previous, stamped)
        yield (*stamped.values().values(), previous, digest)
        previous = digest


def sqlite_append(
    conn: sqlite3.Connection, records: list[AuditRecord], schema: str = "main"
) -> None:
    """Append rows inside the caller's write transaction (``BEGIN IMMEDIATE``)."""
    table = f"{schema}.onemap_audit"
    row = conn.execute(
        f"SELECT hash FROM {table} ORDER BY id DESC LIMIT 1"  # noqa: S608
    ).fetchone()
    conn.executemany(
        _insert_sql(table, "?"), list(_rows(row[0] if row else GENESIS, records))
    )


async def pg_append(conn: AsyncConnection[Any], records: list[AuditRecord]) -> None:
    """Append rows inside the caller's transaction (the lock orders the chain)."""
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
    cur = await conn.execute(
        "SELECT hash FROM public.onemap_audit ORDER BY id DESC LIMIT 1"
    )
    row = await cur.fetchone()
    async with conn.cursor() as insert:
        await insert.executemany(
            _insert_sql("public.onemap_audit", "%s"),
            list(_rows(row[0] if row else GENESIS, records)),
        )


def pg_append_sync(conn: Connection[Any], records: list[AuditRecord]) -> None:
    """:func:`pg_append` on a blocking connection (the audit writer thread)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
        row = conn.execute(
            "SELECT hash FROM public.onemap_audit ORDER BY id DESC LIMIT 1"
        ).fetchone()
        # COPY: a batch of the writer thread can be hundreds of rows
        with conn.cursor() as cur, cur.copy(_COPY) as copy:
            for values in _rows(row[0] if row else GENESIS, records):
                copy.write_row(values)


@dataclass(frozen=True)
class VerifyResult:
    """What walking the chain found."""

    rows: int
    first_id: int | None
    last_id: int | None
    broken_at: int | None  # id of the first row whose hash or link is wrong
    reason: str = ""

    @property
    def ok(self) -> bool:
        """Whether the whole chain holds."""
        return self.broken_at is None


def verify_rows(rows: Iterable[tuple[Any, ...]]) -> VerifyResult:
    """Walk rows ``(id, *COLUMNS, prev, hash)`` in id order.

    The first row's ``prev`` is trusted (older rows may have been pruned); every later
    row must link to the row before it and hash to its own ``hash``. Ids may skip
    (a rolled-back PostgreSQL transaction uses up its id); links may not.
    """
    count, first, last, previous = 0, None, None, None
    for row in rows:
        row_id, values, prev, digest = (
            int(row[0]),
            row[1 : 1 + len(COLUMNS)],
            row[-2],
            row[-1],
        )
        record = AuditRecord(**dict(zip(COLUMNS, values, strict=True)))
        if previous is not None and prev != previous:
            return VerifyResult(count, first, last, row_id, "link")
        if chain_hash(prev, record) != digest:
            return VerifyResult(count, first, last, row_id, "hash")
        count += 1
        first = row_id if first is None else first
        last, previous = row_id, digest
    return VerifyResult(count, first, last, None)
