"""The bundled web map (/map): imagery, land use and the planning layers as tiles."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from config.i18n import text_for
from openapi.standard import answers
from providers.catalog import Collection, RasterCollection
from server.http.caching import cache_headers
from server.http.errors import InvalidParameterError
from server.http.landing import LandingLink
from server.http.links import HTML, url_for
from server.http.responses import render_html
from server.i18n import translate
from server.routes.dependencies import BASIC, Checked
from server.security.access import get_scope
from server.state import get_state
from server.tiling.tilesets import layer_minzoom, union
from tiles.tms import CGCS2000_QUAD, WEB_MERCATOR, tile_matrix_sets

LANDING = (LandingLink("/map", "alternate", HTML, "ui.web_map", with_language=True),)
CONFORMANCE: set[str] = set()
# the grids the web map draws in, and MapProxy's name of each (for basemaps)
MAP_GRIDS = {WEB_MERCATOR: "webmercator", CGCS2000_QUAD: "cgcs2000"}


def _template(tms_id: str) -> str:
    return f"/tiles/{tms_id}/{{z}}/{{y}}/{{x}}"


def _imagery(
    request: Request, c: RasterCollection, lang: str, tms_id: str
) -> dict[str, Any]:
    minzoom, maxzoom = c.zooms[tms_id]
    images = {
        key: url_for(
            request,
            f"/collections/{c.id}{_template(tms_id)}",
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


def _vector(request: Request, c: Collection, lang: str, tms_id: str) -> dict[str, Any]:
    tms = tile_matrix_sets()[tms_id]
    return {
        "id": c.id,
        "kind": "vector",
        "title": text_for(c.title, lang),
        "tiles": url_for(request, f"/collections/{c.id}{_template(tms_id)}", f="mvt"),
        "geometry": c.info.geometry_type,
        "fields": [f.name for f in c.info.fields],
        "style": c.style.document(),
        "bounds": list(c.info.extent) if c.info.extent else None,
        "minzoom": layer_minzoom(tms, c),
        "maxzoom": get_state(request).settings.tiles.vector_maxzoom,
    }


def _basemaps(request: Request, lang: str, tms_id: str) -> list[dict[str, Any]]:
    """Cascaded basemaps on the map's grid, through MapProxy's cache (WMTS REST;
    its cgcs2000 levels are numbered like CGCS2000Quad)."""
    if get_state(request).mapproxy is None:
        return []
    settings = get_state(request).settings
    grid = MAP_GRIDS[tms_id]
    return [
        {
            "id": name,
            "kind": "basemap",
            "title": text_for(conf.title, lang),
            "tiles": {
                "image": url_for(
                    request,
                    f"/wmts/{name}/{grid}/{{z}}/{{x}}/{{y}}."
                    + conf.format.removeprefix("image/"),
                )
            },
            "minzoom": 0,
            "maxzoom": 20,
            "bounds": None,
            "attribution": conf.attribution,
        }
        for name, conf in settings.basemaps.items()
        if conf.grid == grid
    ]


def map_config(
    request: Request,
    collections: list[Collection | RasterCollection],
    lang: str,
    tms_id: str = WEB_MERCATOR,
) -> dict[str, Any]:
    """What a map draws: basemaps, the collections' tiles and their common extent."""
    layers = _basemaps(request, lang, tms_id) + [
        _imagery(request, c, lang, tms_id)
        if isinstance(c, RasterCollection)
        else _vector(request, c, lang, tms_id)
        for c in collections
    ]
    extent = union([tuple(x["bounds"]) if x["bounds"] else None for x in layers])
    tms = tile_matrix_sets()[tms_id]
    matrices = [tms.matrix(z) for z in range(tms.minzoom, tms.maxzoom + 1)]
    return {
        "tms": tms_id,
        # the grid for clients that need it spelled out (OpenLayers)
        "grid": {
            "minzoom": tms.minzoom,
            "origin": [-180.0, 90.0],
            "resolutions": [m.cellSize for m in matrices],
        },
        "layers": layers,
        "bounds": list(extent) if extent else None,
    }


router = APIRouter(tags=["Map"])


@router.get(
    "/map",
    summary="Web map of the collections (HTML)",
    **answers(HTML, conditional=False),
)
async def web_map(
    request: Request,
    language: Annotated[str, Depends(Checked(BASIC | {"tms"}))],
    tms: Annotated[
        str,
        Query(
            description="WebMercatorQuad (MapLibre) or CGCS2000Quad (OpenLayers "
            "on the Tianditu 'c' grid, EPSG:4490)"
        ),
    ] = WEB_MERCATOR,
) -> Response:
    """The web map of the collections the caller may see."""
    if tms not in MAP_GRIDS:
        raise InvalidParameterError(
            "tile.choice", "tms", value=tms[:64], allowed=", ".join(MAP_GRIDS)
        )
    scope = await get_scope(request)
    collections = get_state(request).catalog.listing(scope)
    return render_html(
        request,
        "map.html",
        {
            "title": translate("ui.web_map", language),
            "config": map_config(request, collections, language, tms),
            "grids": list(MAP_GRIDS),
            "links": [],
        },
        headers=cache_headers(request),
    )


def build_router() -> APIRouter:
    """The /map page."""
    return router
