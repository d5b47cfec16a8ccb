"""The in-process ceiling of W5: rio-tiler alone, no HTTP, one process per core.

Each process opens the COG once (rio_tiler.io.Reader), then reads and renders the same
WebMercatorQuad tiles as the servers get, cycling through the list: the same bands,
rescale and resampling, rendered like titiler (rio-tiler's image profiles: PNG zlevel
6, JPEG quality 85; PNG with the mask as alpha). After a warm-up the processes start
together and each runs for the given duration; one JSON line reports tiles, CPU
seconds per process, per-tile latencies (percentiles) and bytes.

    .venv/bin/python bench/limit_riotiler.py COG TILES_FILE --format png \
        --duration 15 --warmup 3 [--processes 2] [--dump tile.png]

TILES_FILE holds one ``z/x/y`` per line. ``--dump FILE`` renders the first tile to FILE
and exits (the correctness check).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from lib.measure import machine_jiffies
from rio_tiler.io import Reader
from rio_tiler.profiles import img_profiles

DRIVERS = {"png": "PNG", "jpeg": "JPEG"}


def render_tile(
    reader: Reader, tile: tuple[int, int, int], args: argparse.Namespace
) -> bytes:
    """Read, rescale and encode one tile (what titiler's tile endpoint does)."""
    z, x, y = tile
    image = reader.tile(
        x,
        y,
        z,
        tilesize=256,
        indexes=args.bands,
        resampling_method=args.resampling,
        reproject_method=args.resampling,
    )
    image.rescale(in_range=(args.rescale,) * image.count)
    data: bytes = image.render(
        img_format=DRIVERS[args.format],
        add_mask=args.format == "png",
        **img_profiles.get(args.format),
    )
    return data


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def worker(
    index: int,
    args: argparse.Namespace,
    tiles: list[tuple[int, int, int]],
    barrier: Barrier,
    results: Any,
) -> None:
    """Warm up, wait for the others, then render tiles for ``args.duration`` s."""
    reader = Reader(args.cog)
    n = index * len(tiles) // args.processes  # start apart from the other processes
    deadline = time.perf_counter() + args.warmup
    while time.perf_counter() < deadline:
        render_tile(reader, tiles[n % len(tiles)], args)
        n += 1
    barrier.wait()
    latencies: list[float] = []
    size = 0
    cpu0, t0 = _cpu(), time.perf_counter()
    while (now := time.perf_counter()) - t0 < args.duration:
        size += len(render_tile(reader, tiles[n % len(tiles)], args))
        latencies.append(time.perf_counter() - now)
        n += 1
    wall = time.perf_counter() - t0
    results.put({"cpu_s": _cpu() - cpu0, "wall_s": wall, "lat": latencies, "bytes": size})
    reader.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cog")
    p.add_argument("tiles", type=Path, help="file of z/x/y lines")
    p.add_argument("--format", choices=list(DRIVERS), default="png")
    p.add_argument(
        "--bands", type=lambda s: [int(b) for b in s.split(",")], default=[3, 2, 1]
    )
    p.add_argument(
        "--rescale",
        type=lambda s: tuple(float(v) for v in s.split(",")),
        default=(0.0, 4000.0),
    )
    p.add_argument("--resampling", default="nearest")
    p.add_argument("--duration", type=float, default=15)
    p.add_argument("--warmup", type=float, default=3)
    p.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    p.add_argument(
        "--dump", type=Path, help="render the first tile to this file and exit"
    )
    args = p.parse_args(argv)
    tiles = [
        (int(z), int(x), int(y))
        for z, x, y in (ln.split("/") for ln in args.tiles.read_text().split())
    ]
    if args.dump:
        with Reader(args.cog) as reader:
            args.dump.write_bytes(render_tile(reader, tiles[0], args))
        return 0
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(args.processes + 1)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=worker, args=(i, args, tiles, barrier, results))
        for i in range(args.processes)
    ]
    for proc in procs:
        proc.start()
    barrier.wait()
    busy0 = machine_jiffies()
    per = [results.get() for _ in procs]
    busy1 = machine_jiffies()
    for proc in procs:
        proc.join()
    lat = sorted(v for r in per for v in r["lat"])
    q = statistics.quantiles(lat, n=100, method="inclusive") if len(lat) > 1 else lat * 99
    total = busy1[1] - busy0[1]
    out = {
        "tiles": len(lat),
        "wall_s": max(r["wall_s"] for r in per),
        "cpu_s": [r["cpu_s"] for r in per],
        "bytes": sum(r["bytes"] for r in per),
        "p50_ms": 1000 * q[49],
        "p90_ms": 1000 * q[89],
        "p99_ms": 1000 * q[98],
        "max_ms": 1000 * lat[-1] if lat else 0.0,
        "machine_busy_cores": (os.cpu_count() or 1) * (busy1[0] - busy0[0]) / total
        if total
        else 0.0,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
