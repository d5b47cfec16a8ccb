"""API keys for systems: random, shown once, stored only as a SHA-256 hash, with roles,
an expiry and revocation (`onemap keys create|list|revoke`). Kept in
``data_dir/security.sqlite``."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

_PREFIX = "om_"
_REMEMBERED = 4096  # verified keys kept in memory
_SETTLE_NS = 1_000_000_000  # a key file older than this is trusted unchanged
_DDL = """
CREATE TABLE IF NOT EXISTS onemap_api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    roles TEXT NOT NULL,
    created TEXT NOT NULL,
    expires TEXT,
    revoked TEXT
)
"""


def _now() -> datetime:
    return datetime.now(UTC)


def digest(key: str) -> str:
    """The stored form of a key (keys are 256-bit random: a plain hash suffices)."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    """A key as stored (never the key itself)."""

    id: str
    name: str
    roles: tuple[str, ...]
    created: str
    expires: str | None
    revoked: str | None

    def active(self, at: datetime) -> bool:
        """Not revoked and not expired."""
        if self.revoked is not None:
            return False
        return self.expires is None or datetime.fromisoformat(self.expires) > at


class ApiKeys:
    """The key table."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / "security.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute(_DDL)
        self._lock = threading.Lock()
        self._cache: dict[str, ApiKey] = {}
        self._seen: tuple[int, int, int, int] | None = None

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection for one transaction, closed afterwards."""
        db = sqlite3.connect(self.path, timeout=30)
        db.row_factory = sqlite3.Row
        try:
            with db:  # commit, or roll back on error
                yield db
        finally:
            db.close()

    def create(self, name: str, roles: list[str], days: int | None) -> tuple[str, ApiKey]:
        """A new key: the secret (shown once) and its record."""
        secret = _PREFIX + secrets.token_urlsafe(32)
        key_id = secrets.token_hex(6)
        created = _now()
        expires = (created + timedelta(days=days)).isoformat() if days else None
        with self._connect() as db:
            db.execute(
                "INSERT INTO onemap_api_keys (id, name, hash, roles, created, expires) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (key_id, name, digest(secret), ",".join(roles), created.isoformat(),
                 expires),
            )  # fmt: skip
        found = self.get(key_id)
        assert found is not None
        return secret, found

    def get(self, key_id: str) -> ApiKey | None:
        """A key record by id."""
        with self._connect() as db:
            row = db.execute(
                "SELECT * FROM onemap_api_keys WHERE id = ?", (key_id,)
            ).fetchone()
        return _record(row) if row else None

    def all(self) -> list[ApiKey]:
        """Every key record."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM onemap_api_keys ORDER BY created").fetchall()
        return [_record(r) for r in rows]

    def revoke(self, key_id: str) -> bool:
        """Revoke a key; False when there is no such active key."""
        with self._connect() as db:
            cur = db.execute(
                "UPDATE onemap_api_keys SET revoked = ? WHERE id = ? AND revoked IS NULL",
                (_now().isoformat(), key_id),
            )
        return cur.rowcount == 1

    def verify(self, secret: str) -> ApiKey | None:
        """The active key record of a presented key, or None.

        Known keys are remembered until the key file changes (``onemap keys create``
        or ``revoke`` in another process writes it), so a request costs a ``stat``
        rather than opening SQLite; expiry is checked on every call."""
        if not secret.startswith(_PREFIX) or len(secret) > 128:
            return None
        hashed = digest(secret)
        found = self._known(hashed)
        if found is None:
            with self._connect() as db:
                row = db.execute(
                    "SELECT * FROM onemap_api_keys WHERE hash = ?", (hashed,)
                ).fetchone()
            if row is None:
                return None  # unknown keys are not remembered (no growth by guessing)
            found = _record(row)
            self._remember(hashed, found)
        return found if found.active(_now()) else None

    def _known(self, hashed: str) -> ApiKey | None:
        """A remembered key, while the key file is unchanged since it was read. File
        times are coarse (a clock tick), so a file written in the last moments is not
        trusted to be unchanged: then the table is read again."""
        try:
            st = self.path.stat()
        except OSError:
            return None
        signature = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        settled = time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > _SETTLE_NS
        with self._lock:
            if signature != self._seen or not settled:
                self._cache.clear()
                self._seen = signature if settled else None
            return self._cache.get(hashed)

    def _remember(self, hashed: str, key: ApiKey) -> None:
        with self._lock:
            if self._seen is None:
                return  # the file is changing: nothing is remembered
            if len(self._cache) >= _REMEMBERED:
                self._cache.clear()
            self._cache[hashed] = key


def ensure_admin_key(data_dir: Path) -> str | None:
    """On the first start (no key yet): an admin key, written to ``data_dir/admin.key``
    (readable by the owner only) and returned to be printed once."""
    keys = ApiKeys(data_dir)
    if keys.all():
        return None
    secret, _key = keys.create("admin (first start)", ["admin"], None)
    path = Path(data_dir) / "admin.key"
    path.touch(mode=0o600)
    path.write_text(secret + "\n", encoding="utf-8")
    return secret


def _record(row: sqlite3.Row) -> ApiKey:
    return ApiKey(
        id=row["id"],
        name=row["name"],
        roles=tuple(r for r in row["roles"].split(",") if r),
        created=row["created"],
        expires=row["expires"],
        revoked=row["revoked"],
    )
