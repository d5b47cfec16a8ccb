"""Features Part 4 on GeoPackage: one writer per file, one transaction per edit.

The R-tree and feature-count triggers GDAL writes into every GeoPackage call ST_IsEmpty
and ST_MinX/MaxX/MinY/MaxY; they are registered here (from the geometry blob header).
Every version of an edited feature is appended to ``onemap_history`` in the same file,
in the same transaction as the edit.
"""

from __future__ import annotations

import hashlib
import sqlite3
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import shapely

from providers.audit import AuditRecord, sqlite_append
from providers.by_id import Edit, revision
from providers.edits import EditResult, FeatureInput, OutsideGrantError, json_value
from providers.geopackage.cql2 import register as register_cql2
from providers.geopackage.geometry import envelope_of, sqlite_intersects, wkb_of

# Whether a feature (by key) is inside the writer's grant, on the write's connection.
Guard = Callable[[sqlite3.Connection, Any], bool]

HISTORY_DDL = (
    "CREATE TABLE IF NOT EXISTS onemap_history ("
    "id INTEGER PRIMARY KEY AUTOINCREMENT, collection TEXT NOT NULL, "
    "feature_id TEXT NOT NULL, operation TEXT NOT NULL, actor TEXT NOT NULL, "
    "at TEXT NOT NULL, old TEXT, new TEXT)"
)
HISTORY_INDEX = (
    "CREATE INDEX IF NOT EXISTS onemap_history_feature "
    "ON onemap_history (collection, feature_id, id)"
)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def gpkg_blob(geom: shapely.Geometry, srs_id: int) -> bytes:
    """A GeoPackage geometry blob: header with an xy envelope, then little-endian WKB."""
    minx, miny, maxx, maxy = geom.bounds
    header = b"GP\x00\x03" + struct.pack("<i4d", srs_id, minx, maxx, miny, maxy)
    return header + bytes(shapely.to_wkb(geom, byte_order=1))


def version_of(*values: Any) -> str:
    """A row's version: a hash of every stored value (geometry blob included)."""
    digest = hashlib.blake2b(digest_size=16)
    for value in values:
        digest.update(value if isinstance(value, bytes) else orjson.dumps(value))
        digest.update(b"\x1f")
    return digest.hexdigest()


def _envelope(index: int) -> Callable[[bytes | None], float | None]:
    def pick(blob: bytes | None) -> float | None:
        if blob is None:
            return None
        env = envelope_of(bytes(blob))
        if env is None:
            wkb = wkb_of(bytes(blob))
            if wkb is None:
                return None
            env = tuple(shapely.from_wkb(wkb).bounds)
        return float(env[index])

    return pick


def _is_empty(blob: bytes | None) -> int:
    return 1 if blob is None or wkb_of(bytes(blob)) is None else 0


def _version_sql(*values: Any) -> str:
    return version_of(*values)


def register_functions(conn: sqlite3.Connection) -> None:
    """Functions the GDAL triggers and our version hash need."""
    conn.create_function("ST_IsEmpty", 1, _is_empty, deterministic=True)
    for name, index in (("ST_MinX", 0), ("ST_MinY", 1), ("ST_MaxX", 2), ("ST_MaxY", 3)):
        conn.create_function(name, 1, _envelope(index), deterministic=True)
    conn.create_function("onemap_version", -1, _version_sql, deterministic=True)
    conn.create_function("onemap_intersects", 2, sqlite_intersects, deterministic=True)
    register_cql2(conn)


def _db_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return (
            value.astimezone(UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z")
        )
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    return value


class GeoPackageEditor:
    """Writes to the feature tables of one GeoPackage file."""

    def __init__(self, path: Path, audit_path: Path | None = None) -> None:
        self._path = path
        self._audit_path = audit_path  # the audit trail's SQLite file, when there is one
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(
                self._path, isolation_level=None, check_same_thread=False, timeout=30
            )
            register_functions(conn)
            conn.execute(HISTORY_DDL)
            conn.execute(HISTORY_INDEX)
            if self._audit_path is not None:
                # one transaction spans both files: the audit row commits with the edit
                conn.execute("ATTACH DATABASE ? AS audit", (str(self._audit_path),))
            self._conn = conn
        return self._conn

    def audit(self, conn: sqlite3.Connection, record: AuditRecord | None) -> None:
        """Append the write's audit row in its transaction (when attached)."""
        if record is not None and self._audit_path is not None:
            sqlite_append(conn, [record], schema="audit")

    def close(self) -> None:
        """Close the writer connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def run(
        self, work: Callable[[sqlite3.Connection], EditResult | None]
    ) -> EditResult | None:
        """Run ``work`` in one immediate transaction (the file's single writer)."""
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result


@dataclass(frozen=True)
class EditContext:
    """Who writes, the guard of the rows they may touch, and their audit row."""

    actor: str
    guard: Guard | None = None
    record: AuditRecord | None = None


class TableEdits:
    """Create, replace, patch and delete in one table, with history."""

    def __init__(
        self,
        editor: GeoPackageEditor,
        collection_id: str,
        table: str,
        pk: str,
        geometry_column: str,
        srs_id: int,
        columns: list[str],
        all_columns: list[str],
    ) -> None:
        self.editor = editor
        self.collection_id = collection_id
        self.table = _quote(table)
        self.pk = pk
        self.geom = geometry_column
        self.srs_id = srs_id
        self.columns = columns  # published properties, written by edits
        self.all_columns = all_columns  # every column: the version hash covers them

    def version_expr(self) -> str:
        """SQL for the row version (same hash as :func:`version_of`)."""
        return (
            "onemap_version("
            + ", ".join(f"t.{_quote(c)}" for c in self.all_columns)
            + ")"
        )

    def _current(
        self, conn: sqlite3.Connection, key: Any, guard: Guard | None
    ) -> tuple[str, FeatureInput] | None:
        """The feature's version and content; None if absent or outside the guard."""
        if guard is not None and not guard(conn, key):
            return None
        return self._row(conn, key)

    def _row(self, conn: sqlite3.Connection, key: Any) -> tuple[str, FeatureInput] | None:
        names = ", ".join(f"t.{_quote(c)}" for c in self.columns)
        row = conn.execute(
            f"SELECT {self.version_expr()}, t.{_quote(self.geom)}"  # noqa: S608
            + (f", {names}" if names else "")
            + f" FROM {self.table} AS t WHERE t.{_quote(self.pk)} = ?",
            (key,),
        ).fetchone()
        if row is None:
            return None
        wkb = wkb_of(row[1]) if row[1] is not None else None
        geometry = shapely.from_wkb(wkb) if wkb is not None else shapely.Point()
        return row[0], FeatureInput(
            geometry, dict(zip(self.columns, row[2:], strict=True))
        )

    def _history(
        self,
        conn: sqlite3.Connection,
        key: Any,
        operation: str,
        writer: EditContext,
        old: FeatureInput | None,
        new: FeatureInput | None,
    ) -> None:
        """The history row and the audit row of a write, in its transaction."""
        audit = writer.record
        self.editor.audit(conn, replace(audit, feature_ids=str(key)) if audit else None)
        conn.execute(
            "INSERT INTO onemap_history "
            "(collection, feature_id, operation, actor, at, old, new) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                self.collection_id,
                str(key),
                operation,
                writer.actor,
                datetime.now(UTC).isoformat(timespec="milliseconds"),
                _as_json(old),
                _as_json(new),
            ),
        )

    def _values(self, feature: FeatureInput) -> list[Any]:
        return [gpkg_blob(feature.geometry, self.srs_id)] + [
            _db_value(feature.properties.get(c)) for c in self.columns
        ]

    def _version(self, conn: sqlite3.Connection, key: Any) -> str:
        row = conn.execute(
            f"SELECT {self.version_expr()} FROM {self.table} AS t "  # noqa: S608
            f"WHERE t.{_quote(self.pk)} = ?",
            (key,),
        ).fetchone()
        return str(row[0])

    def _check_inside(
        self, conn: sqlite3.Connection, key: Any, writer: EditContext
    ) -> None:
        if writer.guard is not None and not writer.guard(conn, key):
            raise OutsideGrantError(self.collection_id)  # rolls the transaction back

    def create(self, feature: FeatureInput, writer: EditContext) -> EditResult:
        """INSERT a feature; the database assigns its id."""

        def work(conn: sqlite3.Connection) -> EditResult:
            cols = [self.geom, *self.columns]
            holes = ", ".join("?" * len(cols))
            cur = conn.execute(
                f"INSERT INTO {self.table} ({', '.join(map(_quote, cols))}) "  # noqa: S608
                f"VALUES ({holes})",
                self._values(feature),
            )
            row = conn.execute(
                f"SELECT {_quote(self.pk)} FROM {self.table} WHERE rowid = ?",  # noqa: S608
                (cur.lastrowid,),
            ).fetchone()
            key = row[0]
            self._check_inside(conn, key, writer)
            self._history(conn, key, "create", writer, None, feature)
            return EditResult(str(key), self._version(conn, key))

        result = self.editor.run(work)
        assert result is not None
        return result

    def write(self, key: Any, edit: Edit, writer: EditContext) -> EditResult | None:
        """Replace, patch or delete the feature of id ``key`` (kept in the history)."""

        def work(conn: sqlite3.Connection) -> EditResult | None:
            revised = revision(self._current(conn, key, writer.guard), edit)
            if revised is None:
                return None
            old, new = revised
            where = f" WHERE {_quote(self.pk)} = ?"
            if new is None:
                conn.execute(f"DELETE FROM {self.table}{where}", (key,))  # noqa: S608
                self._history(conn, key, edit.operation, writer, old, None)
                return EditResult(str(key), None)
            sets = ", ".join(f"{_quote(c)} = ?" for c in [self.geom, *self.columns])
            conn.execute(
                f"UPDATE {self.table} SET {sets}{where}",  # noqa: S608
                [*self._values(new), key],
            )
            self._check_inside(conn, key, writer)
            self._history(conn, key, edit.operation, writer, old, new)
            return EditResult(str(key), self._version(conn, key))

        return self.editor.run(work)

    def history(self, key: Any) -> list[dict[str, Any]]:
        """Every recorded version of a feature, oldest first."""

        def work(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            rows = conn.execute(
                "SELECT operation, actor, at, old, new FROM onemap_history "
                "WHERE collection = ? AND feature_id = ? ORDER BY id",
                (self.collection_id, str(key)),
            ).fetchall()
            return [_history_row(r) for r in rows]

        with self.editor._lock:
            return work(self.editor._connection())


def _as_json(feature: FeatureInput | None) -> str | None:
    if feature is None:
        return None
    return orjson.dumps(
        {
            "geometry": orjson.loads(shapely.to_geojson(feature.geometry)),
            "properties": {k: json_value(v) for k, v in feature.properties.items()},
        }
    ).decode()


def _history_row(row: tuple[Any, ...]) -> dict[str, Any]:
    operation, actor, at, old, new = row
    return {
        "operation": operation,
        "actor": actor,
        "at": at,
        "old": orjson.loads(old) if old else None,
        "new": orjson.loads(new) if new else None,
    }
