"""The one mapping from exceptions to responses, installed on the app once.

Our error tree, the sources' errors (providers/errors.py), Starlette's HTTP errors,
request validation, database outages (503) and everything else (500 with a request id).
"""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from psycopg import OperationalError  # PoolTimeout is one too
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from providers.errors import ProviderError
from server.http.errors import (
    PROBLEM_JSON,
    RETRY_AFTER_S,
    InternalError,
    InvalidParameterError,
    MethodNotAllowedError,
    NotFoundError,
    ServiceError,
    UnavailableError,
    from_provider,
)
from server.http.negotiation import language_of, wants_html
from server.http.responses import html_error, json_response

log = logging.getLogger("onemap.errors")


def error_response(request: Request, exc: ServiceError) -> Response:
    """Render an error in the format and language the client asked for."""
    lang = language_of(request)
    body = exc.body(lang)
    if wants_html(request):
        return html_error(request, body, exc.status, exc.headers)
    headers = {"Content-Language": lang, "Cache-Control": "no-store", **exc.headers}
    return json_response(
        body, status=exc.status, media_type=PROBLEM_JSON, headers=headers
    )


async def _service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    return error_response(request, exc)


async def _provider_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProviderError)
    err = from_provider(exc, request)
    if isinstance(err, InternalError):
        return await _unexpected(request, exc)
    return error_response(request, err)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        err: ServiceError = NotFoundError("err.not_found_path", path=request.url.path)
    elif exc.status_code == 405:
        err = MethodNotAllowedError("err.method", method=request.method)
        err.headers = dict(exc.headers or {})
    else:
        err = ServiceError("err.server", request_id="-")
        err.status = exc.status_code
    return error_response(request, err)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    loc = [str(p) for p in first.get("loc", ()) if p not in ("query", "path", "header")]
    name = ".".join(loc) or "request"
    return error_response(request, InvalidParameterError("err.invalid", name[:64]))


async def _unexpected(request: Request, exc: Exception) -> Response:
    # the id server/request_context.py gave the request (this response is sent outside
    # the app's middleware, so it names the id itself)
    request_id = request.headers.get("x-request-id") or uuid.uuid4().hex[:12]
    log.error(
        "unhandled error %s on %s %s",
        request_id,
        request.method,
        request.url.path,
        exc_info=exc,
    )
    err = InternalError("err.server", request_id=request_id)
    err.headers = {"X-Request-ID": request_id, "X-Content-Type-Options": "nosniff"}
    return error_response(request, err)


_last_unavailable = [0.0]  # when the last such 503 was logged


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    # psycopg.OperationalError: the connection broke, PostgreSQL is starting or shutting
    # down, no pooled connection came in time (PoolTimeout), a statement timed out
    if time.monotonic() - _last_unavailable[0] > 10:  # not once per request
        _last_unavailable[0] = time.monotonic()
        log.warning(
            "database unavailable on %s %s: %s",
            request.method,
            request.url.path,
            type(exc).__name__,
        )
    err = UnavailableError("err.unavailable", seconds=RETRY_AFTER_S)
    err.headers = {"Retry-After": str(RETRY_AFTER_S)}
    return error_response(request, err)


async def _sqlite_error(request: Request, exc: Exception) -> Response:
    # a GeoPackage (or the job or audit file) stayed locked by a writer for longer than
    # the busy timeout: a wait to retry, like PostgreSQL that cannot answer for now
    if "locked" in str(exc) or "busy" in str(exc):
        return await _database_unavailable(request, exc)
    return await _unexpected(request, exc)


def add_exception_handlers(app: FastAPI) -> None:
    """Install the handlers: our tree, Starlette's HTTP errors, validation, database
    outages (503), the rest."""
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(ProviderError, _provider_error)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(sqlite3.OperationalError, _sqlite_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
