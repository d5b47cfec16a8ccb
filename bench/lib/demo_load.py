"""The demo's request mix: the area, the routes, the plan of ids and tiles the
clients draw from, the actions (reads, tiles, edits) and the job client's job."""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode, urlsplit

from lib.load import OK, TILE_OK, Action, Client, Reply, Run

REGION_CODE = "450802001"  # 贵城街道, a township of the demo's xzq layer
# The load's area: inside the township (checked at start) and the imagery's extent.
AREA = (109.56, 23.065, 109.62, 23.13)
# Other townships: dltb ids the role must not see.
OUTSIDE = (109.70, 22.92, 109.78, 22.99)
TILE_ZOOMS = (12, 13, 14, 15)
CQL2 = (
    "DLBM = '0101'",
    "TBMJ > 5000",
    "DLBM IN ('0101','0103') AND TBMJ > 2000",
    "DLMC LIKE '%林地%'",
    "SJNF = 2023 AND DLBM <> '1004'",
)
STATUSES = ("pending", "verified_real", "verified_false", "needs_review")
JOB_DONE = ("successful", "failed", "dismissed")

R_BBOX = "GET /collections/dltb/items?bbox"
R_CQL2 = "GET /collections/dltb/items?filter (CQL2)"
R_ITEM = "GET /collections/dltb/items/{id}"
R_HIDDEN = "GET /collections/dltb/items/{id} outside the region"
R_MVT = "GET /collections/dltb/tiles/WebMercatorQuad/{z}/{y}/{x}"
R_IMG = "GET /collections/imagery/tiles/WebMercatorQuad/{z}/{y}/{x}"
R_CP_ITEMS = "GET /collections/change-polygons/items"
R_CP_ITEM = "GET /collections/change-polygons/items/{id}"
R_PATCH = "PATCH /collections/change-polygons/items/{id}"
R_EXEC = "POST /processes/monitoring-statistics/execution"
R_JOB = "GET /jobs/{jobId}"
R_RESULTS = "GET /jobs/{jobId}/results"
R_JOB_WALL = "job: submitted → successful (wall time)"


def tiles_of(bounds: tuple[float, float, float, float], z: int) -> list[tuple[int, ...]]:
    """WebMercatorQuad tiles (z, y, x) that meet a lon/lat box."""

    def xy(lon: float, lat: float) -> tuple[int, int]:
        n = 2**z
        y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
        return int((lon + 180) / 360 * n), int(y)

    x0, y0 = xy(bounds[0], bounds[3])
    x1, y1 = xy(bounds[2], bounds[1])
    return [(z, y, x) for y in range(y0, y1 + 1) for x in range(x0, x1 + 1)]


@dataclass
class Plan:
    """The request sets, read from the running server."""

    item_ids: list[int]
    hidden_ids: list[int]
    mvt: list[tuple[int, ...]]
    imagery: list[tuple[int, ...]]
    change_ids: list[int] = field(default_factory=list)


def _box(rng: random.Random) -> str:
    side = rng.uniform(0.004, 0.02)
    x = rng.uniform(AREA[0], AREA[2] - side)
    y = rng.uniform(AREA[1], AREA[3] - side)
    return f"{x:.5f},{y:.5f},{x + side:.5f},{y + side:.5f}"


def items_bbox(run: Run, client: Client, rng: random.Random) -> None:
    path = f"/collections/dltb/items?bbox={_box(rng)}&limit=100"
    run.call(client, R_BBOX, "GET", path, OK)


def items_cql2(run: Run, client: Client, rng: random.Random) -> None:
    query = {"filter": rng.choice(CQL2), "filter-lang": "cql2-text", "limit": "50"}
    if rng.random() < 0.7:  # a map view; else the whole collection
        query["bbox"] = _box(rng)
    path = "/collections/dltb/items?" + urlencode(query, quote_via=quote)
    run.call(client, R_CQL2, "GET", path, OK)


def item(run: Run, client: Client, rng: random.Random) -> None:
    fid = rng.choice(run.plan.item_ids)
    run.call(client, R_ITEM, "GET", f"/collections/dltb/items/{fid}", OK)


def hidden_item(run: Run, client: Client, rng: random.Random) -> None:
    fid = rng.choice(run.plan.hidden_ids)
    path = f"/collections/dltb/items/{fid}"
    run.call(client, R_HIDDEN, "GET", path, frozenset({404}))


def mvt_tile(run: Run, client: Client, rng: random.Random) -> None:
    z = rng.choice(TILE_ZOOMS)
    _, y, x = rng.choice([t for t in run.plan.mvt if t[0] == z])
    path = f"/collections/dltb/tiles/WebMercatorQuad/{z}/{y}/{x}"
    run.call(client, R_MVT, "GET", path, TILE_OK)


def imagery_tile(run: Run, client: Client, rng: random.Random) -> None:
    z = rng.choice(TILE_ZOOMS)
    _, y, x = rng.choice([t for t in run.plan.imagery if t[0] == z])
    fmt = rng.choice(("png", "jpeg"))
    path = f"/collections/imagery/tiles/WebMercatorQuad/{z}/{y}/{x}?f={fmt}"
    run.call(client, R_IMG, "GET", path, TILE_OK)


def change_items(run: Run, client: Client, rng: random.Random) -> None:
    path = f"/collections/change-polygons/items?bbox={_box(rng)}&limit=50"
    run.call(client, R_CP_ITEMS, "GET", path, OK)


def edit(run: Run, client: Client, rng: random.Random) -> None:
    """Read a change polygon (half the time), then PATCH its status with If-Match: the
    last ETag any client saw, which another client may have made stale (412)."""
    fid = rng.choice(run.plan.change_ids)
    path = f"/collections/change-polygons/items/{fid}"
    etag = run.etags.get(fid)
    if etag is None or rng.random() < 0.5:
        got = run.call(client, R_CP_ITEM, "GET", path, OK)
        if got is None or got.status != 200:
            return
        etag = got.headers.get("etag", "")
        run.etags[fid] = etag
    body = {"properties": {"status": rng.choice(STATUSES), "remark": f"soak {run.sent}"}}
    headers = {"If-Match": etag, "Content-Type": "application/merge-patch+json"}
    expected = frozenset({204, 412})
    done = run.call(
        client, R_PATCH, "PATCH", path, expected, headers, json.dumps(body).encode()
    )
    if done is not None and done.headers.get("etag"):
        run.etags[fid] = done.headers["etag"]


READS: list[tuple[Action, int]] = [
    (items_bbox, 20),
    (items_cql2, 10),
    (item, 15),
    (mvt_tile, 25),
    (imagery_tile, 15),
]
SOAK_MIX: list[tuple[Action, int]] = [
    *READS,
    (hidden_item, 2),
    (change_items, 5),
    (edit, 8),
]


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def one_job(run: Run, client: Client, timeout: float = 300) -> None:
    """Submit monitoring-statistics asynchronously, poll until it ends, read results."""
    began = time.monotonic()
    headers = {"Prefer": "respond-async", "Content-Type": "application/json"}
    path = "/processes/monitoring-statistics/execution"
    sent = run.call(
        client, R_EXEC, "POST", path, frozenset({201}), headers, b'{"inputs": {}}'
    )
    if sent is None or sent.status != 201:
        return
    job = _path(sent.headers["location"])
    status = "accepted"
    while status not in JOB_DONE and time.monotonic() - began < timeout:
        time.sleep(0.5)
        if run.died_at is not None or not run.alive():
            return
        got = run.call(client, R_JOB, "GET", job, OK)
        if got is not None and got.status == 200:
            status = json.loads(got.body)["status"]
    problem = "" if status == "successful" else f"job {job} ended {status}"
    if status == "successful":
        run.call(client, R_RESULTS, "GET", f"{job}/results", OK)
    reply = Reply(200 if not problem else 0, {}, b"")
    run.record(R_JOB_WALL, began, time.monotonic(), reply, problem, f"job {job}")


ROUTE_OF: dict[Action, str] = {
    items_bbox: R_BBOX,
    items_cql2: R_CQL2,
    item: R_ITEM,
    mvt_tile: R_MVT,
    imagery_tile: R_IMG,
}
