"""Generate the benchmark table ``public.dltb``: 300,000 DLTB-like polygons, EPSG:4490.

Seeded and deterministic: the same arguments always give the same rows. Polygons are
star-shaped (so always valid) with 4-12 vertices and a size (diameter) of 20-2,000 m,
spread over a Guangxi-like area (109.0-110.0 E, 22.5-23.5 N): a uniform background plus
a county town and villages where parcels are small and dense, so that a 1 km2 box in
the town centre holds ~750 parcels (workload W2). Land-use codes follow a realistic
三调 mix (0101 水田 ~15 %).

    .venv/bin/python bench/make_dltb.py --dsn postgresql://user:pw@127.0.0.1/db [--force]
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
import time

import numpy as np
import psycopg

SRID = 4490
AREA = (109.0, 22.5, 110.0, 23.5)  # lon/lat bounds of the data
TOWN = (109.6, 23.1)  # the county town: the densest place (W2's box is centred here)
M_PER_DEG = 111_320.0

# 三调 code, name, share of parcels (sums to 1)
LANDUSE: list[tuple[str, str, float]] = [
    ("0101", "水田", 0.150),
    ("0102", "水浇地", 0.020),
    ("0103", "旱地", 0.110),
    ("0201", "果园", 0.060),
    ("0202", "茶园", 0.010),
    ("0203", "橡胶园", 0.005),
    ("0204", "其他园地", 0.020),
    ("0301", "乔木林地", 0.160),
    ("0302", "竹林地", 0.020),
    ("0305", "灌木林地", 0.030),
    ("0307", "其他林地", 0.050),
    ("0404", "其他草地", 0.020),
    ("05H1", "商业服务业设施用地", 0.010),
    ("0508", "物流仓储用地", 0.005),
    ("0601", "工业用地", 0.015),
    ("0602", "采矿用地", 0.005),
    ("0701", "城镇住宅用地", 0.030),
    ("0702", "农村宅基地", 0.090),
    ("08H1", "机关团体新闻出版用地", 0.005),
    ("08H2", "科教文卫用地", 0.008),
    ("0809", "公用设施用地", 0.004),
    ("0810", "公园与绿地", 0.003),
    ("1003", "公路用地", 0.015),
    ("1004", "城镇村道路用地", 0.015),
    ("1006", "农村道路", 0.040),
    ("1101", "河流水面", 0.010),
    ("1103", "水库水面", 0.005),
    ("1104", "坑塘水面", 0.040),
    ("1107", "沟渠", 0.020),
    ("1109", "水工建筑用地", 0.002),
    ("1201", "空闲地", 0.003),
    ("1202", "设施农用地", 0.010),
    ("1203", "田坎", 0.005),
    ("1206", "裸土地", 0.003),
    ("1207", "裸岩石砾地", 0.002),
]

DDL = f"""
DROP TABLE IF EXISTS public.dltb;
CREATE TABLE public.dltb (
    fid bigint PRIMARY KEY,
    bsm text NOT NULL,
    dlbm text NOT NULL,
    dlmc text NOT NULL,
    tbmj double precision NOT NULL,
    sjnf integer NOT NULL,
    gxsj date NOT NULL,
    geom geometry(Polygon, {SRID}) NOT NULL
);
COMMENT ON TABLE public.dltb IS '地类图斑 (synthetic benchmark data, bench/make_dltb.py)';
"""

INDEXES = """
CREATE INDEX dltb_geom_idx ON public.dltb USING gist (geom);
CREATE INDEX dltb_dlbm_idx ON public.dltb (dlbm);
"""


def centres(
    rng: np.random.Generator, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parcel centres (lon, lat) and a per-parcel size class (0 rural, 1 village, 2 town).

    The town takes 6,400 parcels (Gaussian, sigma 1.2 km), 40 villages 1,000 each
    (sigma 0.6 km), the rest is spread uniformly.
    """
    lon0, lat0, lon1, lat1 = AREA
    k_lat = 1 / M_PER_DEG
    k_lon = 1 / (M_PER_DEG * math.cos(math.radians(TOWN[1])))
    n_town, n_villages, per_village = 6_400, 40, 1_000
    n_rural = n - n_town - n_villages * per_village
    town = np.column_stack(
        [
            TOWN[0] + rng.normal(0, 1_200, n_town) * k_lon,
            TOWN[1] + rng.normal(0, 1_200, n_town) * k_lat,
        ]
    )
    vc = np.column_stack(
        [
            rng.uniform(lon0 + 0.05, lon1 - 0.05, n_villages),
            rng.uniform(lat0 + 0.05, lat1 - 0.05, n_villages),
        ]
    )
    village = np.repeat(vc, per_village, axis=0) + np.column_stack(
        [
            rng.normal(0, 600, n_villages * per_village) * k_lon,
            rng.normal(0, 600, n_villages * per_village) * k_lat,
        ]
    )
    rural = np.column_stack(
        [rng.uniform(lon0, lon1, n_rural), rng.uniform(lat0, lat1, n_rural)]
    )
    xy = np.vstack([town, village, rural])
    kind = np.concatenate(
        [
            np.full(n_town, 2),
            np.full(n_villages * per_village, 1),
            np.zeros(n_rural, dtype=int),
        ]
    )
    # shuffle so that fid order is not spatial order
    order = rng.permutation(n)
    xy, kind = xy[order], kind[order]
    xy[:, 0] = np.clip(xy[:, 0], lon0, lon1)
    xy[:, 1] = np.clip(xy[:, 1], lat0, lat1)
    return xy[:, 0], xy[:, 1], kind


def sizes(rng: np.random.Generator, kind: np.ndarray) -> np.ndarray:
    """Parcel diameters in metres, 20-2,000 m, skewed to small; small in town."""
    u = rng.random(kind.size)
    size = 20.0 * 100.0 ** (u**2)  # rural: median ~63 m, up to 2,000 m
    size[kind == 1] = 20.0 + 100.0 * u[kind == 1]  # village 20-120 m
    size[kind == 2] = 20.0 + 50.0 * u[kind == 2]  # town 20-70 m
    return size


def ewkb_hex(
    rng: np.random.Generator, lon: np.ndarray, lat: np.ndarray, size: np.ndarray
) -> tuple[list[str], np.ndarray]:
    """Hex EWKB polygons (4-12 vertices, closed ring) and their planar areas in m2."""
    n = lon.size
    nverts = rng.integers(4, 13, n)
    hexes: list[str] = [""] * n
    areas = np.empty(n)
    kx = M_PER_DEG * np.cos(np.radians(lat))  # metres per degree of longitude
    for v in range(4, 13):
        idx = np.nonzero(nverts == v)[0]
        m = idx.size
        step = 2 * math.pi / v
        ang = (np.arange(v) * step)[None, :] + rng.uniform(-0.3, 0.3, (m, v)) * step
        ang += rng.uniform(0, 2 * math.pi, (m, 1))
        rad = (size[idx] / 2)[:, None] * rng.uniform(0.6, 1.0, (m, v))
        dx, dy = rad * np.cos(ang), rad * np.sin(ang)  # metres, counter-clockwise
        areas[idx] = 0.5 * np.abs(
            np.sum(dx * np.roll(dy, -1, 1) - np.roll(dx, -1, 1) * dy, axis=1)
        )
        ring = np.empty((m, v + 1, 2))
        ring[:, :v, 0] = lon[idx, None] + dx / kx[idx, None]
        ring[:, :v, 1] = lat[idx, None] + dy / M_PER_DEG
        ring[:, v] = ring[:, 0]
        ring = np.round(ring, 8)
        header = (
            np.array([1], "u1").tobytes()
            + np.array([0x20000003, SRID, 1, v + 1], "<u4").tobytes()
        )
        body = ring.astype("<f8").reshape(m, -1)
        for j, i in enumerate(idx):
            hexes[i] = (header + body[j].tobytes()).hex()
    return hexes, areas


def generate(n: int, seed: int) -> list[tuple[object, ...]]:
    """All rows, in fid order."""
    rng = np.random.default_rng(seed)
    lon, lat, kind = centres(rng, n)
    size = sizes(rng, kind)
    geoms, areas = ewkb_hex(rng, lon, lat, size)
    weights = np.array([w for _, _, w in LANDUSE])
    codes = rng.choice(len(LANDUSE), n, p=weights / weights.sum())
    years = rng.choice([2019, 2020, 2021, 2022, 2023], n, p=[0.1, 0.2, 0.2, 0.2, 0.3])
    days = rng.integers(0, 365, n)
    rows = []
    for i in range(n):
        code, name, _ = LANDUSE[codes[i]]
        year = int(years[i])
        rows.append(
            (
                i + 1,
                f"4508{i + 1:014d}",
                code,
                name,
                round(float(areas[i]), 2),
                year,
                dt.date(year, 1, 1) + dt.timedelta(days=int(days[i])),
                geoms[i],
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True, help="postgresql:// URL of the database")
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=20240101)
    parser.add_argument("--force", action="store_true", help="recreate if present")
    args = parser.parse_args(argv)

    with psycopg.connect(args.dsn, autocommit=True) as conn:
        present = conn.execute("SELECT to_regclass('public.dltb') IS NOT NULL").fetchone()
        if present and present[0] and not args.force:
            count = conn.execute("SELECT count(*) FROM public.dltb").fetchone()
            if count and count[0] == args.rows:
                print(f"public.dltb already has {args.rows} rows (use --force to redo)")
                return 0
        t0 = time.monotonic()
        rows = generate(args.rows, args.seed)
        t1 = time.monotonic()
        conn.execute(DDL)
        with conn.cursor() as cur:
            columns = "fid, bsm, dlbm, dlmc, tbmj, sjnf, gxsj, geom"
            copy_sql = f"COPY public.dltb ({columns}) FROM STDIN"
            with cur.copy(copy_sql) as copy:
                for row in rows:
                    copy.write_row(row)
        t2 = time.monotonic()
        conn.execute(INDEXES)
        # vacuum now (visibility map, statistics) so autovacuum does not run mid-benchmark
        conn.execute("VACUUM (ANALYZE) public.dltb")
        t3 = time.monotonic()
        size = conn.execute(
            "SELECT pg_size_pretty(pg_total_relation_size('public.dltb'))"
        ).fetchone()
    print(
        f"public.dltb: {args.rows} polygons (generate {t1 - t0:.1f} s, COPY "
        f"{t2 - t1:.1f} s, index+vacuum {t3 - t2:.1f} s), {size[0] if size else '?'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
