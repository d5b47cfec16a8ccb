"""Shared fixtures: real GeoPackage and PostGIS stores, settings, the ASGI app.

Every API test runs once per provider: ``geopackage`` (the embedded default) and
``postgis`` (a fresh database, created here in the PostgreSQL named by
TEST_DATABASE_URL — `scripts/run test` starts one and sets it).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from config import Settings
from config.settings import (
    CollectionConfig,
    DatabaseConfig,
    ProcessesConfig,
    ServerConfig,
    TemporalConfig,
)
from config.sources import CogSource, GeoPackageSource, PostgisSource
from server.app import create_app
from server.cli.importer import import_to_postgis
from tests.fixtures import write_test_imagery, write_test_store
from tests.support.database import fresh_database

MAX_LIMIT = 1000
PROVIDERS = ("geopackage", "postgis")
LAYERS = ("parcels", "wells", "secret", "editable")


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = write_test_store(tmp_path_factory.mktemp("data"))
    write_test_imagery(path.parent)
    return path


@pytest.fixture(scope="session")
def admin_db_url() -> str:
    """The PostgreSQL server the tests make their databases in."""
    admin = os.environ.get("TEST_DATABASE_URL")
    if not admin:
        pytest.fail(
            "TEST_DATABASE_URL is not set: run the tests via `bash scripts/run test`"
        )
    return admin


@pytest.fixture(scope="session")
def pg_url(admin_db_url: str) -> Iterator[str]:
    """A fresh PostGIS database for this test session, dropped at the end."""
    with fresh_database(admin_db_url, "onemap_test") as url:
        yield url


@pytest.fixture(scope="session")
def pg_store(pg_url: str, store: Path) -> str:
    """The test layers loaded into PostGIS (same ids, attributes and SRIDs)."""
    for layer in LAYERS:
        import_to_postgis(store, pg_url, f"public.{layer}", layer=layer)
    return pg_url


def _source(provider: str, store: Path, layer: str) -> GeoPackageSource | PostgisSource:
    if provider == "postgis":
        return PostgisSource(table=f"public.{layer}")
    return GeoPackageSource(path=Path(store.name), layer=layer)


def make_settings(
    store: Path,
    provider: str = "geopackage",
    database: str | None = None,
    settings: dict[str, object] | None = None,
    **server: object,
) -> Settings:
    return Settings(
        data_dir=store.parent,
        server=ServerConfig(max_limit=MAX_LIMIT, **server),  # type: ignore[arg-type]
        database=DatabaseConfig(url=database, pool_min=1, pool_max=4),
        collections={
            "parcels": CollectionConfig(
                title={"zh-CN": "地块", "en": "Parcels"},
                description={"zh-CN": "测试地块", "en": "Test parcels"},
                source=_source(provider, store, "parcels"),
                temporal=TemporalConfig(start="GXSJ"),
            ),
            "wells": CollectionConfig(
                title="Wells", source=_source(provider, store, "wells")
            ),
            "editable": CollectionConfig(
                title="Editable parcels",
                source=_source(provider, store, "editable"),
                editable=True,
            ),
            "secret": CollectionConfig(
                title="Secret",
                source=_source(provider, store, "secret"),
                classification="secret",
            ),
            "pair": CollectionConfig(
                title={"zh-CN": "前后时相影像", "en": "Image pair"},
                source=CogSource(
                    before="imagery/before.tif",
                    after="imagery/after.tif",
                    before_date="2024-03-15",
                    after_date="2024-09-15",
                    bands=[3, 2, 1],
                    rescale=[(0, 3000)],
                ),
            ),
            "gk_image": CollectionConfig(
                title="Gauss-Kruger image", source=CogSource(href="imagery/gk.tif")
            ),
            "secret_image": CollectionConfig(
                title="Secret image",
                source=CogSource(href="imagery/before.tif"),
                classification="secret",
            ),
        },
        # short leases: a lost worker's job is taken over within seconds in tests
        processes=ProcessesConfig(lease_s=3, workers=0),
        **(settings or {}),  # type: ignore[arg-type]
    )


@pytest.fixture(scope="session", params=PROVIDERS)
def provider(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def settings(provider: str, store: Path, request: pytest.FixtureRequest) -> Settings:
    database = request.getfixturevalue("pg_store") if provider == "postgis" else None
    return make_settings(store, provider, database)


@pytest.fixture(scope="session")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def start_worker(settings: Settings) -> multiprocessing.process.BaseProcess:
    """A real `onemap worker` loop in its own process (forked: it knows the engine
    test process registered here)."""
    from processes.registry import PROCESSES
    from processes.worker import run_worker
    from tests.engine_process import PROCESS

    PROCESSES.setdefault(PROCESS.id, PROCESS)
    proc = multiprocessing.get_context("fork").Process(
        target=run_worker, args=(settings,), kwargs={"poll_s": 0.1}
    )
    proc.start()
    return proc


class Workers:
    """The job workers of a test session; a test may kill one, the next gets a new one."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.procs = [start_worker(settings)]

    def alive(self) -> Workers:
        """Restart any worker that died."""
        self.procs = [
            p if p.is_alive() else start_worker(self.settings) for p in self.procs
        ]
        return self

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.join(10)


@pytest.fixture(scope="session")
def _workers(settings: Settings) -> Iterator[Workers]:
    workers = Workers(settings)
    yield workers
    workers.stop()


@pytest.fixture
def job_worker(_workers: Workers) -> Workers:
    """Running job workers for the app under test."""
    return _workers.alive()


@pytest.fixture(scope="session")
def admin(settings: Settings) -> dict[str, str]:
    """Headers with an admin API key (writes and process execution need one)."""
    from server.security.api_keys import ApiKeys

    secret, _key = ApiKeys(settings.data_dir).create("tests", ["admin"], None)
    return {"X-API-Key": secret}


class AsCaller:
    """A test client that sends the given headers with every request."""

    def __init__(self, client: TestClient, headers: dict[str, str]) -> None:
        self._client = client
        self._headers = headers
        self.app = client.app

    def _call(self, method: str, url: str, **kwargs: object) -> object:
        headers = {**self._headers, **dict(kwargs.pop("headers", None) or {})}  # type: ignore[call-overload]
        return self._client.request(method, url, headers=headers, **kwargs)  # type: ignore[arg-type]

    def request(self, method: str, url: str, **kwargs: object) -> Any:
        return self._call(method, url, **kwargs)

    def get(self, url: str, **kwargs: object) -> Any:
        return self._call("GET", url, **kwargs)

    def post(self, url: str, **kwargs: object) -> Any:
        return self._call("POST", url, **kwargs)

    def put(self, url: str, **kwargs: object) -> Any:
        return self._call("PUT", url, **kwargs)

    def patch(self, url: str, **kwargs: object) -> Any:
        return self._call("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: object) -> Any:
        return self._call("DELETE", url, **kwargs)
