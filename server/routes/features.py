"""OGC API - Features Part 1 (core) and Part 2 (CRS by reference)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response, StreamingResponse

from config.i18n import text_for
from openapi.standard import answers
from providers.base import AccessScope, ItemPage, ItemsQuery
from providers.catalog import Collection, RasterCollection
from providers.crs import CRS84_URI
from providers.geojson import with_links
from server.http.caching import cache_headers, etag_of, not_modified
from server.http.cursor import encode_cursor
from server.http.errors import NotFoundError
from server.http.landing import LandingLink
from server.http.links import GEOJSON, HTML, JSON, link, same_query, self_links, url_for
from server.http.negotiation import format_of, language_of
from server.http.params import (
    parse_crs_param,
)
from server.http.responses import json_bytes, render_html
from server.i18n import translate
from server.routes.common import respond
from server.routes.dependencies import (
    BASIC,
    AnyCollectionDep,
    Checked,
    CollectionDep,
    FeatureId,
    ItemsQueryDep,
    Scope,
    TolerantLanguage,
)
from server.routes.webmap import map_config
from server.state import get_state
from server.tiling.tilesets import raster_collection_document, tile_links

LANDING = (LandingLink("/collections", "data", JSON, "ui.data"),)
CONFORMANCE = {
    "http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/collections",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-5/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-5/1.0/conf/schemas",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    *(
        f"http://www.opengis.net/spec/cql2/1.0/conf/{name}"
        for name in (
            "cql2-text",
            "cql2-json",
            "basic-cql2",
            "advanced-comparison-operators",
            "case-insensitive-comparison",
            "accent-insensitive-comparison",
            "basic-spatial-functions",
            "basic-spatial-functions-plus",
            "spatial-functions",
            "temporal-functions",
            "array-functions",
            "property-property",
            "arithmetic",
        )
    ),
}

SCHEMA_JSON = "application/schema+json"
_ITEM_PARAMS = BASIC | {"crs"}

_FLUSH_BYTES = 1 << 16


def collection_document(request: Request, c: Collection, lang: str) -> dict[str, Any]:
    """The JSON description of one collection."""
    path = f"/collections/{c.id}"
    info = c.info
    doc: dict[str, Any] = {
        "id": c.id,
        "title": text_for(c.title, lang),
        "description": text_for(c.description, lang),
        "keywords": list(c.keywords),
        "itemType": "feature",
        "crs": list(c.crs),
        "storageCrs": info.storage_crs.uri,
        "links": [
            *self_links(request, path, lang),
            link(
                url_for(request, path + "/items", f="json"),
                "items",
                GEOJSON,
                translate("ui.items_json", lang),
            ),
            link(
                url_for(request, path + "/items", f="html"),
                "items",
                HTML,
                translate("ui.items_html", lang),
            ),
            link(
                url_for(request, path + "/queryables", f="json"),
                "http://www.opengis.net/def/rel/ogc/1.0/queryables",
                SCHEMA_JSON,
                translate("ui.queryables_json", lang),
            ),
            # GDAL types the fields from the "describedby" schema
            *(
                link(
                    url_for(request, path + "/schema", f="json"),
                    rel,
                    SCHEMA_JSON,
                    translate("ui.schema_json", lang),
                )
                for rel in (
                    "describedby",
                    "http://www.opengis.net/def/rel/ogc/1.0/schema",
                )
            ),
            *tile_links(request, c, lang),
        ],
    }
    extent: dict[str, Any] = {}
    if info.extent is not None:
        extent["spatial"] = {"bbox": [list(info.extent)], "crs": CRS84_URI}
    if info.temporal_extent is not None:
        extent["temporal"] = {
            "interval": [list(info.temporal_extent)],
            "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
        }
    if extent:
        doc["extent"] = extent
    return doc


def _any_document(
    request: Request, c: Collection | RasterCollection, lang: str
) -> dict[str, Any]:
    if isinstance(c, RasterCollection):
        return raster_collection_document(request, c, lang)
    return collection_document(request, c, lang)


def _json_schema(
    request: Request, c: Collection, scope: AccessScope, lang: str, resource: str
) -> dict[str, Any]:
    """The JSON Schema of the features: ``queryables`` (Part 3) or ``schema`` (Part 5)."""
    properties: dict[str, Any] = {
        "geometry": {
            "title": "geometry",
            "format": f"geometry-{c.info.geometry_type.lower()}",
            "x-ogc-role": "primary-geometry",
        }
    }
    for field in c.info.fields:
        if not scope.allows_property(field.name):
            continue
        schema: dict[str, Any] = {"title": text_for(field.title or field.name, lang)}
        if field.type in ("date", "datetime"):
            schema |= {
                "type": "string",
                "format": "date" if field.type == "date" else "date-time",
            }
        else:
            schema["type"] = field.type
        if field.name in c.allowed_values:
            schema["enum"] = list(c.allowed_values[field.name])
        properties[field.name] = schema
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": url_for(request, f"/collections/{c.id}/{resource}"),
        "type": "object",
        "title": text_for(c.title, lang),
        "properties": properties,
        "additionalProperties": False,
    }


def _items_links(
    request: Request, c: Collection, query: ItemsQuery, page: ItemPage, lang: str
) -> list[dict[str, str]]:
    links = [
        link(
            same_query(request, f="json"),
            "self",
            GEOJSON,
            translate("ui.as_geojson", lang),
        ),
        link(
            same_query(request, f="html"),
            "alternate",
            HTML,
            translate("ui.as_html", lang),
        ),
        link(
            url_for(request, f"/collections/{c.id}"),
            "collection",
            JSON,
            translate("ui.collection_link", lang),
        ),
    ]
    if page.has_more:
        links.append(
            link(
                _next_page(request, query, page),
                "next",
                GEOJSON,
                translate("ui.next", lang),
            )
        )
    if query.position > 0:
        prev = max(query.position - query.limit, 0)
        links.append(
            link(
                same_query(request, offset=prev or None, cursor=None, f="json"),
                "prev",
                GEOJSON,
                translate("ui.prev", lang),
            )
        )
    return links


def _next_page(request: Request, query: ItemsQuery, page: ItemPage) -> str:
    """The next page: after the last key where the order allows (the same cost at any
    depth), else by offset."""
    position = query.position + page.number_returned
    cursor = None if page.last_key is None else encode_cursor(position, page.last_key)
    if cursor is None:
        return same_query(request, offset=position, cursor=None, f="json")
    return same_query(request, offset=None, cursor=cursor, f="json")


_HEAD = b'{"type":"FeatureCollection","features":['


def _tail(
    request: Request, c: Collection, query: ItemsQuery, page: ItemPage, lang: str
) -> bytes:
    """The end of a FeatureCollection: counts, time stamp and links."""
    tail: dict[str, Any] = {"numberReturned": page.number_returned}
    if page.number_matched is not None:
        tail["numberMatched"] = page.number_matched
    tail["timeStamp"] = (
        datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    )
    tail["links"] = _items_links(request, c, query, page, lang)
    return b"]," + json_bytes(tail)[1:]


async def _feature_collection(
    request: Request, c: Collection, query: ItemsQuery, page: ItemPage, lang: str
) -> AsyncIterator[bytes]:
    """Stream a FeatureCollection: features as they come, then counts and links."""
    assert not isinstance(page.features, list)
    buffer = bytearray(_HEAD)
    first = True
    async for feature in page.features:
        if not first:
            buffer += b","
        buffer += feature
        first = False
        if len(buffer) >= _FLUSH_BYTES:
            yield bytes(buffer)
            buffer.clear()
    buffer += _tail(request, c, query, page, lang)
    yield bytes(buffer)


async def _items_response(
    request: Request, c: Collection, scope: AccessScope, query: ItemsQuery
) -> Response:
    """Answer a conditional GET if possible, else stream the page."""
    fmt = format_of(request)
    language = language_of(request)
    headers = {
        **cache_headers(request),
        "Content-Crs": f"<{query.crs.uri if query.crs else CRS84_URI}>",
        "Content-Language": language,
    }

    def tag(token: str) -> str:
        accept = request.headers.get("accept", "")
        return etag_of(token, str(request.url), fmt, language, accept, weak=True)

    # A provider with a change token answers 304 before querying; otherwise the
    # page's own digest (known before streaming) makes the ETag.
    version = c.provider.version(c.id)
    if version is not None and (hit := not_modified(request, tag(version), headers)):
        return hit
    page = await c.provider.items(c.id, query, scope)
    token = version or page.digest
    if token is not None:
        headers["ETag"] = tag(token)
        if version is None and (hit := not_modified(request, headers["ETag"], headers)):
            return hit
    if isinstance(page.features, list) and fmt == "json":
        # The whole page is here already: one join, one send.
        body = _HEAD + b",".join(page.features) + _tail(request, c, query, page, language)
        return Response(body, media_type=GEOJSON, headers=headers)
    if fmt == "html":
        if isinstance(page.features, list):
            features = [orjson.loads(feature) for feature in page.features]
        else:
            features = [orjson.loads(feature) async for feature in page.features]
        title = f"{text_for(c.title, language)} — {translate('ui.items', language)}"
        context = {
            "title": title,
            "collection": c,
            "features": features,
            "page": page,
            "query": query,
            "links": _items_links(request, c, query, page, language),
        }
        return render_html(request, "items.html", context, headers=headers)
    return StreamingResponse(
        _feature_collection(request, c, query, page, language),
        media_type=GEOJSON,
        headers=headers,
    )


router = APIRouter(tags=["Features"])


@router.get(
    "/collections",
    summary="Feature collections",
    name="collections",
    **answers(JSON, HTML, schema="collections"),
)
async def collections(
    request: Request, scope: Scope, language: TolerantLanguage
) -> Response:
    """The collections the caller may see."""
    listed = get_state(request).catalog.listing(scope)
    data = {
        "links": self_links(request, "/collections", language),
        "collections": [_any_document(request, c, language) for c in listed],
    }
    counts = {
        c.id: c.info.feature_count
        if isinstance(c, Collection)
        else f"{c.meta.width} × {c.meta.height} px"
        for c in listed
    }
    title = translate("ui.collections", language)
    return respond(
        request, data, "collections.html", context={"title": title, "counts": counts}
    )


@router.get(
    "/collections/{collectionId}",
    summary="One collection",
    name="collection",
    **answers(JSON, HTML, schema="collectionInfo"),
)
async def collection(
    request: Request, found: AnyCollectionDep, language: TolerantLanguage
) -> Response:
    """One collection of features or imagery."""
    if isinstance(found, RasterCollection):
        doc = raster_collection_document(request, found, language)
        config = map_config(request, [found], language)
        return respond(
            request,
            doc,
            "raster.html",
            context={"title": doc["title"], "c": found, "config": config},
        )
    c: Collection = found
    data = collection_document(request, c, language)
    return respond(
        request,
        data,
        "collection.html",
        context={"title": data["title"], "count": c.info.feature_count},
    )


def _schema_document(
    request: Request, c: Collection, scope: AccessScope, language: str, resource: str
) -> Response:
    data = _json_schema(request, c, scope, language, resource)
    title = f"{text_for(c.title, language)} — {translate('ui.' + resource, language)}"
    return respond(
        request,
        data,
        "queryables.html",
        media_type=SCHEMA_JSON,
        context={"title": title, "collection": c},
    )


@router.get(
    "/collections/{collectionId}/queryables",
    summary="Queryable properties (JSON Schema)",
    name="queryables",
    **answers(SCHEMA_JSON, HTML),
)
async def queryables(
    request: Request, c: CollectionDep, scope: Scope, language: TolerantLanguage
) -> Response:
    """The properties a filter may name (Part 3)."""
    return _schema_document(request, c, scope, language, "queryables")


@router.get(
    "/collections/{collectionId}/schema",
    summary="Schema of the features (JSON Schema)",
    name="schema",
    **answers(SCHEMA_JSON, HTML),
)
async def schema(
    request: Request, c: CollectionDep, scope: Scope, language: TolerantLanguage
) -> Response:
    """The schema of the features (Part 5)."""
    return _schema_document(request, c, scope, language, "schema")


@router.get(
    "/collections/{collectionId}/items",
    summary="Features of a collection",
    name="items",
    **answers(GEOJSON, HTML, schema="featureCollectionGeoJSON"),
)
async def items(
    request: Request, c: CollectionDep, scope: Scope, query: ItemsQueryDep
) -> Response:
    """A page of features: filtered, sorted, paged."""
    return await _items_response(request, c, scope, query)


@router.get(
    "/collections/{collectionId}/items/{featureId}",
    summary="One feature",
    name="item",
    **answers(GEOJSON, HTML, schema="featureGeoJSON"),
)
async def item(
    request: Request,
    c: CollectionDep,
    feature_id: FeatureId,
    scope: Scope,
    language: Annotated[str, Depends(Checked(_ITEM_PARAMS))],
    crs: Annotated[str | None, Query(description="Output CRS")] = None,
) -> Response:
    """One feature; its ETag is its version."""
    out = parse_crs_param("crs", crs, list(c.crs))
    fmt = format_of(request)
    found = await c.provider.item(c.id, feature_id, out, scope)
    if found is None:
        raise NotFoundError("err.unknown_feature", id=feature_id[:80], collection=c.id)
    feature, version = found
    path = f"/collections/{c.id}/items/{feature_id}"
    links = [
        link(
            same_query(request, f="json"),
            "self",
            GEOJSON,
            translate("ui.as_geojson", language),
        ),
        link(
            same_query(request, f="html"),
            "alternate",
            HTML,
            translate("ui.as_html", language),
        ),
        link(
            url_for(request, f"/collections/{c.id}"),
            "collection",
            JSON,
            translate("ui.collection_link", language),
        ),
        link(
            url_for(request, path + "/history"),
            "version-history",
            JSON,
            translate("ui.history", language),
        ),
    ]
    headers = {
        **cache_headers(request),
        "Content-Crs": f"<{out.uri if out else CRS84_URI}>",
        "Content-Language": language,
    }
    # JSON: the ETag is the feature's version, what If-Match of an edit must name
    headers["ETag"] = f'"{version}"' if fmt == "json" else etag_of(version, language)
    if cached := not_modified(request, headers["ETag"], headers):
        return cached
    if fmt == "html":
        page = render_html(
            request,
            "item.html",
            {
                "title": f"{text_for(c.title, language)} — {feature_id}",
                "collection": c,
                "feature": orjson.loads(feature),
                "links": links,
                "item_path": path,
            },
            headers=headers,
        )
        body, media = bytes(page.body), HTML
    else:
        body, media = with_links(feature, links), GEOJSON
    return Response(body, media_type=media, headers=headers)


def build_router() -> APIRouter:
    """Routes of OGC API - Features Parts 1 and 2."""
    return router
