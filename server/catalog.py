"""The collection catalog: configured and discovered collections with their providers."""

from __future__ import annotations

import logging
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml
from anyio import to_thread

from config.models import (
    CollectionConfig,
    GeoPackageSource,
    I18nText,
    PostgisSource,
    Settings,
)
from providers.base import AccessScope, CollectionInfo, FeatureProvider
from providers.crs import default_crs_uris, parse_crs
from providers.geopackage import GeoPackageProvider
from providers.postgis import PostgisProvider
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
    editable: bool = False
    require_if_match: bool = True


class Catalog:
    """Every collection, looked up through the caller's access scope."""

    def __init__(
        self, collections: dict[str, Collection], providers: list[FeatureProvider]
    ):
        self._collections = collections
        self.providers = providers

    def add(self, collection: Collection) -> None:
        """Publish one more collection."""
        self._collections[collection.id] = collection

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


def _configs(settings: Settings) -> dict[str, CollectionConfig]:
    configs = dict(settings.collections)
    for entry in settings.discover:
        if entry.directory is None:
            continue
        directory = settings.resolve(entry.directory)
        if directory.is_dir():
            for cid, conf in _discovered(directory).items():
                configs.setdefault(cid, conf)
    return configs


async def _discover_schemas(
    settings: Settings, postgis: PostgisProvider, configs: dict[str, CollectionConfig]
) -> None:
    for entry in settings.discover:
        if entry.schema_ is None:
            continue
        for table, title in (await postgis.discover(entry.schema_)).items():
            configs.setdefault(
                table,
                CollectionConfig(
                    title=title or table,
                    source=PostgisSource(table=f"{entry.schema_}.{table}"),
                ),
            )


async def build_catalog(settings: Settings) -> Catalog:
    """Open every configured source; on any failure close what was opened."""
    titles = standard_field_titles()
    configs = await to_thread.run_sync(_configs, settings)
    gpkg = GeoPackageProvider()
    providers: list[FeatureProvider] = [gpkg]
    postgis: PostgisProvider | None = None
    if settings.database.url:
        postgis = PostgisProvider(settings.database)
        providers.append(postgis)
    catalog = Catalog({}, providers)
    try:
        if postgis is not None:
            await postgis.open()
            await _discover_schemas(settings, postgis, configs)
        for cid, conf in configs.items():
            catalog.add(await _open(cid, conf, settings, titles, gpkg, postgis))
    except BaseException:
        await catalog.close()
        raise
    return catalog


async def _open(
    cid: str,
    conf: CollectionConfig,
    settings: Settings,
    titles: dict[str, I18nText],
    gpkg: GeoPackageProvider,
    postgis: PostgisProvider | None,
) -> Collection:
    names = {**titles, **conf.property_titles}
    temporal = conf.temporal.start if conf.temporal else None
    provider: FeatureProvider
    source = conf.source
    if isinstance(source, PostgisSource):
        assert postgis is not None
        info = await postgis.add(
            cid, source, properties=conf.properties, titles=names, temporal=temporal
        )
        provider = postgis
    else:
        path = settings.resolve(source.path)

        def open_table() -> CollectionInfo:
            return gpkg.add(
                cid,
                path,
                source,
                properties=conf.properties,
                titles=names,
                temporal=temporal,
            )

        info = await to_thread.run_sync(open_table)
        provider = gpkg
    crs = [
        parse_crs(c).uri
        for c in conf.crs or default_crs_uris(info.storage_crs, info.extent)
    ]
    return Collection(
        id=cid,
        title=conf.title,
        description=conf.description,
        keywords=tuple(conf.keywords),
        info=info,
        provider=provider,
        crs=tuple(dict.fromkeys(crs)),
        classification=conf.classification,
        editable=conf.editable,
        require_if_match=conf.require_if_match,
    )
