"""CQL2 (OGC API - Features Part 3): parse, check, and translate to SQL of two dialects.

Text and JSON are parsed and validated by the ``cql2`` package (cql2-rs) into canonical
CQL2-JSON; pygeofilter 0.4 rejects standard CQL2 such as ACCENTI() and the T_* functions
in text. The tree is then checked against the collection's queryables (with a type for
every node) and translated by a :class:`Dialect` into SQL with parameters: psycopg.sql for
PostGIS, text with ``?`` placeholders for SQLite. Values are never formatted into SQL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any, Protocol

import cql2
import shapely
import shapely.geometry

from providers.base import CollectionInfo, Cql2Filter, FieldType
from providers.crs import CRS84, CrsRef, swap_axes, transform_geometries
from providers.errors import QueryError

MAX_TEXT = 32_768
MAX_DEPTH = 48
MAX_NODES = 2_000
GEOMETRY_PROPERTY = "geometry"

# ACCENTI: accented Latin letters -> base letters (one table for SQL and Python)
ACCENTED = "ÀÁÂÃÄÅàáâãäåÈÉÊËèéêëÌÍÎÏìíîïÒÓÔÕÖØòóôõöøÙÚÛÜùúûüÝýÿÑñÇç"
UNACCENTED = "AAAAAAaaaaaaEEEEeeeeIIIIiiiiOOOOOOooooooUUUUuuuuYyyNnCc"
ACCENT_TABLE = str.maketrans(ACCENTED, UNACCENTED)

_COMPARE = {"=": "=", "<>": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_ARITHMETIC = {"+": "+", "-": "-", "*": "*", "/": "/", "%": "%"}
_SPATIAL = {
    "s_intersects",
    "s_within",
    "s_contains",
    "s_disjoint",
    "s_equals",
    "s_touches",
    "s_overlaps",
    "s_crosses",
}
_TEMPORAL = {
    "t_after",
    "t_before",
    "t_contains",
    "t_disjoint",
    "t_during",
    "t_equals",
    "t_finishedby",
    "t_finishes",
    "t_intersects",
    "t_meets",
    "t_metby",
    "t_overlappedby",
    "t_overlaps",
    "t_startedby",
    "t_starts",
}
_ARRAYS = {"a_equals", "a_contains", "a_containedby", "a_overlaps"}
_MIN_TIME = datetime(1, 1, 1, tzinfo=UTC)
_MAX_TIME = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


class Cql2Error(QueryError):
    """The filter is malformed or does not fit the collection (messages ``cql2.*``)."""

    prefix = "cql2"
    parameter = "filter"

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key, **params)


# Outside literals: a run of prefix operators nests like parentheses (cql2-rs recurses
# once per operator: ~4,000 of them overflow its stack and kill the process).
_LITERAL = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")
_PREFIXES = re.compile(rf"(?:(?:\bNOT\b|[-+])\s*){{{MAX_DEPTH + 1},}}", re.IGNORECASE)


def _depth_of_text(text: str) -> int:
    text = _LITERAL.sub("''", text)
    if _PREFIXES.search(text):
        return MAX_DEPTH + 1
    depth = deepest = 0
    for char in text:
        if char in "([":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]":
            depth -= 1
    return deepest


def _check_json_size(value: Any) -> None:
    stack: list[tuple[Any, int]] = [(value, 1)]
    nodes = 0
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if depth > MAX_DEPTH or nodes > MAX_NODES * 4:
            raise Cql2Error("too_deep", max=MAX_DEPTH)
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)


def parse(text: str, lang: str | None, crs: CrsRef | None = None) -> Cql2Filter:
    """Parse ``filter`` in ``filter-lang`` (cql2-text by default); raise Cql2Error."""
    # "cql-text" is the draft name GDAL's OAPIF driver sends; its output is CQL2 text.
    lang = "cql2-text" if lang in (None, "cql-text") else lang
    if len(text) > MAX_TEXT:
        raise Cql2Error("too_long", max=MAX_TEXT)
    try:
        if lang == "cql2-text":
            if _depth_of_text(text) > MAX_DEPTH:
                raise Cql2Error("too_deep", max=MAX_DEPTH)
            expr = cql2.parse_text(text)
        elif lang == "cql2-json":
            try:
                value = json.loads(text)
            except RecursionError:  # nested deeper than Python's JSON decoder goes
                raise Cql2Error("too_deep", max=MAX_DEPTH) from None
            _check_json_size(value)
            expr = cql2.parse_json(json.dumps(value))
        else:
            raise Cql2Error("lang", value=lang[:30])
        # No expr.validate(): it costs ~20-60 ms per call (JSON Schema), and the
        # translator checks every node's arguments and types itself.
        tree = expr.to_json()
    except (cql2.ParseError, cql2.ValidationError, ValueError) as exc:
        if isinstance(exc, Cql2Error):
            raise
        first = str(exc).strip().splitlines()
        raise Cql2Error(
            "invalid", syntax=lang, reason=" ".join(first[:3])[:300]
        ) from None
    _check_json_size(tree)
    return Cql2Filter(tree, crs or CRS84)


class Dialect[E](Protocol):
    """What a SQL dialect supplies to the translator."""

    def column(self, name: str) -> E:
        """A column of row ``t`` (the name is catalog-checked)."""
        ...

    def geometry_column(self) -> E:
        """The geometry of row ``t``."""
        ...

    def value(self, value: object) -> E:
        """A literal value (str, number, bool, datetime or None)."""
        ...

    def geometry(self, wkb: bytes) -> E:
        """A geometry literal, WKB in the storage CRS."""
        ...

    def temporal(self, expr: E, is_literal: bool) -> E:
        """An expression made comparable as a point in time."""
        ...

    def template(self, text: str, *args: E) -> E:
        """``text`` with its ``{}`` holes filled in order."""
        ...

    def spatial(self, op: str, a: E, b: E) -> E:
        """A spatial predicate (``s_intersects`` ...)."""
        ...

    def casei(self, expr: E) -> E:
        """Case folding for CASEI."""
        ...

    def accenti(self, expr: E) -> E:
        """Accent folding for ACCENTI."""
        ...

    def like(self, expr: E, pattern: E) -> E:
        """A case-sensitive LIKE with backslash escapes."""
        ...

    def constant(self, truth: bool) -> E:
        """A constant condition."""
        ...


Kind = str  # "string", "number", "boolean", "temporal", "geometry", "array", "null"


def _field_kind(kind: FieldType) -> Kind:
    if kind in ("integer", "number"):
        return "number"
    if kind in ("date", "datetime"):
        return "temporal"
    return kind


def _parse_instant(text: str) -> datetime:
    try:
        if text == "..":
            raise ValueError(text)
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        # in UTC: an offset may not carry it past year 1 or 9999 (OverflowError)
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise Cql2Error("operands", op="DATE/TIMESTAMP") from None


class Translator[E]:
    """Walk CQL2-JSON, check names and types, and build the dialect's expression."""

    def __init__(
        self,
        dialect: Dialect[E],
        info: CollectionInfo,
        storage: CrsRef,
        allowed: Callable[[str], bool],
        filter_crs: CrsRef = CRS84,
    ) -> None:
        self.d = dialect
        self.info = info
        self.storage = storage
        self.allowed = allowed
        self.filter_crs = filter_crs
        self.nodes = 0

    def translate(self, expr: Any) -> E:
        """The boolean condition of a whole filter."""
        try:
            result, kind = self._node(expr)
        except (IndexError, KeyError, TypeError, AttributeError):
            raise Cql2Error("element") from None  # an operator with missing arguments
        if kind not in ("boolean", "null"):
            raise Cql2Error("not_condition")
        return result

    # --- leaves
    def _node(self, expr: Any) -> tuple[E, Kind]:
        """Translate any node; return the expression and its kind."""
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise Cql2Error("too_many", max=MAX_NODES)
        if isinstance(expr, dict):
            return self._object(expr)
        if isinstance(expr, list):
            raise Cql2Error("array_place")
        for kind, types in (("boolean", bool), ("number", int | float), ("string", str)):
            if isinstance(expr, types):
                return self.d.value(expr), kind
        if expr is None:
            return self.d.value(None), "null"
        raise Cql2Error("element")

    def _object(self, expr: dict[str, Any]) -> tuple[E, Kind]:
        if "property" in expr:
            return self._prop(str(expr["property"]))
        if "date" in expr or "timestamp" in expr:
            instant = _parse_instant(str(expr.get("date") or expr.get("timestamp")))
            return self.d.value(instant), "temporal"
        if "bbox" in expr or "type" in expr:
            return self.d.geometry(self._geometry_wkb(expr)), "geometry"
        if "interval" in expr:
            raise Cql2Error("interval_place")
        if "op" in expr:
            return self._operation(str(expr["op"]), list(expr.get("args", [])))
        raise Cql2Error("element")

    def _prop(self, name: str) -> tuple[E, Kind]:
        """A queryable property (the geometry is called ``geometry``)."""
        if name == GEOMETRY_PROPERTY:
            return self.d.geometry_column(), "geometry"
        field = self.info.field(name)
        # A property the caller may not see answers exactly like an unknown one.
        if field is None or not self.allowed(name):
            raise Cql2Error("unknown_property", name=name[:64])
        return self.d.column(name), _field_kind(field.type)

    def _geometry_wkb(self, expr: dict[str, Any]) -> bytes:
        """A geometry literal in the storage CRS, as WKB."""
        try:
            if "bbox" in expr:
                box = [float(v) for v in expr["bbox"]]
                box = box[:2] + box[3:5] if len(box) == 6 else box
                geom = shapely.box(*box)
            else:
                geom = shapely.geometry.shape(expr)
        except (ValueError, TypeError, KeyError, shapely.errors.GEOSException) as exc:
            raise Cql2Error("geometry", reason=str(exc)[:120]) from None
        if self.filter_crs.swap_xy:
            geom = swap_axes(geom)
        geom = transform_geometries(geom, self.filter_crs, self.storage)
        return bytes(shapely.to_wkb(geom))

    # --- operations
    def _operation(self, op: str, args: list[Any]) -> tuple[E, Kind]:
        """Dispatch on the operator."""
        op = op.lower()
        if op in _COMPARE:
            return self._compare(_COMPARE[op], args)
        single: dict[str, Callable[[list[Any]], tuple[E, Kind]]] = {
            "like": self._like,
            "between": self._between,
            "in": self._in_list,
            "isnull": self._is_null,
        }
        if op in single:
            return single[op](args)
        families: list[tuple[set[str], Callable[[str, list[Any]], tuple[E, Kind]]]] = [
            ({"and", "or", "not"}, self._logical),
            ({"casei", "accenti"}, self._fold),
            (set(_ARITHMETIC) | {"div", "^"}, self._arithmetic),
            (_SPATIAL, self._spatial),
            (_TEMPORAL, self._temporal),
            (_ARRAYS, self._arrays),
        ]
        for ops, handler in families:
            if op in ops:
                return handler(op, args)
        raise Cql2Error("unknown_op", op=op[:40])

    def _logical(self, op: str, args: list[Any]) -> tuple[E, Kind]:
        if op == "not":
            return self.d.template("(NOT {})", self._condition(args[0])), "boolean"
        parts = [self._condition(a) for a in args]
        joined = f" {op.upper()} ".join(["{}"] * len(parts))
        return self.d.template(f"({joined})", *parts), "boolean"

    def _is_null(self, args: list[Any]) -> tuple[E, Kind]:
        value, _ = self._node(args[0])
        return self.d.template("({} IS NULL)", value), "boolean"

    def _fold(self, op: str, args: list[Any]) -> tuple[E, Kind]:
        value, kind = self._node(args[0])
        if kind not in ("string", "null"):
            raise Cql2Error("operands", op=op.upper())
        fold = self.d.casei if op == "casei" else self.d.accenti
        return fold(value), "string"

    def _condition(self, expr: Any) -> E:
        value, kind = self._node(expr)
        if kind not in ("boolean", "null"):
            raise Cql2Error("operands", op="AND/OR/NOT")
        return value

    def _pair(self, args: Sequence[Any]) -> tuple[E, Kind, E, Kind]:
        if len(args) != 2:
            raise Cql2Error("operands", op="=")
        a, ka = self._node(args[0])
        b, kb = self._node(args[1])
        if "null" not in (ka, kb) and ka != kb:
            raise Cql2Error("compare_types", a=ka, b=kb)
        return a, ka, b, kb

    def _compare(self, symbol: str, args: list[Any]) -> tuple[E, Kind]:
        a, ka, b, kb = self._pair(args)
        if ka == "geometry":
            raise Cql2Error("operands", op="=")
        if "temporal" in (ka, kb):
            a = self.d.temporal(a, _is_literal(args[0]))
            b = self.d.temporal(b, _is_literal(args[1]))
        return self.d.template(f"({{}} {symbol} {{}})", a, b), "boolean"

    def _like(self, args: list[Any]) -> tuple[E, Kind]:
        a, ka, b, kb = self._pair(args)
        if ka != "string" or kb not in ("string", "null"):
            raise Cql2Error("operands", op="LIKE")
        return self.d.like(a, b), "boolean"

    def _between(self, args: list[Any]) -> tuple[E, Kind]:
        if len(args) != 3:
            raise Cql2Error("operands", op="BETWEEN")
        kinds = [self._node(a) for a in args]
        if any(k not in ("number", "null") for _, k in kinds):
            raise Cql2Error("operands", op="BETWEEN")
        parts = [v for v, _ in kinds]
        return self.d.template("({} BETWEEN {} AND {})", *parts), "boolean"

    def _in_list(self, args: list[Any]) -> tuple[E, Kind]:
        if len(args) != 2 or not isinstance(args[1], list) or not args[1]:
            raise Cql2Error("operands", op="IN")
        value, kind = self._node(args[0])
        items = [self._node(item) for item in args[1]]
        for _, k in items:
            if k not in (kind, "null"):
                raise Cql2Error("operands", op="IN")
        holes = ", ".join(["{}"] * len(items))
        return self.d.template(
            f"({{}} IN ({holes}))", value, *(v for v, _ in items)
        ), "boolean"

    def _arithmetic(self, op: str, args: list[Any]) -> tuple[E, Kind]:
        if len(args) != 2:
            raise Cql2Error("operands", op=op)
        a, ka = self._node(args[0])
        b, kb = self._node(args[1])
        if ka not in ("number", "null") or kb not in ("number", "null"):
            raise Cql2Error("operands", op=op)
        if op == "div":
            return self.d.template("(trunc(({}) * 1.0 / ({})))", a, b), "number"
        if op == "^":
            return self.d.template("(power({}, {}))", a, b), "number"
        if op == "%":  # no '%' in SQL text: psycopg reads it as a placeholder
            return self.d.template(
                "(({}) - trunc(({}) * 1.0 / ({})) * ({}))", a, a, b, b
            ), "number"
        return self.d.template(f"({{}} {op} {{}})", a, b), "number"

    def _spatial(self, op: str, args: list[Any]) -> tuple[E, Kind]:
        a, ka, b, _ = self._pair(args)
        if ka != "geometry":
            raise Cql2Error("operands", op=op.upper())
        return self.d.spatial(op, a, b), "boolean"

    def _bounds(self, expr: Any) -> tuple[E, E]:
        """Start and end of an instant or interval (open ends become far dates)."""
        if isinstance(expr, dict) and "interval" in expr:
            ends = list(expr["interval"])
            if len(ends) != 2:
                raise Cql2Error("operands", op="INTERVAL")
            values = []
            for end, far in zip(ends, (_MIN_TIME, _MAX_TIME), strict=True):
                if isinstance(end, dict) and "property" in end:
                    value, kind = self._prop(str(end["property"]))
                    if kind != "temporal":
                        raise Cql2Error("operands", op="INTERVAL")
                    values.append(self.d.temporal(value, False))
                    continue
                text = (
                    str(end.get("date") or end.get("timestamp"))
                    if isinstance(end, dict)
                    else str(end)
                )
                instant = far if text in ("..", "") else _parse_instant(text)
                values.append(self.d.temporal(self.d.value(instant), True))
            return values[0], values[1]
        value, kind = self._node(expr)
        if kind != "temporal":
            raise Cql2Error("operands", op="T_*")
        wrapped = self.d.temporal(value, _is_literal(expr))
        return wrapped, wrapped

    def _temporal(self, op: str, args: list[Any]) -> tuple[E, Kind]:
        if len(args) != 2:
            raise Cql2Error("operands", op=op.upper())
        (a0, a1), (b0, b1) = self._bounds(args[0]), self._bounds(args[1])
        t = self.d.template
        rules: dict[str, E] = {
            "t_before": t("({} < {})", a1, b0),
            "t_after": t("({} > {})", a0, b1),
            "t_meets": t("({} = {})", a1, b0),
            "t_metby": t("({} = {})", a0, b1),
            "t_overlaps": t("({} < {} AND {} > {} AND {} < {})", a0, b0, a1, b0, a1, b1),
            "t_overlappedby": t(
                "({} < {} AND {} > {} AND {} < {})", b0, a0, b1, a0, b1, a1
            ),
            "t_starts": t("({} = {} AND {} < {})", a0, b0, a1, b1),
            "t_startedby": t("({} = {} AND {} > {})", a0, b0, a1, b1),
            "t_during": t("({} > {} AND {} < {})", a0, b0, a1, b1),
            "t_contains": t("({} < {} AND {} > {})", a0, b0, a1, b1),
            "t_finishes": t("({} > {} AND {} = {})", a0, b0, a1, b1),
            "t_finishedby": t("({} < {} AND {} = {})", a0, b0, a1, b1),
            "t_equals": t("({} = {} AND {} = {})", a0, b0, a1, b1),
            "t_disjoint": t("({} < {} OR {} > {})", a1, b0, a0, b1),
            "t_intersects": t("({} <= {} AND {} >= {})", a0, b1, a1, b0),
        }
        return rules[op], "boolean"

    def _arrays(self, op: str, args: list[Any]) -> tuple[E, Kind]:
        """A_* functions on literal arrays (no collection publishes array properties)."""
        if len(args) != 2 or not all(isinstance(a, list) for a in args):
            raise Cql2Error("operands", op=op.upper())
        for item in (*args[0], *args[1]):
            if isinstance(item, dict | list):
                raise Cql2Error("operands", op=op.upper())
        a, b = set(map(_hashable, args[0])), set(map(_hashable, args[1]))
        truth = {
            "a_equals": list(map(_hashable, args[0])) == list(map(_hashable, args[1])),
            "a_contains": b <= a,
            "a_containedby": a <= b,
            "a_overlaps": bool(a & b),
        }[op]
        return self.d.constant(truth), "boolean"


def _hashable(value: Any) -> Any:
    return json.dumps(value, sort_keys=True)


def _is_literal(expr: Any) -> bool:
    return isinstance(expr, dict) and ("date" in expr or "timestamp" in expr)


def fold_accents(value: str | None) -> str | None:
    """ACCENTI for SQLite: the same letter table as the PostGIS translate()."""
    return None if value is None else value.translate(ACCENT_TABLE)
