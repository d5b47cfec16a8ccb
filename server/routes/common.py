"""OGC API - Common: landing page, conformance, API definition."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from config.i18n import text_for
from openapi.standard import answers
from server.http.caching import cache_headers, etag_of, not_modified
from server.http.landing import LandingLink
from server.http.links import HTML, JSON, OPENAPI, self_links
from server.http.negotiation import format_of, language_of
from server.http.responses import json_bytes, render_html
from server.i18n import translate
from server.routes.dependencies import LANG as LANG
from server.routes.dependencies import BasicLanguage, TolerantLanguage
from server.routes.dependencies import F as F
from server.state import get_state

LANDING = (
    LandingLink("/api", "service-desc", OPENAPI, "ui.api_json"),
    LandingLink("/api", "service-doc", HTML, "ui.api_html", {"f": "html"}),
    LandingLink("/conformance", "conformance", JSON, "ui.conformance_json"),
)
CONFORMANCE = {
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/landing-page",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/json",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/oas30",
}


def respond(
    request: Request,
    data: dict[str, Any],
    template: str,
    *,
    media_type: str = JSON,
    context: dict[str, Any] | None = None,
    public: bool = True,
) -> Response:
    """Send a small document as JSON or HTML, with a strong ETag and conditional GET
    (``public`` False: documents that change any time, revalidated on every use)."""
    fmt = format_of(request)
    lang = language_of(request)
    headers = cache_headers(request, public)
    if fmt == "html":
        page = render_html(request, template, {"data": data, **(context or {})})
        body, media_type = bytes(page.body), page.media_type or HTML
    else:
        body = json_bytes(data)
    etag = etag_of(body)
    headers = {**headers, "ETag": etag, "Content-Language": lang}
    cached = not_modified(request, etag, headers)
    if cached is not None:
        return cached
    return Response(body, media_type=media_type, headers=headers)


router = APIRouter(tags=["Common"])


@router.get(
    "/",
    summary="Landing page",
    name="landing",
    **answers(JSON, HTML, schema="landingPage"),
)
async def landing(request: Request, language: TolerantLanguage) -> Response:
    """The landing page: links to the API, conformance, data, tiles and processes."""
    server = get_state(request).settings.server
    state = get_state(request)
    links = [
        *self_links(request, "/", language),
        *(landing.render(request, language) for landing in state.landing_links),
    ]
    data = {
        "title": text_for(server.title, language),
        "description": text_for(server.description, language),
        "links": links,
    }
    visible = state.catalog.visible(state.anonymous_scope)
    return respond(
        request,
        data,
        "landing.html",
        context={"title": data["title"], "collections": visible},
    )


@router.get(
    "/conformance",
    summary="Conformance classes",
    name="conformance",
    **answers(JSON, HTML, schema="confClasses"),
)
async def conformance(request: Request, language: BasicLanguage) -> Response:
    """The conformance classes the server implements."""
    data = {
        "conformsTo": sorted(get_state(request).conformance),
        "links": self_links(request, "/conformance", language),
    }
    title = translate("ui.conformance", language)
    return respond(request, data, "conformance.html", context={"title": title})


@router.get(
    "/api",
    summary="API definition (OpenAPI 3.0)",
    name="api",
    **answers(OPENAPI, HTML),
)
async def api(request: Request, language: BasicLanguage) -> Response:
    """The API definition: this OpenAPI document, or its HTML view."""
    if format_of(request) == "html":
        title = translate("ui.api_doc", language)
        return render_html(
            request,
            "api.html",
            {"title": title, "links": []},
            headers=cache_headers(request),
        )
    # The document with one items path per public collection, once the catalog is
    # loaded; the generic one otherwise.
    body: bytes = getattr(get_state(request), "api_document", None) or (
        get_state(request).openapi_bytes()
    )
    etag = etag_of(body)
    headers = {**cache_headers(request), "ETag": etag}
    cached = not_modified(request, etag, headers)
    return cached or Response(body, media_type=OPENAPI, headers=headers)


def build_router() -> APIRouter:
    """Routes of OGC API - Common Part 1."""
    return router
