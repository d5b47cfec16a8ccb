"""Typed dependencies of the routes: what a handler needs, checked once.

Their parameters are the ones the API definition shows; their order in a handler's
signature is the order of the checks (the collection first: an unknown one answers
404 whatever the parameters).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Query, Request

from config.i18n import Language
from providers.base import AccessScope, ItemsQuery
from providers.catalog import Collection, RasterCollection
from server.http.cursor import parse_cursor
from server.http.errors import InvalidParameterError
from server.http.negotiation import check_language, language_of
from server.http.params import (
    check_known,
    parse_bbox,
    parse_count,
    parse_crs_param,
    parse_datetime,
    parse_filter,
    parse_limit,
    parse_offset,
    parse_properties,
    parse_sortby,
    single,
)
from server.security.access import get_scope
from server.state import get_state

F = Annotated[
    str | None,
    Query(
        description="Output format: json or html",
        json_schema_extra={"enum": ["json", "html"]},
    ),
]
LANG = Annotated[str | None, Query(description="Language: zh-CN or en")]
BASIC = frozenset({"f", "lang"})
# Items parameters that GDAL repeats on every request of an OAPIF:URL?filter=… source
TOLERATED = BASIC | {
    "filter",
    "filter-lang",
    "filter-crs",
    "bbox",
    "bbox-crs",
    "datetime",
    "limit",
    "offset",
    "cursor",
    "properties",
    "sortby",
    "crs",
    "count",
}

CollectionId = Annotated[str, Path(alias="collectionId", description="Collection id")]
FeatureId = Annotated[str, Path(alias="featureId", description="Feature id")]
Scope = Annotated[AccessScope, Depends(get_scope)]


class Checked:
    """The query names only ``allowed`` parameters and a supported ``lang``: the
    response language. Dependencies here are async: they do not block, and FastAPI
    would run a plain function in a worker thread (a thread hop per request)."""

    def __init__(self, allowed: frozenset[str]) -> None:
        self.allowed = allowed

    async def __call__(
        self, request: Request, f: F = None, lang: LANG = None
    ) -> Language:
        """Check the query: 400 naming the first parameter at fault."""
        check_known(request.query_params, self.allowed)
        check_language(request)
        return language_of(request)


# the language of a resource that takes f and lang only / also the items parameters
BasicLanguage = Annotated[Language, Depends(Checked(BASIC))]
TolerantLanguage = Annotated[Language, Depends(Checked(TOLERATED))]


async def any_collection(
    request: Request, collection_id: CollectionId, scope: Scope
) -> Collection | RasterCollection:
    """A collection of features or imagery the caller may see (else 404)."""
    return get_state(request).catalog.find(collection_id, scope)


async def feature_collection(
    request: Request, collection_id: CollectionId, scope: Scope
) -> Collection:
    """A collection of features the caller may see (else 404)."""
    collection: Collection = get_state(request).catalog.get(collection_id, scope)
    return collection


AnyCollectionDep = Annotated[Collection | RasterCollection, Depends(any_collection)]
CollectionDep = Annotated[Collection, Depends(feature_collection)]


@dataclass
class ItemsParams:
    """Query parameters of /items, as sent (parsed by :func:`items_query`)."""

    bbox: Annotated[
        str | None,
        Query(description="minx,miny,maxx,maxy in bbox-crs axis order (default CRS84)"),
    ] = None
    bbox_crs: Annotated[
        str | None, Query(alias="bbox-crs", description="CRS of bbox")
    ] = None
    datetime: Annotated[
        str | None, Query(description="RFC 3339 instant or interval (start/end, '..')")
    ] = None
    limit: Annotated[str | None, Query(description="Page size (1 to the maximum)")] = None
    offset: Annotated[str | None, Query(description="Features to skip")] = None
    cursor: Annotated[
        str | None,
        Query(
            description="Where the page follows on (from a next link; costs the same "
            "at any depth)"
        ),
    ] = None
    properties: Annotated[
        str | None, Query(description="Comma-separated properties to return")
    ] = None
    sortby: Annotated[
        str | None, Query(description="Comma-separated properties, prefix - to descend")
    ] = None
    crs: Annotated[
        str | None, Query(description="Output CRS (one of the collection's)")
    ] = None
    filter: Annotated[
        str | None,
        Query(description="CQL2 filter (Part 3); property names from the queryables"),
    ] = None
    filter_lang: Annotated[
        str | None,
        Query(
            alias="filter-lang",
            description="cql2-text (default) or cql2-json",
            # cql-text: the draft name GDAL's OAPIF driver looks for (same grammar here)
            json_schema_extra={"enum": ["cql2-text", "cql2-json", "cql-text"]},
        ),
    ] = None
    count: Annotated[
        str | None,
        Query(
            description="numberMatched: auto (default; exact when cheap, else omitted), "
            "exact, estimated (the database planner's estimate) or none",
            json_schema_extra={"enum": ["auto", "exact", "estimated", "none"]},
        ),
    ] = None
    filter_crs: Annotated[
        str | None,
        Query(alias="filter-crs", description="CRS of the filter's geometries (CRS84)"),
    ] = None


async def _items_params(**params: str | None) -> ItemsParams:
    return ItemsParams(**params)


# FastAPI reads the parameters from the signature; an async dependency runs on the
# event loop (a class or a plain function would cost a thread hop per request).
_items_params.__signature__ = inspect.signature(ItemsParams)  # type: ignore[attr-defined]


async def items_query(
    request: Request,
    c: CollectionDep,
    scope: Scope,
    params: Annotated[ItemsParams, Depends(_items_params)],
    f: F = None,
    lang: LANG = None,
) -> ItemsQuery:
    """The items query of the request, every parameter checked (400 naming it)."""
    check_language(request)
    qp = request.query_params
    equals = check_known(qp, TOLERATED, c.info, scope)
    for name in TOLERATED:
        single(qp, name)
    server = get_state(request).settings.server
    crs = list(c.crs)
    bbox_crs = parse_crs_param("bbox-crs", params.bbox_crs, crs)
    sortby = parse_sortby(params.sortby, c.info, scope)
    offset = parse_offset(params.offset)
    position, after = offset, None
    if params.cursor is not None:
        if params.offset is not None:
            raise InvalidParameterError("err.cursor_offset", "cursor")
        position, after = parse_cursor(params.cursor, len(sortby) + 1)
    query = ItemsQuery(
        limit=parse_limit(params.limit, server.default_limit, server.max_limit),
        offset=offset,
        crs=parse_crs_param("crs", params.crs, crs),
        bbox=parse_bbox(params.bbox, bbox_crs),
        datetime=parse_datetime(params.datetime),
        properties=parse_properties(params.properties, c.info, scope),
        sortby=sortby,
        equals=tuple(equals),
        count=parse_count(params.count),
        filter=parse_filter(
            params.filter,
            params.filter_lang,
            parse_crs_param("filter-crs", params.filter_crs, crs),
        ),
        after=after,
        position=position,
    )
    if after is not None and not query.keyset(c.info):
        raise InvalidParameterError("err.cursor", "cursor")
    return query


ItemsQueryDep = Annotated[ItemsQuery, Depends(items_query)]
