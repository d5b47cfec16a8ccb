"""The API definition is a contract: openapi/openapi.json changes only on purpose."""

from __future__ import annotations

import json
from pathlib import Path

from config import load_settings
from server.app import create_app
from server.state import app_state

SNAPSHOT = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"


def test_openapi_matches_snapshot() -> None:
    served = json.loads(app_state(create_app(load_settings())).openapi_bytes())
    committed = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert served == committed, (
        "The API definition changed. If intended, run: "
        ".venv/bin/onemap openapi --output openapi/openapi.json"
    )
