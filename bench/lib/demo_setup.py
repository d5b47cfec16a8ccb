"""Set-up of a soak server before the load: the plan read from it, its tiles primed,
change polygons added, and the checks that security really applies."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from typing import Any

from lib.demo_load import AREA, OUTSIDE, REGION_CODE, TILE_OK, TILE_ZOOMS, Plan, tiles_of
from lib.load import Client, Reply
from lib.onemap_server import OnemapServer
from lib.stats import percentile


def _get_json(client: Client, path: str) -> Any:
    reply = client.send("GET", path)
    if reply.status != 200:
        raise RuntimeError(f"GET {path}: {reply.status} {reply.body[:300]!r}")
    return json.loads(reply.body)


def _ids(client: Client, bbox: tuple[float, ...], limit: int = 5000) -> list[int]:
    box = ",".join(str(v) for v in bbox)
    data = _get_json(client, f"/collections/dltb/items?bbox={box}&limit={limit}")
    return [int(f["id"]) for f in data["features"]]


def make_plan(server: OnemapServer) -> Plan:
    """Item ids the role sees (inside the area) and ones it must not (elsewhere)."""
    import shapely
    import shapely.geometry

    county = Client(server.port, {"X-API-Key": server.keys[0]})
    admin = Client(server.port, {"X-API-Key": server.admin_key})
    try:
        xzq = _get_json(county, f"/collections/xzq/items?XZQDM={REGION_CODE}")
        township = shapely.geometry.shape(xzq["features"][0]["geometry"])
        if not township.contains(shapely.box(*AREA)):
            raise RuntimeError(f"AREA {AREA} is not inside township {REGION_CODE}")
        visible = _ids(county, AREA)
        hidden = _ids(admin, OUTSIDE, 500)
    finally:
        county.close()
        admin.close()
    tiles = [t for z in TILE_ZOOMS for t in tiles_of(AREA, z)]
    return Plan(item_ids=visible, hidden_ids=hidden, mvt=tiles, imagery=tiles)


def prime_tiles(server: OnemapServer, plan: Plan) -> dict[str, dict[str, float]]:
    """Fetch every tile of the plan once, one at a time (what ``onemap seed`` does for
    a published layer), so that the soak measures tiles served from the cache; the
    first renders' own latencies are returned and reported beside it."""
    client = Client(server.port, {"X-API-Key": server.keys[0]})
    paths = {
        "MVT": [
            f"/collections/dltb/tiles/WebMercatorQuad/{z}/{y}/{x}" for z, y, x in plan.mvt
        ],
        "imagery": [
            f"/collections/imagery/tiles/WebMercatorQuad/{z}/{y}/{x}?f={fmt}"
            for z, y, x in plan.imagery
            for fmt in ("png", "jpeg")
        ],
    }
    found: dict[str, dict[str, float]] = {}
    try:
        for kind, wanted in paths.items():
            took = []
            for path in wanted:
                started = time.perf_counter()
                reply = client.send("GET", path)
                if reply.status not in TILE_OK:
                    raise RuntimeError(f"priming {path}: {reply.status}")
                took.append((time.perf_counter() - started) * 1000)
            found[kind] = {
                "tiles": len(took),
                "p50_ms": percentile(took, 50),
                "max_ms": max(took),
            }
    finally:
        client.close()
    return found


def add_change_polygons(server: OnemapServer, count: int, seed: int) -> list[int]:
    """``count`` pending change polygons inside the area, POSTed with the admin key."""
    rng = random.Random(seed)
    admin = Client(
        server.port,
        {"X-API-Key": server.admin_key, "Content-Type": "application/geo+json"},
    )
    ids = []
    try:
        for i in range(count):
            x = rng.uniform(AREA[0], AREA[2] - 0.002)
            y = rng.uniform(AREA[1], AREA[3] - 0.002)
            ring = [[x, y], [x + 0.002, y], [x + 0.002, y + 0.0015], [x, y + 0.0015]]
            feature = {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
                "properties": {
                    "class": "construction",
                    "status": "pending",
                    "XZQDM": REGION_CODE,
                    "JCMJ": 40000.0 + i,
                    "JCSDH": f"SOAK{i:03d}",
                },
            }
            body = json.dumps(feature).encode()
            reply = admin.send("POST", "/collections/change-polygons/items", None, body)
            if reply.status != 201:
                raise RuntimeError(f"POST change polygon: {reply.status} {reply.body!r}")
            ids.append(int(reply.headers["location"].rstrip("/").rsplit("/", 1)[1]))
    finally:
        admin.close()
    return ids


def security_checks(server: OnemapServer, plan: Plan) -> list[dict[str, Any]]:
    """That security really applies on the soak server, before the load."""
    clients = {
        "anonymous": Client(server.port, {}),
        "role": Client(server.port, {"X-API-Key": server.keys[0]}),
        "admin": Client(server.port, {"X-API-Key": server.admin_key}),
    }
    edge = "/collections/dltb/items?bbox=109.62,23.10,109.68,23.16&limit=5000"
    probes: list[tuple[str, str, str, Callable[[Reply], bool]]] = [
        ("anonymous: dltb is hidden (404)", "anonymous",
         "/collections/dltb/items?limit=1", lambda r: r.status == 404),
        ("role: a dltb item outside its region is 404", "role",
         f"/collections/dltb/items/{plan.hidden_ids[0]}", lambda r: r.status == 404),
        ("role: no row of the class its filter excludes", "role",
         "/collections/dltb/items?filter=DLBM%3D%270702%27&limit=10",
         lambda r: r.status == 200 and not json.loads(r.body)["features"]),
    ]  # fmt: skip
    checks = []
    try:
        for what, who, path, want in probes:
            reply = clients[who].send("GET", path)
            checks.append({"check": what, "status": reply.status, "ok": want(reply)})
        mine = len(_get_json(clients["role"], edge)["features"])
        everything = len(_get_json(clients["admin"], edge)["features"])
        checks.append(
            {
                "check": f"role: {mine} of admin's {everything} parcels in a box "
                "across its region's edge",
                "status": 200,
                "ok": 0 < mine < everything,
            }
        )
    finally:
        for c in clients.values():
            c.close()
    return checks
