"""What the HTML page of a process shows of its inputs and outputs, derived from their
JSON Schemas (any process, no per-process code): a readable type in the page's
language, allowed values, default, limits, unit, whether it is required, and the form
control that edits it. Plain data: server/templates/process.html renders it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, NamedTuple

from processes.base import Process
from server.i18n import translate

_DEPTH = 4  # nested objects shown (and $ref followed) this deep: cycles end here
# Units named by the suffix of an input's id (min_area_m2, sliver_m2, …).
_UNITS = {"_m2": "m²", "_km2": "km²", "_ha": "ha", "_mu": "亩", "_m": "m", "_s": "s"}
_FORMATS = {
    "geojson-geometry": "type.geometry",
    "geojson-feature": "type.feature",
    "geojson-feature-collection": "type.feature_collection",
    "ogc-bbox": "type.bbox",
    "uri": "type.link",
}
_SCALARS = {"string", "number", "integer", "boolean", "object", "array"}


class Choice(NamedTuple):
    """An allowed value: as JSON (what the form sends) and as shown."""

    json: str
    label: str


@dataclass(frozen=True)
class Param:
    """One input (or a field of an object input) as the page shows it."""

    id: str
    title: str
    description: str
    type: str  # readable, in the page's language
    required: bool
    control: str  # text | number | checkbox | select | multiselect | json | text-or-json
    default: str | None = None  # the default as JSON text; None: no default
    value: str = ""  # the form control's initial value
    enum: tuple[Choice, ...] = ()  # allowed values
    selected: tuple[str, ...] = ()  # the JSON texts of the choices the default picks
    limits: tuple[str, ...] = ()  # "≥ 0", "≤ 64 characters", …
    unit: str = ""
    nullable: bool = False
    minimum: float | None = None  # the number control's min/max/step
    maximum: float | None = None
    step: str = "any"
    max_length: int | None = None
    fields: tuple[Param, ...] = ()


@dataclass(frozen=True)
class OutputView:
    """One output: its id, title, description and readable type."""

    id: str
    title: str
    description: str
    type: str


@dataclass(frozen=True)
class _Hints:
    """What the process says of its inputs beyond the schema."""

    lang: str
    defs: dict[str, Any]
    collections: frozenset[str] = frozenset()
    hrefs: frozenset[str] = frozenset()


def describe_inputs(process: Process, document: dict[str, Any], lang: str) -> list[Param]:
    """The inputs of a process description document (``description_document``)."""
    hints_of = {
        "collections": frozenset(process.collection_inputs),
        "hrefs": frozenset(process.href_inputs),
    }
    params = []
    for name, found in _dict(document.get("inputs")).items():
        entry = _dict(found)
        schema = _dict(entry.get("schema"))
        hints = _Hints(lang, _dict(schema.get("$defs")), **hints_of)
        params.append(
            _param(
                str(name),
                schema,
                hints,
                required=bool(entry.get("minOccurs", 0)),
                title=str(entry.get("title") or name),
                text=str(entry.get("description") or ""),
            )
        )
    return params


def describe_outputs(document: dict[str, Any], lang: str) -> list[OutputView]:
    """The outputs of a process description document."""
    hints = _Hints(lang, {})
    return [
        OutputView(
            str(name),
            str(entry.get("title") or name),
            str(entry.get("description") or ""),
            type_name(str(name), _dict(entry.get("schema")), hints),
        )
        for name, entry in _dict(document.get("outputs")).items()
        if isinstance(entry, dict)
    ]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _t(hints: _Hints, message_id: str, **params: Any) -> str:
    return translate(message_id, hints.lang, **params)


def _resolve(schema: dict[str, Any], hints: _Hints, depth: int = 0) -> dict[str, Any]:
    """The schema a local ``$ref`` points at (siblings of the $ref win); {} if it
    points nowhere."""
    ref = schema.get("$ref")
    if not isinstance(ref, str):
        return schema
    target = (
        hints.defs.get(ref.rsplit("/", 1)[-1]) if ref.startswith("#/$defs/") else None
    )
    if not isinstance(target, dict) or depth >= _DEPTH:
        return {k: v for k, v in schema.items() if k != "$ref"}
    merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return _resolve(merged, hints, depth + 1)


def _alternatives(
    schema: dict[str, Any], hints: _Hints
) -> tuple[list[dict[str, Any]], bool]:
    """The non-null alternatives of a schema (anyOf/oneOf, or a list of types) and
    whether null is allowed."""
    schema = _resolve(schema, hints)
    options = schema.get("anyOf") or schema.get("oneOf")
    kinds = schema.get("type")
    if isinstance(options, list):
        found = [_resolve(_dict(o), hints) for o in options]
    elif isinstance(kinds, list):
        found = [{**schema, "type": k} for k in kinds]
    else:
        return [schema], False
    rest = [o for o in found if o.get("type") != "null"]
    return rest, len(rest) < len(found)


def type_name(
    name: str, schema: dict[str, Any], hints: _Hints, depth: int = 0, unit: str = ""
) -> str:
    """A readable type: "number (m²)", "enum: a, b", "array of number",
    "collection id or link {"href": …}", … (``unit``: the parent object's)."""
    options, _nullable = _alternatives(schema, hints)
    names = [_one_type(name, o, hints, depth, unit) for o in options]
    names = names or [_t(hints, "type.any")]
    unique = list(dict.fromkeys(names))
    return _t(hints, "type.or").join(unique)


def _one_type(
    name: str, schema: dict[str, Any], hints: _Hints, depth: int, unit: str
) -> str:
    if depth >= _DEPTH:
        return _t(hints, "type.any")
    if "anyOf" in schema or "oneOf" in schema:
        return type_name(name, schema, hints, depth + 1, unit)
    special = _named_type(name, schema, hints)
    if special is not None:
        return special
    kind = schema.get("type")
    media = schema.get("contentMediaType")
    if kind == "array":
        items = _resolve(_dict(schema.get("items")), hints)
        inner = (
            type_name(name, items, hints, depth + 1) if items else _t(hints, "type.any")
        )
        return _t(hints, "type.array", items=inner)
    if kind in ("number", "integer"):
        unit = _unit(name, schema, unit)
        base = _t(hints, f"type.{kind}")
        return _t(hints, "type.with_unit", type=base, unit=unit) if unit else base
    if kind == "string" and isinstance(media, str):
        key = "type.base64" if schema.get("contentEncoding") == "base64" else "type.text"
        return _t(hints, key, media=media)
    props = _dict(schema.get("properties"))
    if kind == "object" and props:
        return _t(hints, "type.object_fields", fields=", ".join(props))
    if kind in _SCALARS:
        return _t(hints, f"type.{kind}")
    if isinstance(kind, str) and kind:
        return kind  # a type this page does not know: shown as the schema says
    return _t(hints, "type.any")


def _named_type(name: str, schema: dict[str, Any], hints: _Hints) -> str | None:
    """A type the schema names by format, values, or the process by input id."""
    kind = schema.get("type")
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt in _FORMATS:
        return _t(hints, _FORMATS[fmt])
    if isinstance(schema.get("enum"), list):
        values = ", ".join(_label(v) for v in schema["enum"])
        return _t(hints, "type.enum", values=values)
    if "const" in schema:
        return _t(hints, "type.enum", values=_label(schema["const"]))
    if kind == "string" and (name in hints.collections or name in hints.hrefs):
        return _t(hints, "type.collection")
    if kind == "object" and name in hints.hrefs:
        return _t(hints, "type.href")
    if kind == "object" and schema.get("contentMediaType") == "application/geo+json":
        return _t(hints, "type.geojson")
    return None


def _label(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _unit(name: str, schema: dict[str, Any], inherited: str = "") -> str:
    for key in ("unit", "x-unit"):
        if isinstance(schema.get(key), str):
            return str(schema[key])
    for suffix, unit in _UNITS.items():
        if name.endswith(suffix):
            return unit
    return inherited


def _limits(schema: dict[str, Any], hints: _Hints) -> tuple[str, ...]:
    out = []
    for key, sign in (
        ("minimum", "≥"),
        ("exclusiveMinimum", ">"),
        ("maximum", "≤"),
        ("exclusiveMaximum", "<"),
    ):
        value = schema.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out.append(f"{sign} {_label(value)}")
    for key, sign, what in (
        ("minLength", "≥", "type.chars"),
        ("maxLength", "≤", "type.chars"),
        ("minItems", "≥", "type.items"),
        ("maxItems", "≤", "type.items"),
    ):
        value = schema.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            out.append(_t(hints, what, limit=f"{sign} {value}"))
    return tuple(out)


def _object_default(schema: dict[str, Any]) -> dict[str, Any] | None:
    """An object's defaults from its fields' (pydantic's default_factory leaves the
    input without a default): None when a required field has none."""
    props = _dict(schema.get("properties"))
    required = schema.get("required") or []
    if not props or any(
        n in required and "default" not in _dict(p) for n, p in props.items()
    ):
        return None
    return {n: _dict(p)["default"] for n, p in props.items() if "default" in _dict(p)}


def _control(options: list[dict[str, Any]]) -> str:
    kinds = {o.get("type") for o in options}
    if len(options) == 1:
        only = options[0]
        if isinstance(only.get("enum"), list):
            return "select"
        items = _dict(only.get("items"))
        if only.get("type") == "array" and isinstance(items.get("enum"), list):
            return "multiselect"
        if kinds <= {"boolean"} and kinds:
            return "checkbox"
    if kinds and kinds <= {"number", "integer"}:
        return "number"
    if kinds == {"string"}:
        return "text"
    if "string" in kinds:
        return "text-or-json"  # a collection id, or a JSON object such as {"href": …}
    return "json"


def _param(
    name: str,
    schema: dict[str, Any],
    hints: _Hints,
    *,
    required: bool,
    title: str,
    text: str,
    path: str = "",
    unit: str = "",
    depth: int = 0,
) -> Param:
    resolved = _resolve(schema, hints)
    options, nullable = _alternatives(resolved, hints)
    control = _control(options)
    main = options[0] if len(options) == 1 else {}
    default: Any = resolved.get("default", ...)
    if default is ... and main.get("type") == "object":
        default = _object_default(main)
        default = ... if default is None else default
    enum_source = main.get("enum") or _dict(main.get("items")).get("enum")
    enum_source = enum_source if isinstance(enum_source, list) else []
    unit = _unit(name, resolved, unit)
    numeric = {o.get("type") for o in options} <= {"number", "integer"}
    return Param(
        id=path + name,
        title=title,
        description=text or str(main.get("description") or ""),
        type=type_name(name, resolved, hints, unit=unit),
        required=required,
        control=control,
        default=None if default is ... else _json(default),
        value=_initial(default, control),
        enum=tuple(Choice(_json(v), _label(v)) for v in enum_source),
        selected=_selected(default),
        limits=tuple(dict.fromkeys(x for o in options for x in _limits(o, hints))),
        unit=unit if numeric else "",
        nullable=nullable,
        minimum=_first(options, "minimum") if numeric else None,
        maximum=_first(options, "maximum") if numeric else None,
        step="1" if {o.get("type") for o in options} == {"integer"} else "any",
        max_length=_first_int(options, "maxLength") if control == "text" else None,
        fields=_fields(options, hints, f"{path}{name}.", unit, depth),
    )


def _fields(
    options: list[dict[str, Any]], hints: _Hints, path: str, unit: str, depth: int
) -> tuple[Param, ...]:
    """The fields of an object input (or of the objects of an array input)."""
    if depth >= _DEPTH:
        return ()
    for option in options:
        target, prefix = option, path
        if option.get("type") == "array":
            target = _resolve(_dict(option.get("items")), hints)
            prefix = path.rstrip(".") + "[]."
        props = _dict(target.get("properties"))
        if not props:
            continue
        required = target.get("required") or []
        zh = hints.lang == "zh-CN"
        return tuple(
            _param(
                str(n),
                _dict(p),
                hints,
                required=n in required,
                title=str(
                    (zh and _dict(p).get("title_zh")) or _dict(p).get("title") or n
                ),
                text=str(
                    (zh and _dict(p).get("description_zh"))
                    or _dict(p).get("description")
                    or ""
                ),
                path=prefix,
                unit=unit,
                depth=depth + 1,
            )
            for n, p in props.items()
        )
    return ()


def _first(options: list[dict[str, Any]], key: str) -> float | None:
    """The first alternative's numeric ``key`` (minimum, maximum)."""
    for o in options:
        value = o.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def _first_int(options: list[dict[str, Any]], key: str) -> int | None:
    value = _first(options, key)
    return None if value is None else int(value)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _selected(default: Any) -> tuple[str, ...]:
    if default is ... or default is None:
        return ()
    return (
        tuple(_json(v) for v in default)
        if isinstance(default, list)
        else (_json(default),)
    )


def _initial(default: Any, control: str) -> str:
    """The form control's first value: the default as the control shows it."""
    if default is ... or default is None:
        return ""
    if control == "checkbox":
        return "true" if default else ""
    if control in ("text", "text-or-json") and isinstance(default, str):
        return default
    if control == "number" and isinstance(default, int | float):
        return _label(default)
    return _json(default)
