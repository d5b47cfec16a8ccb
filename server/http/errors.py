"""One exception tree for every user-facing error, rendered as OGC exception JSON.

Each error carries a message id and parameters; the text is chosen in the caller's
language when the response is written (server/http/error_handlers.py). 5xx responses
never carry exception text.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from providers.errors import (
    ForbiddenWrite,
    NotFound,
    ProviderError,
    QueryError,
    SourceFailed,
    SourceTimeout,
    SourceUnavailable,
    VersionMismatch,
)
from server.i18n import translate

PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_S = 5  # what a 503 of an unavailable source asks clients to wait
# the exception types OGC API - Processes Part 1 registers (7.x "Exceptions")
OGC_PROCESSES = "http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/"


class ServiceError(Exception):
    """Base of every error shown to a client."""

    status = 500
    code = "ServerError"
    title_id = "title.server_error"
    # the ``type`` of the body: a standard's registered URI where one exists, else ours
    type_uri: str | None = None

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
            "type": self.type_uri or f"urn:onemap:error:{self.code}",
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


class NoSuchProcessError(NotFoundError):
    """An unknown process (404)."""

    type_uri = OGC_PROCESSES + "no-such-process"


class NoSuchJobError(NotFoundError):
    """An unknown job, or another owner's (404)."""

    type_uri = OGC_PROCESSES + "no-such-job"


class ResultNotReadyError(NotFoundError):
    """The results of a job that has not finished (404)."""

    type_uri = OGC_PROCESSES + "result-not-ready"


class ProcessParameterError(InvalidParameterError):
    """An execution body or a jobs parameter that is not acceptable (400)."""

    type_uri = OGC_PROCESSES + "invalid-parameter-value"


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


# each kind of source error has one answer; the message and parameters come with it
_PROVIDER_ANSWERS: tuple[tuple[type[ProviderError], type[ServiceError]], ...] = (
    (QueryError, InvalidParameterError),
    (NotFound, NotFoundError),
    (ForbiddenWrite, ForbiddenError),
    (VersionMismatch, PreconditionFailedError),
    (SourceUnavailable, UnavailableError),
    (SourceTimeout, UpstreamTimeoutError),  # before SourceFailed: it is one
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
