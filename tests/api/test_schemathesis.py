"""schemathesis over the whole OpenAPI document (/api), every operation and method,
positive and negative cases, through the ASGI app with the admin key (writes and
process executions run; a worker executes the jobs) on GeoPackage and PostGIS.

Checks: schemathesis's not_a_server_error, status_code_conformance,
content_type_conformance and response_schema_conformance (every answer is one the
document describes), and no trace, SQL, driver message or file
path in a body. Bounded here (ONEMAP_FUZZ_EXAMPLES cases per operation and mode, 1 by
default); `bench/fuzz.py` runs the same with >= 20,000 cases.
"""

from __future__ import annotations

import os

import pytest

from tests.hostile import hostile_app, run_schemathesis

EXAMPLES = int(os.environ.get("ONEMAP_FUZZ_EXAMPLES", "1"))


def test_openapi_fuzz(provider: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    data = tmp_path_factory.mktemp(f"fuzz_{provider}")
    database = os.environ.get("TEST_DATABASE_URL") if provider == "postgis" else None
    if provider == "postgis" and not database:
        pytest.fail(
            "TEST_DATABASE_URL is not set: run the tests via `bash scripts/run test`"
        )
    with hostile_app(data, database) as h:
        # every real id only when scaled up (CI: the first of each)
        all_ids = "ONEMAP_FUZZ_EXAMPLES" in os.environ
        stats = run_schemathesis(h.app, h.admin, EXAMPLES, all_ids=all_ids)
        hits = list(h.canary.hits)
    print(
        f"\n{provider}: {stats.cases} cases in {stats.seconds:.0f} s, "
        f"5xx {stats.server_errors}, leaks {stats.leaks}, "
        f"not as documented {stats.nonconforming}, {stats.by_status}; "
        f"5xx of bugs reported elsewhere: {stats.reported}"
    )
    # every operation of the document ran (about 40 of them, in two modes)
    assert stats.cases >= 100 * EXAMPLES
    assert stats.server_errors == 0 and stats.leaks == 0, "\n".join(stats.failures)
    assert stats.nonconforming == 0, "\n".join(stats.failures)
    assert hits == []
