"""Hot public tiles answered before routing.

A web map asks for the same public tiles again and again. The tile handlers already
keep encoded tiles (tiles/cache.py), but reaching them costs FastAPI's routing,
dependencies and parameter checks. This ASGI layer, outermost in the app, remembers the
complete responses (status, headers, body) that a tile handler marked as replayable and
sends them again for the same request, after re-checking the data versions the handler
named. Only anonymous requests take part: a request carrying credentials always goes
through routing, where its scope is resolved, audited and limited.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from cachetools import LRUCache
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_SCOPE_KEY = "onemap.hot_tile"
_TILE_PATH = re.compile(
    r"^(?:/collections/[^/]+(?:/map)?)?/tiles/[^/]+/\d{1,9}/\d{1,9}/\d{1,9}$"
)
# Headers that change a tile response's bytes or headers: part of the key.
_KEY_HEADERS = (b"host", b"accept", b"accept-encoding", b"origin")
# Any of these makes the request non-anonymous (or conditional): not served here.
_BYPASS_HEADERS = frozenset(
    {b"authorization", b"cookie", b"x-api-key", b"if-none-match", b"if-modified-since"}
)


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
    size: int = field(init=False)

    def __post_init__(self) -> None:
        self.size = len(self.body) + 256


def offer_replay(
    request: Request, ttl: float, check: Callable[[], Hashable], token: Hashable
) -> None:
    """Called by a tile handler on a public response: the same anonymous request may be
    answered with these bytes for ``ttl`` seconds while ``check()`` returns ``token``
    (the data versions the bytes were made from)."""
    offer = request.scope.get(_SCOPE_KEY)
    if isinstance(offer, _Offer) and ttl > 0:
        offer.ttl, offer.check, offer.token = ttl, check, token


class HotTiles:
    """ASGI middleware: replay marked public tile responses, bounded in bytes."""

    def __init__(self, app: ASGIApp, max_bytes: int, counts: dict[str, int]) -> None:
        self.app = app
        self.counts = counts  # "hits", "kept": read by tests and metrics
        counts.update(hits=0, kept=0)
        self._entries: LRUCache[tuple[Any, ...], _Entry] | None = (
            LRUCache(maxsize=max_bytes, getsizeof=lambda e: e.size)
            if max_bytes > 0
            else None
        )

    def _key(self, scope: Scope) -> tuple[Any, ...] | None:
        if (
            self._entries is None
            or scope["type"] != "http"
            or scope["method"] != "GET"
            or not _TILE_PATH.match(scope["path"])
        ):
            return None
        wanted: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            if name in _BYPASS_HEADERS:
                return None
            if name in _KEY_HEADERS:
                wanted[name] = value
        return (
            scope.get("root_path", ""),
            scope["path"],
            scope["query_string"],
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
                await send(entry.start)
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
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    self._keep(key, start, b"".join(chunks), offer)
            await send(message)

        await self.app(scope, receive, capture)

    def _keep(
        self, key: tuple[Any, ...], start: Message, body: bytes, offer: _Offer
    ) -> None:
        if offer.check is None or start.get("status") not in (200, 204):
            return
        assert self._entries is not None
        expires = time.monotonic() + offer.ttl
        entry = _Entry(start, body, offer.check, offer.token, expires)
        if entry.size <= self._entries.maxsize:
            self._entries[key] = entry
            self.counts["kept"] += 1
