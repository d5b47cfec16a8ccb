"""Descriptions of tiles: tileset metadata (OGC API - Tiles), tileset lists, TileJSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from morecantile import TileMatrixSet
from starlette.requests import Request

from config.i18n import text_for
from providers.catalog import Collection, RasterCollection
from providers.crs import CRS84_URI
from server.http.links import JSON, link, self_links, url_for
from server.i18n import translate
from server.state import get_state
from server.tiling.tile_params import MVT, RENDER_PARAMS
from tiles.render import MEDIA_TYPES
from tiles.tms import (
    WEB_MERCATOR,
    equivalent_zoom,
    matrix_limits,
    tile_matrix_sets,
    tms_uri,
)
from tiles.tms import tms_id as id_of

REL_SCHEME = "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"
REL_SCHEMES = "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes"
REL_MAP_TILES = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-map"
REL_VECTOR_TILES = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"
TILEJSON = "application/vnd.mapbox.tile+json"
PNG = MEDIA_TYPES["png"]

Extent = tuple[float, float, float, float]
Layer = Collection | RasterCollection


@dataclass(frozen=True)
class Tiled:
    """What a description is of: a collection's tiles (the dataset's when
    ``collection`` is None), their vector layers, and whether they are map tiles
    drawn in the collection's style."""

    collection: Layer | None
    layers: list[Collection]
    drawn: bool = False


def union(extents: list[Extent | None]) -> Extent | None:
    """The bounding box of several extents (None when there is none)."""
    found = [e for e in extents if e is not None]
    if not found:
        return None
    return (
        min(e[0] for e in found),
        min(e[1] for e in found),
        max(e[2] for e in found),
        max(e[3] for e in found),
    )


def layer_minzoom(tms: TileMatrixSet, c: Collection) -> int:
    """The first zoom of ``tms`` with vector tiles of a collection."""
    return max(tms.minzoom, equivalent_zoom(tms, c.tile_minzoom))


def vector_zooms(
    request: Request, tms: TileMatrixSet, layers: list[Collection]
) -> tuple[int, int]:
    """Zooms served for vector tiles of some layers (from the first layer's minzoom)."""
    maxzoom: int = get_state(request).settings.tiles.vector_maxzoom
    minzoom = min((layer_minzoom(tms, c) for c in layers), default=tms.minzoom)
    return minzoom, min(tms.maxzoom, maxzoom)


def render_query(request: Request) -> dict[str, str]:
    """The rendering parameters of the request, carried into tile URL templates."""
    return {k: v for k, v in request.query_params.multi_items() if k in RENDER_PARAMS}


def _base(c: Layer | None) -> str:
    return f"/collections/{c.id}" if c is not None else ""


def tiles_path(c: Layer | None, drawn: bool = False) -> str:
    """Where tiles of a collection (or the dataset) live; ``drawn``: its map tiles."""
    return f"{_base(c)}/map/tiles" if drawn else f"{_base(c)}/tiles"


def _template(
    request: Request,
    c: Layer | None,
    tms_id: str,
    params: dict[str, str],
    drawn: bool = False,
) -> str:
    path = f"{tiles_path(c, drawn)}/{tms_id}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}"
    return url_for(request, path, **params)


def _templated(item: dict[str, str]) -> dict[str, Any]:
    """A link whose href is a URI template ({tileMatrix}/{tileRow}/{tileCol})."""
    return {**item, "templated": True}


def _title(c: Layer | None, lang: str) -> str:
    return text_for(c.title, lang) if c is not None else translate("ui.all_layers", lang)


def _field_type(kind: str) -> str:
    return "string" if kind in ("date", "datetime") else kind


def _layer(c: Collection, lang: str) -> dict[str, Any]:
    geometry = c.info.geometry_type
    return {
        "id": c.id,
        "title": text_for(c.title, lang),
        "dataType": "vector",
        "geometryDimension": 0 if "Point" in geometry else 1 if "Line" in geometry else 2,
        "propertiesSchema": {
            "type": "object",
            "properties": {f.name: {"type": _field_type(f.type)} for f in c.info.fields},
        },
    }


def tileset_document(
    request: Request, tiled: Tiled, tms: TileMatrixSet, lang: str
) -> dict[str, Any]:
    """Tileset metadata: a collection's, or the dataset's vector tiles; or the map
    tiles of a vector collection."""
    c, layers, drawn = tiled.collection, tiled.layers, tiled.drawn
    path = f"{tiles_path(c, drawn)}/{id_of(tms)}"
    links = [
        *self_links(request, path, lang),
        link(
            url_for(request, f"/tileMatrixSets/{id_of(tms)}"),
            REL_SCHEME,
            JSON,
            id_of(tms),
        ),
    ]
    doc: dict[str, Any] = {
        "title": _title(c, lang),
        "crs": str(tms.crs.root),
        "tileMatrixSetURI": tms_uri(tms),
    }
    extent: Extent | None
    if isinstance(c, RasterCollection):
        doc["dataType"] = "map"
        extent = c.extent
        limits = list(c.limits[id_of(tms)].values())
        extra = render_query(request)
        for fmt, media in MEDIA_TYPES.items():
            template = _template(request, c, id_of(tms), {"f": fmt, **extra})
            item = link(template, "item", media)
            links.append(_templated(item))
    else:
        doc["dataType"] = "map" if drawn else "vector"
        extent = union([x.info.extent for x in layers])
        minzoom, maxzoom = vector_zooms(request, tms, layers)
        limits = (
            []
            if extent is None
            else list(matrix_limits(tms, extent, minzoom, maxzoom).values())
        )
        if drawn:
            template = _template(request, c, id_of(tms), {"f": "png"}, drawn=True)
            item = link(template, "item", PNG)
        else:
            item = link(_template(request, c, id_of(tms), {"f": "mvt"}), "item", MVT)
            doc["layers"] = [_layer(x, lang) for x in layers]
        links.append(_templated(item))
    doc["tileMatrixSetLimits"] = [m.document() for m in limits]
    if extent is not None:
        doc["boundingBox"] = {
            "lowerLeft": [extent[0], extent[1]],
            "upperRight": [extent[2], extent[3]],
            "crs": CRS84_URI,
        }
    if id_of(tms) == WEB_MERCATOR:
        extra = render_query(request) if isinstance(c, RasterCollection) else {}
        links.append(
            link(
                url_for(request, path, f="tilejson", **extra),
                "describedby",
                TILEJSON,
                "TileJSON",
            )
        )
    doc["links"] = links
    return doc


def tilesets_document(request: Request, tiled: Tiled, lang: str) -> dict[str, Any]:
    """The list of tilesets (one per tile matrix set) of a collection or the dataset."""
    c, drawn = tiled.collection, tiled.drawn
    path = tiles_path(c, drawn)
    data_type = "map" if drawn or isinstance(c, RasterCollection) else "vector"
    tilesets = []
    for tms in tile_matrix_sets().values():
        tilesets.append(
            {
                "title": f"{_title(c, lang)} ({id_of(tms)})",
                "dataType": data_type,
                "crs": str(tms.crs.root),
                "tileMatrixSetURI": tms_uri(tms),
                "links": [
                    link(
                        url_for(request, f"{path}/{id_of(tms)}", f="json"), "self", JSON
                    ),
                    link(
                        url_for(request, f"/tileMatrixSets/{id_of(tms)}"),
                        REL_SCHEME,
                        JSON,
                    ),
                ],
            }
        )
    return {
        "links": self_links(request, path, lang),
        "tilesets": tilesets,
    }


def tilejson(request: Request, tiled: Tiled, lang: str) -> dict[str, Any]:
    """TileJSON 3.0.0 of the WebMercatorQuad tiles (what MapLibre and Leaflet read)."""
    c, layers, drawn = tiled.collection, tiled.layers, tiled.drawn
    path = f"{tiles_path(c, drawn)}/{WEB_MERCATOR}/{{z}}/{{y}}/{{x}}"
    doc: dict[str, Any] = {"tilejson": "3.0.0", "name": _title(c, lang), "scheme": "xyz"}
    tms = tile_matrix_sets()[WEB_MERCATOR]
    extent: Extent | None
    if isinstance(c, RasterCollection):
        minzoom, maxzoom = c.zooms[WEB_MERCATOR]
        extent = c.extent
        doc["tiles"] = [url_for(request, path, f="png", **render_query(request))]
    else:
        minzoom, maxzoom = vector_zooms(request, tms, layers)
        extent = union([x.info.extent for x in layers])
        doc["tiles"] = [url_for(request, path, f="png" if drawn else "mvt")]
        if not drawn:
            doc["vector_layers"] = [
                {
                    "id": x.id,
                    "description": text_for(x.title, lang),
                    "fields": {f.name: _field_type(f.type) for f in x.info.fields},
                    "minzoom": layer_minzoom(tms, x),
                    "maxzoom": maxzoom,
                }
                for x in layers
            ]
    doc["minzoom"], doc["maxzoom"] = minzoom, maxzoom
    if extent is not None:
        doc["bounds"] = list(extent)
        center_zoom = max(minzoom, min(maxzoom, 12))
        doc["center"] = [
            (extent[0] + extent[2]) / 2,
            (extent[1] + extent[3]) / 2,
            center_zoom,
        ]
    return doc


def tile_links(request: Request, c: Layer, lang: str) -> list[dict[str, str]]:
    """Links from a collection's description to its tiles (and a vector
    collection's map tiles)."""
    rel = REL_MAP_TILES if isinstance(c, RasterCollection) else REL_VECTOR_TILES
    found = [
        link(
            url_for(request, f"/collections/{c.id}/tiles", f="json"),
            rel,
            JSON,
            translate("ui.tiles", lang),
        )
    ]
    if isinstance(c, Collection):
        found.append(
            link(
                url_for(request, f"/collections/{c.id}/map/tiles", f="json"),
                REL_MAP_TILES,
                JSON,
                translate("ui.map_tiles", lang),
            )
        )
    return found


def raster_collection_document(
    request: Request, c: RasterCollection, lang: str
) -> dict[str, Any]:
    """The description of an imagery collection."""
    path = f"/collections/{c.id}"
    code = c.meta.crs.removeprefix("EPSG:")
    storage = (
        f"http://www.opengis.net/def/crs/EPSG/0/{code}" if code.isdigit() else c.meta.crs
    )
    doc: dict[str, Any] = {
        "id": c.id,
        "title": text_for(c.title, lang),
        "description": text_for(c.description, lang),
        "keywords": list(c.keywords),
        "itemType": "coverage",
        "dataType": "map",
        "crs": [storage],
        "storageCrs": storage,
        "extent": {"spatial": {"bbox": [list(c.extent)], "crs": CRS84_URI}},
        "bands": list(c.meta.band_names),
        "images": list(c.images),
        "links": [
            *self_links(request, path, lang),
            *tile_links(request, c, lang),
        ],
    }
    dates = [d for d in (c.source.before_date, c.source.after_date) if d]
    if dates:
        doc["extent"]["temporal"] = {"interval": [[dates[0], dates[-1]]]}
    return doc
