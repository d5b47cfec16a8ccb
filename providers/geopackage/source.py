"""The ``geopackage`` source kind: feature tables of GeoPackage files."""

from __future__ import annotations

import logging
import sqlite3
from contextlib import closing
from pathlib import Path

from anyio import to_thread

from config.i18n import I18nText
from config.settings import CollectionConfig, DiscoverConfig, Settings
from config.sources import GeoPackageSource
from providers.base import FeatureReader
from providers.collections import Opened
from providers.errors import ConfigMismatch, collection_mismatch
from providers.geopackage.provider import GeoPackageProvider
from tiles.raster import RasterStore

log = logging.getLogger("onemap.catalog")


class GeoPackageKind:
    """One provider for every GeoPackage table of the catalog."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        # without a database, each edit's audit row commits beside it in one file
        audit = None if settings.database.url else settings.data_dir / "audit.sqlite"
        self._provider = GeoPackageProvider(audit)
        self.readers: tuple[FeatureReader, ...] = (self._provider,)

    async def open(
        self, cid: str, conf: CollectionConfig, titles: dict[str, I18nText]
    ) -> Opened:
        """Open one table (in a thread: SQLite blocks)."""
        source = conf.source
        assert isinstance(source, GeoPackageSource)
        path = self._settings.resolve(source.path)
        temporal = conf.temporal.start if conf.temporal else None

        def add() -> Opened:
            info = self._provider.add(
                cid,
                path,
                source,
                properties=conf.properties,
                titles=titles,
                temporal=temporal,
            )
            return Opened(self._provider, info)

        try:
            return await to_thread.run_sync(add)
        except ConfigMismatch as exc:
            raise collection_mismatch(cid, exc) from None

    async def discover(self, entry: DiscoverConfig) -> dict[str, CollectionConfig]:
        """One collection per feature table of each GeoPackage in the folder."""
        assert entry.directory is not None
        directory = self._settings.resolve(entry.directory)
        return await to_thread.run_sync(_discovered, directory)

    async def start(self) -> None:
        """Nothing runs in the background."""

    async def close(self) -> None:
        """Close the files."""
        await self._provider.close()


def _discovered(directory: Path) -> dict[str, CollectionConfig]:
    found: dict[str, CollectionConfig] = {}
    if not directory.is_dir():
        return found
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


async def open_geopackage(settings: Settings, _rasters: RasterStore) -> GeoPackageKind:
    """The registry's opener."""
    return GeoPackageKind(settings)
