"""The collection catalog: configured and discovered collections with their providers."""

from __future__ import annotations

import logging
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import yaml
from anyio import to_thread

from config.i18n import I18nText
from config.settings import CollectionConfig, Settings
from config.sources import CogSource, GeoPackageSource, PostgisSource
from providers.base import AccessScope, CollectionInfo, FeatureProvider
from providers.crs import default_crs_uris, parse_crs
from providers.geopackage.provider import GeoPackageProvider
from providers.postgis.provider import PostgisProvider
from providers.sources import AllowedSources, SourceNotAllowed
from server.http.errors import NotFoundError
from tiles.raster import RasterMeta, RasterStore
from tiles.style import VectorStyle, default_style
from tiles.tms import MatrixLimits, matrix_limits, tile_matrix_sets

log = logging.getLogger("onemap.catalog")


class ChangeCounter:
    """Edits made through this process: part of the tile cache keys, so that a tile
    cached before an edit is never served after it."""

    def __init__(self) -> None:
        self.value = 0

    def bump(self) -> None:
        """Count one committed edit."""
        self.value += 1


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
    allowed_values: dict[str, tuple[str, ...]] = field(default_factory=dict)
    tile_minzoom: int = 0  # WebMercatorQuad-equivalent zoom of the first vector tile
    style: VectorStyle = field(default_factory=lambda: default_style([], 0))
    changes: ChangeCounter = field(default_factory=ChangeCounter, compare=False)


@dataclass(frozen=True)
class RasterCollection:
    """A published imagery collection: one COG, a mosaic, or a before/after pair."""

    id: str
    title: I18nText
    description: I18nText
    keywords: tuple[str, ...]
    classification: str
    source: CogSource
    images: dict[str, tuple[str, ...]]  # "image", or "before" and "after": GDAL hrefs
    meta: RasterMeta  # of the first image: bands, data type, default stretch
    extent: tuple[float, float, float, float]  # CRS84, all images
    zooms: dict[str, tuple[int, int]]  # per tile matrix set id
    limits: dict[str, dict[int, MatrixLimits]]  # per tile matrix set id, per zoom
    version: str

    @property
    def is_pair(self) -> bool:
        """Whether the collection is a before/after pair."""
        return "after" in self.images

    @property
    def default_image(self) -> str:
        """The image served when the request names none."""
        return "after" if self.is_pair else "image"


class Catalog:
    """Every collection, looked up through the caller's access scope."""

    def __init__(
        self,
        collections: dict[str, Collection],
        providers: list[FeatureProvider],
        rasters: RasterStore,
    ):
        self._collections = collections
        self._rasters: dict[str, RasterCollection] = {}
        self._order: list[str] = list(collections)
        self.providers = providers
        self.raster_store = rasters

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
            raise NotFoundError("err.unknown_collection", id=collection_id[:80])
        return found

    def get(self, collection_id: str, scope: AccessScope) -> Collection:
        """A feature collection, or 404 (the same answer for hidden and unknown ids)."""
        found = self._collections.get(collection_id)
        if found is None or not scope.sees(collection_id):
            raise NotFoundError("err.unknown_collection", id=collection_id[:80])
        return found

    def raster(self, collection_id: str, scope: AccessScope) -> RasterCollection:
        """An imagery collection, or 404."""
        found = self._rasters.get(collection_id)
        if found is None or not scope.sees(collection_id):
            raise NotFoundError("err.unknown_collection", id=collection_id[:80])
        return found

    async def close(self) -> None:
        """Close every provider and the raster read threads."""
        for provider in self.providers:
            await provider.close()
        self.raster_store.close()


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
    audit = None if settings.database.url else Path(settings.data_dir) / "audit.sqlite"
    gpkg = GeoPackageProvider(audit)
    providers: list[FeatureProvider] = [gpkg]
    postgis: PostgisProvider | None = None
    if settings.database.url:
        postgis = PostgisProvider(settings.database)
        providers.append(postgis)
    catalog = Catalog({}, providers, RasterStore(settings.tiles.threads))
    allowed = AllowedSources.of(settings.data_dir, settings.allowed_sources)
    try:
        if postgis is not None:
            await postgis.open()
            await _discover_schemas(settings, postgis, configs)
        for index, (cid, conf) in enumerate(configs.items()):
            if isinstance(conf.source, CogSource):
                catalog.add(await _open_raster(cid, conf, conf.source, allowed, catalog))
            else:
                opened = await _open(cid, conf, settings, titles, gpkg, postgis)
                style = _style(opened, conf, index)
                catalog.add(replace(opened, style=style))
        if postgis is not None:
            await postgis.start()
    except BaseException:
        await catalog.close()
        raise
    return catalog


_ZOOMS_ABOVE = 4


def _style(c: Collection, conf: CollectionConfig, index: int) -> VectorStyle:
    fields = [f.name for f in c.info.fields]
    if conf.style is None:
        return default_style(fields, index)
    if conf.style.property is not None and conf.style.property not in fields:
        raise CollectionError(f"{c.id}: style.property {conf.style.property} is no field")
    return VectorStyle(**conf.style.model_dump())


class CollectionError(Exception):
    """A configured collection cannot be served (the message says why)."""


async def _open_raster(
    cid: str,
    conf: CollectionConfig,
    source: CogSource,
    allowed: AllowedSources,
    catalog: Catalog,
) -> RasterCollection:
    store = catalog.raster_store
    forms = (
        {"image": source.href}
        if source.href is not None
        else {
            "before": source.before,
            "after": source.after,
        }
    )
    images: dict[str, tuple[str, ...]] = {}
    for key, value in forms.items():
        hrefs = [value] if isinstance(value, str) else list(value or [])
        try:
            images[key] = tuple(allowed.resolve(h) for h in hrefs)
        except SourceNotAllowed as exc:
            raise CollectionError(f"{cid}: href not allowed ({exc.code})") from None
    every = [h for hrefs in images.values() for h in hrefs]
    try:
        metas = [await store.run(store.meta, h) for h in every]
        zooms: dict[str, tuple[int, int]] = {}
        for tms_id, tms in tile_matrix_sets().items():
            ranges = [await store.run(store.zoom_range, h, tms) for h in every]
            # from a few levels above the whole-image zoom: overviews make those cheap
            low = max(tms.minzoom, min(r[0] for r in ranges) - _ZOOMS_ABOVE)
            zooms[tms_id] = (low, max(r[1] for r in ranges))
    except OSError as exc:  # rasterio's RasterioIOError is an OSError
        raise CollectionError(f"{cid}: cannot read imagery ({exc})") from None
    extent = (
        min(m.bounds[0] for m in metas),
        min(m.bounds[1] for m in metas),
        max(m.bounds[2] for m in metas),
        max(m.bounds[3] for m in metas),
    )
    return RasterCollection(
        id=cid,
        title=conf.title,
        description=conf.description,
        keywords=tuple(conf.keywords),
        classification=conf.classification,
        source=source,
        images=images,
        meta=metas[0],
        extent=extent,
        zooms=zooms,
        limits={
            tms_id: matrix_limits(tms, extent, *zooms[tms_id])
            for tms_id, tms in tile_matrix_sets().items()
        },
        version="-".join(m.version for m in metas),
    )


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
        assert isinstance(source, GeoPackageSource)
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
    unknown = sorted(set(conf.allowed_values) - {f.name for f in info.fields})
    if unknown:
        raise CollectionError(f"{cid}: allowed_values of unknown properties {unknown}")
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
        allowed_values={k: tuple(v) for k, v in conf.allowed_values.items()},
        tile_minzoom=conf.tile_minzoom,
    )
