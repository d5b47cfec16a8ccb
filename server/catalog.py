"""The collection catalog: configured and discovered collections with their providers."""

from __future__ import annotations

import logging
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from config.models import CollectionConfig, GeoPackageSource, I18nText, Settings
from providers.base import AccessScope, CollectionInfo, FeatureProvider
from providers.crs import default_crs_uris, parse_crs
from providers.geopackage import GeoPackageProvider
from server.errors import NotFoundError

log = logging.getLogger("onemap.catalog")


@dataclass(frozen=True)
class Collection:
    """A published collection: metadata for the API plus the provider that reads it."""

    id: str
    title: I18nText
    description: I18nText
    keywords: tuple[str, ...]
    info: CollectionInfo
    provider: FeatureProvider
    crs: tuple[str, ...]
    classification: str


class Catalog:
    """Every collection, looked up through the caller's access scope."""

    def __init__(
        self, collections: dict[str, Collection], providers: list[FeatureProvider]
    ):
        self._collections = collections
        self.providers = providers

    def visible(self, scope: AccessScope) -> list[Collection]:
        """The collections the caller may know about, in configuration order."""
        return [c for c in self._collections.values() if scope.sees(c.id)]

    def get(self, collection_id: str, scope: AccessScope) -> Collection:
        """A collection, or 404 (the same answer for hidden and unknown ids)."""
        found = self._collections.get(collection_id)
        if found is None or not scope.sees(collection_id):
            raise NotFoundError("err.unknown_collection", id=collection_id[:80])
        return found

    async def close(self) -> None:
        """Close every provider."""
        for provider in self.providers:
            await provider.close()


def standard_field_titles() -> dict[str, I18nText]:
    """Titles of the standard natural-resources field names (config/field_titles.yaml)."""
    text = (resources.files("config") / "field_titles.yaml").read_text(encoding="utf-8")
    data: dict[str, I18nText] = yaml.safe_load(text)
    return data


def _discovered(directory: Path) -> dict[str, CollectionConfig]:
    """One collection per feature table of each GeoPackage in a folder."""
    found: dict[str, CollectionConfig] = {}
    for path in sorted(directory.glob("*.gpkg")):
        try:
            with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as conn:
                rows = conn.execute(
                    "SELECT table_name, identifier, description FROM gpkg_contents "
                    "WHERE data_type = 'features' ORDER BY table_name"
                ).fetchall()
        except sqlite3.Error as exc:
            log.warning("skipping %s: %s", path, exc)
            continue
        for table, identifier, description in rows:
            found[table] = CollectionConfig(
                title=identifier or table,
                description=description or "",
                source=GeoPackageSource(path=path, layer=table),
            )
    return found


def build_catalog(settings: Settings) -> Catalog:
    """Open every configured source (blocking: run in a worker thread)."""
    titles = standard_field_titles()
    configs = dict(settings.collections)
    for entry in settings.discover:
        directory = settings.resolve(entry.directory)
        if directory.is_dir():
            for cid, conf in _discovered(directory).items():
                configs.setdefault(cid, conf)
    gpkg = GeoPackageProvider()
    collections: dict[str, Collection] = {}
    for cid, conf in configs.items():
        info = gpkg.add(
            cid,
            settings.resolve(conf.source.path),
            conf.source,
            properties=conf.properties,
            titles={**titles, **conf.property_titles},
            temporal=conf.temporal.start if conf.temporal else None,
        )
        crs = conf.crs or default_crs_uris(info.storage_crs, info.extent)
        crs = [parse_crs(c).uri for c in crs]
        collections[cid] = Collection(
            id=cid,
            title=conf.title,
            description=conf.description,
            keywords=tuple(conf.keywords),
            info=info,
            provider=gpkg,
            crs=tuple(dict.fromkeys(crs)),
            classification=conf.classification,
        )
    return Catalog(collections, [gpkg])
