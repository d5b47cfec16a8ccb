"""The ``postgis`` source kind: tables and views of the deployment's database."""

from __future__ import annotations

from config.i18n import I18nText
from config.settings import CollectionConfig, DiscoverConfig, Settings
from config.sources import PostgisSource
from providers.base import FeatureReader
from providers.collections import Opened
from providers.errors import ConfigMismatch, collection_mismatch
from providers.postgis.provider import PostgisProvider
from tiles.raster import RasterStore


class PostgisKind:
    """One pool for every PostGIS table of the catalog (opened with the first)."""

    def __init__(self, provider: PostgisProvider) -> None:
        self._provider = provider
        self.readers: tuple[FeatureReader, ...] = (provider,)

    async def open(
        self, cid: str, conf: CollectionConfig, titles: dict[str, I18nText]
    ) -> Opened:
        """Read one table's schema, extent and size."""
        source = conf.source
        assert isinstance(source, PostgisSource)
        temporal = conf.temporal.start if conf.temporal else None
        try:
            info = await self._provider.add(
                cid, source, properties=conf.properties, titles=titles, temporal=temporal
            )
        except ConfigMismatch as exc:
            raise collection_mismatch(cid, exc) from None
        return Opened(self._provider, info)

    async def discover(self, entry: DiscoverConfig) -> dict[str, CollectionConfig]:
        """Every table of the schema with a geometry column."""
        assert entry.schema_ is not None
        schema = entry.schema_
        return {
            table: CollectionConfig(
                title=title or table, source=PostgisSource(table=f"{schema}.{table}")
            )
            for table, title in (await self._provider.discover(schema)).items()
        }

    async def start(self) -> None:
        """Poll the tables' write counters (tile cache validity)."""
        await self._provider.start()

    async def close(self) -> None:
        """Stop polling, close the pool."""
        await self._provider.close()


async def open_postgis(settings: Settings, _rasters: RasterStore) -> PostgisKind:
    """The registry's opener: the pool opens now (fails fast when unreachable)."""
    provider = PostgisProvider(settings.database)
    try:
        await provider.open()
    except BaseException:
        await provider.close()
        raise
    return PostgisKind(provider)
