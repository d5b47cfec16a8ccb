"""Many clients editing one feature at once through a live server: no update is lost.

Each client reads the feature, increments SJNF and PATCHes it with If-Match; a client
whose version went stale gets 412 and tries again (and waits on a 429 of the key's rate
limit). At the end the value must have grown
by exactly the number of successful PATCHes.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

pytestmark = pytest.mark.clients

CLIENTS, INCREMENTS = 16, 8


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=30) as r:
        return int(json.load(r)["properties"]["SJNF"]), r.headers["ETag"]


def _patch(url: str, value: int, etag: str | None, key: dict[str, str]) -> int:
    headers = {"Content-Type": "application/merge-patch+json", **key}
    if etag is not None:
        headers["If-Match"] = etag
    body = json.dumps({"properties": {"SJNF": value}}).encode()
    request = urllib.request.Request(url, body, headers, method="PATCH")
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _client(url: str, key: dict[str, str]) -> tuple[int, int]:
    done = stale = 0
    for _ in range(INCREMENTS * 50):  # bounded: never loops forever
        if done == INCREMENTS:
            break
        value, etag = _get(url)
        status = _patch(url, value + 1, etag, key)
        if status == 204:
            done += 1
        elif status == 412:
            stale += 1
        elif status == 429:  # the key's rate limit: wait, as a client should
            time.sleep(0.5)
        else:
            raise AssertionError(f"unexpected status {status}")
    return done, stale


def test_no_lost_update(live_url: str, admin: dict[str, str]) -> None:
    url = f"{live_url}/collections/editable/items/3"
    start, _ = _get(url)
    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(_client, [url] * CLIENTS, [admin] * CLIENTS))
    successes = sum(done for done, _ in results)
    conflicts = sum(stale for _, stale in results)
    final, _ = _get(url)
    assert successes == CLIENTS * INCREMENTS
    assert final == start + successes  # every acknowledged increment is there
    assert conflicts > 0  # the clients did race, and the losers got 412
    assert _patch(url, 0, None, admin) == 428  # If-Match is required for this collection
    assert _patch(url, 0, None, {}) == 401  # and a key for any edit
    with urllib.request.urlopen(f"{url}/history", timeout=30) as r:
        versions = json.load(r)["versions"]
    assert sum(v["operation"] == "update" for v in versions) >= successes
