"""Turn FastAPI's OpenAPI 3.1 output into the OpenAPI 3.0 document OGC clients expect."""

from __future__ import annotations

import copy
from typing import Any

OPENAPI_VERSION = "3.0.3"


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
    document: dict[str, Any], *, title: str, description: str
) -> dict[str, Any]:
    """The API definition served at /api."""
    result: dict[str, Any] = _to_30(document)
    result["openapi"] = OPENAPI_VERSION
    result["info"] |= {"title": title, "description": description}
    result.setdefault("info", {})["x-ogc-serviceType"] = "OGC API"
    return result


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
