"""The onemap command end to end: import with GDAL-written files, config check."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import shapely
from fastapi.testclient import TestClient

from config import load_settings
from server.app import create_app

ONEMAP = [sys.executable, "-m", "server.cli.main"]


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ONEMAP, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def _config(tmp_path: Path) -> Path:
    cfg = tmp_path / "onemap.yaml"
    cfg.write_text(f"data_dir: {tmp_path}\ndiscover:\n  - directory: imported\n")
    return cfg


def _geojson(tmp_path: Path) -> Path:
    path = tmp_path / "parcels.geojson"
    features = [
        {
            "type": "Feature",
            "properties": {"地类编码": "0101", "地类名称": "水田", "TBMJ": 1000.5 + i},
            "geometry": {
                "type": "Polygon",
                "coordinates": [
                    [
                        [109.5 + i * 0.01, 23.0],
                        [109.51 + i * 0.01, 23.0],
                        [109.51 + i * 0.01, 23.01],
                        [109.5 + i * 0.01, 23.01],
                        [109.5 + i * 0.01, 23.0],
                    ]
                ],
            },
        }
        for i in range(4)
    ]
    path.write_text(
        json.dumps(
            {"type": "FeatureCollection", "features": features}, ensure_ascii=False
        ),
        encoding="utf-8",
    )
    return path


def _shapefile(path: Path, crs: str | None) -> None:
    if crs is None:  # a shapefile without .prj
        _shapefile(path, "EPSG:4524")
        path.with_suffix(".prj").unlink()
        return
    point = shapely.Point(36_540_000, 2_550_000)
    pyogrio.raw.write(
        path,
        shapely.to_wkb(np.array([point], dtype=object)),
        [np.array(["A"], dtype=object)],
        ["NAME"],
        driver="ESRI Shapefile",
        crs=crs,
        geometry_type="Point",
    )


def test_import_geojson_then_serve(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    src = _geojson(tmp_path)
    result = _run(
        "import",
        str(src),
        "--collection",
        "parcels2024",
        "--title",
        "二〇二四地块",
        "--srs",
        "EPSG:4490",
        "--config",
        str(cfg),
    )
    assert result.returncode == 0, result.stderr
    assert "Imported 4 features" in result.stdout
    with TestClient(create_app(load_settings(cfg))) as client:
        coll = client.get("/collections/parcels2024").json()
        assert coll["title"] == "二〇二四地块"
        assert coll["storageCrs"].endswith("/4490")
        items = client.get("/collections/parcels2024/items").json()
        assert items["numberMatched"] == 4
        # Chinese field aliases become the standard names
        assert items["features"][0]["properties"]["DLBM"] == "0101"
        assert items["features"][0]["properties"]["DLMC"] == "水田"
    again = _run("import", str(src), "--collection", "parcels2024", "--config", str(cfg))
    assert again.returncode == 2 and "--overwrite" in again.stderr


def test_import_shapefile_in_gauss_kruger(tmp_path: Path) -> None:
    shp = tmp_path / "wells.shp"
    _shapefile(shp, "EPSG:4524")
    cfg = _config(tmp_path)
    result = _run("import", str(shp), "--collection", "wells", "--config", str(cfg))
    assert result.returncode == 0, result.stderr
    assert "EPSG:4524" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--collection", "bad id"], "collection id"),
        (["--collection", "ok", "--layer", "nope"], "cannot read"),
    ],
)
def test_import_errors(tmp_path: Path, args: list[str], message: str) -> None:
    result = _run(
        "import",
        str(_geojson(tmp_path)),
        *args,
        "--srs",
        "EPSG:4490",
        "--config",
        str(_config(tmp_path)),
    )
    assert result.returncode == 2
    assert message in result.stderr


def test_import_without_crs(tmp_path: Path) -> None:
    shp = tmp_path / "pts.shp"
    _shapefile(shp, None)
    result = _run(
        "import", str(shp), "--collection", "pts", "--config", str(_config(tmp_path))
    )
    assert result.returncode == 2 and "--srs" in result.stderr


def test_import_missing_file(tmp_path: Path) -> None:
    result = _run(
        "import",
        str(tmp_path / "none.shp"),
        "--collection",
        "x",
        "--config",
        str(_config(tmp_path)),
    )
    assert result.returncode == 2 and "cannot read" in result.stderr


def test_config_check(tmp_path: Path) -> None:
    good = _run("config", "check", "config/example.yaml")
    # example.yaml points at files that do not exist here: the check says which
    assert good.returncode == 2 and "dltb_2023.gpkg" in good.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("server: {port: 0}\n")
    result = _run("config", "check", str(bad))
    assert result.returncode == 2
    assert "server.port" in result.stderr
    ok = _run("config", "check", str(_config(tmp_path)))
    assert ok.returncode == 0 and "OK, 0 collections" in ok.stdout


def test_import_into_postgis_then_serve(tmp_path: Path, pg_url: str) -> None:
    src = _geojson(tmp_path)
    result = _run(
        "import",
        str(src),
        "--collection",
        "imported_parcels",
        "--title",
        "导入地块",
        "--srs",
        "EPSG:4490",
        "--database",
        pg_url,
    )
    assert result.returncode == 0, result.stderr
    assert "public.imported_parcels" in result.stdout
    again = _run(
        "import",
        str(src),
        "--collection",
        "imported_parcels",
        "--srs",
        "EPSG:4490",
        "--database",
        pg_url,
    )
    assert again.returncode == 2 and "--overwrite" in again.stderr
    cfg = tmp_path / "pg.yaml"
    cfg.write_text(
        f"data_dir: {tmp_path}\ndatabase: {{url: '{pg_url}'}}\n"
        "discover:\n  - schema: public\n"
    )
    with TestClient(create_app(load_settings(cfg))) as client:
        coll = client.get("/collections/imported_parcels").json()
        assert coll["title"] == "导入地块"  # the table comment
        items = client.get("/collections/imported_parcels/items").json()
        assert items["numberMatched"] == 4
        assert items["features"][0]["properties"]["DLBM"] == "0101"


def test_import_empty_layer_keeps_its_geometry_type(tmp_path: Path, pg_url: str) -> None:
    """An empty layer (the demo's change polygons before any monitoring) becomes a
    column of the type its file declares, not a generic geometry."""
    import psycopg

    empty = tmp_path / "empty.gpkg"
    pyogrio.raw.write(
        empty,
        np.array([], dtype=object),
        [np.array([], dtype=object)],
        ["status"],
        layer="changes",
        driver="GPKG",
        crs="EPSG:4490",
        geometry_type="MultiPolygon",
    )
    result = _run(
        "import", str(empty), "--collection", "empty_changes", "--database", pg_url
    )
    assert result.returncode == 0, result.stderr
    with psycopg.connect(pg_url) as conn:
        row = conn.execute(
            "SELECT type, srid FROM geometry_columns WHERE f_table_name = %s",
            ("empty_changes",),
        ).fetchone()
    assert row == ("MULTIPOLYGON", 4490)


def test_import_bad_database(tmp_path: Path) -> None:
    result = _run(
        "import",
        str(_geojson(tmp_path)),
        "--collection",
        "x",
        "--srs",
        "EPSG:4490",
        "--database",
        "postgresql://nobody:wrong@127.0.0.1:1/none",
    )
    assert result.returncode == 2
    assert "database:" in result.stderr and "wrong" not in result.stderr


def test_demo_settings_on_postgis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONEMAP_DATABASE__URL", "postgresql://u:p@127.0.0.1/db")
    settings = load_settings()
    assert not settings.generate_demo
    source = settings.collections["dltb"].source
    assert source.type == "postgis" and source.table == "public.dltb"
    assert settings.discover[0].schema_ == "public"


# GDAL warns that a GeoPackage declaring Polygon gets MultiPolygons: the point here
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_import_streams_many_batches_with_nulls_times_and_mixed_types(
    tmp_path: Path, pg_url: str
) -> None:
    """More rows than a batch; a file that declares Polygon and also holds
    MultiPolygons (shapefiles do) becomes a generic geometry column, not a failed
    load; NULLs and times without an offset come through."""
    import psycopg

    from providers.layer_file import BATCH_ROWS

    rows = BATCH_ROWS + 1234
    x = np.arange(rows) % 1000 * 0.001 + 109.5
    y = np.arange(rows) // 1000 * 0.001 + 23.0
    boxes = shapely.box(x, y, x + 0.0005, y + 0.0005)
    geoms = np.where(
        np.arange(rows) % 7 == 0, shapely.multipolygons(boxes[:, None]), boxes
    )
    src = tmp_path / "mixed.gpkg"
    stamps = np.array(["2024-05-01T08:30:00"] * rows, dtype="datetime64[s]")
    stamps[::5] = np.datetime64("NaT", "s")
    names = np.array([f"图斑{i}" if i % 3 else None for i in range(rows)], dtype=object)
    pyogrio.raw.write(
        src,
        shapely.to_wkb(geoms),
        [names, np.arange(rows, dtype="float64") / 4, stamps],
        ["DLMC", "TBMJ", "GXSJ"],
        layer="mixed",
        driver="GPKG",
        crs="EPSG:4490",
        geometry_type="Polygon",
    )
    result = _run("import", str(src), "--collection", "mixed", "--database", pg_url)
    assert result.returncode == 0, result.stderr
    assert f"Imported {rows} features" in result.stdout
    with psycopg.connect(pg_url) as conn:
        kind = conn.execute(
            "SELECT type FROM geometry_columns WHERE f_table_name = 'mixed'"
        ).fetchone()
        counts = conn.execute(
            'SELECT count(*), count("DLMC"), count("GXSJ"), '
            "count(*) FILTER (WHERE GeometryType(geom) = 'MULTIPOLYGON'), "
            'min("GXSJ") AT TIME ZONE \'UTC\', max("TBMJ"), min(ST_SRID(geom)) FROM mixed'
        ).fetchone()
        name = conn.execute('SELECT "DLMC" FROM mixed WHERE fid = 2').fetchone()
    assert kind == ("GEOMETRY",)
    assert counts is not None
    total, named, timed, multi, first, largest, srid = counts
    assert total == rows and named == rows - len(range(0, rows, 3))
    assert timed == rows - len(range(0, rows, 5)) and multi == len(range(0, rows, 7))
    assert str(first) == "2024-05-01 08:30:00" and largest == (rows - 1) / 4
    assert srid == 4490 and name == ("图斑1",)
