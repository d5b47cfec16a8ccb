"""Generate the benchmark COG: 8192 x 8192, 4-band uint16 (B, G, R, NIR), EPSG:4490.

Seeded and deterministic: synthetic surface reflectance x 10000 (0-4000) over
109.40-109.75 E / 22.90-23.25 N (inside the dltb area; pixels 0.35/8192 deg, ~4.4 m):
land-cover parcels of ~100 m (water, forest, paddy, dry land, built-up, bare) with
wavy edges, a smooth large-scale brightness field, a per-parcel offset and per-pixel
noise (sigma 40), so that a rendered 256 px PNG tile is ~100 KB as for real imagery.
Deflate + predictor 2, 512 px blocks, 4 overviews (average), ~450 MB. Written as a
tiled GeoTIFF first, then copied with GDAL's COG driver; nothing happens when the file
already exists (``--force`` to redo).

    .venv/bin/python bench/make_cog.py [--out bench/.work/cog/bench_4490.tif] [--force]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.transform import from_origin
from rasterio.windows import Window

SIZE = 8192
WEST, NORTH, SPAN = 109.4, 23.25, 0.35  # degrees; the image is SPAN x SPAN
RES = SPAN / SIZE
STRIP = 512  # rows generated and written at once
CELL = 24  # parcel size in pixels (~100 m)
NOISE = 40.0  # per-pixel noise, reflectance x 10000
DEFAULT_OUT = Path(__file__).resolve().parent / ".work" / "cog" / "bench_4490.tif"
# blue, green, red, NIR per land-cover class, and the share of each class
SPECTRA = np.array(
    [
        [400, 500, 300, 200],  # water
        [300, 600, 400, 3000],  # forest
        [500, 800, 600, 2500],  # paddy
        [600, 900, 1000, 2200],  # dry land
        [1200, 1300, 1400, 1800],  # built-up
        [1000, 1200, 1500, 2000],  # bare
    ],
    dtype=np.float64,
)
SHARES = [0.05, 0.30, 0.25, 0.20, 0.12, 0.08]


class Surface:
    """The synthetic scene; ``strip(row0, rows)`` gives 4 x rows x SIZE uint16."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        n = SIZE // CELL + 4
        self.classes = self.rng.choice(len(SHARES), (n, n), p=SHARES)
        self.offsets = self.rng.normal(0, 150, (n, n))
        # six plane waves of 300-3,000 px: the smooth brightness field
        self.waves = [
            (
                self.rng.uniform(300, 3000),
                self.rng.uniform(0, np.pi),
                self.rng.uniform(0, 2 * np.pi),
            )
            for _ in range(6)
        ]

    def strip(self, row0: int, rows: int) -> np.ndarray:
        """Rows row0 .. row0+rows of all four bands."""
        y, x = np.mgrid[row0 : row0 + rows, 0:SIZE].astype(np.float64)
        smooth = np.zeros_like(x)
        for length, angle, phase in self.waves:
            along = x * np.cos(angle) + y * np.sin(angle)
            smooth += np.sin(2 * np.pi * along / length + phase) / len(self.waves)
        # wavy parcel edges: look the cell up at displaced coordinates
        cy = ((y + 10 * np.sin(x / 113)) // CELL).astype(np.intp) + 1
        cx = ((x + 10 * np.sin(y / 97)) // CELL).astype(np.intp) + 1
        cy = np.clip(cy, 0, self.classes.shape[0] - 1)
        cx = np.clip(cx, 0, self.classes.shape[1] - 1)
        cls, offset = self.classes[cy, cx], self.offsets[cy, cx]
        out = np.empty((4, rows, SIZE), dtype=np.uint16)
        for band in range(4):
            value = SPECTRA[cls, band] * (1 + 0.25 * smooth) + offset
            value += self.rng.normal(0, NOISE, value.shape)
            out[band] = np.clip(value, 0, 4000)
        return out


def make(out: Path, seed: int) -> None:
    """Write the tiled GeoTIFF strip by strip, then copy it to a COG."""
    out.parent.mkdir(parents=True, exist_ok=True)
    raw = out.with_suffix(".raw.tif")
    profile = {
        "driver": "GTiff",
        "width": SIZE,
        "height": SIZE,
        "count": 4,
        "dtype": "uint16",
        "crs": "EPSG:4490",
        "transform": from_origin(WEST, NORTH, RES, RES),
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
    }
    surface = Surface(seed)
    with rasterio.open(raw, "w", **profile) as dst:
        for row0 in range(0, SIZE, STRIP):
            dst.write(surface.strip(row0, STRIP), window=Window(0, row0, SIZE, STRIP))
        dst.descriptions = ("blue", "green", "red", "nir")
    tmp = out.with_suffix(".tmp.tif")
    rasterio.shutil.copy(
        raw,
        tmp,
        driver="COG",
        COMPRESS="DEFLATE",
        PREDICTOR="2",
        BLOCKSIZE="512",
        OVERVIEW_RESAMPLING="AVERAGE",
        NUM_THREADS="ALL_CPUS",
        BIGTIFF="IF_SAFER",
    )
    raw.unlink()
    tmp.replace(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=20240101)
    parser.add_argument("--force", action="store_true", help="recreate if present")
    args = parser.parse_args(argv)
    if args.out.exists() and not args.force:
        print(f"{args.out} already exists (use --force to redo)")
        return 0
    t0 = time.monotonic()
    make(args.out, args.seed)
    with rasterio.open(args.out) as ds:
        overviews = ds.overviews(1)
    size = args.out.stat().st_size / 1e6
    print(
        f"{args.out}: {SIZE}x{SIZE}x4 uint16, overviews {overviews}, {size:.0f} MB "
        f"({time.monotonic() - t0:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
