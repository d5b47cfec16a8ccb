"""The application factory: ``create_app(settings)`` builds everything at call time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from functools import cache
from pathlib import Path

import orjson
from anyio import to_thread
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.staticfiles import StaticFiles

from config import Settings, load_settings
from config.i18n import text_for
from openapi.customize import customize, with_collection_paths
from processes.worker import open_store
from providers.base import UNRESTRICTED
from providers.catalog import build_catalog
from providers.errors import ConfigMismatch
from providers.sources import AllowedSources
from server.http.error_handlers import add_exception_handlers
from server.http.request_context import RequestContext
from server.http.responses import json_bytes, make_environment
from server.http.security_headers import SecurityHeaders
from server.http.startup import StartupErrors
from server.routes import common, edits, features, observability, processes, tiles, webmap
from server.routes.observability import Metrics, MetricsMiddleware
from server.security.audit import AuditLog, AuditMiddleware
from server.security.auth import Authenticator
from server.security.editions import Editions
from server.security.grants import build_grants
from server.security.rate_limit import RateLimit, exempt_paths
from server.security.reload import reload_on_sighup
from server.state import AppState, app_state
from server.tiling.hot_tiles import HotTiles
from server.tiling.legacy import LegacyServices, build_mapproxy
from tiles.cache import TileCache

log = logging.getLogger("onemap")

STATIC = Path(__file__).parent / "static"
_JSON_TYPES = {
    "string": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "date": "string",
    "datetime": "string",
}
VERSION = "0.1.0"


def ensure_demo_data(settings: Settings) -> None:
    """Generate the demo data into the data dir when the configuration asks for it."""
    if settings.generate_demo:
        from providers.demo import generate_demo

        generate_demo(settings.data_dir)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the sources at start, close them at stop."""
    state = app_state(app)
    settings = state.settings
    await to_thread.run_sync(ensure_demo_data, settings)
    async with AsyncExitStack() as stack:
        state.audit = AuditLog(settings)
        await to_thread.run_sync(state.audit.start)  # before the editors attach it
        stack.callback(state.audit.stop)
        try:
            catalog = await build_catalog(settings)
        except ConfigMismatch as exc:
            state.startup_failure = f"configuration does not fit the data: {exc}"
            raise
        stack.push_async_callback(catalog.close)
        state.catalog = catalog
        state.grants = await build_grants(settings, catalog)
        state.anonymous_scope = state.grants.scope(frozenset())
        state.authenticator = await to_thread.run_sync(Authenticator, settings)
        public = catalog.visible(state.anonymous_scope)
        state.api_document = json_bytes(
            with_collection_paths(
                orjson.loads(state.openapi_bytes()),
                [
                    (c.id, [(f.name, _JSON_TYPES[f.type]) for f in c.info.fields])
                    for c in public
                ],
            )
        )
        state.mapproxy = build_mapproxy(settings, catalog, state.anonymous_scope)
        state.allowed_sources = AllowedSources.of(
            settings.data_dir, settings.allowed_sources
        )
        state.job_store = await to_thread.run_sync(open_store, settings)
        reload_on_sighup(app)
        count = len(catalog.listing(UNRESTRICTED))
        log.info("serving %d collections from %s", count, settings.data_dir)
        yield


def _openapi_factory(app: FastAPI, settings: Settings) -> Callable[[], bytes]:
    @cache
    def build() -> bytes:
        lang = settings.server.default_language
        document = customize(
            app.openapi(),
            title=text_for(settings.server.title, lang),
            description=text_for(settings.server.description, lang),
            default_limit=settings.server.default_limit,
            max_limit=settings.server.max_limit,
        )
        return json_bytes(document)

    return build


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the ASGI application (uvicorn --factory calls it with no argument)."""
    settings = settings or load_settings()
    app = FastAPI(
        title="OneMap Server",
        version=VERSION,
        openapi_url=None,  # served at /api as OpenAPI 3.0
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    state = AppState(
        settings=settings,
        jinja=make_environment(),
        map_available=(STATIC / "vendor" / "maplibre-gl.js").is_file(),
        tile_cache=TileCache(settings.tiles.cache_mb * 1024 * 1024),
        metrics=Metrics(),
    )
    app.state.onemap = state
    for module in (common, features, edits, tiles, processes, webmap, observability):
        app.include_router(module.build_router())
        state.conformance |= module.CONFORMANCE
        state.landing_links.extend(module.LANDING)
    state.openapi_bytes = _openapi_factory(app, settings)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    add_exception_handlers(app)
    app.add_middleware(LegacyServices)
    app.add_middleware(
        GZipMiddleware, minimum_size=1024, compresslevel=settings.server.gzip_level
    )
    # Tiles of callers with credentials replayed per grant (a quarter of the tile
    # budget): inside the rate limits, the audit trail and the edition (whose level
    # is part of the grant), outside compression (a replay is not compressed again).
    app.add_middleware(
        HotTiles,
        max_bytes=settings.tiles.cache_mb * 1024 * 1024 // 4,
        counts=state.hot_tiles,
        private=True,
    )
    app.add_middleware(Editions, editions=settings.security.editions)
    app.add_middleware(AuditMiddleware)
    # Rate limits inside CORS (a browser can read a 429 and its Retry-After) and
    # outside the audit and routing (a refused request costs a dict lookup and is no
    # audit row). Hot tiles replayed from memory, further out, are not counted: they
    # are anonymous, public and cost less than counting them would; every request
    # that resolves credentials, queries a source or renders goes through the limits.
    app.add_middleware(
        RateLimit,
        conf=settings.security.rate_limit,
        exempt=exempt_paths(settings.security.editions),
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.server.cors_origins,
        allow_methods=["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["*"],
        expose_headers=["ETag", "Content-Crs", "Content-Language", "Location",
                        "X-Request-ID", "Retry-After"],
    )  # fmt: skip
    # inside the hot tiles: a replayed tile carries the headers it was kept with
    app.add_middleware(SecurityHeaders, settings=settings)
    # hot public tiles skip routing (bytes shared with the tile cache)
    app.add_middleware(
        HotTiles,
        max_bytes=settings.tiles.cache_mb * 1024 * 1024,
        counts=state.hot_tiles,
    )
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)
    # outermost: every response (also a replayed tile) carries its request id
    app.add_middleware(RequestContext, access_log=settings.server.access_log)
    app.add_middleware(StartupErrors)
    return app
