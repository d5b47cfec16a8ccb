"""GeoPackage feature provider: the embedded default store (SQLite + GPKG R-tree).

Pages are read in chunks from SQLite in worker threads and encoded chunk by chunk, so
a response streams and never holds more than a chunk of rows; bbox and region filters
use the GeoPackage R-tree first and GEOS only on the candidates.
"""

from __future__ import annotations

import os
import queue
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from anyio import to_thread

from config.i18n import I18nText
from config.sources import GeoPackageSource
from providers.base import (
    AccessScope,
    BBox,
    CollectionInfo,
    FieldInfo,
    FieldType,
    ItemPage,
    ItemsQuery,
    TileQuery,
    Writer,
)
from providers.by_id import Edit, FeaturesById
from providers.crs import CRS84, CrsRef, epsg_crs, transform_bounds
from providers.edits import EditResult, FeatureInput
from providers.errors import ConfigMismatch
from providers.geojson import encode_features
from providers.geopackage.cql2 import Frag
from providers.geopackage.edit import (
    EditContext,
    GeoPackageEditor,
    TableEdits,
    register_functions,
)
from providers.geopackage.geometry import wkb_of
from providers.geopackage.where import SqliteWhere
from providers.where import GrantFilters, conditions, pk_descending

CHUNK_ROWS = 500

_TYPES: dict[str, FieldType] = {
    "TEXT": "string",
    "INTEGER": "integer",
    "INT": "integer",
    "MEDIUMINT": "integer",
    "SMALLINT": "integer",
    "TINYINT": "integer",
    "REAL": "number",
    "FLOAT": "number",
    "DOUBLE": "number",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "DATETIME": "datetime",
}


# a reader waits this long for an edit's commit (then 503 + Retry-After)
_READ_BUSY_S = 15


class GeoPackageError(ConfigMismatch):
    """A configured GeoPackage source cannot be served (message says why)."""


def _ident(name: str) -> str:
    """Quote an identifier that was checked against the file's own catalog."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class _Table:
    path: Path
    name: str
    geometry_column: str
    pk: str
    rtree: str | None
    temporal: str | None
    info: CollectionInfo
    edits: TableEdits
    grant_filters: GrantFilters[Frag] = field(
        default_factory=GrantFilters, compare=False, repr=False
    )


def _recover_wal(path: Path) -> None:
    """After a crash (kill -9 mid-write) the file's WAL must be recovered by a
    connection that may write: a read-only one fails with "attempt to write a readonly
    database". Nothing to do without a WAL, or for a file this server cannot write."""
    if not path.with_name(path.name + "-wal").exists() or not os.access(path, os.W_OK):
        return
    conn = sqlite3.connect(path, timeout=_READ_BUSY_S)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    finally:
        conn.close()


class _Pool:
    """A few read-only SQLite connections to one file, shared by worker threads."""

    def __init__(self, path: Path, size: int = 4) -> None:
        self.path = path
        self._idle: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._all: list[sqlite3.Connection] = []
        self._size = size

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            f"{self.path.as_uri()}?mode=ro",
            uri=True,
            check_same_thread=False,
            timeout=_READ_BUSY_S,
        )
        register_functions(conn)
        self._all.append(conn)
        return conn

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            conn = self._connect()
        try:
            yield conn
        finally:
            if len(self._all) > self._size * 4:
                conn.close()
                self._all.remove(conn)
            else:
                self._idle.put(conn)

    def close(self) -> None:
        for conn in self._all:
            conn.close()
        self._all.clear()


def _storage_crs(conn: sqlite3.Connection, srs_id: int) -> CrsRef:
    row = conn.execute(
        "SELECT organization, organization_coordsys_id FROM gpkg_spatial_ref_sys "
        "WHERE srs_id = ?",
        (srs_id,),
    ).fetchone()
    if row is None or str(row[0]).upper() != "EPSG":
        raise GeoPackageError(f"SRS {srs_id} is not an EPSG code")
    return epsg_crs(int(row[1]))


def _introspect(
    conn: sqlite3.Connection,
    path: Path,
    collection_id: str,
    source: GeoPackageSource,
    properties: list[str] | None,
    titles: dict[str, I18nText],
    temporal: str | None,
    editor: GeoPackageEditor,
) -> _Table:
    layer = source.layer
    row = conn.execute(
        "SELECT g.column_name, g.geometry_type_name, g.srs_id "
        "FROM gpkg_geometry_columns g "
        "JOIN gpkg_contents c ON c.table_name = g.table_name "
        "WHERE g.table_name = ? AND c.data_type = 'features'",
        (layer,),
    ).fetchone()
    if row is None:
        raise GeoPackageError(f"{path.name}: no feature table {layer!r}")
    geom_col, geom_type, srs_id = row
    storage = _storage_crs(conn, srs_id)
    columns = conn.execute(f"PRAGMA table_info({_ident(layer)})").fetchall()
    pk = next((c[1] for c in columns if c[5]), None)
    if pk is None:
        raise GeoPackageError(f"{path.name}: table {layer!r} has no primary key")
    fields: list[FieldInfo] = []
    for _cid, name, decl, notnull, default, is_pk in columns:
        base = str(decl).upper().split("(")[0].strip()
        if is_pk or name == geom_col or base not in _TYPES:
            continue
        if properties is None or name in properties:
            required = bool(notnull) and default is None
            fields.append(FieldInfo(name, _TYPES[base], titles.get(name), required))
    known = {f.name for f in fields}
    missing = [p for p in properties or [] if p not in known]
    if missing:
        raise GeoPackageError(f"{path.name}:{layer}: unknown properties {missing}")
    id_field = source.id_field or pk
    if id_field != pk and id_field not in known:
        raise GeoPackageError(f"{path.name}:{layer}: unknown id_field {id_field!r}")
    if temporal is not None and temporal not in known:
        raise GeoPackageError(
            f"{path.name}:{layer}: unknown temporal property {temporal!r}"
        )

    rtree_name = f"rtree_{layer}_{geom_col}"
    has_rtree = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (rtree_name,)
    ).fetchone()
    rtree = rtree_name if has_rtree else None
    extent = _extent(conn, layer, rtree, storage)
    temporal_extent = None
    if temporal is not None:
        t = _ident(temporal)
        sql = f"SELECT min({t}), max({t}) FROM {_ident(layer)}"  # noqa: S608
        lo, hi = conn.execute(sql).fetchone()
        temporal_extent = (lo, hi)
    (count,) = conn.execute(f"SELECT count(*) FROM {_ident(layer)}").fetchone()  # noqa: S608
    info = CollectionInfo(
        id=collection_id,
        fields=tuple(fields),
        id_field=id_field,
        geometry_type=str(geom_type).title().replace("multi", "Multi"),
        storage_crs=storage,
        extent=extent,
        temporal_extent=temporal_extent,
        feature_count=int(count),
    )
    edits = TableEdits(
        editor,
        collection_id,
        layer,
        id_field,
        geom_col,
        srs_id,
        [f.name for f in fields],
        [str(c[1]) for c in columns],
    )
    return _Table(path, layer, geom_col, pk, rtree, temporal, info, edits)


def _extent(
    conn: sqlite3.Connection, layer: str, rtree: str | None, storage: CrsRef
) -> tuple[float, float, float, float] | None:
    # gpkg_contents holds the exact extent GDAL wrote; the R-tree's is float32-rounded.
    row = conn.execute(
        "SELECT min_x, min_y, max_x, max_y FROM gpkg_contents WHERE table_name = ?",
        (layer,),
    ).fetchone()
    if (row is None or row[0] is None) and rtree is not None:
        sql = f"SELECT min(minx), min(miny), max(maxx), max(maxy) FROM {_ident(rtree)}"  # noqa: S608
        row = conn.execute(sql).fetchone()
    if row is None or row[0] is None:
        return None
    bounds = (float(row[0]), float(row[1]), float(row[2]), float(row[3]))
    return transform_bounds(bounds, storage, CRS84)


# count=auto on a filtered request: exact up to this many matches, else omitted (the
# default of database.exact_count_limit; SQLite has no planner estimate to ask first)
_EXACT_COUNT_LIMIT = 20_000


class _Where:
    """FROM and WHERE of a statement on one table (:func:`providers.where.conditions`),
    and their parameters."""

    def __init__(self, table: _Table, query: ItemsQuery, scope: AccessScope) -> None:
        self.table = table
        dialect = SqliteWhere(table.geometry_column, table.pk, table.rtree)
        parts = conditions(dialect, table, query, scope)
        self.joins = dialect.joins
        self.clauses = [p.text for p in parts]
        self.params: list[Any] = [v for p in parts for v in p.params]

    def sql(self) -> str:
        where = " WHERE " + " AND ".join(self.clauses) if self.clauses else ""
        return f" FROM {_ident(self.table.name)} AS t{self.joins}{where}"


async def _then(
    features: AsyncIterator[bytes],
    page: ItemPage,
    matched: Callable[[], Awaitable[int | None]],
) -> AsyncIterator[bytes]:
    """The features, then numberMatched set on the page (read after the stream)."""
    async for feature in features:
        yield feature
    page.number_matched = await matched()


class GeoPackageProvider(FeaturesById[_Table]):
    """Serves feature tables of GeoPackage files."""

    def __init__(self, audit_path: Path | None = None) -> None:
        self._tables: dict[str, _Table] = {}
        self._pools: dict[Path, _Pool] = {}
        self._totals: dict[str, tuple[str, int]] = {}  # (file version, rows) by table
        self._editors: dict[Path, GeoPackageEditor] = {}
        self._audit_path = audit_path
        # with an audit file, each edit's audit row commits in the edit's transaction
        self.audits_writes = audit_path is not None

    def add(
        self,
        collection_id: str,
        path: Path,
        source: GeoPackageSource,
        *,
        properties: list[str] | None = None,
        titles: dict[str, I18nText] | None = None,
        temporal: str | None = None,
    ) -> CollectionInfo:
        """Open a table (blocking: call from a worker thread at start-up)."""
        if not path.is_file():
            raise GeoPackageError(f"{path}: file not found")
        if path not in self._pools:
            _recover_wal(path)
        pool = self._pools.setdefault(path, _Pool(path))
        editor = self._editors.setdefault(path, GeoPackageEditor(path, self._audit_path))
        with pool.connection() as conn:
            table = _introspect(
                conn,
                path,
                collection_id,
                source,
                properties,
                titles or {},
                temporal,
                editor,
            )
        self._tables[collection_id] = table
        return table.info

    def collections(self) -> dict[str, CollectionInfo]:
        """The collections this provider serves, by id."""
        return {cid: t.info for cid, t in self._tables.items()}

    def version(self, collection_id: str) -> str:
        """File size and modification times (the WAL too): change on every write."""
        path = self._tables[collection_id].path
        parts = []
        for p in (path, path.with_name(path.name + "-wal")):
            try:
                st = p.stat()
            except FileNotFoundError:
                continue
            parts.append(f"{st.st_mtime_ns:x}.{st.st_size:x}")
        return "-".join(parts)

    def cache_version(self, collection_id: str) -> str:
        """The exact version (cheap here)."""
        return self.version(collection_id)

    def _columns(self, table: _Table, query_props: tuple[str, ...] | None) -> list[str]:
        names = [f.name for f in table.info.fields]
        if query_props is not None:
            names = [n for n in names if n in query_props]
        return names

    def _select(self, table: _Table, names: list[str], keys: Sequence[str] = ()) -> str:
        cols = [table.info.id_field, table.geometry_column, *names, *keys]
        return "SELECT " + ", ".join(f"t.{_ident(c)}" for c in cols)

    def _order(self, table: _Table, query: ItemsQuery) -> str:
        # NULL sorts as the largest value, as in PostgreSQL (SQLite: as the smallest)
        keys = [
            f"t.{_ident(k.name)} "
            + ("DESC NULLS FIRST" if k.descending else "ASC NULLS LAST")
            for k in query.sortby
        ]
        keys.append(f"t.{_ident(table.pk)} {'DESC' if pk_descending(query) else 'ASC'}")
        return " ORDER BY " + ", ".join(keys)

    async def items(
        self, collection_id: str, query: ItemsQuery, scope: AccessScope
    ) -> ItemPage:
        """A page of features, streamed in chunks."""
        scope = scope.narrowed(collection_id)
        table = self._tables[collection_id]
        where = _Where(table, query, scope)
        names = self._columns(table, scope.visible(query.properties))
        # the sort keys and primary key of each row, when pages follow on by key
        keys = [k.name for k in query.sortby] + [table.pk]
        if not query.keyset(table.info):
            keys = []
        sql = (
            self._select(table, names, keys)
            + where.sql()
            + self._order(table, query)
            + " LIMIT ? OFFSET ?"
        )
        params = [*where.params, query.limit + 1, query.offset]
        pool = self._pools[table.path]

        page = ItemPage(features=[], number_matched=None)

        async def matched() -> int | None:  # once the page is read: it may tell
            told = query.matched_from_page(page.number_returned, page.has_more)
            if told is not None:
                return told
            return await self._matched(collection_id, table, query, scope)

        page.features = self._stream(
            page, pool, table, names, sql, params, query, len(keys)
        )
        page.features = _then(page.features, page, matched)
        return page

    async def _matched(
        self, collection_id: str, table: _Table, query: ItemsQuery, scope: AccessScope
    ) -> int | None:
        """numberMatched of the whole result (not what follows a cursor): a whole
        table's count is kept per file version (exact: the version changes on every
        write); with ``count=exact`` a filtered one is counted; else one with a bbox or
        region (the R-tree finds its candidates) is counted up to
        ``_EXACT_COUNT_LIMIT`` matches, and an attribute filter on a table of more rows
        than that is omitted (a scan of the table; PostGIS omits past its estimate)."""
        if query.count == "none":
            return None
        where = _Where(table, replace(query, after=None), scope)
        pool = self._pools[table.path]
        if not where.clauses:
            version = self.version(collection_id)
            kept = self._totals.get(collection_id)
            if kept is None or kept[0] != version:
                count = await to_thread.run_sync(self._count, pool, where, None)
                self._totals[collection_id] = kept = (version, count)
            return kept[1]
        if query.count == "exact":
            return await to_thread.run_sync(self._count, pool, where, None)
        spatial = query.bbox is not None or scope.region is not None
        if not spatial and table.info.feature_count > _EXACT_COUNT_LIMIT:
            # an attribute filter on a big table is a scan of the table: not cheap
            return None
        count = await to_thread.run_sync(self._count, pool, where, _EXACT_COUNT_LIMIT)
        return None if count > _EXACT_COUNT_LIMIT else count

    @staticmethod
    def _count(pool: _Pool, where: _Where, cap: int | None) -> int:
        """The rows of ``where`` (with ``cap``: at most cap + 1 of them)."""
        sql = "SELECT count(*)" + where.sql()
        params = list(where.params)
        if cap is not None:
            # where.sql(): quoted catalog names; every value is a parameter
            sql = "SELECT count(*) FROM (SELECT 1" + where.sql() + " LIMIT ?)"  # noqa: S608
            params.append(cap + 1)
        with pool.connection() as conn:
            return int(conn.execute(sql, params).fetchone()[0])

    async def _stream(
        self,
        page: ItemPage,
        pool: _Pool,
        table: _Table,
        names: list[str],
        sql: str,
        params: list[Any],
        query: ItemsQuery,
        keyed: int,
    ) -> AsyncIterator[bytes]:
        """The page's features; ``keyed``: the rows end with that many key values."""
        with pool.connection() as conn:
            cursor = await to_thread.run_sync(conn.execute, sql, params)
            try:
                remaining = query.limit
                while remaining > 0:
                    rows = await to_thread.run_sync(cursor.fetchmany, CHUNK_ROWS)
                    if not rows:
                        break
                    if len(rows) > remaining:
                        page.has_more = True
                        rows = rows[:remaining]
                    remaining -= len(rows)
                    if keyed:
                        page.last_key = tuple(rows[-1][-keyed:])
                        rows = [row[:-keyed] for row in rows]
                    encoded = await to_thread.run_sync(_encode, rows, names, table, query)
                    page.number_returned += len(encoded)
                    for feature in encoded:
                        yield feature
                if remaining == 0 and not page.has_more:
                    page.has_more = bool(await to_thread.run_sync(cursor.fetchone))
            finally:
                cursor.close()

    async def _read(
        self, table: _Table, key: Any, crs: CrsRef | None, scope: AccessScope
    ) -> tuple[bytes, str] | None:
        where = _Where(table, ItemsQuery(limit=1), scope)
        where.clauses.append(f"t.{_ident(table.info.id_field)} = ?")
        where.params.append(key)
        names = self._columns(table, scope.visible(None))
        sql = (
            self._select(table, names)
            + ", "
            + table.edits.version_expr()
            + where.sql()
            + " LIMIT 1"
        )
        query = ItemsQuery(limit=1, crs=crs)

        def run() -> tuple[bytes, str] | None:
            with self._pools[table.path].connection() as conn:
                row = conn.execute(sql, where.params).fetchone()
            if row is None:
                return None
            return _encode([row[:-1]], names, table, query)[0], str(row[-1])

        return await to_thread.run_sync(run)

    async def tile(
        self, collection_id: str, query: TileQuery, scope: AccessScope
    ) -> bytes:
        """One vector tile layer: R-tree candidates, then clip and encode in Python."""
        from tiles.mvt import encode_layer

        scope = scope.narrowed(collection_id)
        table = self._tables[collection_id]
        storage = table.info.storage_crs
        # The tile as a storage-CRS rectangle: R-tree only, GEOS just on its edges.
        box = BBox(transform_bounds(query.buffered, query.crs, storage), storage)
        where = _Where(table, ItemsQuery(limit=1, bbox=box, filter=query.filter), scope)
        names = self._columns(table, scope.visible(query.properties))
        sql = self._select(table, names) + where.sql()

        def run() -> bytes:
            with self._pools[table.path].connection() as conn:
                rows = conn.execute(sql, where.params).fetchall()
            return encode_layer(
                query,
                table.info.storage_crs,
                [None if r[1] is None else wkb_of(r[1]) for r in rows],
                [r[0] for r in rows],
                [dict(zip(names, r[2:], strict=True)) for r in rows],
            )

        return await to_thread.run_sync(run)

    def _context(self, table: _Table, writer: Writer) -> EditContext:
        """The writer's guard (region and row filter of their grant) on this table."""
        scope = writer.scope  # narrowed to the table by FeaturesById
        guard = None
        if scope.limits_rows:
            where = _Where(table, ItemsQuery(limit=1), scope)
            where.clauses.append(f"t.{_ident(table.pk)} = ?")
            sql = "SELECT 1" + where.sql()

            def guard(conn: sqlite3.Connection, key: Any) -> bool:
                return conn.execute(sql, [*where.params, key]).fetchone() is not None

        return EditContext(
            writer.actor, guard, writer.audit if self.audits_writes else None
        )

    async def _insert(
        self, table: _Table, feature: FeatureInput, writer: Writer
    ) -> EditResult:
        context = self._context(table, writer)
        return await to_thread.run_sync(table.edits.create, feature, context)

    async def _write(self, table: _Table, key: Any, edit: Edit) -> EditResult | None:
        context = self._context(table, edit.writer)
        return await to_thread.run_sync(table.edits.write, key, edit, context)

    async def _versions(self, table: _Table, key: Any) -> list[dict[str, Any]]:
        return await to_thread.run_sync(table.edits.history, key)

    async def close(self) -> None:
        """Close every connection."""
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        for editor in self._editors.values():
            editor.close()


def _encode(
    rows: list[tuple[Any, ...]], names: list[str], table: _Table, query: ItemsQuery
) -> list[bytes]:
    ids = [r[0] for r in rows]
    wkbs = [None if r[1] is None else wkb_of(r[1]) for r in rows]
    props = [dict(zip(names, r[2:], strict=True)) for r in rows]
    return encode_features(ids, wkbs, props, table.info.storage_crs, query.crs)
