"""Links of OGC API documents: absolute URLs that keep the request's parameters."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request

from server.i18n import translate
from server.state import get_state

GEOJSON = "application/geo+json"
JSON = "application/json"
HTML = "text/html"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"


def base_url(request: Request) -> str:
    """The public root URL of the API, without a trailing slash."""
    configured = get_state(request).settings.server.base_url
    if configured:
        return str(configured).rstrip("/")
    return str(request.base_url).rstrip("/")


def url_for(request: Request, path: str, **params: str | int | None) -> str:
    """An absolute URL under the API root with the given query parameters."""
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return base_url(request) + path + ("?" + query if query else "")


def same_query(request: Request, **changes: str | int | None) -> str:
    """The current URL with some query parameters replaced (None removes one)."""
    # dict.fromkeys: a parameter repeated with the same value (GDAL does that) once
    kept = request.query_params.multi_items()
    params = [(k, v) for k, v in dict.fromkeys(kept) if k not in changes]
    params += [(k, str(v)) for k, v in changes.items() if v is not None]
    query = urlencode(params)
    return (
        base_url(request)
        + request.url.path.removeprefix(request.scope.get("root_path", ""))
        + ("?" + query if query else "")
    )


def link(href: str, rel: str, type_: str, title: str | None = None) -> dict[str, str]:
    """One link object."""
    result = {"href": href, "rel": rel, "type": type_}
    if title:
        result["title"] = title
    return result


def self_links(request: Request, path: str, lang: str) -> list[dict[str, str]]:
    """The ``self`` (JSON) and ``alternate`` (HTML) links of a document."""
    return [
        link(
            url_for(request, path, f="json"), "self", JSON, translate("ui.as_json", lang)
        ),
        link(
            url_for(request, path, f="html"),
            "alternate",
            HTML,
            translate("ui.as_html", lang),
        ),
    ]
