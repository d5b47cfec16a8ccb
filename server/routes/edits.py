"""OGC API - Features Part 4: create, replace, update (merge patch), delete, history."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from starlette.responses import Response

from openapi.standard import answers
from providers.base import AccessScope, FeatureEditor, Writer
from providers.catalog import Collection
from providers.crs import CrsRef
from providers.edits import (
    EditError,
    EditResult,
    FeatureInput,
    apply_patch,
    validate_feature,
)
from server.http.errors import (
    InvalidParameterError,
    MethodNotAllowedError,
    NotFoundError,
    PreconditionRequiredError,
)
from server.http.landing import LandingLink
from server.http.links import JSON, link, url_for
from server.http.negotiation import language_of
from server.http.params import json_body, parse_crs_param
from server.http.responses import json_response
from server.routes.dependencies import CollectionDep, FeatureId, Scope
from server.security.access import actor_allowed_to
from server.security.audit import audit_record
from server.state import get_state

LANDING: tuple[LandingLink, ...] = ()
CONFORMANCE = {
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/update",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/features",
}

FEATURE_TYPES = ("application/geo+json", "application/json")
PATCH_TYPES = ("application/merge-patch+json", "application/geo+json", "application/json")

Creator = Annotated[str, Depends(actor_allowed_to("create"))]
Updater = Annotated[str, Depends(actor_allowed_to("update"))]
Deleter = Annotated[str, Depends(actor_allowed_to("delete"))]
IfMatch = Annotated[
    str | None, Header(alias="If-Match", description="The feature's ETag (version)")
]
ContentCrs = Annotated[
    str | None, Header(alias="Content-Crs", description="CRS of the body (CRS84)")
]


def _editor(c: Collection) -> FeatureEditor:
    """The collection's edit store (``_editable`` has checked that it has one)."""
    assert c.editor is not None
    return c.editor


async def _editable(collection: CollectionDep) -> Collection:
    """A collection the caller may see that takes edits (405 for a read-only one)."""
    if not collection.editable or collection.editor is None:
        err = MethodNotAllowedError("edit.read_only", id=collection.id)
        err.headers = {"Allow": "GET, HEAD"}
        raise err
    return collection


Editable = Annotated[Collection, Depends(_editable)]


def _writer(request: Request, actor: str, scope: AccessScope, action: str) -> Writer:
    """The writer of this request: its grant, and the audit row its write commits."""
    record = audit_record(request, action, 201 if action == "feature.create" else 204)
    request.state.audited = True  # the write (or its failure) is recorded here
    return Writer(actor, scope.for_writing(), record)


def _allowed_properties(body: Any, scope: AccessScope) -> None:
    """A property outside the caller's grant is refused like an unknown one."""
    props = body.get("properties") if isinstance(body, dict) else None
    for name in props if isinstance(props, dict) else ():
        if not scope.allows_property(str(name)):
            raise InvalidParameterError(
                "edit.unknown_field", f"properties.{str(name)[:64]}",
                field=f"properties.{str(name)[:64]}",
            )  # fmt: skip


def _checked_values(c: Collection, feature: FeatureInput) -> FeatureInput:
    """Refuse a value outside the property's allowed values (400 naming it)."""
    for name, allowed in c.allowed_values.items():
        value = feature.properties.get(name)
        if value is not None and value not in allowed:
            raise EditError(
                "value", field=f"properties.{name}", allowed=", ".join(allowed)
            )
    return feature


def _keep_hidden(
    new: FeatureInput, current: FeatureInput, scope: AccessScope
) -> FeatureInput:
    """A replacement keeps the values of properties the caller cannot see."""
    if scope.properties is None:
        return new
    kept = {k: v for k, v in current.properties.items() if not scope.allows_property(k)}
    return FeatureInput(new.geometry, {**new.properties, **kept})


def _content_crs(c: Collection, header: str | None) -> CrsRef | None:
    if header is None:
        return None
    return parse_crs_param("Content-Crs", header.strip().strip("<>"), list(c.crs))


def _if_match(c: Collection, header: str | None) -> str | None:
    if header is None and c.require_if_match:
        raise PreconditionRequiredError("edit.if_match")
    return header


async def _guarded(
    request: Request, c: Collection, work: Any, writer: Writer
) -> EditResult | None:
    """Run a write (its validation, grant and version errors answer 400 / 403 / 412
    through the one error mapping); record it in the audit trail after the fact when
    the provider could not."""
    result: EditResult | None = await work
    c.changes.bump()
    if result is not None and writer.audit and not _editor(c).audits_writes:
        record = dataclasses.replace(writer.audit, feature_ids=result.feature_id)
        get_state(request).audit.append(record)
    return result


def _visible_version(version: dict[str, Any], scope: AccessScope) -> dict[str, Any]:
    """A history record without the properties the caller may not see."""
    if scope.properties is None:
        return version
    shown = dict(version)
    for side in ("old", "new"):
        doc = shown.get(side)
        if isinstance(doc, dict) and isinstance(doc.get("properties"), dict):
            props = {
                k: v for k, v in doc["properties"].items() if scope.allows_property(k)
            }
            shown[side] = {**doc, "properties": props}
    return shown


def _not_found(c: Collection, feature_id: str) -> NotFoundError:
    return NotFoundError("err.unknown_feature", id=feature_id[:80], collection=c.id)


def _done(result: EditResult, status: int = 204, **headers: str) -> Response:
    extra = {"ETag": f'"{result.version}"'} if result.version else {}
    return Response(status_code=status, headers={**extra, **headers})


@dataclasses.dataclass(frozen=True)
class _Target:
    """The feature a PUT or PATCH changes, who changes it, the version it expects."""

    c: Collection
    feature_id: str
    scope: AccessScope
    actor: str
    expected: str | None
    crs: CrsRef | None


async def _target(
    feature_id: FeatureId,
    scope: Scope,
    actor: Updater,
    c: Editable,
    if_match: IfMatch = None,
    content_crs: ContentCrs = None,
) -> _Target:
    expected = _if_match(c, if_match)
    return _Target(c, feature_id, scope, actor, expected, _content_crs(c, content_crs))


Target = Annotated[_Target, Depends(_target)]


async def _change(request: Request, target: Target, operation: str) -> Response:
    """PUT (replace) or PATCH (merge patch): validated, version-checked, one commit."""
    c, feature_id, scope, actor = target.c, target.feature_id, target.scope, target.actor
    expected, crs = target.expected, target.crs
    new: FeatureInput | None = None
    patch: dict[str, Any] = {}
    if operation == "replace":
        body = await json_body(request, FEATURE_TYPES)
        _allowed_properties(body, scope)
        new = validate_feature(body, c.info, crs)
    else:
        sent = await json_body(request, PATCH_TYPES)
        if not isinstance(sent, dict):
            raise InvalidParameterError("edit.not_object", "body")
        _allowed_properties(sent, scope)
        patch = sent

    def change(current: FeatureInput) -> FeatureInput:
        """The feature after the edit (run under the row lock, in the transaction)."""
        if new is not None:  # replace: hidden properties keep their values
            return _checked_values(c, _keep_hidden(new, current, scope))
        return _checked_values(c, apply_patch(current, patch, c.info, crs))

    writer = _writer(request, actor, scope, f"feature.{operation}")
    work = _editor(c).update(c.id, feature_id, change, expected, writer, operation)
    result = await _guarded(request, c, work, writer)
    if result is None:
        raise _not_found(c, feature_id)
    return _done(result)


router = APIRouter(tags=["Features - edits"])


@router.post(
    "/collections/{collectionId}/items",
    summary="Add a feature",
    status_code=201,
    responses={201: {"description": "Created; Location names the new feature"}},
)
async def create(
    request: Request,
    scope: Scope,
    actor: Creator,
    c: Editable,
    content_crs: ContentCrs = None,
) -> Response:
    """Add a feature; Location names it."""
    crs = _content_crs(c, content_crs)
    body = await json_body(request, FEATURE_TYPES)
    _allowed_properties(body, scope)
    feature = _checked_values(c, validate_feature(body, c.info, crs))
    writer = _writer(request, actor, scope, "feature.create")
    work = _editor(c).create(c.id, feature, writer)
    result = await _guarded(request, c, work, writer)
    assert result is not None
    location = url_for(request, f"/collections/{c.id}/items/{result.feature_id}")
    return _done(result, 201, Location=location)


@router.put(
    "/collections/{collectionId}/items/{featureId}",
    summary="Replace a feature",
    status_code=204,
)
async def replace(request: Request, target: Target) -> Response:
    """Replace a feature (If-Match where the collection asks for it)."""
    return await _change(request, target, "replace")


@router.patch(
    "/collections/{collectionId}/items/{featureId}",
    summary="Update a feature (JSON merge patch)",
    status_code=204,
)
async def update(request: Request, target: Target) -> Response:
    """Update a feature by a JSON merge patch."""
    return await _change(request, target, "update")


@router.delete(
    "/collections/{collectionId}/items/{featureId}",
    summary="Delete a feature",
    status_code=204,
)
async def delete(
    request: Request,
    feature_id: FeatureId,
    scope: Scope,
    actor: Deleter,
    c: Editable,
    if_match: IfMatch = None,
) -> Response:
    """Delete a feature."""
    expected = _if_match(c, if_match)
    writer = _writer(request, actor, scope, "feature.delete")
    work = _editor(c).delete(c.id, feature_id, expected, writer)
    result = await _guarded(request, c, work, writer)
    if result is None:
        raise _not_found(c, feature_id)
    return Response(status_code=204)


@router.get(
    "/collections/{collectionId}/items/{featureId}/history",
    summary="Every version of a feature",
    **answers(JSON, conditional=False),
)
async def history(
    request: Request,
    c: CollectionDep,
    feature_id: FeatureId,
    scope: Scope,
) -> Response:
    """Every version of a feature, oldest first."""
    versions = await c.editor.history(c.id, feature_id) if c.editor else []
    # Row-limited callers see the history of features they can read, only.
    if (not versions or scope.limits_rows) and await c.provider.item(
        c.id, feature_id, None, scope
    ) is None:
        raise _not_found(c, feature_id)
    versions = [_visible_version(v, scope) for v in versions]
    path = f"/collections/{c.id}/items/{feature_id}"
    lang = language_of(request)
    body = {
        "collection": c.id,
        "featureId": feature_id,
        "crs": c.info.storage_crs.uri,
        "versions": versions,
        "links": [
            link(url_for(request, path + "/history"), "self", JSON),
            link(url_for(request, path), "item", "application/geo+json"),
        ],
    }
    headers = {"Content-Language": lang, "Cache-Control": "no-cache"}
    return json_response(body, headers=headers)


def build_router() -> APIRouter:
    """Routes of OGC API - Features Part 4."""
    return router
