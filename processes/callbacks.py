"""Subscriber callbacks: the job's statusInfo POSTed to the URIs given at submission.

The URIs were checked against the allowed sources when the job was accepted; redirects
are not followed (a redirect could lead anywhere), and a callback that fails is logged,
never retried into a loop and never fails the job.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request

import orjson

from config.settings import Settings
from processes.jobs import JobStore
from processes.status import status_info

log = logging.getLogger("onemap.callbacks")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: object, **_kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def notify(settings: Settings, store: JobStore, job_id: str, kind: str) -> None:
    """POST the job's status to its subscriber's ``kind`` URI, if it gave one."""
    job = store.get(job_id)
    if job is None:
        return
    uri = (job.request.get("subscriber") or {}).get(kind)
    if not uri:
        return
    body = orjson.dumps(status_info(job, job.request.get("base_url", "")))
    request = urllib.request.Request(
        uri, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with _OPENER.open(request, timeout=5) as response:
            response.read(1024)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        log.warning("job %s: %s callback failed: %s", job_id, kind, type(exc).__name__)
