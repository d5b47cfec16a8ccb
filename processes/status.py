"""The statusInfo document of a job (OGC API - Processes), shared by the API and the
subscriber callbacks."""

from __future__ import annotations

from typing import Any

from processes.jobs import Job

_REL = "http://www.opengis.net/def/rel/ogc/1.0/"
REL_PROCESSES, REL_EXECUTE = _REL + "processes", _REL + "execute"
REL_JOBS, REL_RESULTS = _REL + "job-list", _REL + "results"


def status_info(job: Job, base: str) -> dict[str, Any]:
    """A job's status; ``base`` is the service URL without a trailing slash."""
    doc: dict[str, Any] = {
        "jobID": job.id,
        "processID": job.process,
        "type": "process",
        "status": job.status,
        "progress": job.progress,
        "created": job.created,
        "updated": job.updated,
    }
    if job.message:
        doc["message"] = job.message
    if job.started:
        doc["started"] = job.started
    if job.finished:
        doc["finished"] = job.finished
    href = f"{base}/jobs/{job.id}"
    links = [
        {"href": href, "rel": "self", "type": "application/json", "title": "Job status"},
        {"href": f"{base}/processes/{job.process}", "rel": "up",
         "type": "application/json", "title": "Process"},
    ]  # fmt: skip
    if job.status == "successful":
        links.append(
            {"href": f"{href}/results", "rel": REL_RESULTS,
             "type": "application/json", "title": "Results"}
        )  # fmt: skip
    doc["links"] = links
    return doc
