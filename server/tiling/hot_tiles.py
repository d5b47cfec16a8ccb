"""Hot tiles answered before routing.

A web map asks for the same tiles again and again. The tile handlers already keep
encoded tiles (tiles/cache.py), but reaching them costs FastAPI's routing, dependencies
and parameter checks. This ASGI layer remembers the complete responses (status,
headers, body) that a tile handler marked as replayable and sends them again for the
same request, after re-checking the data versions the handler named.

Two instances take part:

- the **public** one, outermost in the app, serves anonymous requests only (a request
  carrying credentials passes on);
- the **private** one, inside the rate limits, the audit trail and the edition (but
  outside compression), serves requests with credentials: it authenticates each
  request, and its key holds the caller's whole grant (``AccessScope.cache_key``),
  so that bytes never cross grants. A replay restores what the audit trail records
  of the request it repeats (path parameters, the collection read).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from cachetools import LRUCache
from fastapi.routing import iter_route_contexts
from starlette.requests import Request
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.http.errors import ServiceError
from server.state import state_or_none

_SCOPE_KEY = "onemap.hot_tile"
# The tile routes (by name, server/routes/tiles.py): their paths are read from the
# app's own routes, so a changed or added tile route is recognised as it is.
COLLECTION_TILE = "collection_tile"
MAP_TILE = "map_tile"
DATASET_TILE = "dataset_tile"
TILE_ROUTES = frozenset({COLLECTION_TILE, MAP_TILE, DATASET_TILE})
# Headers that change a tile response's bytes or headers: part of the key.
_KEY_HEADERS = (b"host", b"accept", b"accept-encoding", b"origin")
_CREDENTIALS = frozenset({b"authorization", b"x-api-key"})
# Conditional requests, and cookies, are never replayed.
_BYPASS_HEADERS = frozenset({b"cookie", b"if-none-match", b"if-modified-since"})
# What the audit trail reads of a request, restored on a private replay.
_AUDIT_STATE = ("audit_collection", "audit_denied")


@dataclass
class _Offer:
    """What a handler says about its response: how long it may be replayed, and a
    check whose value must not have changed."""

    ttl: float = 0.0
    check: Callable[[], Hashable] | None = None
    token: Hashable = None


@dataclass
class _Entry:
    start: Message
    body: bytes
    check: Callable[[], Hashable]
    token: Hashable
    expires: float
    restore: dict[str, Any] = field(default_factory=dict)
    size: int = field(init=False)

    def __post_init__(self) -> None:
        self.size = len(self.body) + 256


def offer_replay(
    request: Request, ttl: float, check: Callable[[], Hashable], token: Hashable
) -> None:
    """Called by a tile handler: the same request (anonymous, or with credentials that
    resolve to the same grant) may be answered with these bytes for ``ttl`` seconds
    while ``check()`` returns ``token`` (the data versions the bytes were made from)."""
    offer = request.scope.get(_SCOPE_KEY)
    if isinstance(offer, _Offer) and ttl > 0:
        offer.ttl, offer.check, offer.token = ttl, check, token


class HotTiles:
    """ASGI middleware: replay marked tile responses, bounded in bytes; ``private``
    selects requests with credentials instead of anonymous ones."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        counts: dict[str, int],
        private: bool = False,
    ) -> None:
        self.app = app
        self.private = private
        self.counts = counts  # "hits", "kept": read by tests and metrics
        counts.setdefault("hits", 0)
        counts.setdefault("kept", 0)
        self._entries: LRUCache[tuple[Any, ...], _Entry] | None = (
            LRUCache(maxsize=max_bytes, getsizeof=lambda e: e.size)
            if max_bytes > 0
            else None
        )
        self._tile_paths: tuple[re.Pattern[str], ...] | None = None

    def _is_tile(self, scope: Scope) -> bool:
        """Whether the path is one of a tile route (the whole path, as it came)."""
        if self._tile_paths is None:  # the app's routes, read once at first use
            routes = iter_route_contexts(getattr(scope.get("app"), "routes", []))
            self._tile_paths = tuple(
                compile_path(r.path)[0]
                for r in routes
                if r.name in TILE_ROUTES and r.path is not None
            )
        return any(p.match(scope["path"]) for p in self._tile_paths)

    def _key(self, scope: Scope) -> tuple[Any, ...] | None:
        if (
            self._entries is None
            or scope["type"] != "http"
            or scope["method"] != "GET"
            or not self._is_tile(scope)
        ):
            return None
        wanted: dict[bytes, bytes] = {}
        credentials = False
        for name, value in scope["headers"]:
            if name in _BYPASS_HEADERS:
                return None
            if name in _CREDENTIALS:
                credentials = True
            elif name in _KEY_HEADERS:
                wanted[name] = value
        if credentials != self.private:
            return None
        grant = _grant_key(scope) if self.private else ""
        if grant is None:
            return None
        return (
            scope.get("root_path", ""),
            scope["path"],
            scope["query_string"],
            grant,
            *(wanted.get(h) for h in _KEY_HEADERS),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Replay a kept response, or pass on and keep what the handler offers."""
        key = self._key(scope)
        if key is None:
            await self.app(scope, receive, send)
            return
        assert self._entries is not None
        entry = self._entries.get(key)
        if entry is not None:
            if entry.expires > time.monotonic() and entry.check() == entry.token:
                self.counts["hits"] += 1
                scope["onemap.hot_hit"] = True  # for the request metrics
                if entry.restore:
                    scope["path_params"] = dict(entry.restore["path_params"])
                    scope.setdefault("state", {}).update(entry.restore["state"])
                await send({**entry.start, "headers": list(entry.start["headers"])})
                await send({"type": "http.response.body", "body": entry.body})
                return
            self._entries.pop(key, None)
        offer = _Offer()
        scope[_SCOPE_KEY] = offer
        start: Message = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                # a copy: outer layers (gzip) change the headers of the message
                start = {**message, "headers": list(message.get("headers", []))}
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    self._keep(key, start, b"".join(chunks), offer, scope)
            await send(message)

        await self.app(scope, receive, capture)

    def _keep(
        self,
        key: tuple[Any, ...],
        start: Message,
        body: bytes,
        offer: _Offer,
        scope: Scope,
    ) -> None:
        if offer.check is None or start.get("status") not in (200, 204):
            return
        assert self._entries is not None
        expires = time.monotonic() + offer.ttl
        restore: dict[str, Any] = {}
        if self.private:
            state = scope.get("state", {})
            restore = {
                "path_params": dict(scope.get("path_params", {})),
                "state": {k: state[k] for k in _AUDIT_STATE if k in state},
            }
        entry = _Entry(start, body, offer.check, offer.token, expires, restore)
        if entry.size <= self._entries.maxsize:
            self._entries[key] = entry
            self.counts["kept"] += 1


def _grant_key(scope: Scope) -> str | None:
    """The caller's whole grant as a cache key (credentials checked now, as routing
    would; the principal and scope are left in the request state for the handler);
    None when the credentials fail: the request passes on and is refused there."""
    request = Request(scope)
    state = state_or_none(scope["app"])
    authenticator = getattr(state, "authenticator", None)
    if state is None or authenticator is None:
        return None
    try:
        principal = authenticator.principal(request)
    except ServiceError:
        return None
    roles = frozenset() if principal.anonymous else principal.roles
    access = state.grants.scope(roles, getattr(request.state, "edition_level", None))
    request.state.principal = principal
    request.state.scope = access
    return str(access.cache_key)
