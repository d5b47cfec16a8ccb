"""Start-up on data it was not made for: ``--database`` on a user's own PostGIS
publishes what the database holds; a configuration that does not fit the data stops
with one line naming the collection, the column and the fix."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml
from fastapi.testclient import TestClient

from config import load_settings
from server.app import create_app
from tests.support.database import fresh_database
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def own_database(admin_db_url: str) -> Iterator[str]:
    """A user's database: a ``dltb`` with other columns than the demo's, and a
    table of its own."""
    with fresh_database(admin_db_url, "onemap_own") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE public.dltb (fid serial PRIMARY KEY, "
                "dlmc text, area double precision, geom geometry(Polygon, 4490))"
            )
            conn.execute(
                "INSERT INTO public.dltb (dlmc, area, geom) VALUES ('水田', 12.5, "
                "ST_GeomFromText('POLYGON((109 23, 109.01 23, 109.01 23.01, 109 23))',"
                " 4490))"
            )
            conn.execute(
                "CREATE TABLE public.wells (id integer PRIMARY KEY, depth integer, "
                "geom geometry(Point, 4490))"
            )
            conn.execute(
                "INSERT INTO public.wells VALUES "
                "(1, 30, ST_SetSRID(ST_MakePoint(109, 23), 4490))"
            )
        yield url


def test_database_without_config_publishes_what_it_holds(
    own_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONEMAP_DATABASE__URL", own_database)
    monkeypatch.delenv("ONEMAP_CONFIG_FILE", raising=False)
    settings = load_settings().model_copy(update={"data_dir": tmp_path})
    assert settings.collections["dltb"].optional  # the demo's definition, if it fits
    with TestClient(create_app(settings)) as client:
        ids = {c["id"] for c in client.get("/collections?f=json").json()["collections"]}
        assert {"dltb", "wells"} <= ids
        assert "xzq" not in ids  # a demo table the database does not hold
        queryables = client.get("/collections/dltb/queryables?f=json").json()
        assert {"dlmc", "area"} <= set(queryables["properties"])
        assert "GXSJ" not in queryables["properties"]
        items = client.get("/collections/dltb/items?f=json").json()
        assert items["features"][0]["properties"]["dlmc"] == "水田"


def _bad_config(tmp_path: Path, database: str) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(tmp_path),
                "database": {"url": database},
                "collections": {
                    "parcels": {
                        "title": "Parcels",
                        "source": {"type": "postgis", "table": "public.dltb"},
                        "properties": ["dlmc", "GXSJ"],
                    }
                },
            }
        ),
        encoding="utf-8",
    )
    return path


def test_a_config_that_does_not_fit_stops_in_one_line(
    own_database: str, tmp_path: Path
) -> None:
    config = _bad_config(tmp_path, own_database)
    serve = subprocess.run(
        [sys.executable, "-m", "server.cli.main", "serve", "--config", str(config),
         "--port", str(free_port())],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert serve.returncode != 0
    output = serve.stdout + serve.stderr
    assert "Traceback" not in output
    line = next(x for x in output.splitlines() if "does not fit the data" in x)
    assert "collections.parcels" in line and "GXSJ" in line and "fix:" in line
    check = subprocess.run(
        [sys.executable, "-m", "server.cli.main", "config", "check", str(config)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert check.returncode != 0 and "Traceback" not in check.stderr
    assert "collections.parcels" in check.stderr and "GXSJ" in check.stderr


def test_an_optional_collection_that_does_not_fit_is_left_out(
    own_database: str, tmp_path: Path
) -> None:
    settings = load_settings(_bad_config(tmp_path, own_database))
    conf = settings.collections["parcels"].model_copy(update={"optional": True})
    settings = settings.model_copy(update={"collections": {"parcels": conf}})
    with TestClient(create_app(settings)) as client:
        assert client.get("/collections/parcels?f=json").status_code == 404
