"""Links of the landing page, each contributed by the route module that serves it."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request

from server.http.links import link, url_for
from server.i18n import translate


@dataclass(frozen=True)
class LandingLink:
    """A link of the landing page: a resource of one OGC API part."""

    path: str
    rel: str
    media_type: str
    title_id: str  # a text of server/i18n.py
    query: dict[str, str] = field(default_factory=dict)
    with_language: bool = False  # the target is a page in the caller's language

    def render(self, request: Request, lang: str) -> dict[str, str]:
        """The link object for a request in ``lang``."""
        params: dict[str, str | int | None] = dict(self.query)
        if self.with_language:
            params["lang"] = lang
        return link(
            url_for(request, self.path, **params),
            self.rel,
            self.media_type,
            translate(self.title_id, lang),
        )
