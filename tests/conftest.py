"""Shared fixtures: a real GeoPackage store, settings, the ASGI app through TestClient."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from config import Settings
from config.models import CollectionConfig, GeoPackageSource, ServerConfig, TemporalConfig
from server.app import create_app
from tests.fixtures import write_test_store

MAX_LIMIT = 1000


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_test_store(tmp_path_factory.mktemp("data"))


def make_settings(store: Path, **server: object) -> Settings:
    return Settings(
        data_dir=store.parent,
        server=ServerConfig(max_limit=MAX_LIMIT, **server),  # type: ignore[arg-type]
        collections={
            "parcels": CollectionConfig(
                title={"zh-CN": "地块", "en": "Parcels"},
                description={"zh-CN": "测试地块", "en": "Test parcels"},
                source=GeoPackageSource(path=Path(store.name), layer="parcels"),
                temporal=TemporalConfig(start="GXSJ"),
            ),
            "wells": CollectionConfig(
                title="Wells",
                source=GeoPackageSource(path=Path(store.name), layer="wells"),
            ),
            "secret": CollectionConfig(
                title="Secret",
                source=GeoPackageSource(path=Path(store.name), layer="secret"),
                classification="secret",
            ),
        },
    )


@pytest.fixture(scope="session")
def settings(store: Path) -> Settings:
    return make_settings(store)


@pytest.fixture(scope="session")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client
