"""The application's state, typed: what ``create_app`` builds and the start-up opens.

Handlers reach it through :func:`app_state` (or :func:`get_state`) rather than
untyped ``request.app.state`` attributes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import HTTPConnection

if TYPE_CHECKING:
    from jinja2 import Environment

    from config import Settings
    from processes.jobs import JobStore
    from providers.base import AccessScope
    from providers.catalog import Catalog
    from providers.sources import AllowedSources
    from server.http.landing import LandingLink
    from server.routes.observability import Metrics
    from server.security.audit import AuditLog
    from server.security.auth import Authenticator
    from server.security.grants import Grants
    from tiles.cache import TileCache


@dataclass(eq=False)
class AppState:
    """Built by ``create_app``; the fields after ``hot_tiles`` are set at start-up."""

    settings: Settings
    jinja: Environment
    map_available: bool
    tile_cache: TileCache
    metrics: Metrics
    conformance: set[str] = field(default_factory=set)
    landing_links: list[LandingLink] = field(default_factory=list)  # by route modules
    hot_tiles: dict[str, int] = field(default_factory=dict)  # replays per tile route
    startup_failure: str | None = None  # why the start-up stopped, in one line
    openapi_bytes: Callable[[], bytes] = field(init=False)
    # opened by the lifespan (server/app.py)
    audit: AuditLog = field(init=False)
    catalog: Catalog = field(init=False)
    grants: Grants = field(init=False)
    anonymous_scope: AccessScope = field(init=False)
    authenticator: Authenticator = field(init=False)
    api_document: bytes = field(init=False)
    mapproxy: Any = field(init=False)  # a WSGI app wrapped for ASGI, or None
    allowed_sources: AllowedSources = field(init=False)
    job_store: JobStore = field(init=False)


def app_state(app: Starlette) -> AppState:
    """The state of an app built by ``create_app``."""
    state: AppState = app.state.onemap
    return state


def state_or_none(app: Starlette) -> AppState | None:
    """The state, or None for an app ``create_app`` did not build (a mounted one)."""
    return getattr(app.state, "onemap", None)


def get_state(request: HTTPConnection) -> AppState:
    """The app's state, for a handler."""
    return app_state(request.app)
