"""The catalog: the configured and discovered collections, opened through the source
registry (providers/registry.py), looked up through the caller's access scope."""

from __future__ import annotations

import logging
from collections.abc import Collection as Ids
from dataclasses import replace
from importlib import resources

import yaml
from anyio import to_thread

from config.i18n import I18nText
from config.settings import CollectionConfig, Settings
from providers.base import AccessScope, FeatureEditor, FeatureReader
from providers.collections import (
    ChangeCounter,
    Collection,
    Opened,
    RasterCollection,
    SourceKind,
)
from providers.crs import default_crs_uris, parse_crs
from providers.errors import ConfigMismatch, NotFound
from providers.registry import open_kind
from tiles.raster import RasterStore
from tiles.style import VectorStyle, default_style

log = logging.getLogger("onemap.catalog")

__all__ = [
    "Catalog",
    "ChangeCounter",
    "Collection",
    "CollectionError",
    "RasterCollection",
]


class CollectionError(ConfigMismatch):
    """A configured collection cannot be served (the message says why and the fix)."""


def _unknown(collection_id: str) -> NotFound:
    return NotFound("unknown_collection", id=collection_id[:80])


class Catalog:
    """Every opened collection, looked up through the caller's access scope."""

    def __init__(self, rasters: RasterStore) -> None:
        self._collections: dict[str, Collection] = {}
        self._rasters: dict[str, RasterCollection] = {}
        self._order: list[str] = []
        self.kinds: dict[str, SourceKind] = {}  # by source type, opened on first use
        self.raster_store = rasters

    @property
    def ids(self) -> list[str]:
        """Every opened collection's id, in configuration order."""
        return list(self._order)

    @property
    def providers(self) -> list[FeatureReader]:
        """Every opened feature source (health checks and pool gauges)."""
        return [r for kind in self.kinds.values() for r in kind.readers]

    def add(self, collection: Collection | RasterCollection) -> None:
        """Publish one more collection."""
        if isinstance(collection, RasterCollection):
            self._rasters[collection.id] = collection
        else:
            self._collections[collection.id] = collection
        self._order.append(collection.id)

    def visible(self, scope: AccessScope) -> list[Collection]:
        """The feature collections the caller may know about, in configuration order."""
        return [c for c in self._collections.values() if scope.sees(c.id)]

    def listing(self, scope: AccessScope) -> list[Collection | RasterCollection]:
        """Every collection the caller may know about (features and imagery)."""
        found: list[Collection | RasterCollection] = []
        for cid in self._order:
            if scope.sees(cid):
                found.append(self._collections.get(cid) or self._rasters[cid])
        return found

    def find(
        self, collection_id: str, scope: AccessScope
    ) -> Collection | RasterCollection:
        """A collection of either kind, or 404."""
        found = self._collections.get(collection_id) or self._rasters.get(collection_id)
        if found is None or not scope.sees(collection_id):
            raise _unknown(collection_id)
        return found

    def get(self, collection_id: str, scope: AccessScope) -> Collection:
        """A feature collection, or 404 (the same answer for hidden and unknown ids)."""
        found = self._collections.get(collection_id)
        if found is None or not scope.sees(collection_id):
            raise _unknown(collection_id)
        return found

    def raster(self, collection_id: str, scope: AccessScope) -> RasterCollection:
        """An imagery collection, or 404."""
        found = self._rasters.get(collection_id)
        if found is None or not scope.sees(collection_id):
            raise _unknown(collection_id)
        return found

    async def kind(self, settings: Settings, source_type: str) -> SourceKind:
        """The opener of a source type, opened the first time a collection needs it."""
        found = self.kinds.get(source_type)
        if found is None:
            found = await open_kind(source_type, settings, self.raster_store)
            self.kinds[source_type] = found
        return found

    async def close(self) -> None:
        """Close every source and the raster read threads."""
        for kind in self.kinds.values():
            await kind.close()
        self.raster_store.close()


def standard_field_titles() -> dict[str, I18nText]:
    """Titles of the standard natural-resources field names (config/field_titles.yaml)."""
    text = (resources.files("config") / "field_titles.yaml").read_text(encoding="utf-8")
    data: dict[str, I18nText] = yaml.safe_load(text)
    return data


async def _discover(settings: Settings, catalog: Catalog) -> dict[str, CollectionConfig]:
    """The collections of the ``discover`` entries (folders, schemas), by id."""
    found: dict[str, CollectionConfig] = {}
    for entry in settings.discover:
        kind = await catalog.kind(settings, entry.source_type)
        for cid, conf in (await kind.discover(entry)).items():
            found.setdefault(cid, conf)
    return found


async def build_catalog(settings: Settings, only: Ids[str] | None = None) -> Catalog:
    """Open the configured and discovered collections (with ``only``: just those, and
    just the sources they need); on any failure close what was opened."""
    catalog = Catalog(RasterStore(settings.tiles.threads))
    try:
        await _open_all(settings, catalog, only)
    except BaseException:
        await catalog.close()
        raise
    log.debug("opened collections %s from sources %s", catalog.ids, sorted(catalog.kinds))
    return catalog


async def _open_all(settings: Settings, catalog: Catalog, only: Ids[str] | None) -> None:
    titles = await to_thread.run_sync(standard_field_titles)
    configs = {
        cid: conf
        for cid, conf in settings.collections.items()
        if only is None or cid in only
    }
    discovered: dict[str, CollectionConfig] = {}
    if only is None or not set(only) <= set(configs):
        discovered = await _discover(settings, catalog)
    for cid, conf in discovered.items():
        if cid not in settings.collections and (only is None or cid in only):
            configs[cid] = conf
    for index, (cid, conf) in enumerate(configs.items()):
        try:
            catalog.add(await _open(settings, catalog, cid, conf, titles, index))
        except ConfigMismatch as exc:
            if not conf.optional:
                raise
            fallback = discovered.get(cid)
            log.warning("%s; %s", exc, _fallback_note(fallback))
            if fallback is not None:
                catalog.add(await _open(settings, catalog, cid, fallback, titles, index))
    for kind in catalog.kinds.values():
        await kind.start()


def _fallback_note(fallback: CollectionConfig | None) -> str:
    if fallback is None:
        return "not published (optional)"
    return "published as discovered instead"


async def _open(
    settings: Settings,
    catalog: Catalog,
    cid: str,
    conf: CollectionConfig,
    titles: dict[str, I18nText],
    index: int,
) -> Collection | RasterCollection:
    kind = await catalog.kind(settings, conf.source.type)
    opened = await kind.open(cid, conf, {**titles, **conf.property_titles})
    if isinstance(opened, RasterCollection):
        return opened
    return _collection(cid, conf, opened, index)


def _collection(
    cid: str, conf: CollectionConfig, opened: Opened, index: int
) -> Collection:
    info = opened.info
    crs = [
        parse_crs(c).uri
        for c in conf.crs or default_crs_uris(info.storage_crs, info.extent)
    ]
    unknown = sorted(set(conf.allowed_values) - {f.name for f in info.fields})
    if unknown:
        raise CollectionError(
            f"collections.{cid}.allowed_values: no properties {unknown} in the data "
            "(fix: name published properties)"
        )
    if conf.editable and not isinstance(opened.reader, FeatureEditor):
        raise CollectionError(
            f"collections.{cid}: its {conf.source.type} source cannot store edits "
            "(fix: editable: false)"
        )
    collection = Collection(
        id=cid,
        title=conf.title,
        description=conf.description,
        keywords=tuple(conf.keywords),
        info=info,
        provider=opened.reader,
        crs=tuple(dict.fromkeys(crs)),
        classification=conf.classification,
        editable=conf.editable,
        require_if_match=conf.require_if_match,
        allowed_values={k: tuple(v) for k, v in conf.allowed_values.items()},
        tile_minzoom=conf.tile_minzoom,
    )
    return replace(collection, style=_style(collection, conf, index))


def _style(c: Collection, conf: CollectionConfig, index: int) -> VectorStyle:
    fields = [f.name for f in c.info.fields]
    if conf.style is None:
        return default_style(fields, index)
    if conf.style.property is not None and conf.style.property not in fields:
        raise CollectionError(
            f"collections.{c.id}.style.property: {conf.style.property} is no "
            "property of the data (fix: name a published property)"
        )
    return VectorStyle(**conf.style.model_dump())
