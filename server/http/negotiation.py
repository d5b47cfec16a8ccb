"""Content and language negotiation: ``f=`` / Accept and ``lang=`` / Accept-Language."""

from __future__ import annotations

from typing import Literal

from starlette.requests import Request

from config.i18n import Language, from_accept_language, normalise_language
from server.http.errors import InvalidParameterError, NotAcceptableError
from server.state import state_or_none

Format = Literal["json", "html"]

_FORMAT_ALIASES: dict[str, Format] = {
    "json": "json",
    "geojson": "json",
    "application/json": "json",
    "application/geo+json": "json",
    "html": "html",
    "text/html": "html",
}
_MEDIA: dict[str, Format] = {
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/json": "json",
    "application/geo+json": "json",
    "application/schema+json": "json",
    "application/vnd.oai.openapi+json": "json",
    "application/problem+json": "json",
}


def _default_language(request: Request) -> Language:
    state = state_or_none(request.app)
    return state.settings.server.default_language if state is not None else "zh-CN"


def language_of(request: Request) -> Language:
    """The response language: ``lang=`` first, then Accept-Language, then the default.

    Never raises (it is also used while rendering errors); an invalid ``lang=`` is
    rejected by :func:`check_language`.
    """
    cached: Language | None = getattr(request.state, "lang", None)
    if cached is not None:
        return cached
    lang = normalise_language(
        request.query_params.get("lang", "")
    ) or from_accept_language(
        request.headers.get("accept-language", ""), _default_language(request)
    )
    request.state.lang = lang
    return lang


def check_language(request: Request) -> None:
    """Raise 400 for a ``lang=`` value that names no supported language."""
    value = request.query_params.get("lang")
    if value is not None and normalise_language(value) is None:
        raise InvalidParameterError("err.lang", "lang", value=value[:40])


def _accept_ranking(header: str) -> list[tuple[float, int, str]]:
    ranked = []
    for index, part in enumerate(header.split(",")):
        media, _, params = part.partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        media = media.strip().lower()
        if media and q > 0:
            ranked.append((-q, index, media))
    return sorted(ranked)


def format_of(request: Request, allowed: tuple[Format, ...] = ("json", "html")) -> Format:
    """The representation to send; raises 400 for a bad ``f=`` and 406 for Accept."""
    value = request.query_params.get("f")
    if value is not None:
        fmt = _FORMAT_ALIASES.get(value.lower())
        if fmt is None or fmt not in allowed:
            raise InvalidParameterError(
                "err.format", "f", value=value[:40], allowed=", ".join(allowed)
            )
        return fmt
    header = request.headers.get("accept", "")
    if not header.strip():
        return allowed[0]
    for _, _, media in _accept_ranking(header):
        if media in ("*/*", "application/*", "text/*"):
            return "html" if media == "text/*" and "html" in allowed else allowed[0]
        fmt = _MEDIA.get(media)
        if fmt in allowed:
            return fmt
    raise NotAcceptableError("err.not_acceptable", allowed=", ".join(allowed))


def wants_html(request: Request) -> bool:
    """Whether an error should be rendered as an HTML page."""
    f = request.query_params.get("f", "").lower()
    if f:
        return f in ("html", "text/html")
    ranked = _accept_ranking(request.headers.get("accept", ""))
    return bool(ranked) and ranked[0][2] in ("text/html", "application/xhtml+xml")
