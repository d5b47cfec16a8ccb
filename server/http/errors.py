"""One exception tree for every user-facing error, rendered as OGC exception JSON.

Each error carries a message id and parameters; the text is chosen in the caller's
language when the response is written. 5xx responses never carry exception text.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from providers.errors import (
    ForbiddenWrite,
    ProviderError,
    QueryError,
    SourceFailed,
    SourceUnavailable,
    VersionMismatch,
)
from server.i18n import translate

log = logging.getLogger("onemap.errors")

PROBLEM_JSON = "application/problem+json"


class ServiceError(Exception):
    """Base of every error shown to a client."""

    status = 500
    code = "ServerError"
    title_id = "title.server_error"

    def __init__(
        self, message_id: str, parameter: str | None = None, **params: Any
    ) -> None:
        super().__init__(message_id)
        self.message_id = message_id
        self.parameter = parameter
        self.params = params
        self.headers: dict[str, str] = {}

    def body(self, lang: str) -> dict[str, Any]:
        """The OGC / RFC 7807 exception body."""
        # A parameter given per language ({"en": ..., "zh-CN": ...}) is shown in ``lang``.
        params = {
            k: (v.get(lang) or v.get("en")) if isinstance(v, dict) else v
            for k, v in self.params.items()
        }
        detail = translate(self.message_id, lang, **params)
        if self.parameter is not None:
            detail = f"{self.parameter}: {detail}"
        body: dict[str, Any] = {
            "type": f"urn:onemap:error:{self.code}",
            "title": translate(self.title_id, lang),
            "status": self.status,
            "detail": detail,
            "code": self.code,
        }
        if self.parameter is not None:
            body["parameter"] = self.parameter
        return body


class InvalidParameterError(ServiceError):
    """A query parameter, header or body value is not acceptable (400)."""

    status = 400
    code = "InvalidParameterValue"
    title_id = "title.invalid_parameter"


class NotFoundError(ServiceError):
    """An unknown collection, feature or path (404)."""

    status = 404
    code = "NotFound"
    title_id = "title.not_found"


class ForbiddenError(ServiceError):
    """Authenticated, but the roles do not allow the operation (403)."""

    status = 403
    code = "Forbidden"
    title_id = "title.forbidden"


class NotAcceptableError(ServiceError):
    """No representation matches the Accept header (406)."""

    status = 406
    code = "NotAcceptable"
    title_id = "title.not_acceptable"


class MethodNotAllowedError(ServiceError):
    """The path exists but not with this method (405)."""

    status = 405
    code = "MethodNotAllowed"
    title_id = "title.method_not_allowed"


class PreconditionFailedError(ServiceError):
    """If-Match names another version than the current one (412)."""

    status = 412
    code = "PreconditionFailed"
    title_id = "title.precondition_failed"


class PreconditionRequiredError(ServiceError):
    """An edit of this collection must carry If-Match (428)."""

    status = 428
    code = "PreconditionRequired"
    title_id = "title.precondition_required"


class UnsupportedMediaTypeError(ServiceError):
    """The body's Content-Type is not accepted here (415)."""

    status = 415
    code = "UnsupportedMediaType"
    title_id = "title.unsupported_media_type"


class PayloadTooLargeError(ServiceError):
    """The body is larger than the configured limit (413)."""

    status = 413
    code = "PayloadTooLarge"
    title_id = "title.payload_too_large"


class UpstreamError(ServiceError):
    """A data source (imagery file or URL) could not be read (502)."""

    status = 502
    code = "BadGateway"
    title_id = "title.bad_gateway"


class UpstreamTimeoutError(UpstreamError):
    """A data source did not answer in time (504)."""

    status = 504
    code = "GatewayTimeout"


class UnavailableError(ServiceError):
    """The database cannot be reached for now (503 with Retry-After)."""

    status = 503
    code = "ServiceUnavailable"
    title_id = "title.unavailable"


class InternalError(ServiceError):
    """An unexpected failure; the detail carries only a request id."""


def error_response(request: Request, exc: ServiceError) -> Response:
    """Render an error in the format and language the client asked for."""
    from server.http.negotiation import language_of, wants_html
    from server.http.responses import html_error, json_response

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


# each kind of source error has one answer; the message and parameters come with it
_PROVIDER_ANSWERS: tuple[tuple[type[ProviderError], type[ServiceError]], ...] = (
    (QueryError, InvalidParameterError),
    (ForbiddenWrite, ForbiddenError),
    (VersionMismatch, PreconditionFailedError),
    (SourceUnavailable, UnavailableError),
    (SourceFailed, UpstreamError),
)


def from_provider(exc: ProviderError, request: Request | None = None) -> ServiceError:
    """The user-facing error of a source's error (a 500 for kinds without an answer)."""
    answer = next((a for kind, a in _PROVIDER_ANSWERS if isinstance(exc, kind)), None)
    if answer is None:
        return InternalError("err.server", request_id="-")
    if isinstance(exc, VersionMismatch):
        sent = request.headers.get("if-match", "") if request is not None else ""
        err = answer(exc.message_id, sent=sent[:80])
        err.headers = {"ETag": f'"{exc.current}"'}
        return err
    err = answer(exc.message_id, exc.parameter, **exc.params)
    if isinstance(exc, SourceUnavailable):
        err.headers = {"Retry-After": str(RETRY_AFTER_S)}
    return err


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


RETRY_AFTER_S = 5  # what a 503 of an unreachable database asks clients to wait
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
    from psycopg import OperationalError  # PoolTimeout is one too

    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(ProviderError, _provider_error)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(sqlite3.OperationalError, _sqlite_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
