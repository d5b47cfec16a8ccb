"""QGIS (Debian's python3-qgis, headless) reads a collection via its OAPIF provider."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.fixtures import GRID_COLS, GRID_ROWS

pytestmark = pytest.mark.clients

# Runs under Debian's own python3 (QGIS's bindings are built for it, not for our venv).
SCRIPT = """
import json, os, sys
from qgis.core import QgsApplication, QgsVectorLayer
app = QgsApplication([], False)
app.initQgis()
layer = QgsVectorLayer(f"url='{sys.argv[1]}' typename='parcels'", "parcels", "OAPIF")
features = list(layer.getFeatures()) if layer.isValid() else []
print(json.dumps({
    "valid": layer.isValid(),
    "count": layer.featureCount(),
    "read": len(features),
    "codes": sorted({f["DLBM"] for f in features}),
    "first": features[0].geometry().boundingBox().toString(6) if features else None,
}))
sys.stdout.flush()
os._exit(0)  # QgsApplication.exitQgis() crashes headless on Debian 12's QGIS 3.22
"""


def test_qgis_reads_the_collection(live_url: str, tmp_path: Path) -> None:
    python = Path("/usr/bin/python3")
    probe = subprocess.run(
        [python, "-c", "import qgis.core"], capture_output=True, check=False
    )
    assert probe.returncode == 0, "install python3-qgis (scripts/run test does)"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(tmp_path)}
    result = subprocess.run(
        [python, "-c", SCRIPT, live_url],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["valid"] is True
    assert report["count"] == report["read"] == GRID_COLS * GRID_ROWS
    assert report["codes"] == ["0101", "0103", "0301", "0702", "1101"]
    assert report["first"].startswith("109.500000,23.000000")
