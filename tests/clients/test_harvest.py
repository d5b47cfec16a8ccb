"""Whole collections harvested by GDAL along the next links: the demo's land use
(35,098 parcels) on the embedded GeoPackage and on PostGIS, counted by `ogrinfo -so`
from numberMatched and copied whole by `ogr2ogr` (Debian's GDAL 3.6) and by the GDAL
of pyogrio's wheel (a current one, which takes its page size from the API definition).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pyogrio
import pyogrio.raw
import pytest

from server.cli.importer import import_to_postgis
from tests.clients.conftest import serve_live

pytestmark = pytest.mark.clients


@pytest.fixture(scope="module")
def demo_gpkg(demo_url: str, demo_dir: Path) -> Path:
    """The demo's GeoPackage (written by the live demo server at its start)."""
    return demo_dir / "demo" / "onemap_demo.gpkg"


@pytest.fixture(scope="module")
def demo_pg_url(
    demo_gpkg: Path, pg_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """`onemap serve` over the demo's land use imported into PostGIS."""
    import_to_postgis(demo_gpkg, pg_url, "public.harvest_dltb", layer="dltb")
    cfg = tmp_path_factory.mktemp("harvest") / "onemap.yaml"
    cfg.write_text(
        f"data_dir: {cfg.parent}\n"
        f"database: {{url: '{pg_url}'}}\n"
        "collections:\n"
        "  dltb:\n"
        "    title: Land use\n"
        "    source: {type: postgis, table: public.harvest_dltb}\n",
        encoding="utf-8",
    )
    yield from serve_live(["--config", str(cfg)], cfg.with_suffix(".log"))


@pytest.fixture(params=["geopackage", "postgis"])
def served(request: pytest.FixtureRequest) -> str:
    """The URL of a live server with the demo's dltb on each provider."""
    name = "demo_url" if request.param == "geopackage" else "demo_pg_url"
    url: str = request.getfixturevalue(name)
    return url


def _expected(gpkg: Path) -> int:
    count: int = pyogrio.read_info(gpkg, layer="dltb")["features"]
    assert count > 30_000
    return count


def _run(*args: str) -> str:
    tool = shutil.which(args[0])
    assert tool is not None, f"{args[0]} is missing: install gdal-bin"
    done = subprocess.run(
        [tool, *args[1:]], capture_output=True, text=True, timeout=300, check=True
    )
    return done.stdout


def test_ogrinfo_counts_the_whole_layer(served: str, demo_gpkg: Path) -> None:
    # numberMatched of the first page: no walk through the layer to count it
    out = _run("ogrinfo", "-so", f"OAPIF:{served}", "dltb")
    found = re.search(r"Feature Count: (\d+)", out)
    assert found is not None and int(found.group(1)) == _expected(demo_gpkg)


def test_ogr2ogr_copies_the_whole_layer(
    served: str, demo_gpkg: Path, tmp_path: Path
) -> None:
    out = tmp_path / "dltb.gpkg"
    _run("ogr2ogr", "-oo", "PAGE_SIZE=1000", "-f", "GPKG", str(out), f"OAPIF:{served}",
         "dltb")  # fmt: skip
    assert _codes(out) == _codes(demo_gpkg)
    # a real column stays real: typed from the first page, whose values are 0.0
    info = pyogrio.read_info(out, layer="dltb")
    assert dict(zip(info["fields"], info["dtypes"], strict=True))["KCXS"] == "float64"
    copied = pyogrio.raw.read(out, layer="dltb", columns=["KCXS"], read_geometry=False)
    assert copied[3][0].max() > 0 and copied[3][0].max() < 1


def _codes(path: str | Path) -> list[str]:
    """Every parcel's BSM code, sorted (one per parcel)."""
    fields = pyogrio.raw.read(path, layer="dltb", columns=["BSM"], read_geometry=False)[3]
    return sorted(fields[0].tolist())


def test_a_current_gdal_pages_by_the_api_definition(served: str, demo_gpkg: Path) -> None:
    # GDAL >= 3.8 takes the page size from the limit parameter's maximum (capped)
    assert _codes(f"OAPIF:{served}") == _codes(demo_gpkg)
    assert len(_codes(demo_gpkg)) == _expected(demo_gpkg)
