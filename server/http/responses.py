"""Response builders: JSON via orjson, HTML via Jinja2 templates, links."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from config.i18n import I18nText, text_for
from server.http.links import base_url, same_query
from server.http.negotiation import language_of
from server.i18n import translate
from server.state import get_state, state_or_none

TEMPLATES = Path(__file__).parent.parent / "templates"
GEOJSON = "application/geo+json"
JSON = "application/json"
HTML = "text/html; charset=utf-8"


def json_bytes(data: Any) -> bytes:
    """Encode JSON (non-ASCII kept as UTF-8)."""
    return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)


def json_response(
    data: Any,
    *,
    status: int = 200,
    media_type: str = JSON,
    headers: dict[str, str] | None = None,
) -> Response:
    """A JSON response from any orjson-serialisable value."""
    return Response(
        json_bytes(data), status_code=status, media_type=media_type, headers=headers
    )


def make_environment() -> Environment:
    """The Jinja2 environment of the HTML pages (built once per app)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def render_html(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render a page in the request's language."""
    lang = language_of(request)
    env: Environment = get_state(request).jinja

    def t(message_id: str, **params: Any) -> str:
        return translate(message_id, lang, **params)

    def tr(text: I18nText | None) -> str:
        return "" if text is None else text_for(text, lang)

    page = env.get_template(template).render(
        request=request,
        lang=lang,
        other_lang="en" if lang == "zh-CN" else "zh-CN",
        t=t,
        tr=tr,
        base=base_url(request),
        map_available=get_state(request).map_available,
        switch_url=same_query(request, lang="en" if lang == "zh-CN" else "zh-CN"),
        **context,
    )
    all_headers = {"Content-Language": lang, **(headers or {})}
    return HTMLResponse(page, status_code=status, headers=all_headers)


def html_error(
    request: Request, body: dict[str, Any], status: int, headers: dict[str, str]
) -> Response:
    """An error page (the same information as the JSON body)."""
    if state_or_none(request.app) is None:
        return json_response(body, status=status, headers=headers)
    return render_html(
        request,
        "error.html",
        {"error": body, "title": body["title"], "links": []},
        status=status,
        headers={"Cache-Control": "no-store", **headers},
    )
