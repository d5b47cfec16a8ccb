"""WMTS, WMS and TMS for legacy clients: MapProxy mounted inside the ASGI app.

The MapProxy configuration is generated at start from the public imagery collections
(other collections never reach MapProxy, which has no notion of the caller), with our
own tile endpoints as its sources and its file cache under the data dir.
"""

from __future__ import annotations

import logging
from typing import Any

from a2wsgi import WSGIMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from config.models import Settings, text_for
from providers.base import AccessScope
from server.catalog import Catalog, RasterCollection
from tiles.mapproxy import ProxiedLayer, mapproxy_config, write_config, wsgi_app

log = logging.getLogger("onemap.legacy")

# paths answered by MapProxy; /wms is MapProxy's /service (its capabilities link there)
_PREFIXES = ("/wmts", "/wms", "/tms", "/service")


def internal_url(settings: Settings) -> str:
    """Where MapProxy reaches this server's own tile endpoints."""
    server = settings.server
    if server.internal_url:
        return server.internal_url.rstrip("/")
    host = "127.0.0.1" if server.host in ("0.0.0.0", "::", "") else server.host
    return f"http://{host}:{server.port}"


def proxied_layers(catalog: Catalog, scope: AccessScope, lang: str) -> list[ProxiedLayer]:
    """The imagery collections everybody may see, as MapProxy layers."""
    return [
        ProxiedLayer(c.id, text_for(c.title, lang), c.extent, tuple(c.images))
        for c in catalog.listing(scope)
        if isinstance(c, RasterCollection)
    ]


def build_mapproxy(settings: Settings, catalog: Catalog, scope: AccessScope) -> Any:
    """Write the MapProxy configuration and return its WSGI app wrapped for ASGI
    (None without public imagery: the legacy paths then answer 404)."""
    lang = settings.server.default_language
    layers = proxied_layers(catalog, scope, lang)
    if not layers:
        return None
    cache_dir = settings.data_dir / "cache" / "mapproxy"
    config = mapproxy_config(
        layers, internal_url(settings), cache_dir, text_for(settings.server.title, lang)
    )
    path = write_config(config, settings.data_dir / "cache" / "mapproxy.yaml")
    log.info("MapProxy: %d layers, cache in %s", len(layers), cache_dir)
    return WSGIMiddleware(wsgi_app(path), workers=4)


class LegacyServices:
    """ASGI middleware: hand the legacy service paths to MapProxy."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """MapProxy for /wmts, /wms, /tms (and its /service); the app otherwise."""
        path: str = scope.get("path", "")
        if scope["type"] == "http" and path.startswith(_PREFIXES):
            mapproxy = getattr(scope["app"].state, "mapproxy", None)
            if mapproxy is not None:
                if path == "/wms" or path.startswith("/wms/"):
                    path = "/service" + path[4:]
                await mapproxy(
                    {**scope, "path": path, "raw_path": path.encode()}, receive, send
                )
                return
        await self.app(scope, receive, send)
