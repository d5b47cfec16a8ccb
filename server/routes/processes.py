"""OGC API - Processes Part 1: processes, execution (sync and async), jobs, results,
dismissal. Jobs never run here: the web process only writes and reads the job table;
worker processes (``onemap worker``) run them."""

from __future__ import annotations

import asyncio
import time
from contextlib import suppress
from dataclasses import replace
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ValidationError
from starlette.responses import Response

from openapi.standard import answers
from processes.base import Process
from processes.jobs import FINISHED, Job, JobStore
from processes.registry import PROCESSES
from processes.status import REL_EXECUTE, REL_JOBS, REL_PROCESSES, status_info
from processes.worker import scope_document
from providers.base import AccessScope
from providers.catalog import RasterCollection
from providers.sources import SourceNotAllowed
from server.http.errors import (
    NoSuchJobError,
    NoSuchProcessError,
    ProcessParameterError,
    ResultNotReadyError,
    ServiceError,
)
from server.http.landing import LandingLink
from server.http.links import HTML, JSON, link, self_links, url_for
from server.http.negotiation import language_of
from server.http.params import check_known, json_body
from server.http.responses import json_bytes
from server.i18n import translate
from server.routes.common import respond
from server.routes.dependencies import BASIC, LANG, BasicLanguage, Checked, F
from server.routes.process_page import describe_inputs, describe_outputs
from server.security.access import ForbiddenError, get_principal, get_scope, require
from server.security.grants import ADMIN
from server.state import get_state

_PROCESSES = "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/"
LANDING = (
    LandingLink("/processes", REL_PROCESSES, JSON, "ui.processes_json"),
    LandingLink("/jobs", REL_JOBS, JSON, "ui.jobs"),
)
CONFORMANCE = {
    _PROCESSES + name
    for name in (
        "core",
        "ogc-process-description",
        "json",
        "html",
        "oas30",
        "job-list",
        "callback",
        "dismiss",
    )
}
_JOB_PARAMS = BASIC | {"processID", "status", "limit", "offset"}
_STATUSES = ("accepted", "running", "successful", "failed", "dismissed")
_USER_ERRORS_ARE_NOT = {"internal", "crashed", "timeout"}

_EXECUTE_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "inputs": {"type": "object", "description": "See /processes/{id}"},
                    "subscriber": {
                        "type": "object",
                        "properties": {
                            k: {"type": "string", "format": "uri"}
                            for k in ("successUri", "failedUri", "inProgressUri")
                        },
                    },
                },
            },
            "example": {"inputs": {"level": "sandalei"}},
        }
    },
}

ProcessId = Annotated[str, Path(alias="processId", description="Process id")]
JobId = Annotated[str, Path(alias="jobId", description="Job id")]


class InvalidInputsError(ProcessParameterError):
    """Execution inputs that fail validation: every invalid field is listed."""

    def __init__(self, fields: list[dict[str, str]]) -> None:
        names = ", ".join(f["input"] for f in fields)
        super().__init__("process.inputs", "inputs", names=names)
        self.fields = fields

    def body(self, lang: str) -> dict[str, Any]:
        """The exception with the list of invalid inputs."""
        return {**super().body(lang), "invalidInputs": self.fields}


class JobGoneError(ServiceError):
    """Results of a dismissed job (410)."""

    status = 410
    code = "Gone"
    title_id = "title.gone"


class JobFailedError(ServiceError):
    """A job that failed: its message, as 400 (the inputs' fault) or 500."""

    code = "ProcessFailed"
    title_id = "title.process_failed"

    def __init__(self, job: Job, status: int) -> None:
        super().__init__("process.failed", message=job.message or "-")
        self.status = status


def _process(process_id: str) -> Process:
    found = PROCESSES.get(process_id)
    if found is None:
        raise NoSuchProcessError("process.unknown", id=process_id[:80])
    return found


def _store(request: Request) -> JobStore:
    store: JobStore = get_state(request).job_store
    return store


def _base(request: Request) -> str:
    return url_for(request, "/").rstrip("/")


async def _owner(request: Request) -> str | None:
    """Whose jobs the caller sees: their own; an admin everybody's (None)."""
    principal = await get_principal(request)
    return None if ADMIN in principal.roles else principal.name


async def _job(request: Request, job_id: str, owner: str | None) -> Job:
    """A job of the caller (another owner's job answers like an unknown one)."""
    if "\x00" in job_id:  # no job has one (and PostgreSQL text cannot hold it)
        raise NoSuchJobError("process.unknown_job", id=job_id[:64].replace("\x00", ""))
    job = await to_thread.run_sync(_store(request).get, job_id[:64])
    if job is None or (owner is not None and job.owner != owner):
        raise NoSuchJobError("process.unknown_job", id=job_id[:64])
    return job


def _inputs(process: Process, body: Any) -> BaseModel:
    """The inputs checked against the process's model: every invalid one listed."""
    if not isinstance(body, dict):
        raise ProcessParameterError("process.body", "body")
    inputs = body.get("inputs", {})
    if not isinstance(inputs, dict):
        raise ProcessParameterError("process.body", "inputs")
    try:
        return process.inputs.model_validate(inputs)
    except ValidationError as exc:
        fields = [
            {
                "input": ".".join(str(p) for p in e["loc"]) or "inputs",
                "message": e["msg"],
            }
            for e in exc.errors(include_url=False, include_input=False)
        ]
        raise InvalidInputsError(fields) from None


def _references(
    request: Request, process: Process, model: BaseModel, scope: AccessScope
) -> None:
    """Collections the caller may see (a hidden one is an unknown one) and hrefs
    inside the allowed sources."""
    visible = {c.id for c in get_state(request).catalog.visible(scope)}
    for name in process.collection_inputs:
        value = getattr(model, name)
        readable = value in visible and scope.narrowed(str(value)).allows("read")
        if value is not None and not readable:
            message = f"unknown collection '{str(value)[:64]}'"
            raise InvalidInputsError([{"input": name, "message": message}])
    for name in process.href_inputs:
        value = getattr(model, name)
        if not isinstance(value, dict):  # a collection id (checked by the job)
            continue
        try:
            href = value.get("href")
            if not isinstance(href, str):
                raise SourceNotAllowed("invalid")
            resolved = get_state(request).allowed_sources.resolve(href)
            if resolved in _hidden_images(request, scope):
                raise SourceNotAllowed("outside")  # no reading a hidden image by path
        except SourceNotAllowed as exc:
            message = translate(f"source.{exc.code}", language_of(request))
            raise InvalidInputsError([{"input": name, "message": message}]) from None


def _hidden_images(request: Request, scope: AccessScope) -> set[str]:
    """The files of the imagery collections the caller may not see, as resolved."""
    allowed = get_state(request).allowed_sources
    hidden = set()
    for c in get_state(request).catalog.listing(AccessScope()):
        if isinstance(c, RasterCollection) and not scope.sees(c.id):
            for hrefs in c.images.values():
                for href in hrefs:
                    with suppress(SourceNotAllowed):
                        hidden.add(allowed.resolve(href))
    return hidden


def _subscriber(request: Request, body: dict[str, Any]) -> dict[str, str]:
    """Callback URIs: http(s) inside the allowed sources."""
    subscriber = body.get("subscriber") or {}
    if not isinstance(subscriber, dict):
        raise ProcessParameterError("process.body", "subscriber")
    allowed = get_state(request).allowed_sources
    for kind in ("successUri", "failedUri", "inProgressUri"):
        uri = subscriber.get(kind)
        if uri is None:
            continue
        try:
            if not isinstance(uri, str) or not uri.startswith(("http://", "https://")):
                raise SourceNotAllowed("scheme")
            allowed.resolve(uri)
        except SourceNotAllowed as exc:
            field = f"subscriber.{kind}"
            raise ProcessParameterError(f"source.{exc.code}", field) from None
    return {k: v for k, v in subscriber.items() if k.endswith("Uri")}


def _validate(
    request: Request, process: Process, body: Any, scope: AccessScope
) -> dict[str, Any]:
    """The execute request checked, as the job will keep it."""
    model = _inputs(process, body)
    _references(request, process, model, scope)
    return {
        "inputs": model.model_dump(mode="json"),
        "subscriber": _subscriber(request, body),
        "scope": scope_document(scope),
        "language": language_of(request),
        "base_url": _base(request),
    }


def _status_response(request: Request, job: Job, status: int = 200) -> Response:
    if job.error == "worker_lost" and not job.message:
        job = replace(job, message=translate("process.worker_lost", language_of(request)))
    headers = {"Cache-Control": "no-store", "Content-Language": language_of(request)}
    if status == 201:
        headers["Location"] = url_for(request, f"/jobs/{job.id}")
    return Response(
        json_bytes(status_info(job, _base(request))),
        status_code=status,
        media_type=JSON,
        headers=headers,
    )


async def _results(request: Request, job: Job) -> Response:
    if job.status == "dismissed":
        raise JobGoneError("process.dismissed", id=job.id)
    if job.status == "failed":
        raise JobFailedError(job, 500 if job.error in _USER_ERRORS_ARE_NOT else 400)
    if job.status != "successful":
        raise ResultNotReadyError("process.not_ready", id=job.id)
    body = await to_thread.run_sync(_store(request).results, job.id)
    if body is None:
        raise JobGoneError("process.dismissed", id=job.id)
    return Response(body, media_type=JSON, headers={"Cache-Control": "no-store"})


async def _wait(request: Request, job: Job) -> Job | None:
    """The job once finished, or None after processes.sync_wait_s."""
    deadline = time.monotonic() + get_state(request).settings.processes.sync_wait_s
    store = _store(request)
    delay = 0.05
    while time.monotonic() < deadline:
        found = await to_thread.run_sync(store.get, job.id)
        if found is not None and found.status in FINISHED:
            return found
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 0.5)
    return None


async def _execute(request: Request, p: Process) -> Response:
    """Accept a job; answer with its status (async) or its results (sync)."""
    check_known(request.query_params, BASIC)
    principal = await require(request, "execute")
    if not get_state(request).grants.may_execute(principal.roles, p.id):
        request.state.audit_denied = p.id
        raise ForbiddenError("auth.forbidden", operation=f"execute {p.id}")
    owner = principal.name
    scope: AccessScope = await get_scope(request)
    body = await json_body(request, ("application/json",))
    job_request = _validate(request, p, body, scope)
    job = await to_thread.run_sync(_store(request).submit, p.id, owner, job_request)
    if "respond-async" in request.headers.get("prefer", "").lower():
        return _status_response(request, job, 201)
    done = await _wait(request, job)
    if done is None:  # still running: answer as asynchronous
        return _status_response(request, job, 201)
    return await _results(request, done)


def _int(params: Any, name: str, default: int, top: int) -> int:
    text = params.get(name)
    if text is None:
        return default
    if not text.isdigit() or not 0 <= int(text) <= top:
        raise ProcessParameterError("process.range", name, high=top)
    return int(text)


router = APIRouter(tags=["Processes"])


@router.get(
    "/processes",
    summary="Processes offered",
    name="processes",
    **answers(JSON, HTML, schema="processList"),
)
async def processes(request: Request, language: BasicLanguage) -> Response:
    """The processes offered, in the caller's language."""
    items = []
    for p in PROCESSES.values():
        summary = p.summary(language)
        summary["links"] = [
            link(url_for(request, f"/processes/{p.id}"), "self", JSON, p.id)
        ]
        items.append(summary)
    data = {
        "processes": items,
        "links": self_links(request, "/processes", language),
    }
    title = translate("ui.processes", language)
    return respond(request, data, "processes.html", context={"title": title})


@router.get(
    "/processes/{processId}",
    summary="A process",
    name="process",
    **answers(JSON, HTML, schema="process"),
)
async def process(
    request: Request, process_id: ProcessId, language: BasicLanguage
) -> Response:
    """The description of one process: inputs, outputs, links."""
    p = _process(process_id)
    data = p.description_document(language)
    data["links"] = [
        *self_links(request, f"/processes/{p.id}", language),
        link(url_for(request, f"/processes/{p.id}/execution"), REL_EXECUTE, JSON,
             "Execute"),
        link(url_for(request, "/jobs", processID=p.id), REL_JOBS, JSON, "Jobs"),
    ]  # fmt: skip
    page = {
        "title": data["title"],
        "params": describe_inputs(p, data, language),
        "outputs": describe_outputs(data, language),
    }
    return respond(request, data, "process.html", context=page)


@router.post(
    "/processes/{processId}/execution",
    summary="Execute a process (Prefer: respond-async for a job)",
    name="execute",
    status_code=200,
    response_class=Response,
    responses={
        200: {"description": "The results", "content": {JSON: {}}},
        201: {
            "description": "Job accepted (statusInfo, Location)",
            "content": {JSON: {"schema": {"$ref": "#/components/schemas/statusInfo"}}},
        },
        400: {"description": "Invalid inputs, listed in invalidInputs"},
    },
    openapi_extra={"requestBody": _EXECUTE_BODY},
)
async def execute(request: Request, process_id: ProcessId) -> Response:
    """Execute a process: a job (Prefer: respond-async) or its results."""
    return await _execute(request, _process(process_id))


@router.get("/jobs", summary="Jobs", name="jobs", **answers(JSON, HTML, schema="jobList"))
async def jobs(
    request: Request, language: Annotated[str, Depends(Checked(_JOB_PARAMS))]
) -> Response:
    """The caller's jobs (an admin's: everybody's)."""
    params = request.query_params
    statuses = params.getlist("status")
    for s in statuses:
        if s not in _STATUSES:
            raise ProcessParameterError(
                "tile.choice", "status", value=s[:20], allowed=", ".join(_STATUSES)
            )
    if any("\x00" in p for p in params.getlist("processID")):
        raise ProcessParameterError("err.invalid", "processID")
    limit = _int(params, "limit", 10, 1000) or 10
    offset = _int(params, "offset", 0, 10**9)
    owner = await _owner(request)
    found = await to_thread.run_sync(
        _store(request).list, owner, params.getlist("processID"), statuses, limit,
        offset,
    )  # fmt: skip
    base = _base(request)
    data = {
        "jobs": [status_info(j, base) for j in found],
        "links": self_links(request, "/jobs", language),
    }
    title = translate("ui.jobs", language)
    return respond(request, data, "jobs.html", context={"title": title}, public=False)


@router.get(
    "/jobs/{jobId}",
    summary="Status of a job",
    name="job",
    **answers(JSON, schema="statusInfo", conditional=False),
)
async def job(
    request: Request, job_id: JobId, f: F = None, lang: LANG = None
) -> Response:
    """The status of one job."""
    check_known(request.query_params, BASIC)
    found = await _job(request, job_id, await _owner(request))
    return _status_response(request, found)


@router.get(
    "/jobs/{jobId}/results",
    summary="Results of a job",
    name="results",
    **answers(JSON, conditional=False),
)
async def results(request: Request, job_id: JobId) -> Response:
    """The results of a finished job."""
    check_known(request.query_params, BASIC)
    found = await _job(request, job_id, await _owner(request))
    return await _results(request, found)


@router.delete(
    "/jobs/{jobId}",
    summary="Dismiss a job",
    name="dismiss",
    **answers(JSON, schema="statusInfo", conditional=False),
)
async def dismiss(request: Request, job_id: JobId) -> Response:
    """Dismiss a job: stop it and drop its results."""
    found = await _job(request, job_id, await _owner(request))
    dismissed = await to_thread.run_sync(_store(request).dismiss, found.id)
    assert dismissed is not None
    return _status_response(request, dismissed)


def build_router() -> APIRouter:
    """Routes of OGC API - Processes Part 1."""
    return router
