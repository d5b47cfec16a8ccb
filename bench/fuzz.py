"""Hostile-input bench: schemathesis over the whole OpenAPI document with >= 20,000
cases (tests/api/test_schemathesis.py runs the same bounded in CI).

    .venv/bin/python bench/fuzz.py --examples 260
    .venv/bin/python bench/fuzz.py --examples 130 --database postgresql://u:p@127.0.0.1/postgres

Every operation of /api, positive and negative cases, ``--examples`` per operation and
mode, in-process through the ASGI app with the admin key (writes and process executions
run, a job worker executes them), a canary listener on every local address. Prints the
cases tried, the 5xx and leaks seen; exit status 1 when there was any.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.hostile import FuzzStats, hostile_app, run_schemathesis


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--examples", type=int, default=260, help="per operation and mode"
    )
    parser.add_argument("--database", help="PostgreSQL server (a fresh database is made)")
    args = parser.parse_args()
    started = time.monotonic()
    last = [0.0]

    def progress(stats: FuzzStats) -> None:
        if time.monotonic() - last[0] > 30:
            last[0] = time.monotonic()
            print(
                f"  {stats.cases} cases, 5xx {stats.server_errors}, leaks {stats.leaks}",
                flush=True,
            )

    with (
        tempfile.TemporaryDirectory(prefix="onemap-fuzz-") as tmp,
        hostile_app(Path(tmp), args.database) as h,
    ):
        stats = run_schemathesis(h.app, h.admin, args.examples, on_case=progress)
        hits = len(h.canary.hits)
    backend = "postgis" if args.database else "geopackage"
    print(
        f"{backend}: {stats.cases} cases, 5xx {stats.server_errors}, leaks "
        f"{stats.leaks}, canary connections {hits}, {time.monotonic() - started:.0f} s"
    )
    print(f"statuses: {dict(sorted(stats.by_status.items()))}")
    print(f"5xx of bugs reported elsewhere (tests/hostile.py REPORTED): {stats.reported}")
    for failure in stats.failures[:20]:
        print(failure)
    return 1 if stats.server_errors or stats.leaks or hits else 0


if __name__ == "__main__":
    sys.exit(main())
