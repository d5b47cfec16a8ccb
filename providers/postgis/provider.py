"""PostGIS provider: PostgreSQL writes each Feature's JSON; the server joins the bytes.

Connections come from a psycopg_pool.AsyncConnectionPool opened at start. Each
connection runs with parallel query off (a parallel worker pays PROJ's set-up for
ST_Transform on every query), UTC, no JIT and a statement timeout.

When PostgreSQL goes away (restart, crash, network) the queries fail with
psycopg.OperationalError and waiting for a connection ends in PoolTimeout (one of them):
the server answers those 503 with Retry-After (server/errors.py). The first broken
connection drains the pool, so no connection from before the outage is used after it,
and while the database stays unreachable a request waits at most ``_DOWN_WAIT_S`` for
a connection; the pool keeps reconnecting every few seconds, so requests succeed again
within seconds of the database's return, without a server restart.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import replace
from typing import Any

import psycopg
from cachetools import LRUCache
from psycopg import AsyncConnection, sql
from psycopg.adapt import Loader
from psycopg.errors import DataError, DuplicateTable, UniqueViolation
from psycopg_pool import AsyncConnectionPool, PoolTimeout

import providers.postgis.edit as edit
from config.i18n import I18nText
from config.settings import DatabaseConfig
from config.sources import PostgisSource
from providers.base import (
    AccessScope,
    CollectionInfo,
    FieldInfo,
    FieldType,
    ItemPage,
    ItemsQuery,
    TileQuery,
    Writer,
)
from providers.by_id import Edit, FeaturesById
from providers.cql2 import Cql2Error
from providers.crs import CRS84, CrsRef, epsg_crs, transform_bounds
from providers.edits import EditResult, FeatureInput
from providers.errors import ConfigMismatch
from providers.postgis.edit import HISTORY_DDL
from providers.postgis.sql import (
    PgTable,
    count_query,
    item_query,
    page_query,
    tile_query,
)

log = logging.getLogger("onemap.postgis")

# Write counters of tables (views have none); the file node changes on TRUNCATE.
_COUNTERS = (
    "SELECT relid, concat_ws('.', n_tup_ins, n_tup_upd, n_tup_del, "
    "pg_relation_filenode(relid)) FROM pg_stat_user_tables WHERE relid = ANY(%s)"
)

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

_POOL_TIMEOUT_S = 10.0  # a request waits this long for a connection (then 503)
_DOWN_WAIT_S = 1.0  # ... and only this long while the database is unreachable
# A reconnection that keeps failing gives up after this and the next request starts
# a new one at once: the pool tries again every 1-2 s instead of backing off to minutes
_RECONNECT_S = 5.0

_TYPES: dict[str, FieldType] = {
    "text": "string",
    "varchar": "string",
    "bpchar": "string",
    "char": "string",
    "name": "string",
    "uuid": "string",
    "int2": "integer",
    "int4": "integer",
    "int8": "integer",
    "float4": "number",
    "float8": "number",
    "numeric": "number",
    "bool": "boolean",
    "date": "date",
    "timestamp": "datetime",
    "timestamptz": "datetime",
}


class PostgisError(ConfigMismatch):
    """A configured PostGIS source cannot be served (message says why)."""


class _BytesLoader(Loader):
    """Load text as bytes: the Feature JSON goes to the client without decoding."""

    def load(self, data: Any) -> bytes:
        return bytes(data)


class _CountNeeded:
    """numberMatched is to be counted exactly (see PostgisProvider._matched)."""


_COUNT = _CountNeeded()


def _key(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """A row's sort keys and primary key (text columns came as bytes: _BytesLoader)."""
    return tuple(v.decode() if isinstance(v, bytes) else v for v in values)


def _names(table: PgTable, requested: tuple[str, ...] | None) -> list[str]:
    names = [f.name for f in table.info.fields]
    return names if requested is None else [n for n in names if n in requested]


async def _columns(conn: AsyncConnection[Any], oid: int) -> list[tuple[str, str, bool]]:
    """Name, type and whether a write must give a value (NOT NULL, no default)."""
    cur = await conn.execute(
        "SELECT a.attname, t.typname, a.attnotnull AND NOT a.atthasdef "
        "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
        "WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        (oid,),
    )
    return [(str(n), str(k), bool(r)) for n, k, r in await cur.fetchall()]


async def _primary_key(conn: AsyncConnection[Any], oid: int) -> str | None:
    cur = await conn.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a "
        "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indrelid = %s AND i.indisprimary",
        (oid,),
    )
    rows = await cur.fetchall()
    return str(rows[0][0]) if len(rows) == 1 else None


async def _locate(
    conn: AsyncConnection[Any], schema: str, name: str, source: PostgisSource
) -> tuple[int, str, int, str]:
    """The table's oid and its geometry column, SRID and type."""
    cur = await conn.execute(
        "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s",
        (schema, name),
    )
    row = await cur.fetchone()
    if row is None:
        raise PostgisError(f"no table or view {schema}.{name}")
    cur = await conn.execute(
        "SELECT f_geometry_column, srid, type FROM geometry_columns "
        "WHERE f_table_schema = %s AND f_table_name = %s",
        (schema, name),
    )
    geoms = {str(r[0]): (int(r[1]), str(r[2])) for r in await cur.fetchall()}
    only = next(iter(geoms)) if len(geoms) == 1 else None
    column = source.geometry_field or only
    if column is None or column not in geoms:
        raise PostgisError(f"{source.table}: name the geometry column (geometry_field)")
    srid, kind = geoms[column]
    if srid <= 0:
        raise PostgisError(f"{source.table}.{column} has no SRID")
    return int(row[0]), column, srid, kind


async def _extent(
    conn: AsyncConnection[Any], rel: sql.Identifier, column: str, storage: CrsRef
) -> tuple[float, float, float, float] | None:
    cur = await conn.execute(
        sql.SQL(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
            "FROM (SELECT ST_Extent({}) AS e FROM {}) AS x"
        ).format(sql.Identifier(column), rel)
    )
    row = await cur.fetchone()
    if row is None or row[0] is None:
        return None
    box = (float(row[0]), float(row[1]), float(row[2]), float(row[3]))
    return transform_bounds(box, storage, CRS84)


async def _temporal_extent(
    conn: AsyncConnection[Any], rel: sql.Identifier, column: str | None
) -> tuple[str | None, str | None] | None:
    if column is None:
        return None
    cur = await conn.execute(
        sql.SQL("SELECT min({c})::text, max({c})::text FROM {r}").format(
            c=sql.Identifier(column), r=rel
        )
    )
    row = await cur.fetchone()
    return (row[0], row[1]) if row else None


async def _count(conn: AsyncConnection[Any], rel: sql.Identifier) -> int:
    cur = await conn.execute(sql.SQL("SELECT count(*) FROM {}").format(rel))
    row = await cur.fetchone()
    return int(row[0]) if row else 0


@contextmanager
def _filter_errors() -> Iterator[None]:
    """A data error of a query is a filter's fault (division by zero...): 400."""
    try:
        yield
    except DataError as exc:
        reason = exc.diag.message_primary or type(exc).__name__
        raise Cql2Error("eval", reason=reason[:120]) from None


class PostgisProvider(FeaturesById[PgTable]):
    """Serves tables and views of one PostgreSQL/PostGIS database."""

    def __init__(self, config: DatabaseConfig) -> None:
        assert config.url is not None
        options = (
            f"-c statement_timeout={config.statement_timeout_ms} "
            "-c max_parallel_workers_per_gather=0 -c jit=off -c TimeZone=UTC "
            # psycopg prepares a statement run 5 times, and PostgreSQL then may switch
            # to a generic plan that cannot see the bbox or region: for a region-limited
            # page it chose a scan of the whole region then a sort (40 ms, not 0.5 ms)
            "-c plan_cache_mode=force_custom_plan"
        )
        self._pool = AsyncConnectionPool(
            config.url,
            min_size=config.pool_min,
            max_size=config.pool_max,
            kwargs={"autocommit": True, "options": options},
            open=False,
            timeout=_POOL_TIMEOUT_S,
            reconnect_timeout=_RECONNECT_S,
        )
        self._down = False  # a connection broke and none has worked since
        self._tables: dict[str, PgTable] = {}
        self._history_ready = False
        self._history_lock = asyncio.Lock()
        self._exact_count_limit = config.exact_count_limit
        self._poll_s = config.change_poll_s
        self._poller: asyncio.Task[None] | None = None
        self._counters: dict[int, str] = {}
        # Whole-table counts kept exact: counted again when the table's write counters
        # move (the poller), and moved at once by this server's own inserts and
        # deletes; by table oid. Without the poller they are not trusted (None).
        self._totals: dict[int, int] = {}
        self._counted: dict[int, str | None] = {}  # the counters each total is of
        self._item_sql: LRUCache[tuple[int, tuple[str, ...], CrsRef | None], bytes] = (
            LRUCache(256)
        )

    async def open(self) -> None:
        """Open the pool (fails fast when the database cannot be reached)."""
        await self._pool.open(wait=True, timeout=15)

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        """A connection of the pool; see the module's doc for what an outage does."""
        timeout = _DOWN_WAIT_S if self._down else None
        async with self._pool.connection(timeout) as conn:
            try:
                yield conn
            except psycopg.OperationalError:
                if conn.broken and not self._down:
                    self._down = True
                    log.warning("database connection lost: 503 until it is back")
                    await self._pool.drain()  # the other connections broke too
                raise
        if self._down:
            self._down = False
            log.warning("database reachable again")

    async def start(self) -> None:
        """Start polling the tables' write counters, once every table is added
        (not when PostgreSQL keeps no counters: track_counts off)."""
        if self._poll_s <= 0:
            return
        async with self._connection() as conn:
            cur = await conn.execute("SELECT current_setting('track_counts')::bool")
            row = await cur.fetchone()
        if row and row[0]:
            await self._read_counters()
            for table in self._tables.values():  # counted at open, before the counters
                self._counted[table.oid] = self._counters.get(table.oid)
            self._poller = asyncio.create_task(self._poll_counters())

    async def add(
        self,
        collection_id: str,
        source: PostgisSource,
        *,
        properties: list[str] | None = None,
        titles: dict[str, I18nText] | None = None,
        temporal: str | None = None,
    ) -> CollectionInfo:
        """Read a table's schema, extent and size once, at start."""
        schema, _, name = source.table.rpartition(".")
        schema = schema or "public"
        async with self._connection() as conn:
            oid, geom_col, srid, geom_type = await _locate(conn, schema, name, source)
            pk = await _primary_key(conn, oid)
            id_field = source.id_field or pk
            if id_field is None:
                raise PostgisError(
                    f"{source.table}: no one-column primary key; set id_field"
                )
            fields = [
                FieldInfo(col, _TYPES[kind], (titles or {}).get(col), required)
                for col, kind, required in await _columns(conn, oid)
                if kind in _TYPES
                and col not in (geom_col, pk)
                and (properties is None or col in properties)
            ]
            known = {f.name for f in fields}
            wanted = [*(properties or []), *([temporal] if temporal else [])]
            if id_field != pk:
                wanted.append(id_field)
            missing = [w for w in wanted if w not in known]
            if missing:
                raise PostgisError(f"{source.table}: unknown columns {missing}")
            rel = sql.Identifier(schema, name)
            storage = epsg_crs(srid)
            info = CollectionInfo(
                id=collection_id,
                fields=tuple(fields),
                id_field=id_field,
                geometry_type=geom_type.title().replace("multi", "Multi"),
                storage_crs=storage,
                extent=await _extent(conn, rel, geom_col, storage),
                temporal_extent=await _temporal_extent(conn, rel, temporal),
                feature_count=await _count(conn, rel),
            )
        table = PgTable(schema, name, oid, pk or id_field, geom_col, srid, temporal, info)
        self._tables[collection_id] = table
        self._totals[oid] = info.feature_count
        return info

    async def discover(self, schema: str) -> dict[str, str | None]:
        """Tables of a schema that have a geometry column, with their comments."""
        async with self._connection() as conn:
            cur = await conn.execute(
                "SELECT DISTINCT g.f_table_name, obj_description(c.oid, 'pg_class') "
                "FROM geometry_columns g "
                "JOIN pg_namespace n ON n.nspname = g.f_table_schema "
                "JOIN pg_class c "
                "ON c.relname = g.f_table_name AND c.relnamespace = n.oid "
                "WHERE g.f_table_schema = %s ORDER BY 1",
                (schema,),
            )
            rows = await cur.fetchall()
        return {str(name): comment for name, comment in rows if _NAME.match(str(name))}

    def collections(self) -> dict[str, CollectionInfo]:
        """The collections this provider serves, by id."""
        return {cid: t.info for cid, t in self._tables.items()}

    def version(self, collection_id: str) -> str | None:
        """No cheap exact change token for a shared database table: pages carry the
        digest of their features as ETag."""
        return None

    def cache_version(self, collection_id: str) -> str | None:
        """The table's write counters as last polled (None for views, or before the
        first poll): PostgreSQL publishes another session's writes within ~10 s."""
        return self._counters.get(self._tables[collection_id].oid)

    async def _read_counters(self) -> None:
        oids = [t.oid for t in self._tables.values()]
        try:
            async with self._connection() as conn:
                cur = await conn.execute(_COUNTERS, (oids,))
                self._counters = {int(o): str(v) for o, v in await cur.fetchall()}
        except (psycopg.Error, PoolTimeout) as exc:
            log.warning("table change counters not read: %s", type(exc).__name__)
            self._counters = {}  # nothing cached is trusted until the next poll

    async def _poll_counters(self) -> None:
        while True:
            await asyncio.sleep(self._poll_s)
            await self._read_counters()
            await self._recount()

    async def _recount(self) -> None:
        """Count again the tables whose write counters moved since they were counted."""
        for table in list(self._tables.values()):
            token = self._counters.get(table.oid)
            if token is None or token == self._counted.get(table.oid):
                continue
            try:
                async with self._connection() as conn:
                    self._totals[table.oid] = await _count(conn, table.relation)
            except (psycopg.Error, PoolTimeout) as exc:
                log.warning("%s not counted: %s", table.relation, type(exc).__name__)
                continue
            self._counted[table.oid] = token

    def _whole_count(self, table: PgTable) -> int | None:
        """The exact row count of a whole table as kept (None: not kept, no poller)."""
        if self._poller is None or self._poller.done():
            return None
        return self._totals.get(table.oid)

    def _seen(
        self, collection_id: str, scope: AccessScope, properties: tuple[str, ...] | None
    ) -> tuple[PgTable, AccessScope, list[str]]:
        """The table, the caller's scope narrowed to it, and which of ``properties``
        (None: all) the caller sees."""
        table = self._tables[collection_id]
        scope = scope.narrowed(collection_id)
        return table, scope, _names(table, scope.visible(properties))

    async def items(
        self, collection_id: str, query: ItemsQuery, scope: AccessScope
    ) -> ItemPage:
        """A page of features; PostgreSQL writes each Feature's JSON text."""
        table, scope, names = self._seen(collection_id, scope, query.properties)
        statement, params = page_query(table, query, scope, names)
        async with self._connection() as conn:
            with _filter_errors():
                # numberMatched counts the whole result, not what follows a cursor
                whole = replace(query, after=None)
                plan = await self._matched(conn, table, whole, scope)
                cursor = conn.cursor()
                cursor.adapters.register_loader("text", _BytesLoader)
                await cursor.execute(statement, params)
                rows = await cursor.fetchall()
                more = len(rows) > query.limit
                matched: int | None
                if isinstance(plan, _CountNeeded):  # unless the last page tells it
                    matched = query.matched_from_page(min(len(rows), query.limit), more)
                    if matched is None:
                        matched = await self._exact(conn, table, whole, scope)
                else:
                    matched = plan
        page = rows[: query.limit]
        features = [r[0] for r in page]
        digest = hashlib.blake2b(b"\x00".join(features), digest_size=12)
        digest.update(str(matched).encode())
        return ItemPage(
            features=features,
            number_matched=matched,
            number_returned=len(features),
            has_more=more,
            digest=digest.hexdigest(),
            last_key=_key(page[-1][1:]) if more and len(page[-1]) > 1 else None,
        )

    async def _matched(
        self,
        conn: AsyncConnection[Any],
        table: PgTable,
        query: ItemsQuery,
        scope: AccessScope,
    ) -> int | _CountNeeded | None:
        """numberMatched by the request's mode, or _COUNT where it is to be counted
        exactly (asked for, or cheap by the planner's estimate): a last page tells it
        without the count."""
        if query.count == "none":
            return None
        unfiltered = (
            query.bbox is None
            and query.datetime is None
            and not query.equals
            and query.filter is None
            and not scope.limits_rows
        )
        if unfiltered and query.count != "exact":
            kept = self._whole_count(table)
            if kept is not None:
                return kept
            if table.info.feature_count > self._exact_count_limit:
                return None  # a whole big table, no kept count: not worth counting
        count_sql, params = count_query(table, query, scope)
        if query.count != "exact":
            cur = await conn.execute(
                sql.SQL("EXPLAIN (FORMAT JSON) ") + count_sql, params
            )
            row = await cur.fetchone()
            # count(*) plan: an Aggregate whose first child scans the matching rows
            plan = row[0][0]["Plan"] if row else {}
            estimate = int((plan.get("Plans") or [plan])[0].get("Plan Rows", 0))
            if query.count == "estimated":
                return estimate
            if estimate > self._exact_count_limit:
                return None
        return _COUNT

    async def _exact(
        self,
        conn: AsyncConnection[Any],
        table: PgTable,
        query: ItemsQuery,
        scope: AccessScope,
    ) -> int:
        count_sql, params = count_query(table, query, scope)
        cur = await conn.execute(count_sql, params)
        found = await cur.fetchone()
        return int(found[0]) if found else 0

    async def tile(
        self, collection_id: str, query: TileQuery, scope: AccessScope
    ) -> bytes:
        """One vector tile layer, encoded by PostgreSQL."""
        table, scope, names = self._seen(collection_id, scope, query.properties)
        async with self._connection() as conn:
            with _filter_errors():
                cur = await conn.execute(*tile_query(table, query, scope, names))
                row = await cur.fetchone()
        return bytes(row[0]) if row and row[0] else b""

    async def _read(
        self, table: PgTable, key: Any, crs: CrsRef | None, scope: AccessScope
    ) -> tuple[bytes, str] | None:
        names = _names(table, scope.visible(None))
        # the text of a statement without the scope's rows in it is made once:
        # composing it cost a sixth of a single-item request
        cached = None if scope.limits_rows else (table.oid, tuple(names), crs)
        statement: bytes | sql.Composed | None = (
            self._item_sql.get(cached) if cached else None
        )
        params: list[Any] = [key]  # a scope that leaves out no row adds no parameter
        if statement is None:
            statement, params = item_query(table, key, scope, names, crs)
        async with self._connection() as conn:
            if cached is not None and isinstance(statement, sql.Composed):
                statement = self._item_sql[cached] = statement.as_bytes(conn)
            cursor = conn.cursor()
            cursor.adapters.register_loader("text", _BytesLoader)
            await cursor.execute(statement, params)
            row = await cursor.fetchone()
        return (row[0], row[1].decode()) if row else None

    async def _transaction(
        self, work: Callable[[AsyncConnection[Any]], Awaitable[EditResult | None]]
    ) -> EditResult | None:
        async with self._connection() as conn:
            await self._ensure_history(conn)
            async with conn.transaction():
                return await work(conn)

    async def _ensure_history(self, conn: AsyncConnection[Any]) -> None:
        if self._history_ready:  # made on first use: read-only servers need none
            return
        async with self._history_lock:  # the first writes come at once
            if self._history_ready:
                return
            try:
                await conn.execute(HISTORY_DDL)
            except (UniqueViolation, DuplicateTable):
                # another server process created it at the same moment (CREATE ...
                # IF NOT EXISTS races in the catalog); it has committed: now it exists
                await conn.execute(HISTORY_DDL)
            self._history_ready = True

    audits_writes = True  # the audit trail lives in the same database

    async def _insert(
        self, table: PgTable, feature: FeatureInput, writer: Writer
    ) -> EditResult:
        result = await self._transaction(
            lambda conn: edit.create(conn, table, feature, writer)
        )
        assert result is not None
        self._moved(table, +1)
        return result

    async def _write(self, table: PgTable, key: Any, change: Edit) -> EditResult | None:
        result = await self._transaction(
            lambda conn: edit.write(conn, table, key, change)
        )
        if result is not None and change.change is None:
            self._moved(table, -1)
        return result

    def _moved(self, table: PgTable, rows: int) -> None:
        """This server's own insert or delete, counted at once (the poller recounts
        once the statistics show it)."""
        if table.oid in self._totals:
            self._totals[table.oid] += rows

    async def _versions(self, table: PgTable, key: Any) -> list[dict[str, Any]]:
        async with self._connection() as conn:
            await self._ensure_history(conn)
            return await edit.history(conn, table, key)

    async def ping(self) -> None:
        """Raise when the database does not answer (readiness)."""
        async with self._pool.connection(timeout=5) as conn:
            await conn.execute("SELECT 1")

    def pool_stats(self) -> dict[str, int]:
        """The connection pool's counters (metrics)."""
        return {k: int(v) for k, v in self._pool.get_stats().items()}

    async def close(self) -> None:
        """Stop polling, close the pool."""
        if self._poller is not None:
            self._poller.cancel()
            with suppress(asyncio.CancelledError):
                await self._poller
        await self._pool.close()
