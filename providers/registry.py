"""The source registry: the one place a source kind is declared.

A kind's configuration model lives in config/sources.py (``source.type``); here each
type names the opener of its ``SourceKind`` (providers/collections.py). A catalog
opens a kind the first time one of its collections is asked for, so a catalog of a few
collections opens only their sources.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from config.settings import Settings
from providers.cog.source import open_cog
from providers.collections import SourceKind
from providers.geopackage.source import open_geopackage
from providers.postgis.source import open_postgis
from tiles.raster import RasterStore

KindOpener = Callable[[Settings, RasterStore], Awaitable[SourceKind]]

# source.type -> its opener; the type's configuration model is in config/sources.py
SOURCE_KINDS: dict[str, KindOpener] = {
    "geopackage": open_geopackage,
    "postgis": open_postgis,
    "cog": open_cog,
}


async def open_kind(
    source_type: str, settings: Settings, rasters: RasterStore
) -> SourceKind:
    """The opener of ``source.type`` (config validation admits only registered ones)."""
    return await SOURCE_KINDS[source_type](settings, rasters)
