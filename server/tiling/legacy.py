"""WMTS, WMS and TMS for legacy clients: MapProxy mounted inside the ASGI app.

The MapProxy configuration is generated at start from the public collections — imagery,
and vector collections as map tiles drawn in their style — (other collections never reach
MapProxy, which has no notion of the caller), with our own tile endpoints as its sources
and its file cache under the data dir.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from a2wsgi import WSGIMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from config.i18n import text_for
from config.settings import Settings
from providers.base import AccessScope
from providers.catalog import Catalog, Collection, CollectionError, RasterCollection
from providers.sources import AllowedSources, SourceNotAllowed
from server.state import state_or_none
from server.tiling.tilesets import tiles_path
from tiles.mapproxy import (
    CascadedBasemap,
    ProxiedLayer,
    mapproxy_config,
    write_config,
    wsgi_app,
)

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


_WORLD = (-180.0, -90.0, 180.0, 90.0)


def _proxied(c: Collection | RasterCollection, lang: str) -> ProxiedLayer:
    title = text_for(c.title, lang)
    if isinstance(c, RasterCollection):
        path = tiles_path(c)
        return ProxiedLayer(c.id, title, c.extent, tuple(c.images), path)
    extent = c.info.extent or _WORLD
    return ProxiedLayer(c.id, title, extent, ("image",), tiles_path(c, drawn=True))


def proxied_layers(catalog: Catalog, scope: AccessScope, lang: str) -> list[ProxiedLayer]:
    """The collections everybody may see, as MapProxy layers: imagery first, so that
    WMS clients list the basemap before what is drawn over it."""
    found = [_proxied(c, lang) for c in catalog.listing(scope)]
    return sorted(found, key=lambda layer: "/map/" in layer.tiles)


def cascaded_basemaps(settings: Settings, lang: str) -> list[CascadedBasemap]:
    """The configured remote basemaps, each checked against the allowed sources;
    raise CollectionError."""
    allowed = AllowedSources.of(settings.data_dir, settings.allowed_sources)
    found = []
    for name, conf in settings.basemaps.items():
        sample = conf.url.replace("{z}", "0").replace("{y}", "0").replace("{x}", "0")
        try:
            allowed.resolve(sample)
        except SourceNotAllowed as exc:
            raise CollectionError(
                f"basemap {name}: url not in allowed_sources ({exc.code})"
            ) from None
        title = text_for(conf.title, lang)
        found.append(CascadedBasemap(name, title, conf.url, conf.grid, conf.format))
    return found


def build_mapproxy(settings: Settings, catalog: Catalog, scope: AccessScope) -> Any:
    """Write the MapProxy configuration and return its WSGI app wrapped for ASGI
    (None without a public collection or basemap: the legacy paths then answer 404)."""
    lang = settings.server.default_language
    layers = proxied_layers(catalog, scope, lang)
    basemaps = cascaded_basemaps(settings, lang)
    if not layers and not basemaps:
        return None
    cache_dir = settings.data_dir / "cache" / "mapproxy"
    config = mapproxy_config(
        layers,
        internal_url(settings),
        cache_dir,
        text_for(settings.server.title, lang),
        basemaps,
    )
    path = write_config(config, settings.data_dir / "cache" / "mapproxy.yaml")
    log.info(
        "MapProxy: %d layers, %d basemaps, cache in %s",
        len(layers),
        len(basemaps),
        cache_dir,
    )
    return WSGIMiddleware(wsgi_app(path), workers=4)


# MapProxy answers every service error with 500; these say the request was at fault
_CLIENT_FAULTS = re.compile(
    rb"unknown|invalid|missing|unsupported|not supported|too large|not queryable",
    re.IGNORECASE,
)
_SOURCE_FAULT = b"Could not get any sources"
_URL = re.compile(rb"https?://[^\s<\"']+")


def _mapproxy_path(path: str, query: bytes) -> str:
    """MapProxy's path for ours: /wms and KVP requests to /wmts go to its /service."""
    if path == "/wms" or path.startswith("/wms/"):
        return "/service" + path[4:]
    if path in ("/wmts", "/wmts/") and query:
        return "/service"
    return path


class _ErrorStatus:
    """Turn MapProxy's blanket 500 into 404 (no such path), 400 (a bad request) or
    502 (our own tile source failed), without its internal URLs."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.start: dict[str, Any] | None = None
        self.body = b""

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and message["status"] == 500:
            self.start = message
            return
        if self.start is None:
            await self.send(message)
            return
        self.body += message.get("body", b"")
        if message.get("more_body"):
            return
        body = self.body
        if body.startswith(b"internal error: invalid request"):
            status = 404
        elif _SOURCE_FAULT in body or not _CLIENT_FAULTS.search(body):
            status = 502
            body = _URL.sub(b"(source)", body)  # where our own tiles come from
        else:
            status = 400
        headers = [
            (k, v)
            for k, v in self.start.get("headers", [])
            if k.lower() != b"content-length"
        ]
        headers.append((b"content-length", str(len(body)).encode()))
        await self.send({**self.start, "status": status, "headers": headers})
        await self.send({"type": "http.response.body", "body": body})


class LegacyServices:
    """ASGI middleware: hand the legacy service paths to MapProxy."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """MapProxy for /wmts, /wms, /tms (and its /service); the app otherwise."""
        path: str = scope.get("path", "")
        if scope["type"] == "http" and path.startswith(_PREFIXES):
            mapproxy = getattr(state_or_none(scope["app"]), "mapproxy", None)
            if mapproxy is not None:
                path = _mapproxy_path(path, scope.get("query_string", b""))
                await mapproxy(
                    {**scope, "path": path, "raw_path": path.encode()},
                    receive,
                    _ErrorStatus(send),
                )
                return
        await self.app(scope, receive, send)
