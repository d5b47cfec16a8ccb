"""Change detection at scale: wall time and peak memory of `change-detection` on 4-band
pairs of 2048², 4096² and 8192² pixels, one job alone and two jobs at once (two
workers), each job in its own process as a worker runs it.

The large pairs are the demo pair (planted changes of every class, clouds, shadows, a
radiometric gain/offset, crop phenology) repeated 2×2 and 4×4 into tiled GeoTIFFs, written
window by window. Land use is left out (the raster pipeline is what grows with the image).

    .venv/bin/python bench/change_bench.py   # → bench/RESULTS_change.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.windows import Window

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / ".work" / "change"
sys.path.insert(0, str(ROOT))


def _tiled(src_path: Path, out: Path, repeat: int) -> None:
    """The image repeated ``repeat`` × ``repeat`` times (same pixel size and origin)."""
    if out.exists():
        return
    with rasterio.open(src_path) as src:
        profile = src.profile.copy()
        h, w = src.height, src.width
        profile.update(
            driver="GTiff", width=w * repeat, height=h * repeat, tiled=True,
            blockxsize=512, blockysize=512, compress="deflate", predictor=2,
            BIGTIFF="IF_SAFER",
        )  # fmt: skip
        profile.pop("interleave", None)
        tmp = out.with_suffix(".tmp.tif")
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.update_tags(**src.tags())
            for row in range(0, h, 512):
                block = src.read(window=Window(0, row, w, min(512, h - row)))
                for i in range(repeat):
                    for j in range(repeat):
                        dst.write(
                            block, window=Window(j * w, i * h + row, w, block.shape[1])
                        )
    tmp.rename(out)


def prepare() -> dict[int, tuple[Path, Path]]:
    """The demo pair and its 2×2 and 4×4 repetitions."""
    from providers.demo import generate_demo

    files = generate_demo(WORK / "demo")
    pairs = {2048: (files.before, files.after)}
    for repeat in (2, 4):
        size = 2048 * repeat
        before, after = WORK / f"before_{size}.tif", WORK / f"after_{size}.tif"
        _tiled(files.before, before, repeat)
        _tiled(files.after, after, repeat)
        pairs[size] = (before, after)
    return pairs


def run_one(before: str, after: str) -> None:
    """One job, in this process; prints wall time, peak memory and the summary."""
    from config import load_settings
    from processes.base import JobContext
    from processes.change_detection import PROCESS, Inputs
    from providers.base import AccessScope

    os.environ["ONEMAP_DATA_DIR"] = str(WORK)
    settings = load_settings().model_copy(update={"generate_demo": False})
    ctx = JobContext(settings, AccessScope(), "en", f"bench{os.getpid()}")
    started = time.perf_counter()
    result = PROCESS.run(
        Inputs(
            before={"href": before},
            after={"href": after},
            landuse=None,
            townships=None,
            publish=False,
        ),
        ctx,
    )
    wall = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"wall_s": wall, "peak_mb": peak_mb, "summary": result["summary"]}))


def _jobs(pair: tuple[Path, Path], workers: int) -> list[dict[str, Any]]:
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--run", str(pair[0]), str(pair[1])],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(workers)
    ]
    out = []
    for proc in procs:
        stdout, _ = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"job failed ({proc.returncode})")
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    total = time.perf_counter() - started
    for record in out:
        record["all_done_s"] = total
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", nargs=2, metavar=("BEFORE", "AFTER"))
    parser.add_argument("--output", type=Path, default=BENCH / "RESULTS_change.md")
    args = parser.parse_args()
    if args.run:
        run_one(*args.run)
        return
    WORK.mkdir(parents=True, exist_ok=True)
    pairs = prepare()
    rows = []
    for size, pair in pairs.items():
        for workers in (1, 2):
            records = _jobs(pair, workers)
            walls = [r["wall_s"] for r in records]
            rows.append({
                "size": size, "workers": workers, "wall_s": float(np.mean(walls)),
                "all_done_s": records[0]["all_done_s"],
                "peak_mb": max(r["peak_mb"] for r in records),
                "polygons": records[0]["summary"]["count"],
            })  # fmt: skip
            print(rows[-1], flush=True)
    _write(args.output, rows)


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    import rasterio as rio
    import shapely

    lines = [
        "# change-detection at scale",
        "",
        f"Generated by `bench/change_bench.py` on {time.strftime('%Y-%m-%d %H:%M %Z')}; "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, GDAL "
        f"{rio.__gdal_version__}, rasterio {rio.__version__}, "
        f"shapely {shapely.__version__}.",
        "",
        "The demo pair (4 bands uint16, 2048², planted changes, clouds, shadows, "
        "radiometric change, phenology) repeated 2×2 and 4×4; land use left out. "
        "Each job runs in its own process as a worker runs it; 2 workers = two jobs "
        "at once. Peak memory = the job process's maximum resident set.",
        "",
        "| pixels | workers | wall per job (s) | all jobs done (s) "
        "| peak memory per job (MB) | polygons |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['size']}² | {r['workers']} | {r['wall_s']:.1f} "
            f"| {r['all_done_s']:.1f} | {r['peak_mb']:.0f} | {r['polygons']} |"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
