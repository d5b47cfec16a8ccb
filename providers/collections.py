"""The published collections (features, imagery) and the Protocol of the source kinds
that open them."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

from config.i18n import I18nText
from config.settings import CollectionConfig, DiscoverConfig
from config.sources import CogSource
from providers.base import CollectionInfo, FeatureEditor, FeatureReader, VectorTileSource
from tiles.raster import RasterMeta
from tiles.style import VectorStyle, default_style
from tiles.tms import MatrixLimits


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
    """A published feature collection: metadata for the API plus the source that
    reads it (and, when the source can, cuts its tiles and stores its edits)."""

    id: str
    title: I18nText
    description: I18nText
    keywords: tuple[str, ...]
    info: CollectionInfo
    provider: FeatureReader
    crs: tuple[str, ...]
    classification: str
    editable: bool = False
    require_if_match: bool = True
    allowed_values: dict[str, tuple[str, ...]] = field(default_factory=dict)
    tile_minzoom: int = 0  # WebMercatorQuad-equivalent zoom of the first vector tile
    style: VectorStyle = field(default_factory=lambda: default_style([], 0))
    changes: ChangeCounter = field(default_factory=ChangeCounter, compare=False)

    @cached_property
    def editor(self) -> FeatureEditor | None:
        """The source's edits and history, when it stores them (``editable`` says
        whether this collection accepts edits)."""
        return self.provider if isinstance(self.provider, FeatureEditor) else None

    @cached_property
    def tiles(self) -> VectorTileSource | None:
        """The source's vector tiles, when it cuts them."""
        return self.provider if isinstance(self.provider, VectorTileSource) else None


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


@dataclass(frozen=True)
class Opened:
    """A feature collection as its source opened it."""

    reader: FeatureReader
    info: CollectionInfo


class SourceKind(Protocol):
    """Opens the collections of one source type; one per catalog."""

    readers: tuple[FeatureReader, ...]  # the feature sources it opened

    async def open(
        self, cid: str, conf: CollectionConfig, titles: dict[str, I18nText]
    ) -> Opened | RasterCollection:
        """One collection (raise ConfigMismatch when the data does not fit ``conf``)."""
        ...

    async def discover(self, entry: DiscoverConfig) -> dict[str, CollectionConfig]:
        """The collections a ``discover`` entry of this type finds, by id."""
        ...

    async def start(self) -> None:
        """Begin background work once every collection is open (e.g. change polls)."""
        ...

    async def close(self) -> None:
        """Release what the kind opened."""
        ...
