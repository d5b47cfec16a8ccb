"""Harvest a whole PostGIS table through OneMap with GDAL, against a direct copy.

Starts `onemap serve` (2 workers) over the table, then times, one after the other:
the direct `ogr2ogr -f GPKG … PG:…` (the ceiling), Debian's `ogr2ogr` through `OAPIF:`
with `-oo PAGE_SIZE=1000` (GDAL 3.6 asks for 10 a page by default), and the GDAL of
pyogrio's wheel (which takes its page size from the API definition), and checks that
each copy holds every row. Prints a Markdown table; writes bench/.work/harvest.json.

    .venv/bin/python bench/harvest.py --dsn postgresql://onemap_bench:…@127.0.0.1/onemap_bench
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
import pyogrio
import pyogrio.raw

from tests.support.live_server import LiveServer, clean_env, serve_command
from tests.support.ports import free_port

BENCH = Path(__file__).resolve().parent


def _pg(dsn: str) -> str:
    """The libpq key=value form GDAL's PG: driver takes."""
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    return "PG:" + " ".join(f"{k}={v}" for k, v in info.items())


def _timed(label: str, run: Any) -> dict[str, Any]:
    started = time.monotonic()
    rows = run()
    seconds = time.monotonic() - started
    print(f"  {label}: {rows} rows in {seconds:.1f} s", flush=True)
    return {"client": label, "rows": rows, "seconds": round(seconds, 2)}


def _count(path: Path, layer: str) -> int:
    return int(pyogrio.read_info(path, layer=layer)["features"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True, help="postgresql:// URL of the database")
    parser.add_argument("--table", default="dltb", help="public.<table> to harvest")
    args = parser.parse_args(argv)
    with psycopg.connect(args.dsn) as conn:
        row = conn.execute(f'SELECT count(*) FROM public."{args.table}"').fetchone()  # noqa: S608
    total = int(row[0]) if row else 0
    work = Path(tempfile.mkdtemp(prefix="harvest-"))
    cfg = work / "onemap.yaml"
    cfg.write_text(
        f"data_dir: {work}\ngenerate_demo: false\nserver: {{workers: 2}}\n"
        f"database: {{url: '{args.dsn}'}}\n"
        f"collections:\n  {args.table}:\n    title: {args.table}\n"
        f"    source: {{type: postgis, table: public.{args.table}}}\n"
        "security: {rate_limit: {requests_per_s: 1.0e9, burst: 1000000000}}\n",
        encoding="utf-8",
    )
    port = free_port()
    server = LiveServer(
        serve_command("--config", str(cfg), port=port), work / "serve.log", clean_env()
    )
    server.start()
    url = f"http://127.0.0.1:{port}"
    results = []
    try:
        server.wait_ready(url + "/conformance", 120)
        print(f"{total} rows of public.{args.table}; OneMap at {url}", flush=True)

        def direct() -> int:
            out = work / "direct.gpkg"
            subprocess.run(["ogr2ogr", "-f", "GPKG", str(out), _pg(args.dsn), args.table],
                           check=True, capture_output=True)  # fmt: skip
            return _count(out, args.table)

        def gdal36() -> int:
            out = work / "oapif.gpkg"
            command = ["ogr2ogr", "-oo", "PAGE_SIZE=1000", "-f", "GPKG", str(out),
                       f"OAPIF:{url}", args.table]  # fmt: skip
            subprocess.run(command, check=True, capture_output=True)
            return _count(out, args.table)

        def wheel() -> int:
            layer = pyogrio.raw.read(f"OAPIF:{url}", layer=args.table, read_geometry=True)
            return len(layer[2])

        results.append(_timed("ogr2ogr PG: (direct)", direct))
        results.append(_timed("ogr2ogr OAPIF: GDAL 3.6, PAGE_SIZE=1000", gdal36))
        results.append(
            _timed(f"pyogrio OAPIF: GDAL {pyogrio.__gdal_version_string__}", wheel)
        )
    finally:
        server.stop()
    base = results[0]["seconds"]
    print("\n| client | rows | s | direct/client |\n|---|---:|---:|---:|")
    for r in results:
        ok = "" if r["rows"] == total else " (rows missing)"
        print(f"| {r['client']}{ok} | {r['rows']} | {r['seconds']} | "
              f"{base / r['seconds']:.2f} |")  # fmt: skip
    out = BENCH / ".work" / "harvest.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": total, "results": results}, indent=1))
    return 0 if all(r["rows"] == total for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
