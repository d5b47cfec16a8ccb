"""Turn FastAPI's OpenAPI 3.1 output into the OpenAPI 3.0 document OGC clients expect."""

from __future__ import annotations

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
