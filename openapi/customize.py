"""Turn FastAPI's OpenAPI 3.1 output into the OpenAPI 3.0 document OGC clients expect."""

from __future__ import annotations

import copy
from typing import Any

from openapi.standard import EXCEPTION_SCHEMA, SCHEMAS, error_response, parameters

OPENAPI_VERSION = "3.0.3"
_METHODS = ("get", "put", "post", "patch", "delete")
# resources whose errors are not OGC exceptions (liveness and readiness probes)
_PROBES = ("/health", "/ready")


def _to_30(node: Any) -> Any:
    """Rewrite 3.1-only JSON Schema constructs (null types, examples, const)."""
    if isinstance(node, list):
        return [_to_30(v) for v in node]
    if not isinstance(node, dict):
        return node
    node = {k: _to_30(v) for k, v in node.items()}
    for key in ("anyOf", "oneOf"):
        options = node.get(key)
        if isinstance(options, list) and {"type": "null"} in options:
            rest = [o for o in options if o != {"type": "null"}]
            node.pop(key)
            if len(rest) == 1:
                node.update(rest[0])
            else:
                node[key] = rest
            node["nullable"] = True
    if "const" in node:
        node["enum"] = [node.pop("const")]
    examples = node.get("examples")
    if isinstance(examples, list) and "schema" not in node and "content" not in node:
        node.pop("examples")
        if examples:
            node["example"] = examples[0]
    return node


def customize(
    document: dict[str, Any],
    *,
    title: str,
    description: str,
    default_limit: int,
    max_limit: int,
) -> dict[str, Any]:
    """The API definition served at /api: OpenAPI 3.0, the standards' parameter
    definitions and every error status an operation can answer."""
    result: dict[str, Any] = _to_30(document)
    result["openapi"] = OPENAPI_VERSION
    result["info"] |= {"title": title, "description": description}
    result.setdefault("info", {})["x-ogc-serviceType"] = "OGC API"
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    # our errors are 400s (server/http/error_handlers.py), never FastAPI's 422
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    schemas |= SCHEMAS | {"exception": EXCEPTION_SCHEMA}
    standard = parameters(default_limit, max_limit)
    for path, item in result["paths"].items():
        for method in _METHODS:
            if method in item:
                _complete(path, method, item[method], standard)
    return result


def _complete(
    path: str, method: str, operation: dict[str, Any], standard: dict[str, Any]
) -> None:
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "query" and parameter["name"] in standard:
            parameter.pop("schema", None)
            parameter.update(copy.deepcopy(standard[parameter["name"]]))
    responses = operation.setdefault("responses", {})
    responses.pop("422", None)
    if path in _PROBES:
        return
    for status in sorted(error_statuses(path, method, operation)):
        standard = error_response(status)
        declared = responses.setdefault(str(status), standard)
        declared.setdefault("content", standard["content"])  # the route's own text


def error_statuses(path: str, method: str, operation: dict[str, Any]) -> set[int]:
    """The error statuses an operation can answer, from what it takes."""
    # every request: credentials (401), grants (403), rate limits (429), start-up (503)
    statuses = {401, 403, 429, 503}
    body = method in ("post", "put", "patch")
    if operation.get("parameters") or body:
        statuses.add(400)
    if "{" in path:
        statuses.add(404)
    if method == "get":
        statuses.add(406)
    if body:
        statuses |= {413, 415}
    if method != "get" and path.startswith("/collections/{collectionId}/items"):
        statuses.add(405)  # Features Part 4: a collection that is not editable
    if method in ("put", "patch", "delete") and "{featureId}" in path:
        statuses |= {412, 428}
    if path.startswith(("/collections/{collectionId}", "/tiles/", "/map")):
        statuses |= {502, 504}  # a source (database, COG, remote) failed or was slow
    return statuses


def with_collection_paths(
    document: dict[str, Any], collections: list[tuple[str, list[tuple[str, str]]]]
) -> dict[str, Any]:
    """Add ``/collections/{id}/items`` per collection, with its properties as parameters.

    Clients such as GDAL read these to learn which properties can be filtered on the
    server (``PROPERTY=value``); the generic path stays for the others.
    """
    result = copy.deepcopy(document)
    generic = result["paths"]["/collections/{collectionId}/items"]["get"]
    for collection_id, fields in collections:
        operation = copy.deepcopy(generic)
        operation["operationId"] = f"items_{collection_id}"
        operation["parameters"] = [
            p for p in generic["parameters"] if p.get("name") != "collectionId"
        ] + [
            {
                "name": name,
                "in": "query",
                "required": False,
                "schema": {"type": kind},
                "description": f"Features whose {name} equals this value",
            }
            for name, kind in fields
        ]
        result["paths"][f"/collections/{collection_id}/items"] = {"get": operation}
    return result
