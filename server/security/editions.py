"""Editions of the service: a host name or a path prefix caps what any caller sees.

The bureau publishes one service in editions — 互联网版 (public), 政务版 (internal),
涉密版 (secret). A request reaching an edition's host, or a path under its prefix, sees
collections up to the edition's level whatever its credentials; under a prefix the
prefix becomes the root path, so every link the server writes stays in the edition.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from config.security import EditionConfig


class Editions:
    """ASGI middleware: records the edition's level in ``request.state``."""

    def __init__(self, app: ASGIApp, editions: dict[str, EditionConfig]) -> None:
        self.app = app
        self.prefixes = [
            (e.path_prefix, e.level) for e in editions.values() if e.path_prefix
        ]
        self.hosts = {h.lower(): e.level for e in editions.values() for h in e.hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Find the request's edition (prefix first, then host)."""
        if scope["type"] == "http" and (self.prefixes or self.hosts):
            level = None
            root = scope.get("root_path", "")
            path: str = (
                scope["path"][len(root) :]
                if scope["path"].startswith(root)
                else scope["path"]
            )
            for prefix, found in self.prefixes:
                if path == prefix or path.startswith(prefix + "/"):
                    scope = {**scope, "root_path": root + prefix}
                    level = found
                    break
            if level is None:
                host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
                level = self.hosts.get(host.rsplit(":", 1)[0].lower())
            if level is not None:
                scope.setdefault("state", {})["edition_level"] = level
        await self.app(scope, receive, send)
