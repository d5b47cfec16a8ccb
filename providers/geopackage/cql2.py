"""The SQLite (GeoPackage) dialect of the CQL2 translator: SQL text with ``?`` params.

Spatial predicates, CASEI and ACCENTI run as Python functions registered on each
connection (GEOS through shapely), so results match the PostGIS dialect.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

import shapely

from providers.cql2 import fold_accents
from providers.geopackage.geometry import per_thread, wkb_of

_PREDICATES = {
    "s_intersects": shapely.intersects,
    "s_within": shapely.within,
    "s_contains": shapely.contains,
    "s_disjoint": shapely.disjoint,
    "s_equals": shapely.equals,
    "s_touches": shapely.touches,
    "s_overlaps": shapely.overlaps,
    "s_crosses": shapely.crosses,
}


def quote(name: str) -> str:
    """Quote an identifier that was checked against the file's own catalog."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Frag:
    """A piece of SQL text and its parameters, in order."""

    text: str
    params: tuple[object, ...] = ()


class SqliteDialect:
    """Builds fragments for the GeoPackage provider."""

    def __init__(self, geometry_column: str) -> None:
        self._geometry = geometry_column

    def column(self, name: str) -> Frag:
        """A catalog-checked column of row ``t``."""
        return Frag(f"t.{quote(name)}")

    def geometry_column(self) -> Frag:
        """The geometry blob of row ``t``."""
        return Frag(f"t.{quote(self._geometry)}")

    def value(self, value: object) -> Frag:
        """A literal, as a parameter."""
        if isinstance(value, datetime):
            value = value.astimezone(UTC).replace(tzinfo=None).isoformat()
        return Frag("?", (value,))

    def geometry(self, wkb: bytes) -> Frag:
        """A geometry literal (WKB in the storage CRS)."""
        return Frag("?", (wkb,))

    def temporal(self, expr: Frag, is_literal: bool) -> Frag:
        """Dates and timestamps compare as Julian days."""
        return Frag(f"julianday({expr.text})", expr.params)

    def template(self, text: str, *args: Frag) -> Frag:
        """Fill the ``{}`` holes of ``text`` in order."""
        pieces = text.split("{}")
        if len(pieces) != len(args) + 1:
            raise ValueError("template holes and arguments differ")
        out = [pieces[0]]
        params: list[object] = []
        for arg, piece in zip(args, pieces[1:], strict=True):
            out += [arg.text, piece]
            params += arg.params
        return Frag("".join(out), tuple(params))

    def spatial(self, op: str, a: Frag, b: Frag) -> Frag:
        """A GEOS predicate evaluated by a registered function."""
        return Frag(
            f"(onemap_spatial(?, {a.text}, {b.text}) = 1)", (op, *a.params, *b.params)
        )

    def casei(self, expr: Frag) -> Frag:
        """Lower case (Unicode, like PostgreSQL's lower())."""
        return Frag(f"onemap_lower({expr.text})", expr.params)

    def accenti(self, expr: Frag) -> Frag:
        """Accented Latin letters folded to their base letters."""
        return Frag(f"onemap_unaccent({expr.text})", expr.params)

    def like(self, expr: Frag, pattern: Frag) -> Frag:
        """LIKE with CQL2 wildcards (% and _) and backslash escapes, case-sensitive."""
        return self.template("({} LIKE {} ESCAPE '\\')", expr, pattern)

    def constant(self, truth: bool) -> Frag:
        """A constant condition."""
        return Frag("1" if truth else "0")


def _prepared(wkb: bytes) -> shapely.Geometry:
    geom = shapely.from_wkb(wkb)
    shapely.prepare(geom)
    return geom


def _literal(wkb: bytes) -> shapely.Geometry:
    """The prepared literal of this thread."""
    return per_thread("literal", wkb, _prepared)


def _geometry(value: bytes | None) -> shapely.Geometry | None:
    if value is None:
        return None
    data = bytes(value)
    if data[:2] == b"GP":
        wkb = wkb_of(data)
        return None if wkb is None else shapely.from_wkb(wkb)
    return _literal(data)


def _spatial(op: str, a: bytes | None, b: bytes | None) -> int | None:
    try:
        left, right = _geometry(a), _geometry(b)
        if left is None or right is None:
            return None
        return int(bool(_PREDICATES[op](left, right)))
    except (shapely.errors.GEOSException, ValueError):
        return None  # an invalid geometry matches nothing (as NULL does in SQL)


def _lower(value: str | None) -> str | None:
    return None if value is None else str(value).lower()


def _power(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    try:
        return math.pow(a, b)
    except (OverflowError, ValueError):
        return None


def _trunc(a: float | None) -> int | None:
    return None if a is None or not math.isfinite(a) else math.trunc(a)


def register(conn: sqlite3.Connection) -> None:
    """Add the functions the dialect uses; make LIKE case-sensitive as in CQL2."""
    conn.create_function("onemap_spatial", 3, _spatial, deterministic=True)
    conn.create_function("onemap_lower", 1, _lower, deterministic=True)
    conn.create_function("onemap_unaccent", 1, fold_accents, deterministic=True)
    conn.create_function("power", 2, _power, deterministic=True)
    conn.create_function("trunc", 1, _trunc, deterministic=True)
    conn.execute("PRAGMA case_sensitive_like = ON")
