"""Parse and validate query parameters into provider values (400 naming the parameter)."""

from __future__ import annotations

import math
import re
from collections.abc import Container
from datetime import UTC, date, datetime, time
from typing import Any

import orjson
from starlette.datastructures import QueryParams
from starlette.requests import Request

from providers.base import (
    AccessScope,
    BBox,
    CollectionInfo,
    CountMode,
    Cql2Filter,
    Interval,
    SortKey,
)
from providers.cql2 import parse as cql2_parse
from providers.crs import CRS84, CrsRef, UnknownCrsError, parse_crs
from server.http.errors import (
    InvalidParameterError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from server.state import get_state

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MAX_COORDINATE = 1e15  # beyond any CRS (the earth is 4e7 m round)


def single(params: QueryParams, name: str) -> str | None:
    """A parameter that may appear once (or repeated with the same value).

    GDAL repeats the parameters of its connection URL on next-page links that already
    carry them; the same value twice is harmless, different values are ambiguous.
    """
    values = params.getlist(name)
    if len(set(values)) > 1:
        raise InvalidParameterError("err.repeated_param", name, name=name)
    return values[0] if values else None


def check_known(
    params: QueryParams,
    allowed: Container[str],
    info: CollectionInfo | None = None,
    scope: AccessScope | None = None,
) -> list[tuple[str, str]]:
    """Reject unknown parameters; return property=value pairs (Part 1 filters)."""
    equals: list[tuple[str, str]] = []
    for name in params:
        if name in allowed:
            continue
        field = info.field(name) if info is not None else None
        if field is None or (scope is not None and not scope.allows_property(name)):
            raise InvalidParameterError("err.unknown_param", name[:64], name=name[:64])
        value = single(params, name) or ""
        _check_value(name, value, field.type)
        equals.append((name, value))
    return equals


def _check_value(name: str, value: str, kind: str) -> None:
    try:
        if kind == "integer":
            if not -(2**63) <= int(value) < 2**63:  # what SQLite and PostgreSQL store
                raise ValueError(value)
        elif kind == "number":
            if not math.isfinite(float(value)):
                raise ValueError(value)
        elif kind == "boolean" and value.lower() not in ("true", "false"):
            raise ValueError(value)
    except ValueError:
        raise InvalidParameterError(
            "err.property_value", name, value=value[:40], name=name, type=kind
        ) from None


def parse_int(name: str, text: str | None, default: int) -> int:
    """A whole number, or the default when absent."""
    if text is None:
        return default
    try:
        return int(text.strip())
    except ValueError:
        raise InvalidParameterError("err.integer", name, value=text[:40]) from None


def parse_count(text: str | None) -> CountMode:
    """``count``: how numberMatched is computed."""
    if text is None:
        return "auto"
    if text not in ("auto", "exact", "estimated", "none"):
        raise InvalidParameterError(
            "err.format", "count", value=text[:40], allowed="auto, exact, estimated, none"
        )
    return text  # type: ignore[return-value]


def parse_limit(text: str | None, default: int, maximum: int) -> int:
    """``limit``: 1 or more; above the maximum it is served as the maximum (Part 1
    7.15.4: "you might get up to 10000 (server-limited) and a next link")."""
    value = parse_int("limit", text, default)
    if value < 1:
        raise InvalidParameterError("err.limit_range", "limit", value=value)
    return min(value, maximum)


def parse_offset(text: str | None) -> int:
    """``offset``: 0 or more."""
    value = parse_int("offset", text, 0)
    if value < 0 or value > 2**53:
        raise InvalidParameterError("err.offset_range", "offset", value=value)
    return value


def parse_crs_param(name: str, text: str | None, supported: list[str]) -> CrsRef | None:
    """``crs`` / ``bbox-crs``: one of the collection's CRS URIs (None when absent)."""
    if text is None:
        return None
    try:
        crs = parse_crs(text)
    except UnknownCrsError:
        crs = None
    if crs is None or crs.uri not in supported:
        raise InvalidParameterError(
            "err.crs_unknown", name, value=text[:120], allowed=", ".join(supported)
        )
    return crs


def parse_bbox(text: str | None, crs: CrsRef | None) -> BBox | None:
    """``bbox`` in ``crs`` axis order (CRS84 when None), returned x/y-ordered."""
    if text is None:
        return None
    numbers = _bbox_numbers(text)
    crs = crs or CRS84
    a1, b1, a2, b2 = numbers
    if crs.swap_xy:
        a1, b1, a2, b2 = b1, a1, b2, a2
    minx, miny, maxx, maxy = a1, b1, a2, b2
    if miny > maxy:
        raise InvalidParameterError(
            "err.bbox_order", "bbox", axis=_axis(crs, "y"), low=miny, high=maxy
        )
    if minx > maxx:
        raise InvalidParameterError(
            "err.bbox_order", "bbox", axis=_axis(crs, "x"), low=minx, high=maxx
        )
    if crs.geographic:
        for lat in (miny, maxy):
            if not -90 <= lat <= 90:
                raise InvalidParameterError("err.bbox_latitude", "bbox", value=lat)
    return BBox((minx, miny, maxx, maxy), crs)


def _bbox_numbers(text: str) -> list[float]:
    parts = text.split(",")
    if len(parts) not in (4, 6):
        raise InvalidParameterError("err.bbox_count", "bbox", count=len(parts))
    numbers = []
    for part in parts:
        try:
            value = float(part)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise InvalidParameterError("err.bbox_number", "bbox", value=part[:40])
        if abs(value) > _MAX_COORDINATE:
            raise InvalidParameterError("err.bbox_range", "bbox", value=part[:40])
        numbers.append(value)
    if len(numbers) == 6:  # 3D bbox: drop the heights
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    return numbers


_AXES = {
    (True, "y"): {"en": "latitude", "zh-CN": "纬度"},
    (True, "x"): {"en": "longitude", "zh-CN": "经度"},
    (False, "y"): {"en": "northing", "zh-CN": "北坐标"},
    (False, "x"): {"en": "easting", "zh-CN": "东坐标"},
}


def _axis(crs: CrsRef, axis: str) -> dict[str, str]:
    return _AXES[(crs.geographic, axis)]


def _instant(text: str, *, end: bool) -> datetime | None:
    if text in ("..", ""):
        return None
    if _DATE_ONLY.match(text):
        day = date.fromisoformat(text)
        moment = datetime.combine(day, time(), UTC)
        # the day's last millisecond (not the next day minus one: 9999-12-31 has none)
        return (
            moment.replace(hour=23, minute=59, second=59, microsecond=999000)
            if end
            else moment
        )
    if "T" not in text.upper():
        raise ValueError(text)
    value = datetime.fromisoformat(text.upper())
    if value.tzinfo is None:
        raise ValueError(text)  # RFC 3339 requires an offset
    return value.astimezone(UTC)  # OverflowError past year 1 or 9999


def parse_datetime(text: str | None) -> Interval | None:
    """``datetime``: an instant or a closed interval with open ends ('..' or empty)."""
    if text is None:
        return None
    try:
        if "/" in text:
            start_text, end_text = text.split("/", 1)
            if start_text in ("..", "") and end_text in ("..", ""):
                if start_text == end_text == "":
                    raise ValueError(text)
                return Interval(None, None)
            start = _instant(start_text, end=False)
            end = _instant(end_text, end=True)
        else:
            if text in ("..", ""):
                raise ValueError(text)
            start = _instant(text, end=False)
            end = _instant(text, end=True)
    except (ValueError, OverflowError):
        raise InvalidParameterError("err.datetime", "datetime", value=text[:80]) from None
    if start is not None and end is not None and start > end:
        raise InvalidParameterError("err.datetime_order", "datetime")
    return Interval(start, end)


def parse_filter(
    text: str | None, lang: str | None, crs: CrsRef | None
) -> Cql2Filter | None:
    """``filter`` / ``filter-lang``: CQL2 text or JSON, parsed and validated."""
    if text is None:
        if lang is not None and lang not in ("cql2-text", "cql2-json", "cql-text"):
            raise InvalidParameterError("cql2.lang", "filter-lang", value=lang[:30])
        return None
    return cql2_parse(text, lang, crs)  # a Cql2Error answers 400 naming ``filter``


def _names(text: str, param: str) -> list[str]:
    names = [n.strip() for n in text.split(",")]
    if not names or any(not n for n in names):
        raise InvalidParameterError("err.empty", param)
    return names


def _check_property(
    name: str, param: str, info: CollectionInfo, scope: AccessScope
) -> None:
    # A property the caller may not see answers exactly like an unknown one.
    if info.field(name) is None or not scope.allows_property(name):
        raise InvalidParameterError("err.unknown_property", param, name=name[:64])


def parse_properties(
    text: str | None, info: CollectionInfo, scope: AccessScope
) -> tuple[str, ...] | None:
    """``properties``: names of published properties to return."""
    if text is None:
        return None
    if text == "":
        return ()
    names = _names(text, "properties")
    for name in names:
        _check_property(name, "properties", info, scope)
    return tuple(dict.fromkeys(names))


def parse_sortby(
    text: str | None, info: CollectionInfo, scope: AccessScope
) -> tuple[SortKey, ...]:
    """``sortby``: ``name``, ``+name`` or ``-name``, comma separated."""
    if text is None:
        return ()
    keys: dict[str, SortKey] = {}  # a property sorts once (the first time it is named)
    for raw in _names(text, "sortby"):
        descending = raw.startswith("-")
        name = raw[1:] if raw[:1] in "+-" else raw
        name = name.strip()
        _check_property(name, "sortby", info, scope)
        keys.setdefault(name, SortKey(name, descending))
    return tuple(keys.values())


async def json_body(request: Request, allowed: tuple[str, ...]) -> Any:
    """The request body as JSON: media type, size limit (413) and syntax checked."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in allowed:
        raise UnsupportedMediaTypeError(
            "edit.media_type", allowed=", ".join(allowed), value=media[:60] or "-"
        )
    limit: int = get_state(request).settings.server.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError("edit.too_large", max=limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLargeError("edit.too_large", max=limit)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidParameterError("edit.json", "body", reason=str(exc)[:120]) from None
