"""GDAL/OGR as an OGC API - Features client: ogrinfo, ogr2ogr and the library."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pyogrio
import pytest
import shapely
from pyproj import Transformer

from tests.fixtures import GRID_COLS, GRID_ROWS

pytestmark = pytest.mark.clients
TOTAL = GRID_COLS * GRID_ROWS


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path is not None, (
        f"{name} is missing: install gdal-bin (scripts/run test does)"
    )
    return path


def _run(tool: str, *args: str, timeout: float = 60) -> str:
    """A GDAL command-line tool's output (it must succeed)."""
    return subprocess.run(
        [_tool(tool), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    ).stdout


def _download(
    live_url: str, out: Path, *options: str, timeout: float = 60
) -> list[dict[str, Any]]:
    """The parcels ogr2ogr writes to a GeoJSON file from the live server."""
    _run("ogr2ogr", "-f", "GeoJSON", str(out), f"OAPIF:{live_url}", "parcels",
         *options, timeout=timeout)  # fmt: skip
    features: list[dict[str, Any]] = json.loads(out.read_text())["features"]
    return features


def test_ogrinfo_feature_count_matches_geopackage(live_url: str, store: Path) -> None:
    served = _run("ogrinfo", "-so", f"OAPIF:{live_url}", "parcels")
    local = _run("ogrinfo", "-so", str(store), "parcels")
    count = re.search(r"Feature Count: (\d+)", served)
    assert count is not None and int(count.group(1)) == TOTAL
    assert count.group(0) in local
    assert "TITLE=地块" in served


def test_ogr2ogr_downloads_every_feature(live_url: str, tmp_path: Path) -> None:
    out = tmp_path / "parcels.geojson"
    features = _download(live_url, out, "-oo", "PAGE_SIZE=70", timeout=120)
    assert len(features) == TOTAL
    assert len({f["properties"]["BSM"] for f in features}) == TOTAL


def test_ogr2ogr_spatial_filter(live_url: str, tmp_path: Path) -> None:
    out = tmp_path / "subset.geojson"
    box = ("109.5101", "23.0101", "109.5149", "23.0149")
    features = _download(live_url, out, "-spat", *box)
    assert [f["properties"]["BSM"] for f in features] == ["450802000000000042"]


@pytest.mark.parametrize("code", [4490, 4524])
def test_gdal_reads_in_cgcs2000(live_url: str, code: int) -> None:
    """GDAL's OAPIF driver with the CRS open option (Features Part 2)."""
    meta, _, geometry, _ = pyogrio.raw.read(
        f"OAPIF:{live_url}", layer="parcels", CRS=f"EPSG:{code}", max_features=1
    )
    assert meta["crs"] == f"EPSG:{code}"
    first = shapely.from_wkb(geometry[0])
    expected = Transformer.from_crs(4490, code, always_xy=True).transform(109.505, 23.0)
    # GDAL hands back x/y (easting/lon first) whatever the CRS axis order on the wire
    assert first.exterior.coords[0] == pytest.approx(expected, abs=1e-3)


def test_gdal_where_runs_on_the_server_in_cgcs2000(live_url: str) -> None:
    """-where becomes a CQL2 filter (GDAL's OAPIF driver), output in EPSG:4490."""
    where = "DLBM = '0101' AND TBMJ > 250100"
    meta, fids, _, fields = pyogrio.raw.read(
        f"OAPIF:{live_url}",
        layer="parcels",
        CRS="EPSG:4490",
        where=where,
        return_fids=True,
    )
    assert meta["crs"] == "EPSG:4490"
    dlbm = fields[list(meta["fields"]).index("DLBM")]
    tbmj = fields[list(meta["fields"]).index("TBMJ")]
    expected = [i for i in range(TOTAL) if i % 5 == 0 and 250000 + i > 250100]
    assert len(fids) == len(expected)
    assert set(dlbm) == {"0101"} and min(tbmj) > 250100


def test_gdal_connection_url_filter(live_url: str) -> None:
    """A CQL2 filter in the connection URL (GDAL repeats it on every request)."""
    from urllib.parse import quote

    cql = quote("DLBM = '0301'")
    url = f"OAPIF:{live_url}/collections/parcels?filter={cql}"
    _, _, geometry, _ = pyogrio.raw.read(url, CRS="EPSG:4490")
    assert len(geometry) == TOTAL // 5
