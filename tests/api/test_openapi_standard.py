"""The API definition says what the standards define: the items parameters as the
OGC API - Features Part 1 fragments give them (GDAL picks its page size from
``limit``), and every operation's errors as exceptions (problem+json)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import MAX_LIMIT

ITEMS = "/collections/{collectionId}/items"

# ogcapi-features-1 openapi/parameters/{limit,bbox,datetime}.yaml, with our maximum and
# default (the fragment's are examples: "minimum = 1, maximum = 10000, default = 10")
LIMIT = {
    "name": "limit",
    "in": "query",
    "required": False,
    "style": "form",
    "explode": False,
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 10},
}
BBOX = {
    "name": "bbox",
    "in": "query",
    "required": False,
    "style": "form",
    "explode": False,
    "schema": {
        "type": "array",
        "oneOf": [{"minItems": 4, "maxItems": 4}, {"minItems": 6, "maxItems": 6}],
        "items": {"type": "number"},
    },
}
DATETIME = {
    "name": "datetime",
    "in": "query",
    "required": False,
    "style": "form",
    "explode": False,
    "schema": {"type": "string"},
}


@pytest.fixture(scope="module")
def document(client: TestClient) -> dict[str, Any]:
    r = client.get("/api")
    assert r.status_code == 200
    body: dict[str, Any] = r.json()
    return body


def _parameter(operation: dict[str, Any], name: str) -> dict[str, Any]:
    found = [p for p in operation["parameters"] if p["name"] == name]
    assert len(found) == 1, name
    parameter = dict(found[0])
    parameter.pop("description", None)
    return parameter


@pytest.mark.parametrize("path", [ITEMS, "/collections/parcels/items"])
def test_items_parameters_as_the_standard_defines_them(
    document: dict[str, Any], path: str
) -> None:
    operation = document["paths"][path]["get"]
    assert _parameter(operation, "limit") == LIMIT
    assert _parameter(operation, "bbox") == BBOX
    assert _parameter(operation, "datetime") == DATETIME
    offset = _parameter(operation, "offset")["schema"]
    assert offset["type"] == "integer" and offset["minimum"] == 0


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_no_validation_error_422_anywhere(document: dict[str, Any]) -> None:
    assert all("422" not in op["responses"] for _, _, op in _operations(document))
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_errors_are_exceptions(document: dict[str, Any]) -> None:
    for path, method, operation in _operations(document):
        if path in ("/health", "/ready"):
            continue
        responses = operation["responses"]
        assert {"401", "403", "429", "503"} <= set(responses), (method, path)
        if "{" in path:
            assert "404" in responses, (method, path)
        for status, response in responses.items():
            if int(status) >= 400:
                schema = response["content"]["application/problem+json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/exception"}


def test_edits_document_their_preconditions(document: dict[str, Any]) -> None:
    item = document["paths"][ITEMS + "/{featureId}"]
    for method in ("put", "patch", "delete"):
        assert {"405", "412", "428"} <= set(item[method]["responses"]), method
    for method in ("put", "patch"):
        assert {"413", "415"} <= set(item[method]["responses"]), method


def test_media_types_of_the_answers(document: dict[str, Any]) -> None:
    paths = document["paths"]

    def media(path: str, status: str = "200") -> set[str]:
        return set(paths[path]["get"]["responses"][status]["content"])

    assert media(ITEMS) == {"application/geo+json", "text/html"}
    assert media("/collections/{collectionId}/queryables") == {
        "application/schema+json",
        "text/html",
    }
    assert media("/map") == {"text/html"}
    assert media("/") == {"application/json", "text/html"}
    items_schema = paths[ITEMS]["get"]["responses"]["200"]["content"]
    assert items_schema["application/geo+json"]["schema"] == {
        "$ref": "#/components/schemas/featureCollectionGeoJSON"
    }
    assert "304" in paths[ITEMS]["get"]["responses"]
