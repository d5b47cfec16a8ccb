"""The conditions of a feature query, written once for the SQL of every provider.

A row must meet, in this order: the bbox and the caller's region (storage CRS), the
datetime interval on the temporal property, the property=value parameters, the caller's
CQL2 filter (on the properties they see) and their grant's row filter (on any
property). A provider's :class:`Dialect` writes each piece in its SQL (psycopg.sql with
``%s`` for PostGIS, text with ``?`` for SQLite), as CQL2's translator does: names are
catalog-checked, values are always parameters.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

import shapely
from cachetools import LRUCache

from providers import cql2
from providers.base import (
    AccessScope,
    CollectionInfo,
    Cql2Filter,
    ItemsQuery,
    coerce_value,
)
from providers.filters import bbox_area, region_area, region_in


@dataclass(frozen=True)
class Area:
    """An area a row's geometry must intersect, in the storage CRS, and its WKB."""

    geometry: shapely.Geometry
    wkb: bytes


class Dialect[F](cql2.Dialect[F], Protocol):
    """What a provider's SQL supplies besides CQL2's pieces."""

    def areas(self, areas: list[Area]) -> list[F]:
        """Conditions that the row's geometry intersects every one of ``areas``
        (at least one), written so that the spatial index finds the candidates."""
        ...

    def instant(self, column: str, op: Literal[">=", "<="], value: datetime) -> F:
        """``column op value`` as points in time."""
        ...


class GrantFilters[F]:
    """The translated row filters of the grants on one table: every request of a role
    would otherwise translate its filter again."""

    def __init__(self, size: int = 64) -> None:
        self._made: LRUCache[str, F] = LRUCache(size)
        self._lock = threading.Lock()

    def get(self, key: str, make: Callable[[], F]) -> F:
        """The filter made for ``key`` (a grant's ``data_key``), made once."""
        with self._lock:
            found = self._made.get(key)
        if found is None:
            found = make()
            with self._lock:
                self._made[key] = found
        return found


class Table[F](Protocol):
    """A published table as the WHERE builder needs it."""

    @property
    def info(self) -> CollectionInfo:
        """What the catalog says of the table."""
        ...

    @property
    def temporal(self) -> str | None:
        """The property the datetime parameter filters on (None: it filters nothing)."""
        ...

    @property
    def grant_filters(self) -> GrantFilters[F]:
        """The table's translated grant filters."""
        ...

    @property
    def pk(self) -> str:
        """The primary key column: the last key of every order (stable pages)."""
        ...


def any_property(_name: str) -> bool:
    """A grant's own row filter may name any property, also one its holder cannot see."""
    return True


def conditions[F](
    dialect: Dialect[F], table: Table[F], query: ItemsQuery, scope: AccessScope
) -> list[F]:
    """The conditions a row of ``table`` must meet for ``query`` within the caller's
    (narrowed) ``scope``; the dialect's fragments carry their parameters."""
    info = table.info
    storage = info.storage_crs
    box = bbox_area(query, storage)
    areas = [] if box is None else [Area(box, shapely.to_wkb(box))]
    if region_area(box, scope, storage) is not None:
        areas.append(Area(*region_in(scope, storage)))
    parts = dialect.areas(areas) if areas else []
    if query.datetime is not None and table.temporal is not None:
        if query.datetime.start is not None:
            parts.append(dialect.instant(table.temporal, ">=", query.datetime.start))
        if query.datetime.end is not None:
            parts.append(dialect.instant(table.temporal, "<=", query.datetime.end))
    for name, value in query.equals:
        field = info.field(name)
        if field is not None:  # the request's parameters name only published fields
            typed = dialect.value(coerce_value(value, field.type))
            parts.append(dialect.template("{} = {}", dialect.column(name), typed))
    if query.filter is not None:  # may name only the properties the caller sees
        parts.append(_translate(dialect, info, query.filter, scope.allows_property))
    if query.after is not None:
        parts.append(_after(dialect, table, query))
    grant = scope.attribute_filter
    if grant is not None:
        parts.append(
            table.grant_filters.get(
                scope.data_key,
                lambda: _translate(dialect, info, grant, any_property),
            )
        )
    return parts


def _translate[F](
    dialect: Dialect[F],
    info: CollectionInfo,
    cql: Cql2Filter,
    allowed: Callable[[str], bool],
) -> F:
    translator = cql2.Translator(dialect, info, info.storage_crs, allowed, cql.crs)
    # in parentheses: a filter never mixes with the AND around it
    return dialect.template("({})", translator.translate(cql.expr))


def pk_descending(query: ItemsQuery) -> bool:
    """The primary key, the last key of every order, runs the way the last sort key
    does: then a sort in one direction is one row comparison an index can range over."""
    return bool(query.sortby) and query.sortby[-1].descending


def _after[F](dialect: Dialect[F], table: Table[F], query: ItemsQuery) -> F:
    """Rows after the key ``query.after`` in the order of the sort keys then the primary
    key, NULL sorting as the largest value (PostgreSQL's default; SQLite is told so).
    One direction over NOT NULL columns: ``(k1, k2, pk) > (v1, v2, p)``, a range of an
    index on the keys; else ``k1 beyond v1 OR (k1 = v1 AND (k2 beyond v2 OR (…)))``."""
    assert query.after is not None
    pk_desc = pk_descending(query)
    directions = {k.descending for k in query.sortby} | {pk_desc}
    nullable = any(
        (field := table.info.field(k.name)) is None or not field.required
        for k in query.sortby
    )
    if len(directions) == 1 and not nullable:
        columns = [dialect.column(k.name) for k in query.sortby]
        columns.append(dialect.column(table.pk))
        values = [dialect.value(v) for v in query.after]
        holes = ", ".join(["{}"] * len(columns))
        op = "<" if pk_desc else ">"
        return dialect.template(f"({holes}) {op} ({holes})", *columns, *values)
    condition = dialect.template(
        "{} < {}" if pk_desc else "{} > {}",
        dialect.column(table.pk),
        dialect.value(query.after[-1]),
    )
    for key, value in reversed(list(zip(query.sortby, query.after[:-1], strict=True))):
        column = dialect.column(key.name)
        same = (
            dialect.template("{} IS NULL", column)
            if value is None
            else dialect.template("{} = {}", column, dialect.value(value))
        )
        tie = dialect.template("({} AND {})", same, condition)
        beyond = _beyond(dialect, column, key.descending, value)
        condition = tie if beyond is None else dialect.template("({} OR {})", beyond, tie)
    return condition


def _beyond[F](
    dialect: Dialect[F], column: F, descending: bool, value: object
) -> F | None:
    """The rows past ``value`` on one sort key (None: no row is)."""
    if value is None:  # NULL is the largest: in DESC every other value follows it
        return dialect.template("{} IS NOT NULL", column) if descending else None
    if descending:
        return dialect.template("{} < {}", column, dialect.value(value))
    return dialect.template(
        "({} > {} OR {} IS NULL)", column, dialect.value(value), column
    )
