"""Features Part 4 on PostGIS: each edit one transaction, its row locked while checked.

The version of a row is ``md5(t::text)`` (every column, the geometry included), read the
same way by GET; ``SELECT … FOR UPDATE`` makes the If-Match check and the write atomic, so
of two departments editing the same parcel with the same ETag, one gets 412.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson
import shapely
from psycopg import AsyncConnection, sql
from psycopg.types.json import Jsonb

from providers.audit import pg_append
from providers.base import ItemsQuery, Writer
from providers.by_id import Edit, revision
from providers.edits import EditResult, FeatureInput, OutsideGrantError, json_value
from providers.postgis.sql import PgTable, conditions

HISTORY_DDL = """
CREATE TABLE IF NOT EXISTS public.onemap_history (
    id bigserial PRIMARY KEY,
    collection text NOT NULL,
    feature_id text NOT NULL,
    operation text NOT NULL,
    actor text NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    old jsonb,
    new jsonb
);
CREATE INDEX IF NOT EXISTS onemap_history_feature
    ON public.onemap_history (collection, feature_id, id);
"""

VERSION = sql.SQL("md5(t::text)")


def _col(name: str) -> sql.Composed:
    return sql.SQL("t.{}").format(sql.Identifier(name))


def _document(feature: FeatureInput | None) -> Jsonb | None:
    if feature is None:
        return None
    return Jsonb(
        {
            "geometry": orjson.loads(shapely.to_geojson(feature.geometry)),
            "properties": {k: json_value(v) for k, v in feature.properties.items()},
        }
    )


async def _history(
    conn: AsyncConnection[Any],
    table: PgTable,
    key: Any,
    operation: str,
    writer: Writer,
    old: FeatureInput | None,
    new: FeatureInput | None,
) -> None:
    """The history row and the audit row of a write, in its transaction."""
    await conn.execute(
        "INSERT INTO public.onemap_history "
        "(collection, feature_id, operation, actor, old, new) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        (
            table.info.id,
            str(key),
            operation,
            writer.actor,
            _document(old),
            _document(new),
        ),
    )
    if writer.audit is not None:
        await pg_append(conn, [replace(writer.audit, feature_ids=str(key))])


def _guard(table: PgTable, writer: Writer) -> tuple[sql.Composable, list[Any]]:
    """`` AND …``: the writer's region and row filter (nothing when unrestricted)."""
    parts, params = conditions(table, ItemsQuery(limit=1), writer.scope)
    if not parts:
        return sql.SQL(""), []
    return sql.SQL(" AND ") + sql.SQL(" AND ").join(parts), params


async def _check_inside(
    conn: AsyncConnection[Any], table: PgTable, key: Any, writer: Writer
) -> None:
    """Refuse (roll back) a write that leaves the feature outside the writer's grant."""
    guard, params = _guard(table, writer)
    if not params and guard == sql.SQL(""):
        return
    statement = sql.SQL("SELECT 1 FROM {rel} AS t WHERE {id} = %s{guard}").format(
        rel=table.relation, id=_col(table.info.id_field), guard=guard
    )
    cur = await conn.execute(statement, [key, *params])
    if await cur.fetchone() is None:
        raise OutsideGrantError(table.info.id)


def _names(table: PgTable) -> list[str]:
    return [f.name for f in table.info.fields]


def _assignments(
    table: PgTable, feature: FeatureInput
) -> tuple[list[sql.Composable], list[Any]]:
    geometry = sql.SQL("ST_GeomFromWKB(%s, {})").format(sql.Literal(table.srid))
    values: list[sql.Composable] = [geometry] + [sql.SQL("%s")] * len(_names(table))
    params = [shapely.to_wkb(feature.geometry)] + [
        feature.properties.get(n) for n in _names(table)
    ]
    return values, params


async def create(
    conn: AsyncConnection[Any], table: PgTable, feature: FeatureInput, writer: Writer
) -> EditResult:
    """INSERT one feature; the table's default (identity) gives the id."""
    columns = [sql.Identifier(table.geometry_column), *map(sql.Identifier, _names(table))]
    values, params = _assignments(table, feature)
    statement = sql.SQL(
        "INSERT INTO {rel} AS t ({cols}) VALUES ({vals}) RETURNING {id}, {version}"
    ).format(
        rel=table.relation,
        cols=sql.SQL(", ").join(columns),
        vals=sql.SQL(", ").join(values),
        id=_col(table.info.id_field),
        version=VERSION,
    )
    cur = await conn.execute(statement, params)
    row = await cur.fetchone()
    assert row is not None
    await _check_inside(conn, table, row[0], writer)
    await _history(conn, table, row[0], "create", writer, None, feature)
    return EditResult(str(row[0]), str(row[1]))


async def _locked(
    conn: AsyncConnection[Any], table: PgTable, key: Any, writer: Writer
) -> tuple[str, FeatureInput] | None:
    """The feature's version and content, locked; None if absent or outside the
    writer's grant (then it does not exist for them)."""
    names = _names(table)
    guard, params = _guard(table, writer)
    statement = sql.SQL(
        "SELECT {version}, ST_AsBinary({geom}){props} FROM {rel} AS t "
        "WHERE {id} = %s{guard} FOR UPDATE"
    ).format(
        version=VERSION,
        geom=_col(table.geometry_column),
        props=sql.SQL("").join(sql.SQL(", {}").format(_col(n)) for n in names),
        rel=table.relation,
        id=_col(table.info.id_field),
        guard=guard,
    )
    cur = await conn.execute(statement, [key, *params])
    row = await cur.fetchone()
    if row is None:
        return None
    geometry = shapely.from_wkb(bytes(row[1])) if row[1] is not None else shapely.Point()
    return str(row[0]), FeatureInput(geometry, dict(zip(names, row[2:], strict=True)))


async def write(
    conn: AsyncConnection[Any], table: PgTable, key: Any, edit: Edit
) -> EditResult | None:
    """Replace, patch or delete one feature, checking its version under a row lock."""
    revised = revision(await _locked(conn, table, key, edit.writer), edit)
    if revised is None:
        return None
    old, new = revised
    rel, id_col = table.relation, _col(table.info.id_field)
    if new is None:
        delete = sql.SQL("DELETE FROM {rel} AS t WHERE {id} = %s")
        await conn.execute(delete.format(rel=rel, id=id_col), (key,))
        await _history(conn, table, key, edit.operation, edit.writer, old, None)
        return EditResult(str(key), None)
    values, params = _assignments(table, new)
    columns = [table.geometry_column, *_names(table)]
    sets = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(c), v)
        for c, v in zip(columns, values, strict=True)
    )
    statement = sql.SQL(
        "UPDATE {rel} AS t SET {sets} WHERE {id} = %s RETURNING {version}"
    ).format(rel=rel, sets=sets, id=id_col, version=VERSION)
    cur = await conn.execute(statement, [*params, key])
    row = await cur.fetchone()
    assert row is not None
    await _check_inside(conn, table, key, edit.writer)
    await _history(conn, table, key, edit.operation, edit.writer, old, new)
    return EditResult(str(key), str(row[0]))


async def history(
    conn: AsyncConnection[Any], table: PgTable, key: Any
) -> list[dict[str, Any]]:
    """Every recorded version of a feature, oldest first."""
    cur = await conn.execute(
        "SELECT operation, actor, to_char(at AT TIME ZONE 'UTC', "
        '\'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"\'), old, new FROM public.onemap_history '
        "WHERE collection = %s AND feature_id = %s ORDER BY id",
        (table.info.id, str(key)),
    )
    return [
        {"operation": op, "actor": who, "at": at, "old": old, "new": new}
        for op, who, at, old, new in await cur.fetchall()
    ]
