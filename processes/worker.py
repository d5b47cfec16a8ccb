"""``onemap worker``: claims jobs from the job table and runs each in a child process.

The child does the work and writes its outcome; the worker watches it: it renews the
job's lease every second, kills the child when the job is dismissed or runs past its
timeout, and fails the job when the child dies without an outcome. The child is killed
with its worker (PR_SET_PDEATHSIG), so a worker killed with -9 leaves no orphan running:
its lease runs out and another worker retries or fails the job.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

import orjson
import shapely
from pydantic import ValidationError

from config.settings import Settings
from processes.base import JobContext, ProcessError
from processes.callbacks import notify
from processes.jobs import Job, JobStore
from processes.messages import translate
from processes.registry import PROCESSES
from providers.base import AccessScope, Cql2Filter

log = logging.getLogger("onemap.worker")

_PR_SET_PDEATHSIG = 1
_REPORT_EVERY_S = 0.5
HEARTBEAT_S = 5.0  # a worker that has not reported for 3 × this is gone


def open_store(settings: Settings) -> JobStore:
    """The job table this deployment uses (processes.queue)."""
    queue = settings.processes.queue
    url = settings.database.url
    if queue == "postgres" and not url:
        raise ValueError("processes.queue postgres needs database.url")
    use_pg = queue == "postgres" or (queue == "auto" and url is not None)
    return JobStore(url if use_pg else None, Path(settings.data_dir) / "jobs.sqlite")


def scope_document(scope: AccessScope) -> dict[str, Any]:
    """The submitter's scope, kept with the job: the job reads only what they may."""
    return {
        "collections": _sorted(scope.collections),
        "region": shapely.to_wkt(scope.region) if scope.region is not None else None,
        "properties": _sorted(scope.properties),
        "attribute_filter": scope.attribute_filter.expr
        if scope.attribute_filter is not None
        else None,
        "operations": _sorted(scope.operations),
        "per_collection": {k: scope_document(v) for k, v in scope.per_collection.items()},
    }


def _sorted(values: frozenset[str] | None) -> list[str] | None:
    return sorted(values) if values is not None else None


def _frozen(values: list[str] | None) -> frozenset[str] | None:
    return frozenset(values) if values is not None else None


def scope_of(document: dict[str, Any]) -> AccessScope:
    """The scope a job was submitted with."""
    region, cql = document.get("region"), document.get("attribute_filter")
    return AccessScope(
        collections=_frozen(document.get("collections")),
        region=shapely.from_wkt(region) if region else None,
        properties=_frozen(document.get("properties")),
        attribute_filter=Cql2Filter(cql) if cql is not None else None,
        operations=_frozen(document.get("operations")),
        per_collection={
            k: scope_of(v) for k, v in (document.get("per_collection") or {}).items()
        },
    )


def run_worker(
    settings: Settings, *, stop: Callable[[], bool] = lambda: False, poll_s: float = 0.5
) -> None:
    """Claim and run jobs until ``stop()`` (or SIGTERM)."""
    store = open_store(settings)
    name = f"{socket.gethostname()}:{os.getpid()}"
    conf = settings.processes
    stopping = False

    def _term(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _term)
    signal.signal(signal.SIGINT, _term)
    log.info("worker %s polling for jobs", name)
    last_purge = last_beat = 0.0
    while not (stopping or stop()):
        if time.monotonic() - last_beat > HEARTBEAT_S:
            store.heartbeat(name)
            last_beat = time.monotonic()
        if time.monotonic() - last_purge > 3600:
            store.purge(conf.retention_days)
            last_purge = time.monotonic()
        job = store.claim(name, conf.lease_s, conf.max_attempts)
        if job is None:
            time.sleep(poll_s)
            continue
        log.info("job %s (%s), attempt %d", job.id, job.process, job.attempts)
        supervise(store, settings, job, lambda: stopping or stop())


def supervise(
    store: JobStore,
    settings: Settings,
    job: Job,
    stopping: Callable[[], bool] = lambda: False,
) -> None:
    """Run one claimed job in a child process and see it to an end; when the worker
    is asked to stop, the job goes back to the queue for the next worker."""
    child = multiprocessing.get_context("fork").Process(
        target=_child, args=(settings, job, os.getpid()), name=f"job-{job.id[:8]}"
    )
    child.start()
    notify(settings, store, job.id, "inProgressUri")
    deadline = time.monotonic() + settings.processes.job_timeout_s
    last_beat = time.monotonic()
    while child.is_alive():
        child.join(1.0)
        if not child.is_alive():
            break
        if job.worker and time.monotonic() - last_beat > HEARTBEAT_S:
            store.heartbeat(job.worker)
            last_beat = time.monotonic()
        if not store.renew(job, settings.processes.lease_s):
            _kill(child)  # dismissed, or no longer this worker's run
            log.info("job %s stopped (dismissed or taken over)", job.id)
            return
        if stopping():
            _kill(child)
            store.release(job)
            log.info("job %s returned to the queue (worker stopping)", job.id)
            return
        if time.monotonic() > deadline:
            _kill(child)
            lang = job.request.get("language", "en")
            message = translate(
                "process.timeout", lang, seconds=settings.processes.job_timeout_s
            )
            store.finish(job, "failed", error="timeout", message=message)
            break
    if child.exitcode not in (0, None):
        lang = job.request.get("language", "en")
        message = translate("process.crashed", lang, job=job.id)
        if store.finish(job, "failed", error="crashed", message=message):
            log.error("job %s: child exited with %s", job.id, child.exitcode)
    final = store.get(job.id)
    if final is not None and final.status in ("successful", "failed"):
        notify(
            settings,
            store,
            job.id,
            "successUri" if final.status == "successful" else "failedUri",
        )


def _kill(child: Any) -> None:
    """Stop a job's child and everything it started (its own process group)."""
    with suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)
    child.join(5)


def _child(settings: Settings, job: Job, worker: int) -> None:
    os.setpgrp()  # a group of its own: dismissal kills what the process started too
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    # the worker died before the line above: the orphan's new parent is init or a
    # subreaper (not always pid 1), so compare with the worker's own pid
    if os.getppid() != worker:
        os._exit(1)
    store = open_store(settings)
    lang = job.request.get("language", "en")
    last = [0.0]

    def progress(percent: int, message: str | None) -> None:
        if time.monotonic() - last[0] >= _REPORT_EVERY_S:
            last[0] = time.monotonic()
            store.report(job, percent, message)

    process = PROCESSES[job.process]
    ctx = JobContext(
        settings, scope_of(job.request.get("scope", {})), lang, job.id, progress
    )
    try:
        inputs = process.inputs.model_validate(job.request.get("inputs", {}))
        outputs = process.run(inputs, ctx)
        store.finish(job, "successful", results=orjson.dumps(outputs))
    except ProcessError as exc:
        message = translate(exc.message_id, lang, **exc.params)
        store.finish(job, "failed", error=exc.message_id, message=message)
    except ValidationError:
        message = translate("process.invalid_inputs", lang)
        store.finish(job, "failed", error="invalid_inputs", message=message)
    except Exception:
        log.exception("job %s (%s) failed", job.id, job.process)
        message = translate("process.internal", lang, job=job.id)
        store.finish(job, "failed", error="internal", message=message)
