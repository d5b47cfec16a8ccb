"""Request ids and the access log.

Every response carries ``X-Request-ID``: the caller's own id when it is sane (1–64
characters of ``A-Z a-z 0-9 . _ -``), else a new one. The request itself is rewritten to
carry that id, so everything inside (the audit trail, error pages, log lines) sees one
and the same safe value. One line per request goes to the logger ``onemap.access``:
method, path (secret query values masked), status, duration, bytes, client address and
the caller's name once it was resolved. Credentials never appear: no header is logged,
and query parameters that carry keys or tokens are written as ``***``.

The outermost layer of the app (server/app.py), so that its duration covers everything
and hot-tile replays carry their id too.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import time
from typing import Any
from urllib.parse import unquote_plus

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.http.logs import REQUEST_ID

log = logging.getLogger("onemap.access")

HEADER = b"x-request-id"
_SANE_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")
# query parameters whose values are credentials (compared case-insensitively)
SECRET_PARAMS = frozenset({"api_key", "apikey", "key", "token", "access_token"})
_MAX_TARGET = 2048  # characters of path and query logged


def redact_query(query: str) -> str:
    """The query string with the values of credential parameters replaced by ***."""
    if not query:
        return query
    parts = []
    for part in query.split("&"):
        name, eq, _value = part.partition("=")
        if eq and unquote_plus(name).strip().lower() in SECRET_PARAMS:
            part = f"{name}=***"
        parts.append(part)
    return "&".join(parts)


def _target(scope: Scope) -> str:
    """The request target as received (percent-encoded: no control characters),
    secrets masked, bounded in length."""
    raw: bytes | None = scope.get("raw_path")
    path: str = raw.decode("latin-1") if raw else scope.get("path", "")
    query = scope.get("query_string", b"").decode("latin-1")
    target = path + ("?" + redact_query(query) if query else "")
    return target if len(target) <= _MAX_TARGET else target[:_MAX_TARGET] + "…"


class _Ids:
    """New request ids: a random prefix per process and a counter (a random id per
    request costs a system call; unique is what an id must be, not secret)."""

    def __init__(self) -> None:
        self.renew()
        os.register_at_fork(after_in_child=self.renew)  # forked workers: their own

    def renew(self) -> None:
        self.prefix = os.urandom(10).hex().encode()
        self.counter = itertools.count(1)

    def next(self) -> bytes:
        return b"%s%012x" % (self.prefix, next(self.counter))


_IDS = _Ids()


def _request_id(scope: Scope) -> bytes:
    """The request's id (the sane incoming one, else new); the request's headers are
    rewritten to carry exactly that id once."""
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    found = [value for name, value in headers if name == HEADER]
    if found:
        if len(found) == 1 and _SANE_ID.fullmatch(found[0]):
            return bytes(found[0])
        headers = [(n, v) for n, v in headers if n != HEADER]
    request_id = _IDS.next()
    scope["headers"] = [*headers, (HEADER, request_id)]
    return request_id


class RequestContext:
    """ASGI middleware: request ids and one access-log line per request."""

    def __init__(self, app: ASGIApp, access_log: bool = True) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Name the request, answer with its id, log it once it ended."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        raw_id = _request_id(scope)
        request_id = raw_id.decode("ascii")
        # one state for every layer inside (some pass on copies of the scope)
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        token = REQUEST_ID.set(request_id)
        id_header = (HEADER, raw_id)
        seen = [500, 0]  # status, body bytes

        async def send_with_id(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.body":
                seen[1] += len(message.get("body", b""))
            elif kind == "http.response.start":
                seen[0] = message["status"]
                # a new message: hot-tile replays send the same stored one again
                message = {**message, "headers": [*message.get("headers", ()), id_header]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)
            if self.access_log:
                level = logging.WARNING if seen[0] >= 500 else logging.INFO
                if log.isEnabledFor(level):
                    self._log(level, scope, state, request_id, seen, started)

    @staticmethod
    def _log(
        level: int,
        scope: Scope,
        state: dict[str, Any],
        request_id: str,
        seen: list[int],
        started: float,
    ) -> None:
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        client = scope.get("client")
        fields: dict[str, Any] = {
            "request_id": request_id,
            "method": scope["method"],
            "path": _target(scope),
            "status": seen[0],
            "duration_ms": duration_ms,
            "bytes": seen[1],
            "client": client[0] if client else "",
        }
        principal = state.get("principal")
        name = getattr(principal, "name", None)
        if isinstance(name, str):
            fields["principal"] = name
        log.log(
            level,
            "%s %s %d %.1f ms",
            fields["method"],
            fields["path"],
            seen[0],
            duration_ms,
            extra={"fields": fields},
        )
