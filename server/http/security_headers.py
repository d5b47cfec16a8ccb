"""Security headers: ``X-Content-Type-Options: nosniff`` on every response; on HTML
pages also a Content-Security-Policy, ``X-Frame-Options`` and ``Referrer-Policy``.

The policy fits the pages of server/templates: scripts and styles come from /static
(no inline scripts; style attributes that MapLibre, OpenLayers and Swagger UI set are
allowed), MapLibre and OpenLayers start their workers from ``blob:`` URLs and draw
``data:``/``blob:`` images, and tiles, items and the OpenAPI document are fetched from
this server (or its configured public ``base_url``). A header the response already has
is left as it is.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from config.settings import Settings
from server.state import state_or_none

_NOSNIFF = (b"x-content-type-options", b"nosniff")


def content_security_policy(settings: Settings) -> str:
    """The CSP of the HTML pages."""
    own = "'self'"
    base = settings.server.base_url
    if base:
        parts = urlsplit(str(base))
        if parts.scheme and parts.netloc:
            own += f" {parts.scheme}://{parts.netloc}"
    ancestors = " ".join(settings.security.frame_ancestors) or "'none'"
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {own}",
            f"style-src {own} 'unsafe-inline'",
            f"img-src {own} data: blob:",
            f"font-src {own} data:",
            f"connect-src {own}",
            "worker-src 'self' blob:",
            "child-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            f"frame-ancestors {ancestors}",
        ]
    )


def html_headers(settings: Settings) -> list[tuple[bytes, bytes]]:
    """The headers of an HTML page."""
    headers = [
        (b"content-security-policy", content_security_policy(settings).encode()),
        (b"referrer-policy", b"strict-origin-when-cross-origin"),
    ]
    if not settings.security.frame_ancestors:
        headers.append((b"x-frame-options", b"DENY"))
    return headers


class SecurityHeaders:
    """ASGI middleware adding the headers to each response start."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self._settings = settings
        self._html = html_headers(settings)

    def _html_headers(self, scope: Scope) -> list[tuple[bytes, bytes]]:
        """Those of the running configuration (frame_ancestors reloads with SIGHUP)."""
        state = state_or_none(scope["app"])
        settings = state.settings if state is not None else self._settings
        if settings is not self._settings:
            self._settings, self._html = settings, html_headers(settings)
        return self._html

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the headers its response lacks."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                names = {name.lower() for name, _ in headers}
                content_type = next(
                    (v for n, v in headers if n.lower() == b"content-type"), b""
                )
                extra = [_NOSNIFF]
                if content_type.lower().startswith(b"text/html"):
                    extra += self._html_headers(scope)
                headers += [h for h in extra if h[0] not in names]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, add_headers)
