"""What the OGC standards define for the API document: the query parameters of
OGC API - Features Parts 1-3 (the standards' OpenAPI fragments, ``parameters/*.yaml``)
and the exception body every error status carries (RFC 7807, OGC API - Common)."""

from __future__ import annotations

from typing import Any

# the routes return their own responses: FastAPI's default (application/json) would add
# a media type to the document that the route may not send
from starlette.responses import Response as _PlainResponse

PROBLEM_JSON = "application/problem+json"
PROBLEM_SCHEMA = "#/components/schemas/exception"

# Part 1 7.15: the page size; a larger value is served as the maximum, never an error
_COUNT_MAX = 2**53  # what a JSON number holds exactly


def parameters(default_limit: int, max_limit: int) -> dict[str, dict[str, Any]]:
    """The standard definition of each query parameter, by name."""
    return {
        "limit": {
            "style": "form",
            "explode": False,
            "schema": {
                "type": "integer",
                "minimum": 1,
                "maximum": max_limit,
                "default": default_limit,
            },
        },
        "offset": {
            "style": "form",
            "explode": False,
            "schema": {
                "type": "integer",
                "minimum": 0,
                "maximum": _COUNT_MAX,
                "default": 0,
            },
        },
        "bbox": {
            "style": "form",
            "explode": False,
            "schema": {
                "type": "array",
                "oneOf": [
                    {"minItems": 4, "maxItems": 4},
                    {"minItems": 6, "maxItems": 6},
                ],
                "items": {"type": "number"},
            },
        },
        "datetime": {"style": "form", "explode": False, "schema": {"type": "string"}},
        # Part 2: CRS URIs
        "crs": {"schema": {"type": "string", "format": "uri"}},
        "bbox-crs": {"schema": {"type": "string", "format": "uri"}},
        "filter-crs": {"schema": {"type": "string", "format": "uri"}},
    }


EXCEPTION_SCHEMA: dict[str, Any] = {
    "title": "Exception",
    "description": "Information about an error (RFC 7807 problem details).",
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "code": {"type": "string"},
        "parameter": {"type": "string"},
    },
}

ERROR_DESCRIPTIONS = {
    400: "A parameter, header or body is not acceptable; the detail names it",
    401: "Authentication required or the credentials are not valid",
    403: "The caller's grants do not allow this",
    404: "The resource does not exist or the caller may not see it",
    405: "The collection does not accept this edit (read-only)",
    406: "None of the requested media types or languages is offered",
    412: "If-Match does not name the current version",
    413: "The request body is too large",
    415: "The request body's media type is not accepted",
    428: "The operation needs If-Match",
    429: "Too many requests; Retry-After says when to try again",
    502: "A source of the data answered with an error",
    503: "The service or a source is unavailable; Retry-After says when to retry",
    504: "A source of the data did not answer in time",
}


def error_response(status: int) -> dict[str, Any]:
    """The response object of one error status: an exception, or an HTML page for a
    client that asks for HTML (f=html, a browser's Accept)."""
    return {
        "description": ERROR_DESCRIPTIONS[status],
        "content": {
            PROBLEM_JSON: {"schema": {"$ref": PROBLEM_SCHEMA}},
            "text/html": {},
        },
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_LINKS = {"type": "array", "items": _ref("link")}

# The response schemas of the standards' OpenAPI fragments (OGC API - Common Part 1,
# Features Part 1 schemas/*.yaml, Processes Part 1, Tiles Part 1), required members only
# where the standard requires them; more members are allowed.
SCHEMAS: dict[str, dict[str, Any]] = {
    "link": {
        "type": "object",
        "required": ["href"],
        "properties": {
            "href": {"type": "string"},
            "rel": {"type": "string"},
            "type": {"type": "string"},
            "hreflang": {"type": "string"},
            "title": {"type": "string"},
            "length": {"type": "integer"},
        },
    },
    "landingPage": {
        "type": "object",
        "required": ["links"],
        "properties": {
            "title": {"type": "string"},
            "description": {"type": "string"},
            "links": _LINKS,
        },
    },
    "confClasses": {
        "type": "object",
        "required": ["conformsTo"],
        "properties": {"conformsTo": {"type": "array", "items": {"type": "string"}}},
    },
    "collectionInfo": {
        "type": "object",
        "required": ["id", "links"],
        "properties": {
            "id": {"type": "string"},
            "title": {"type": "string"},
            "description": {"type": "string"},
            "links": _LINKS,
            "extent": {"type": "object"},
            "itemType": {"type": "string"},
            "crs": {"type": "array", "items": {"type": "string"}},
        },
    },
    "collections": {
        "type": "object",
        "required": ["links", "collections"],
        "properties": {
            "links": _LINKS,
            "collections": {"type": "array", "items": _ref("collectionInfo")},
        },
    },
    "featureGeoJSON": {
        "type": "object",
        "required": ["type", "geometry", "properties"],
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "geometry": {"type": "object", "nullable": True},
            "properties": {"type": "object", "nullable": True},
            "id": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            "links": _LINKS,
        },
    },
    "featureCollectionGeoJSON": {
        "type": "object",
        "required": ["type", "features"],
        "properties": {
            "type": {"type": "string", "enum": ["FeatureCollection"]},
            "features": {"type": "array", "items": _ref("featureGeoJSON")},
            "links": _LINKS,
            "timeStamp": {"type": "string", "format": "date-time"},
            "numberMatched": {"type": "integer", "minimum": 0},
            "numberReturned": {"type": "integer", "minimum": 0},
        },
    },
    "processList": {
        "type": "object",
        "required": ["processes", "links"],
        "properties": {
            "processes": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "version"],
                    "properties": {
                        "id": {"type": "string"},
                        "version": {"type": "string"},
                        "links": _LINKS,
                    },
                },
            },
            "links": _LINKS,
        },
    },
    "process": {
        "type": "object",
        "required": ["id", "version"],
        "properties": {
            "id": {"type": "string"},
            "version": {"type": "string"},
            "inputs": {"type": "object"},
            "outputs": {"type": "object"},
            "links": _LINKS,
        },
    },
    "statusInfo": {
        "type": "object",
        "required": ["jobID", "status", "type"],
        "properties": {
            "type": {"type": "string", "enum": ["process"]},
            "processID": {"type": "string"},
            "jobID": {"type": "string"},
            "status": {
                "type": "string",
                "enum": ["accepted", "running", "successful", "failed", "dismissed"],
            },
            "message": {"type": "string"},
            "progress": {"type": "integer", "minimum": 0, "maximum": 100},
            "links": _LINKS,
        },
    },
    "jobList": {
        "type": "object",
        "required": ["jobs", "links"],
        "properties": {
            "jobs": {"type": "array", "items": _ref("statusInfo")},
            "links": _LINKS,
        },
    },
    "tileMatrixSets": {
        "type": "object",
        "required": ["tileMatrixSets"],
        "properties": {"tileMatrixSets": {"type": "array", "items": {"type": "object"}}},
    },
    "tileMatrixSet": {
        "type": "object",
        "required": ["crs", "tileMatrices"],
        "properties": {
            "id": {"type": "string"},
            "crs": {},
            "tileMatrices": {"type": "array", "items": {"type": "object"}},
        },
    },
    "tileSets": {
        "type": "object",
        "required": ["tilesets"],
        "properties": {"tilesets": {"type": "array", "items": {"type": "object"}}},
    },
}


def answers(
    *media: str, schema: str | None = None, conditional: bool = True
) -> dict[str, Any]:
    """The route arguments of an operation whose answer is one of ``media``, the JSON
    ones with the standard ``schema`` (a name of :data:`SCHEMAS`); ``conditional``: it
    sends an ETag and answers If-None-Match with 304."""
    content = {
        m: {"schema": _ref(schema)} if schema and "json" in m else {} for m in media
    }
    responses: dict[int | str, Any] = {200: {"description": "OK", "content": content}}
    if conditional:
        responses[304] = {"description": "Not modified: If-None-Match names the ETag"}
    return {"response_class": _PlainResponse, "responses": responses}
