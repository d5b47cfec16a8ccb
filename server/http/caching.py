"""HTTP caching: ETags, conditional GET (304) and Cache-Control."""

from __future__ import annotations

import hashlib

from starlette.requests import Request
from starlette.responses import Response

from server.state import get_state


def etag_of(*parts: str | bytes, weak: bool = False) -> str:
    """An ETag from the parts that determine a representation."""
    digest = hashlib.blake2b(digest_size=12)
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\x00")
    tag = f'"{digest.hexdigest()}"'
    return f"W/{tag}" if weak else tag


def _matches(header: str, etag: str) -> bool:
    if header.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(t.strip().removeprefix("W/") == wanted for t in header.split(","))


def not_modified(request: Request, etag: str, headers: dict[str, str]) -> Response | None:
    """A 304 response when If-None-Match matches (weak comparison, RFC 9110)."""
    header = request.headers.get("if-none-match")
    if header is not None and _matches(header, etag):
        return Response(status_code=304, headers={"ETag": etag, **headers})
    return None


VARY = "Accept, Accept-Language, Authorization, X-API-Key"


def cache_headers(request: Request, public: bool = True) -> dict[str, str]:
    """Cache-Control for a read; Vary on what negotiation and access looked at.

    What an authenticated caller reads is never for shared caches: it may be more
    than the public sees, or cut to their region.
    """
    principal = getattr(request.state, "principal", None)
    if principal is not None and not getattr(principal, "anonymous", True):
        public = False
    max_age = get_state(request).settings.server.cache_max_age
    control = f"public, max-age={max_age}" if public else "private, no-cache"
    return {"Cache-Control": control, "Vary": VARY}
