"""OGC API - Tiles: tile matrix sets, tilesets and tiles of imagery (COG) and vector
(MVT) collections, and dataset-level multi-layer vector tiles.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Annotated, Any, NamedTuple

import shapely
from anyio import to_thread
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.types import DecoratedCallable as Handler
from morecantile import Tile, TileMatrixSet
from starlette.responses import Response

from openapi.standard import answers
from providers.base import AccessScope, TileQuery
from providers.catalog import Collection, RasterCollection
from server.http.caching import cache_headers, etag_of, not_modified
from server.http.errors import InvalidParameterError, NotFoundError
from server.http.landing import LandingLink
from server.http.links import HTML, JSON, link, self_links, url_for
from server.http.negotiation import check_language, language_of
from server.http.params import (
    check_known,
    parse_crs_param,
    parse_filter,
    parse_properties,
    single,
)
from server.http.responses import json_bytes
from server.i18n import translate
from server.routes.common import LANG, respond
from server.security.access import get_scope
from server.state import get_state
from server.tiling.hot_tiles import (
    COLLECTION_TILE,
    DATASET_TILE,
    MAP_TILE,
    offer_replay,
)
from server.tiling.tile_params import (
    MVT,
    RENDER_PARAMS,
    check_vector_format,
    image_choice,
    image_format,
    render_options,
)
from server.tiling.tilesets import (
    PNG,
    REL_SCHEMES,
    REL_VECTOR_TILES,
    TILEJSON,
    Tiled,
    layer_minzoom,
    tilejson,
    tileset_document,
    tilesets_document,
    vector_zooms,
)
from tiles.draw import draw_png
from tiles.imagery import ImageryTile, render_tile
from tiles.render import MEDIA_TYPES
from tiles.tms import WEB_MERCATOR, tile_matrix_sets, tms_crs, tms_document
from tiles.tms import tms_id as id_of

_TILES = "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/"
LANDING = (
    LandingLink("/tileMatrixSets", REL_SCHEMES, JSON, "ui.tile_matrix_sets"),
    LandingLink("/tiles", REL_VECTOR_TILES, JSON, "ui.tiles"),
)
CONFORMANCE = {
    _TILES + name
    for name in (
        "core",
        "tileset",
        "tilesets-list",
        "geodata-tilesets",
        "dataset-tilesets",
        "geodata-selection",
        "png",
        "jpeg",
        "tiff",
        "mvt",
        "oas30",
    )
} | {
    "http://www.opengis.net/spec/tms/2.0/conf/tilematrixset",
    "http://www.opengis.net/spec/tms/2.0/conf/json-tilematrixset",
}

_BASIC = {"f", "lang"}
_VECTOR_PARAMS = _BASIC | {"properties", "filter", "filter-lang", "filter-crs"}
_DATASET_PARAMS = _BASIC | {"collections"}
_MAP_PARAMS = _BASIC | {"filter", "filter-lang", "filter-crs"}
_UNVERSIONED_TTL = 10.0  # s: tiles of views (no change counters) or with polling off

CollectionId = Annotated[str, Path(alias="collectionId", description="Collection id")]
TmsId = Annotated[
    str,
    Path(
        alias="tileMatrixSetId",
        description="WebMercatorQuad, WorldCRS84Quad or CGCS2000Quad (Tianditu 'c')",
    ),
]
TileMatrix = Annotated[str, Path(alias="tileMatrix", description="Zoom level")]
TileRow = Annotated[str, Path(alias="tileRow", description="Row (y)")]
TileCol = Annotated[str, Path(alias="tileCol", description="Column (x)")]
Scope = Annotated[AccessScope, Depends(get_scope)]
TileF = Annotated[
    str | None,
    Query(description="png, jpeg, webp, tif or npy (imagery); mvt (vector)"),
]


_TILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The tile",
        "content": {media: {} for media in (*MEDIA_TYPES.values(), MVT)},
    },
    204: {"description": "A vector tile with no feature"},
    304: {"description": "Not modified (If-None-Match)"},
    404: {"description": "Outside the tile matrix set or the data's limits"},
}


_MAP_TILE_RESPONSES = {
    **_TILE_RESPONSES,
    200: {"description": "The tile", "content": {PNG: {}}},
}


def _tms(tms_id: str) -> TileMatrixSet:
    found = tile_matrix_sets().get(tms_id)
    if found is None:
        ids = ", ".join(tile_matrix_sets())
        raise NotFoundError("tile.unknown_tms", id=tms_id[:64], ids=ids)
    return found


def _index(name: str, text: str) -> int:
    if not text.isdigit() or len(text) > 9:
        raise InvalidParameterError("err.integer", name, value=text[:20])
    return int(text)


def _tile(tms: TileMatrixSet, z: str, y: str, x: str, zooms: tuple[int, int]) -> Tile:
    """The tile of the path; 404 outside the matrix set or the served zooms."""
    tile = Tile(_index("tileCol", x), _index("tileRow", y), _index("tileMatrix", z))
    outside = NotFoundError("tile.outside", z=tile.z, y=tile.y, x=tile.x)
    if not max(tms.minzoom, zooms[0]) <= tile.z <= min(tms.maxzoom, zooms[1]):
        raise outside
    matrix = tms.matrix(tile.z)
    if tile.x >= matrix.matrixWidth or tile.y >= matrix.matrixHeight:
        raise outside
    return tile


def _public(request: Request, scope: AccessScope, ids: list[str]) -> bool:
    """Whether anonymous callers get the same tile (then it may be shared)."""
    anonymous: AccessScope = get_state(request).anonymous_scope
    return all(
        anonymous.sees(i) and scope.narrowed(i).data_key == anonymous.narrowed(i).data_key
        for i in ids
    )


def _send(
    request: Request, data: bytes, etag: str, media_type: str, public: bool
) -> Response:
    max_age = get_state(request).settings.tiles.max_age
    headers = {
        "ETag": etag,
        "Cache-Control": f"public, max-age={max_age}"
        if public
        else "private, max-age=60",
        "Vary": "Accept, Authorization, X-API-Key",
    }
    cached = not_modified(request, etag, headers)
    if cached is not None:
        return cached
    if not data:
        return Response(status_code=204, headers=headers)
    return Response(data, media_type=media_type, headers=headers)


# ------------------------------------------------------------------ imagery


def _unchanging() -> None:
    """Imagery collections are fixed for the life of the process (c.version)."""


async def _raster_tile(
    request: Request,
    c: RasterCollection,
    tms: TileMatrixSet,
    zyx: tuple[str, str, str],
    scope: AccessScope,
) -> Response:
    params = request.query_params
    check_known(params, _BASIC | RENDER_PARAMS)
    fmt = image_format(params, request.headers.get("accept", ""))
    image = image_choice(params, tuple(c.images), c.default_image)
    options = render_options(params, c.meta, c.source)
    tile = _tile(tms, *zyx, c.zooms[id_of(tms)])
    limits = c.limits[id_of(tms)].get(tile.z)
    outside = NotFoundError("tile.outside", z=tile.z, y=tile.y, x=tile.x)
    if limits is None or not limits.holds(tile.y, tile.x):
        raise outside
    if scope.region is not None:
        b = tms.bounds(tile)  # lon/lat
        if not scope.region.intersects(shapely.box(b.left, b.bottom, b.right, b.top)):
            raise outside
    key = etag_of(
        c.id, c.version, id_of(tms), str(tile), image, fmt, options.key(), scope.data_key
    )
    state = get_state(request)
    public = _public(request, scope, [c.id])
    ttl = float(state.settings.tiles.max_age)
    offer_replay(request, ttl, _unchanging, None)
    spec = ImageryTile(
        hrefs=c.images[image],
        tms=tms,
        tile=tile,
        options=options,
        fmt=fmt,
        region=scope.region,
        png_zlevel=state.settings.tiles.png_zlevel,
    )
    hit = state.tile_cache.get(key)
    if hit is not None:
        return _send(request, hit[0], hit[1], spec.media_type, public)
    if not_modified(request, key, {}) is not None:  # the client has these bytes
        return _send(request, b"", key, spec.media_type, public)
    store, timeout = state.catalog.raster_store, state.settings.tiles.read_timeout_s
    data = await render_tile(store, spec, timeout)
    if data is None:
        raise outside
    state.tile_cache.put(key, data, key, ttl)
    return _send(request, data, key, spec.media_type, public)


# ------------------------------------------------------------------ vector


def _vector_query(
    request: Request,
    c: Collection | None,
    tms: TileMatrixSet,
    tile: Tile,
    scope: AccessScope,
) -> TileQuery:
    settings = get_state(request).settings.tiles
    bounds = tms.xy_bounds(tile)
    width = bounds.right - bounds.left
    params = request.query_params
    properties = filter_ = None
    if c is not None:
        properties = parse_properties(single(params, "properties"), c.info, scope)
        filter_ = parse_filter(
            single(params, "filter"),
            single(params, "filter-lang"),
            parse_crs_param("filter-crs", single(params, "filter-crs"), list(c.crs)),
        )
    return TileQuery(
        bounds=(bounds.left, bounds.bottom, bounds.right, bounds.top),
        crs=tms_crs(tms),
        layer=c.id if c is not None else "",
        properties=properties,
        filter=filter_,
        extent=settings.mvt_extent,
        buffer=settings.mvt_buffer,
        min_size=width * settings.mvt_min_feature_px / 256,
        affine_tolerance=settings.mvt_affine_tolerance,
    )


async def _vector_tile(
    request: Request,
    layers: list[Collection],
    query: TileQuery,
    tms: TileMatrixSet,
    tile: Tile,
    scope: AccessScope,
    drawn: bool = False,
) -> Response:
    """Vector tiles of the layers: as MVT, or ``drawn`` in their styles as a PNG."""

    # The key names every input of the bytes: data versions (or edits made here),
    # the query, the caller's grant and what is made of it.
    def versions() -> tuple[tuple[str | None, int], ...]:
        return tuple((x.provider.cache_version(x.id), x.changes.value) for x in layers)

    used = versions()
    key = etag_of(
        *(f"{x.id}:{v}:{n}" for x, (v, n) in zip(layers, used, strict=True)),
        id_of(tms),
        str(tile),
        repr(query),
        *(scope.narrowed(x.id).data_key for x in layers),
        "png" if drawn else "mvt",
    )
    versioned = all(v is not None for v, _n in used)
    ttl = (
        float(get_state(request).settings.tiles.max_age)
        if versioned
        else _UNVERSIONED_TTL
    )
    public = _public(request, scope, [x.id for x in layers])
    offer_replay(request, ttl, versions, used)
    media = PNG if drawn else MVT
    cache = get_state(request).tile_cache
    hit = cache.get(key)
    if hit is not None:
        return _send(request, hit[0], hit[1], media, public)
    parts = []
    for x in layers:
        if x.tiles is None:  # a source that cuts no vector tiles
            raise NotFoundError("tile.no_tiles", id=x.id)
        parts.append(await x.tiles.tile(x.id, _layer_query(query, x), scope))
    if drawn:
        zlevel = get_state(request).settings.tiles.png_zlevel
        styled = [(p, x.style) for p, x in zip(parts, layers, strict=True)]
        data = await to_thread.run_sync(draw_png, styled, 256, zlevel)
    else:
        data = b"".join(parts)
    etag = etag_of(data) if not versioned else key
    cache.put(key, data, etag, ttl)
    return _send(request, data, etag, media, public)


async def _collection_vector_tile(
    request: Request,
    c: Collection,
    tms: TileMatrixSet,
    zyx: tuple[str, str, str],
    scope: AccessScope,
    drawn: bool = False,
) -> Response:
    """A vector collection's tile: MVT, or ``drawn`` in its style as a PNG map tile
    (transparent where it is empty)."""
    params = request.query_params
    check_known(params, _MAP_PARAMS if drawn else _VECTOR_PARAMS)
    fmt = single(params, "f")
    if not drawn:
        check_vector_format(params, request.headers.get("accept", ""))
    elif fmt not in (None, "png"):
        raise InvalidParameterError("tile.choice", "f", value=fmt[:20], allowed="png")
    tile = _tile(tms, *zyx, vector_zooms(request, tms, [c]))
    query = _vector_query(request, c, tms, tile, scope)
    if drawn:  # only the property the style colours by
        query = replace(query, properties=(c.style.property,) if c.style.property else ())
    return await _vector_tile(request, [c], query, tms, tile, scope, drawn)


def _layer_query(query: TileQuery, c: Collection) -> TileQuery:
    return query if query.layer == c.id else replace(query, layer=c.id)


def _dataset_collections(request: Request, scope: AccessScope) -> list[Collection]:
    """The layers of dataset tiles (non-public ones noted for the audit trail)."""
    layers = _dataset_layers(request, scope)
    hidden = [c.id for c in layers if c.classification != "public"]
    if hidden:
        request.state.audit_collection = ",".join(hidden)
    return layers


def _dataset_layers(request: Request, scope: AccessScope) -> list[Collection]:
    """The layers of dataset tiles: ``collections=`` or every vector collection."""
    visible: list[Collection] = [
        c
        for c in get_state(request).catalog.visible(scope)
        if scope.narrowed(c.id).allows("tiles")
    ]
    text = single(request.query_params, "collections")
    if text is None:
        return visible
    by_id = {c.id: c for c in visible}
    chosen = []
    for name in dict.fromkeys(n.strip() for n in text.split(",") if n.strip()):
        if name not in by_id:
            raise InvalidParameterError(
                "tile.unknown_collection", "collections", id=name[:64]
            )
        chosen.append(by_id[name])
    if not chosen:
        raise InvalidParameterError("err.empty", "collections")
    return chosen


# ------------------------------------------------------------------ routes


def _drawable(request: Request, collection_id: str, scope: AccessScope) -> Collection:
    """A vector collection (imagery has no separate map tiles: its tiles are maps)."""
    c = get_state(request).catalog.find(collection_id, scope)
    if not isinstance(c, Collection):
        raise NotFoundError("tile.no_tiles", id=c.id)
    return c


def _collection_tilesets(
    request: Request,
    collection_id: str,
    scope: AccessScope,
    tms_id: str | None,
    drawn: bool = False,
) -> Response:
    """A collection's tilesets (tms_id None) or tileset; ``drawn``: its map tiles."""
    if drawn:
        c: Collection | RasterCollection = _drawable(request, collection_id, scope)
    else:
        c = get_state(request).catalog.find(collection_id, scope)
    layers = [c] if isinstance(c, Collection) else []  # imagery has no vector layers
    return _describe(request, Tiled(c, layers, drawn), tms_id)


def _tms_list(request: Request, lang: str) -> dict[str, Any]:
    return {
        "links": self_links(request, "/tileMatrixSets", lang),
        "tileMatrixSets": [
            {
                "id": id_of(tms),
                "title": tms.title or id_of(tms),
                "uri": tms_document(tms)["uri"],
                "crs": str(tms.crs.root),
                "links": [
                    link(
                        url_for(request, f"/tileMatrixSets/{id_of(tms)}"),
                        "self",
                        JSON,
                        id_of(tms),
                    )
                ],
            }
            for tms in tile_matrix_sets().values()
        ],
    }


def _describe(request: Request, tiled: Tiled, tms_id: str | None) -> Response:
    """A tileset list (tms_id None), tileset metadata or TileJSON."""
    check_language(request)
    lang = language_of(request)
    c = tiled.collection
    extra = RENDER_PARAMS if isinstance(c, RasterCollection) else set()
    allowed = _BASIC | extra | ({"collections"} if c is None else set())
    check_known(request.query_params, allowed)
    if tms_id is None:
        data = tilesets_document(request, tiled, lang)
        return respond(
            request, data, "tiles.html", context={"title": translate("ui.tiles", lang)}
        )
    tms = _tms(tms_id)
    if single(request.query_params, "f") == "tilejson":
        if id_of(tms) != WEB_MERCATOR:
            raise InvalidParameterError("tile.tilejson", "f")
        body = json_bytes(tilejson(request, tiled, lang))
        etag = etag_of(body)
        headers = {**cache_headers(request), "ETag": etag, "Content-Language": lang}
        cached = not_modified(request, etag, headers)
        return cached or Response(body, media_type=TILEJSON, headers=headers)
    data = tileset_document(request, tiled, tms, lang)
    return respond(request, data, "tiles.html", context={"title": data["title"]})


# The routes, in the order of the API definition. ``f`` and ``lang`` are documented
# here; the handlers check the query themselves (check_known, check_language).


DescriptionF = Annotated[
    str | None,
    Query(
        description="Output format: json, html or (a WebMercatorQuad tileset) tilejson",
        json_schema_extra={"enum": ["json", "html", "tilejson"]},
    ),
]


async def _documented(f: DescriptionF = None, lang: LANG = None) -> None:
    """The query parameters of the tileset descriptions (for the API definition)."""


class TilePath(NamedTuple):
    """A tile of the path, as given (checked against the data's zooms by _tile)."""

    tms_id: str
    z: str
    y: str
    x: str


async def _tile_path(tms_id: TmsId, z: TileMatrix, y: TileRow, x: TileCol) -> TilePath:
    return TilePath(tms_id, z, y, x)


At = Annotated[TilePath, Depends(_tile_path)]
_DESCRIBED = [Depends(_documented)]
_TILE = "/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}"

router = APIRouter(tags=["Tiles"])


def _description(
    path: str, summary: str, schema: str | None = None, *, tilejson: bool = False
) -> Callable[[Handler], Handler]:
    """A route of tile matrix sets or tilesets (f and lang documented; ``tilejson``:
    a tileset's metadata, also as TileJSON)."""
    media = (JSON, HTML, TILEJSON) if tilejson else (JSON, HTML)
    return router.get(
        path, summary=summary, dependencies=_DESCRIBED, **answers(*media, schema=schema)
    )


def _tiles(
    path: str, summary: str, name: str, responses: dict[int | str, Any] = _TILE_RESPONSES
) -> Callable[[Handler], Handler]:
    """A route of tiles under ``path`` (the hot tiles know it by ``name``)."""
    return router.get(
        path + _TILE,
        summary=summary,
        name=name,
        response_class=Response,
        responses=responses,
    )


@_description("/tileMatrixSets", "Tile matrix sets", "tileMatrixSets")
async def tile_matrix_set_list(request: Request) -> Response:
    check_known(request.query_params, _BASIC)
    check_language(request)
    lang = language_of(request)
    title = translate("ui.tile_matrix_sets", lang)
    data = _tms_list(request, lang)
    return respond(request, data, "tiles.html", context={"title": title})


@_description("/tileMatrixSets/{tileMatrixSetId}", "One tile matrix set", "tileMatrixSet")
async def tile_matrix_set(request: Request, tms_id: TmsId) -> Response:
    tms = _tms(tms_id)
    check_known(request.query_params, _BASIC)
    check_language(request)
    data = tms_document(tms)
    return respond(request, data, "tiles.html", context={"title": id_of(tms)})


@_description("/collections/{collectionId}/tiles", "Tilesets of a collection", "tileSets")
async def collection_tilesets(
    request: Request, collection_id: CollectionId, scope: Scope
) -> Response:
    return _collection_tilesets(request, collection_id, scope, None)


@_description(
    "/collections/{collectionId}/tiles/{tileMatrixSetId}",
    "Tileset metadata of a collection (f=tilejson: TileJSON)",
    tilejson=True,
)
async def collection_tileset(
    request: Request, collection_id: CollectionId, tms_id: TmsId, scope: Scope
) -> Response:
    return _collection_tilesets(request, collection_id, scope, tms_id)


@_tiles(
    "/collections/{collectionId}/tiles",
    "A tile of a collection: imagery (PNG, JPEG, WebP, GeoTIFF, NPY) or MVT",
    COLLECTION_TILE,
)
async def collection_tile(
    request: Request, collection_id: CollectionId, at: At, scope: Scope, f: TileF = None
) -> Response:
    c = get_state(request).catalog.find(collection_id, scope)
    tms = _tms(at.tms_id)
    check_language(request)
    zyx = (at.z, at.y, at.x)
    if isinstance(c, RasterCollection):
        return await _raster_tile(request, c, tms, zyx, scope)
    return await _collection_vector_tile(request, c, tms, zyx, scope)


# Map tiles of vector collections (what MapProxy's WMS/WMTS serve)


@_description(
    "/collections/{collectionId}/map/tiles",
    "Map tilesets of a vector collection (drawn in its style)",
    "tileSets",
)
async def map_tilesets(
    request: Request, collection_id: CollectionId, scope: Scope
) -> Response:
    return _collection_tilesets(request, collection_id, scope, None, drawn=True)


@_description(
    "/collections/{collectionId}/map/tiles/{tileMatrixSetId}",
    "Map tileset metadata of a vector collection (f=tilejson: TileJSON)",
    tilejson=True,
)
async def map_tileset(
    request: Request, collection_id: CollectionId, tms_id: TmsId, scope: Scope
) -> Response:
    return _collection_tilesets(request, collection_id, scope, tms_id, drawn=True)


@_tiles(
    "/collections/{collectionId}/map/tiles",
    "A map tile (PNG) of a vector collection, drawn in its style",
    MAP_TILE,
    _MAP_TILE_RESPONSES,
)
async def map_tile(
    request: Request,
    collection_id: CollectionId,
    at: At,
    scope: Scope,
    f: Annotated[str | None, Query(description="png")] = None,
) -> Response:
    c = _drawable(request, collection_id, scope)
    tms = _tms(at.tms_id)
    check_language(request)
    zyx = (at.z, at.y, at.x)
    return await _collection_vector_tile(request, c, tms, zyx, scope, drawn=True)


# Vector tiles of the whole dataset


@_description("/tiles", "Vector tilesets of the whole dataset", "tileSets")
async def dataset_tilesets(request: Request, scope: Scope) -> Response:
    return _describe(request, Tiled(None, _dataset_collections(request, scope)), None)


@_description(
    "/tiles/{tileMatrixSetId}", "Dataset vector tileset metadata", tilejson=True
)
async def dataset_tileset(request: Request, tms_id: TmsId, scope: Scope) -> Response:
    tiled = Tiled(None, _dataset_collections(request, scope))
    return _describe(request, tiled, tms_id)


@_tiles(
    "/tiles",
    "A multi-layer vector tile (collections=a,b; default all)",
    DATASET_TILE,
)
async def dataset_tile(
    request: Request,
    at: At,
    scope: Scope,
    f: TileF = None,
    collections: Annotated[
        str | None, Query(description="Comma-separated vector collections")
    ] = None,
) -> Response:
    tms = _tms(at.tms_id)
    check_known(request.query_params, _DATASET_PARAMS)
    check_language(request)
    check_vector_format(request.query_params, request.headers.get("accept", ""))
    layers = _dataset_collections(request, scope)
    tile = _tile(tms, at.z, at.y, at.x, vector_zooms(request, tms, layers))
    # each layer from its own first zoom on
    layers = [x for x in layers if tile.z >= layer_minzoom(tms, x)]
    query = _vector_query(request, None, tms, tile, scope)
    return await _vector_tile(request, layers, query, tms, tile, scope)


def build_router() -> APIRouter:
    """Routes of OGC API - Tiles."""
    return router
