"""The bundled web map (/map): imagery, land use and the planning layers as tiles."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from config.models import text_for
from server.access import get_scope
from server.caching import cache_headers
from server.catalog import Collection, RasterCollection
from server.i18n import translate
from server.links import url_for
from server.negotiation import check_language, language_of
from server.params import check_known
from server.responses import render_html
from server.routes.common import LANG
from server.tilesets import layer_minzoom, union
from tiles.tms import WEB_MERCATOR, tile_matrix_sets

CONFORMANCE: set[str] = set()
_TEMPLATE = f"/tiles/{WEB_MERCATOR}/{{z}}/{{y}}/{{x}}"


def _imagery(request: Request, c: RasterCollection, lang: str) -> dict[str, Any]:
    minzoom, maxzoom = c.zooms[WEB_MERCATOR]
    images = {
        key: url_for(
            request,
            f"/collections/{c.id}{_TEMPLATE}",
            f="png",
            **({"image": key} if c.is_pair else {}),
        )
        for key in c.images
    }
    return {
        "id": c.id,
        "kind": "imagery",
        "title": text_for(c.title, lang),
        "tiles": images,
        "minzoom": minzoom,
        "maxzoom": maxzoom + 2,  # let the map overzoom the native pixel a little
        "bounds": list(c.extent),
    }


def _vector(request: Request, c: Collection, lang: str) -> dict[str, Any]:
    tms = tile_matrix_sets()[WEB_MERCATOR]
    return {
        "id": c.id,
        "kind": "vector",
        "title": text_for(c.title, lang),
        "tiles": url_for(request, f"/collections/{c.id}{_TEMPLATE}", f="mvt"),
        "geometry": c.info.geometry_type,
        "fields": [f.name for f in c.info.fields],
        "style": c.style.document(),
        "bounds": list(c.info.extent) if c.info.extent else None,
        "minzoom": layer_minzoom(tms, c),
        "maxzoom": request.app.state.settings.tiles.vector_maxzoom,
    }


def _basemaps(request: Request, lang: str) -> list[dict[str, Any]]:
    """Cascaded WebMercator basemaps, through MapProxy's cache (WMTS REST)."""
    if request.app.state.mapproxy is None:
        return []
    settings = request.app.state.settings
    return [
        {
            "id": name,
            "kind": "basemap",
            "title": text_for(conf.title, lang),
            "tiles": {
                "image": url_for(
                    request,
                    f"/wmts/{name}/webmercator/{{z}}/{{x}}/{{y}}."
                    + conf.format.removeprefix("image/"),
                )
            },
            "minzoom": 0,
            "maxzoom": 20,
            "bounds": None,
            "attribution": conf.attribution,
        }
        for name, conf in settings.basemaps.items()
        if conf.grid == "webmercator"
    ]


def map_config(
    request: Request, collections: list[Collection | RasterCollection], lang: str
) -> dict[str, Any]:
    """What a map draws: basemaps, the collections' tiles and their common extent."""
    layers = _basemaps(request, lang) + [
        _imagery(request, c, lang)
        if isinstance(c, RasterCollection)
        else _vector(request, c, lang)
        for c in collections
    ]
    extent = union([tuple(x["bounds"]) if x["bounds"] else None for x in layers])
    return {"layers": layers, "bounds": list(extent) if extent else None}


def build_router() -> APIRouter:
    """The /map page."""
    router = APIRouter(tags=["Map"])

    @router.get("/map", summary="Web map of the collections (HTML)")
    async def web_map(request: Request, lang: LANG = None) -> Response:
        check_known(request.query_params, {"lang", "f"})
        check_language(request)
        language = language_of(request)
        scope = await get_scope(request)
        return render_html(
            request,
            "map.html",
            {
                "title": translate("ui.web_map", language),
                "config": map_config(
                    request, request.app.state.catalog.listing(scope), language
                ),
                "links": [],
            },
            headers=cache_headers(request),
        )

    return router
