"""The tile workloads W5 (COG tiles, PNG and JPEG) and W6 (MVT z14): tile lists,
request paths per server, the correctness check, cache priming and the in-process
rio-tiler ceiling.

W5: every WebMercatorQuad z14 tile that lies fully inside the benchmark COG
(bench/make_cog.py), bands 3,2,1, rescale 0-4000, nearest resampling, 256 px.
W6: z14 tiles over public.dltb: the 6 x 6 tiles around the county town (109.6 E,
23.1 N; the densest tile holds ~1,800 parcels) and 28 seeded rural tiles.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import make_cog
import mapbox_vector_tile
import morecantile
import numpy as np
import shapely
import shapely.geometry
from lib import measure
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile
from servers import WORK, Limit, Server, fetch, log

TMS = morecantile.tms.get("WebMercatorQuad")
ZOOM = 14
COG = make_cog.DEFAULT_OUT
BANDS = (3, 2, 1)
RESCALE = (0, 4000)
TOWN = (109.6, 23.1)
DLTB_AREA = (109.0, 22.5, 110.0, 23.5)
FORMATS = {"W5png": "png", "W5jpg": "jpeg"}


def _w5_tiles() -> list[morecantile.Tile]:
    west, north = make_cog.WEST, make_cog.NORTH
    east, south = west + make_cog.SPAN, north - make_cog.SPAN
    full = []
    for tile in TMS.tiles(west, south, east, north, [ZOOM]):
        b = TMS.bounds(tile)
        if b.left >= west and b.right <= east and b.bottom >= south and b.top <= north:
            full.append(tile)
    return full


def _w6_tiles() -> list[morecantile.Tile]:
    centre = TMS.tile(*TOWN, ZOOM)
    town = [
        morecantile.Tile(centre.x + dx, centre.y + dy, ZOOM)
        for dy in range(-3, 3)
        for dx in range(-3, 3)
    ]
    # rural: tiles of the interior of the dltb area, away from the town block
    w, s, e, n = DLTB_AREA
    inner = TMS.tiles(w + 0.05, s + 0.05, e - 0.05, n - 0.05, [ZOOM])
    rural = [t for t in inner if abs(t.x - centre.x) > 6 or abs(t.y - centre.y) > 6]
    return [
        centre,
        *[t for t in town if t != centre],
        *random.Random(14).sample(rural, 28),
    ]


W5_TILES = _w5_tiles()
W6_TILES = _w6_tiles()
DESCRIPTIONS = {
    "W5png": f"COG tile PNG: WebMercatorQuad z{ZOOM}, the {len(W5_TILES)} full tiles "
    "of the COG cycled, bands 3,2,1, rescale 0-4000, nearest resampling",
    "W5jpg": f"COG tile JPEG: the same {len(W5_TILES)} tiles and rendering",
    "W6": f"MVT z{ZOOM} over dltb: {len(W6_TILES)} tiles cycled (the 6x6 around the "
    "town, densest first, and 28 rural)",
}


def tiles(workload: str) -> list[morecantile.Tile]:
    """The tiles of a tile workload."""
    return W6_TILES if workload == "W6" else W5_TILES


def paths(server: Server, workload: str) -> list[str]:
    """The request paths of a tile workload for this server (OGC z/y/x, titiler and
    tipg z/x/y)."""
    if workload == "W6":
        if server.flavor == "onemap":
            template = "/collections/dltb/tiles/WebMercatorQuad/{z}/{y}/{x}?f=mvt"
        else:  # tipg
            template = "/collections/public.dltb/tiles/WebMercatorQuad/{z}/{x}/{y}"
        return [template.format(z=t.z, y=t.y, x=t.x) for t in W6_TILES]
    fmt = FORMATS[workload]
    if server.flavor == "onemap":
        template = "/collections/cog/tiles/WebMercatorQuad/{z}/{y}/{x}?f=" + fmt
    else:  # titiler
        bidx = "".join(f"&bidx={b}" for b in BANDS)
        template = (
            "/cog/tiles/WebMercatorQuad/{z}/{x}/{y}." + fmt + f"?url={quote(str(COG))}"
            f"{bidx}&rescale={RESCALE[0]},{RESCALE[1]}"
        )
    return [template.format(z=t.z, y=t.y, x=t.x) for t in W5_TILES]


def _fetch(url: str) -> tuple[int, str, bytes]:
    """GET with a tile's longer timeout (a first render at c=32 can be slow)."""
    return fetch(url, timeout=120)


def prime(server: Server, paths_: list[str], repeats: int = 8) -> None:
    """Fill a cached server's tile caches: every path ``repeats`` times, each on a
    new connection, 4 at a time, so that each of the 2 workers (each has its own
    cache) very likely serves every tile once."""
    log(f"priming {server.name}: {len(paths_)} tiles x {repeats}")
    with ThreadPoolExecutor(4) as pool:
        for status, _, _ in pool.map(_fetch, [server.base + p for p in paths_] * repeats):
            if status != 200:
                raise SystemExit(f"{server.name}: HTTP {status} while priming")


# --- correctness --------------------------------------------------------------------


def _pixels(body: bytes) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with MemoryFile(body) as mem, mem.open() as ds:
            data: np.ndarray = ds.read()
    return data


def _limit_tile(limit: Limit, workload: str) -> bytes:
    out = WORK / f"check_{workload}.{FORMATS[workload]}"
    cmd = [limit.python, str(limit.script), str(COG), str(tiles_file(workload))]
    cmd += ["--format", FORMATS[workload], "--dump", str(out)]
    subprocess.run(cmd, env={**os.environ, **limit.env}, check=True)
    return out.read_bytes()


def _image_info(body: bytes, ctype: str, ref: np.ndarray | None) -> dict[str, Any]:
    data = _pixels(body)
    info: dict[str, Any] = {
        "kind": "image",
        "content_type": ctype,
        "body_bytes": len(body),
        "shape": "x".join(str(n) for n in data.shape),
    }
    if ref is not None:
        if data.shape[1:] != ref.shape[1:] or data.shape[0] < 3:
            info["rgb_mean_abs_diff"] = None
        else:
            diff = np.abs(data[:3].astype(int) - ref[:3].astype(int))
            info["rgb_mean_abs_diff"] = float(diff.mean())
            info["rgb_max_abs_diff"] = int(diff.max())
    return info


def _mvt_info(body: bytes, ctype: str) -> dict[str, Any]:
    """Features of a vector tile; ``ids`` = those that reach into the tile itself
    (OneMap also sends the features of the buffer ring, tipg only those whose box
    meets the tile: the ids inside must be the same)."""
    layers = mapbox_vector_tile.decode(body) if body else {}
    inside: list[int] = []
    count = 0
    for layer in layers.values():
        tile = shapely.box(0, 0, layer["extent"], layer["extent"])
        for f in layer["features"]:
            count += 1
            if shapely.geometry.shape(f["geometry"]).intersects(tile):
                inside.append(int(f["properties"].get("fid", f.get("id")) or 0))
    props = {
        k for layer in layers.values() for f in layer["features"] for k in f["properties"]
    }
    return {
        "kind": "mvt",
        "content_type": ctype,
        "body_bytes": len(body),
        "layers": sorted(layers),
        "features": count,
        "inside": len(inside),
        "properties": sorted(props),
        "ids": sorted(inside),
    }


def _body(r: Server | Limit, workload: str, i: int) -> tuple[bytes, str, str]:
    """Tile i of a workload from a runner: body, content type, URL path."""
    if isinstance(r, Limit):
        return _limit_tile(r, workload), "(in process)", ""
    url = paths(r, workload)[i]
    status, ctype, body = _fetch(r.base + url)
    if status not in (200, 204):
        raise SystemExit(f"{r.name} {workload}: HTTP {status} for {url}")
    return body, ctype, url


def _infos(
    r: Server | Limit, workload: str, ref: np.ndarray | None
) -> list[dict[str, Any]]:
    """What the runner returns for the check tiles (W6: the densest and a rural one)."""
    infos = []
    for i in [0, len(W6_TILES) - 1] if workload == "W6" else [0]:
        body, ctype, url = _body(r, workload, i)
        info = (
            _mvt_info(body, ctype) if workload == "W6" else _image_info(body, ctype, ref)
        )
        t = tiles(workload)[i]
        infos.append({"url": url, "tile": f"{t.z}/{t.x}/{t.y}", **info})
    return infos


def _difference(
    workload: str, name: str, info: dict[str, Any], first: str, base: dict[str, Any]
) -> str | None:
    if info["kind"] == "mvt":
        if info["inside"] != base["inside"]:
            return (
                f"{workload}: {name} has {info['inside']} features inside "
                f"{info['tile']}, {first} {base['inside']}"
            )
        if info["ids"] != base["ids"]:
            return f"{workload}: {name} has other ids inside {info['tile']}"
        return None
    diff = info.get("rgb_mean_abs_diff", 0.0)
    if diff is None:
        return f"{workload}: {name} image {info['shape']}, {first} {base['shape']}"
    if diff > 1.0:
        return f"{workload}: {name} RGB differs from {first}'s by {diff:.2f} on average"
    return None


def check(
    workload: str, runners: list[Server | Limit]
) -> tuple[dict[str, Any], list[str]]:
    """The check tiles from every server: the same pixels (RGB, compared with the
    first server's), the same features (count and ids)?"""
    first = runners[0].name
    per = {first: _infos(runners[0], workload, None)}
    ref = None if workload == "W6" else _pixels(_body(runners[0], workload, 0)[0])
    for r in runners[1:]:
        per[r.name] = _infos(r, workload, ref)
    diffs = [
        d
        for name, infos in per.items()
        for info, base in zip(infos, per[first], strict=True)
        if (d := _difference(workload, name, info, first, base))
    ]
    for infos in per.values():
        for info in infos:
            if "ids" in info:
                info["ids_sample"] = [str(i) for i in info.pop("ids")[:5]]
    summary = ", ".join(
        f"{n} "
        + " / ".join(
            f"{i['inside']} (+{i['features'] - i['inside']}) features"
            if i["kind"] == "mvt"
            else i["shape"]
            for i in infos
        )
        + f" ({infos[0]['body_bytes'] / 1024:.0f} KB)"
        for n, infos in per.items()
    )
    log(f"check {workload}: {summary}")
    return per, diffs


# --- the in-process ceiling ---------------------------------------------------------


def tiles_file(workload: str) -> Path:
    """The workload's tiles as z/x/y lines (for limit_riotiler.py)."""
    path = WORK / f"tiles_{workload}.txt"
    path.write_text("".join(f"{t.z}/{t.x}/{t.y}\n" for t in tiles(workload)))
    return path


def run_limit(
    limit: Limit, workload: str, conns: int, duration: float, warmup: float
) -> dict[str, Any]:
    """One measured run of the ceiling, as a record like a server's."""
    idle = measure.wait_idle()
    cmd = [limit.python, str(limit.script), str(COG), str(tiles_file(workload))]
    cmd += ["--format", FORMATS[workload], "--duration", f"{duration:g}"]
    cmd += ["--warmup", f"{warmup:g}"]
    out = subprocess.run(
        cmd, env={**os.environ, **limit.env}, capture_output=True, text=True, check=True
    ).stdout
    res = json.loads(out.strip().splitlines()[-1])
    n = max(int(res["tiles"]), 1)
    cpu = float(sum(res["cpu_s"]))
    return {
        "server": limit.name,
        "workload": workload,
        "connections": conns,
        "requests": int(res["tiles"]),
        "rps": res["tiles"] / res["wall_s"],
        "p50_ms": res["p50_ms"],
        "p90_ms": res["p90_ms"],
        "p99_ms": res["p99_ms"],
        "max_ms": res["max_ms"],
        "bytes_per_response": res["bytes"] / n,
        "non_2xx": 0,
        "socket_errors": 0,
        "server_cpu_ms_per_req": 1000 * cpu / n,
        "pg_cpu_ms_per_req": 0.0,
        "idle_before_cores": idle,
        "wall_s": res["wall_s"],
        "server_cpu_s": cpu,
        "worker_cpu_s": sorted(res["cpu_s"], reverse=True),
        "pg_cpu_s": 0.0,
        "pg_backends_gone": 0,
        "pg_cluster_cpu_s": 0.0,
        "wrk_cpu_s": 0.0,
        "machine_busy_cores": res["machine_busy_cores"],
    }


def meta() -> dict[str, Any]:
    """What the tile workloads used (for results.json)."""
    return {
        "cog": str(COG),
        "cog_mb": round(COG.stat().st_size / 1e6) if COG.exists() else None,
        "zoom": ZOOM,
        "bands": list(BANDS),
        "rescale": list(RESCALE),
        "W5_tiles": len(W5_TILES),
        "W6_tiles": [f"{t.z}/{t.x}/{t.y}" for t in W6_TILES],
    }
