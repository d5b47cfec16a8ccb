"""Rate limits per caller, and a brake on failed authentications per address.

Requests: a token bucket per caller — the API key or bearer token it sends, once that
authenticated (only a keyed BLAKE2b digest of it is kept, never the credential), else
its address —
refilled at ``security.rate_limit.requests_per_s`` up to ``burst``. Failed
authentications: a bucket per address of ``failed_auth_per_min``. A request with
credentials not yet proven good takes one of its address's tokens before it is
handled and gives it back unless it ends 401; so parallel guesses cannot all slip
through before the first failure is counted, while credentials that authenticated
lately are not held back by a neighbour's bad guesses behind the same NAT address.
Beyond a limit: 429 with ``Retry-After`` (whole seconds) and the usual error body.
/health, /ready and /metrics are never limited, nor anonymous requests from
``exempt_addresses`` (loopback: MapProxy fetching this server's tiles for WMS/WMTS).

Everything stays in the memory of the web process, bounded in entries (tens of MB at
most): each uvicorn worker counts on its own. An entry lives ``_TTL_S`` from its
creation or its last refusal, then starts afresh: a caller kept just under its limit
gains at most ``burst`` extra requests per ``_TTL_S``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import time
from typing import Any

from cachetools import TTLCache
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from config.security import EditionConfig, RateLimitConfig
from server.http.error_handlers import error_response
from server.http.errors import ServiceError
from server.state import state_or_none

log = logging.getLogger("onemap.security")

EXEMPT = ("/health", "/ready", "/metrics")
_CREDENTIALS = (b"authorization", b"x-api-key")
_MAX_ENTRIES = 100_000  # callers tracked per table (a few tens of MB at most)
_TTL_S = 120.0  # ≥ the time an empty failed-auth bucket needs to refill (60 s)


class TooManyRequestsError(ServiceError):
    """The caller is over its rate (429, with Retry-After)."""

    status = 429
    code = "TooManyRequests"
    title_id = "title.too_many_requests"

    def __init__(self, message_id: str, retry_after: int) -> None:
        super().__init__(message_id, seconds=retry_after)
        self.headers = {"Retry-After": str(retry_after)}


class Bucket:
    """A token bucket (its rate and size are the limiter's)."""

    __slots__ = ("stamp", "throttled", "tokens")

    def __init__(self, tokens: float, now: float) -> None:
        self.tokens = tokens
        self.stamp = now
        self.throttled = False

    def take(self, now: float, rate: float, size: float) -> float:
        """Take a token: 0.0, or the seconds until one is there (nothing taken)."""
        tokens = min(size, self.tokens + (now - self.stamp) * rate)
        self.stamp = now
        if tokens >= 1:
            self.tokens = tokens - 1
            return 0.0
        self.tokens = tokens
        return (1 - tokens) / rate

    def give_back(self, size: float) -> None:
        """Return a token taken before."""
        self.tokens = min(size, self.tokens + 1)


def exempt_paths(editions: dict[str, EditionConfig]) -> frozenset[str]:
    """The operations endpoints, also under each edition's path prefix."""
    prefixes = [""] + [e.path_prefix for e in editions.values() if e.path_prefix]
    return frozenset(prefix + path for prefix in prefixes for path in EXEMPT)


class RateLimit:
    """ASGI middleware: the limits above (it runs on the event loop only)."""

    def __init__(
        self, app: ASGIApp, conf: RateLimitConfig, exempt: frozenset[str]
    ) -> None:
        self.app = app
        self.exempt = exempt
        self._salt = os.urandom(16)  # digests mean nothing outside this process
        self.conf = conf
        self.exempt_addresses = frozenset(conf.exempt_addresses)
        self.requests: TTLCache[Any, Bucket] = TTLCache(_MAX_ENTRIES, _TTL_S)
        self.failures: TTLCache[str, Bucket] = TTLCache(_MAX_ENTRIES, _TTL_S)
        self.proven: TTLCache[bytes, bool] = TTLCache(_MAX_ENTRIES, _TTL_S)

    def _current(self, scope: Scope) -> RateLimitConfig:
        """The limits of the running configuration (reloaded with SIGHUP)."""
        state = state_or_none(scope["app"])
        settings = state.settings if state is not None else None
        conf: RateLimitConfig = (
            settings.security.rate_limit if settings is not None else self.conf
        )
        if conf is not self.conf:
            if conf != self.conf:  # new limits: every caller starts afresh
                self.requests.clear()
                self.failures.clear()
            self.conf = conf
            self.exempt_addresses = frozenset(conf.exempt_addresses)
        return conf

    def _digest(self, scope: Scope) -> bytes | None:
        """A keyed digest of the request's credentials (None: it sends none)."""
        sent = [v for n, v in scope["headers"] if n in _CREDENTIALS]
        if not sent:
            return None
        return hashlib.blake2b(b"\n".join(sent), key=self._salt, digest_size=16).digest()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse an over-limit request; count the 401s of unproven credentials."""
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        conf = self._current(scope)
        now = time.monotonic()
        client = scope.get("client")
        address = client[0] if client else ""
        digest = self._digest(scope)
        proven = digest is not None and digest in self.proven
        guess: Bucket | None = None  # the address's failed-auth bucket, token taken
        per_min = conf.failed_auth_per_min
        if digest is not None and per_min and not proven:
            guess = self._bucket(self.failures, address, per_min, now)
            wait = guess.take(now, per_min / 60, per_min)
            if wait:
                self._refuse_log(guess, "failed authentications", address)
                self.failures[address] = guess  # keep it while refused
                await self._refuse(scope, receive, send, "rate.failed_auth", wait)
                return
        if conf.requests_per_s and (
            digest is not None or address not in self.exempt_addresses
        ):
            # a credential is a caller of its own once it authenticated; before, its
            # address is (made-up credentials would each get a fresh bucket)
            key = digest if proven else address
            bucket = self._bucket(self.requests, key, conf.burst, now)
            wait = bucket.take(now, conf.requests_per_s, conf.burst)
            if wait:
                if guess is not None:
                    guess.give_back(per_min)
                self._refuse_log(bucket, "requests", address)
                self.requests[key] = bucket  # keep it while refused
                await self._refuse(scope, receive, send, "rate.exceeded", wait)
                return
            bucket.throttled = False
        if guess is None or digest is None:
            await self.app(scope, receive, send)
            return
        guess.throttled = False
        await self._handle_guess(scope, receive, send, address, digest, guess, per_min)

    async def _handle_guess(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        address: str,
        digest: bytes,
        guess: Bucket,
        per_min: int,
    ) -> None:
        """Handle a request with unproven credentials; its token is given back unless
        it ends 401, and credentials that authenticated are remembered as proven."""
        status = [0]

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            if status[0] == 401:
                self.failures[address] = guess  # kept a full time-to-live from now
            else:
                guess.give_back(per_min)
                principal = scope.get("state", {}).get("principal")
                if getattr(principal, "kind", "anonymous") in ("key", "token"):
                    self.proven[digest] = True

    @staticmethod
    def _bucket(table: TTLCache[Any, Bucket], key: Any, size: int, now: float) -> Bucket:
        found: Bucket | None = table.get(key)
        if found is None:
            found = table[key] = Bucket(size, now)
        return found

    @staticmethod
    def _refuse_log(bucket: Bucket, what: str, address: str) -> None:
        """Log the start of each refused stretch (not every refused request)."""
        if not bucket.throttled:
            bucket.throttled = True
            log.warning("throttling %s of %s", what, address or "an unknown address")

    @staticmethod
    async def _refuse(
        scope: Scope, receive: Receive, send: Send, message_id: str, wait: float
    ) -> None:
        retry_after = max(1, math.ceil(wait))
        request = Request(scope, receive)
        response = error_response(request, TooManyRequestsError(message_id, retry_after))
        await response(scope, receive, send)
