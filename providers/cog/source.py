"""The ``cog`` source kind: imagery collections read through the raster store."""

from __future__ import annotations

from config.i18n import I18nText
from config.settings import CollectionConfig, DiscoverConfig, Settings
from config.sources import CogSource
from providers.base import FeatureReader
from providers.collections import RasterCollection
from providers.errors import ConfigMismatch
from providers.sources import AllowedSources, SourceNotAllowed
from tiles.raster import RasterStore
from tiles.tms import matrix_limits, tile_matrix_sets

_ZOOMS_ABOVE = 4  # tiles from this many levels above the whole-image zoom (overviews)


class CogKind:
    """Reads each image's metadata once, at start, on the catalog's raster threads."""

    readers: tuple[FeatureReader, ...] = ()

    def __init__(self, settings: Settings, store: RasterStore) -> None:
        self._store = store
        self._allowed = AllowedSources.of(settings.data_dir, settings.allowed_sources)

    async def open(
        self, cid: str, conf: CollectionConfig, titles: dict[str, I18nText]
    ) -> RasterCollection:
        """One imagery collection: its images, extent and zooms per tile matrix set."""
        source = conf.source
        assert isinstance(source, CogSource)
        images = self._images(cid, source)
        every = [h for hrefs in images.values() for h in hrefs]
        store = self._store
        try:
            metas = [await store.run(store.meta, h) for h in every]
            zooms: dict[str, tuple[int, int]] = {}
            for tms_id, tms in tile_matrix_sets().items():
                ranges = [await store.run(store.zoom_range, h, tms) for h in every]
                low = max(tms.minzoom, min(r[0] for r in ranges) - _ZOOMS_ABOVE)
                zooms[tms_id] = (low, max(r[1] for r in ranges))
        except OSError as exc:  # rasterio's RasterioIOError is an OSError
            raise ConfigMismatch(
                f"collections.{cid}: cannot read imagery ({exc}) (fix: give a readable "
                "COG path or URL)"
            ) from None
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

    def _images(self, cid: str, source: CogSource) -> dict[str, tuple[str, ...]]:
        forms = (
            {"image": source.href}
            if source.href is not None
            else {"before": source.before, "after": source.after}
        )
        images: dict[str, tuple[str, ...]] = {}
        for key, value in forms.items():
            hrefs = [value] if isinstance(value, str) else list(value or [])
            try:
                images[key] = tuple(self._allowed.resolve(h) for h in hrefs)
            except SourceNotAllowed as exc:
                raise ConfigMismatch(
                    f"collections.{cid}: href not allowed ({exc.code}) (fix: add its "
                    "folder or URL prefix to allowed_sources)"
                ) from None
        return images

    async def discover(self, entry: DiscoverConfig) -> dict[str, CollectionConfig]:
        """Imagery is configured, never discovered."""
        return {}

    async def start(self) -> None:
        """Nothing runs in the background."""

    async def close(self) -> None:
        """The raster store belongs to the catalog."""


async def open_cog(settings: Settings, rasters: RasterStore) -> CogKind:
    """The registry's opener."""
    return CogKind(settings, rasters)
