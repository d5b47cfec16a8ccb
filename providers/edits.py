"""Features Part 4 shared by the providers: validating bodies, merge patch, versions.

A feature's version (its ETag) is a hash of its stored content, computed the same way at
read and at write time, so ``If-Match`` detects any change made in between.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import shapely
import shapely.geometry

from providers.base import CollectionInfo, FieldType
from providers.crs import CRS84, CrsRef, swap_axes, transform_geometries
from providers.errors import ForbiddenWrite, QueryError, VersionMismatch

# Geometry types a collection of each type accepts (single parts are promoted).
_ACCEPTS = {
    "Polygon": {"Polygon"},
    "Multipolygon": {"Polygon", "MultiPolygon"},
    "MultiPolygon": {"Polygon", "MultiPolygon"},
    "Point": {"Point"},
    "MultiPoint": {"Point", "MultiPoint"},
    "LineString": {"LineString"},
    "MultiLineString": {"LineString", "MultiLineString"},
}


class EditError(QueryError):
    """A body that cannot be stored (messages ``edit.*``); the field at fault is named."""

    prefix = "edit"

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key, str(params.get("field", "body")), **params)


class OutsideGrantError(ForbiddenWrite):
    """The written feature would lie outside the writer's region or row filter (403)."""

    prefix = "edit"

    def __init__(self, collection_id: str) -> None:
        super().__init__("outside_grant", id=collection_id)


VersionMismatchError = VersionMismatch


@dataclass(frozen=True)
class FeatureInput:
    """A validated feature: geometry in the storage CRS (x/y order), typed properties."""

    geometry: shapely.Geometry
    properties: dict[str, Any]


@dataclass(frozen=True)
class EditResult:
    """What a write returns."""

    feature_id: str
    version: str | None  # None after a delete


def _typed(name: str, value: Any, kind: FieldType) -> Any:
    if value is None:
        return None
    ok: bool
    if kind == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        ok = ok and math.isfinite(float(value))
    elif kind == "boolean":
        ok = isinstance(value, bool)
    elif kind in ("date", "datetime"):
        ok = isinstance(value, str)
        if ok:
            try:
                parsed: date | datetime = (
                    date.fromisoformat(value)
                    if kind == "date"
                    else datetime.fromisoformat(value.replace("Z", "+00:00"))
                )
            except ValueError:
                ok = False
            else:
                return parsed
    else:
        ok = isinstance(value, str)
        if ok and "\x00" in value:  # no database stores it in text
            raise EditError("nul", field=f"properties.{name}")
    if not ok:
        raise EditError("type", field=f"properties.{name}", type=kind)
    return float(value) if kind == "number" else value


def validate_properties(props: Any, info: CollectionInfo) -> dict[str, Any]:
    """Typed values of a ``properties`` object; every published field, absent = None."""
    if props is None:
        props = {}
    if not isinstance(props, dict):
        raise EditError("type", field="properties", type="object")
    properties: dict[str, Any] = {f.name: None for f in info.fields}
    for name, value in props.items():
        field = info.field(str(name))
        if field is None:
            raise EditError("unknown_field", field=f"properties.{str(name)[:64]}")
        properties[field.name] = _typed(field.name, value, field.type)
    for field in info.fields:
        if field.required and properties[field.name] is None:
            raise EditError("required", field=f"properties.{field.name}")
    return properties


def validate_feature(body: Any, info: CollectionInfo, crs: CrsRef | None) -> FeatureInput:
    """Check a GeoJSON Feature against the collection; EditError names the field."""
    if not isinstance(body, dict) or body.get("type") != "Feature":
        raise EditError("not_feature")
    properties = validate_properties(body.get("properties"), info)
    return FeatureInput(geometry_of(body.get("geometry"), info, crs), properties)


def apply_patch(
    current: FeatureInput, patch: Any, info: CollectionInfo, crs: CrsRef | None
) -> FeatureInput:
    """The feature after an RFC 7396 merge patch of its JSON (geometry, properties)."""
    if not isinstance(patch, dict):
        raise EditError("not_object")
    unknown = set(patch) - {"type", "id", "geometry", "properties"}
    if unknown:
        raise EditError("unknown_field", field=sorted(unknown)[0][:64])
    geometry = current.geometry
    if "geometry" in patch:
        geometry = geometry_of(patch["geometry"], info, crs)
    props = {k: json_value(v) for k, v in current.properties.items() if v is not None}
    merged = merge_patch(props, patch.get("properties", {}))
    return FeatureInput(geometry, validate_properties(merged, info))


def geometry_of(value: Any, info: CollectionInfo, crs: CrsRef | None) -> shapely.Geometry:
    """A GeoJSON geometry in ``crs`` (CRS84 default) as a valid storage-CRS geometry."""
    if not isinstance(value, dict):
        raise EditError("geometry", field="geometry", reason="missing")
    try:
        geom = shapely.geometry.shape(value)
    except (
        ValueError,
        TypeError,
        KeyError,
        AttributeError,
        IndexError,
        shapely.errors.ShapelyError,
    ) as exc:
        raise EditError("geometry", field="geometry", reason=str(exc)[:120]) from None
    accepted = _ACCEPTS.get(info.geometry_type, {info.geometry_type})
    if geom.geom_type not in accepted:
        raise EditError(
            "geometry_type",
            field="geometry",
            expected=info.geometry_type,
            got=geom.geom_type,
        )
    coords = shapely.get_coordinates(geom)
    if geom.is_empty or not all(math.isfinite(v) for v in coords.ravel()):
        raise EditError("geometry", field="geometry", reason="empty or not finite")
    source = crs or CRS84
    if source.swap_xy:
        geom = swap_axes(geom)
    geom = transform_geometries(geom, source, info.storage_crs)
    if not _on_earth(geom, info.storage_crs):
        # e.g. 1e308 degrees: stored, it would break every reprojection over it
        raise EditError("geometry", field="geometry", reason="outside the CRS")
    if not geom.is_valid:
        raise EditError(
            "geometry", field="geometry", reason=shapely.is_valid_reason(geom)
        )
    if geom.geom_type.startswith(
        "Multi"
    ) is False and info.geometry_type.lower().startswith("multi"):
        geom = (
            shapely.multipolygons([geom])
            if geom.geom_type == "Polygon"
            else (
                shapely.multilinestrings([geom])
                if geom.geom_type == "LineString"
                else shapely.multipoints([geom])
            )
        )
    return geom


def _on_earth(geom: shapely.Geometry, storage: CrsRef) -> bool:
    """Whether every coordinate is finite in the storage CRS and within
    longitude ±180, latitude ±90."""
    if not np.isfinite(shapely.get_coordinates(geom)).all():
        return False
    lonlat = shapely.get_coordinates(transform_geometries(geom, storage, CRS84))
    return bool(
        np.isfinite(lonlat).all()
        and (np.abs(lonlat[:, 0]) <= 180).all()
        and (np.abs(lonlat[:, 1]) <= 90).all()
    )


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def check_version(current: str, if_match: str | None) -> None:
    """Raise VersionMismatchError unless If-Match names ``current`` (or is ``*``)."""
    if if_match is None:
        return
    tags = [t.strip() for t in if_match.split(",")]
    if "*" in tags:
        return
    if f'"{current}"' not in tags:
        raise VersionMismatchError(current)


def json_value(value: Any) -> Any:
    """A stored value as JSON (dates as ISO text) for history records."""
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value
