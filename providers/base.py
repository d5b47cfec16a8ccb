"""The Protocols of the sources and the values they exchange.

Every feature source is a :class:`FeatureReader`; one that can also cut vector tiles,
store edits, be pinged or report its pool implements those Protocols too (checked with
``isinstance``, never by probing for attributes).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import shapely

from config.i18n import I18nText
from providers.crs import CRS84, CrsRef

if TYPE_CHECKING:
    from providers.audit import AuditRecord
    from providers.edits import EditResult, FeatureInput

FieldType = Literal["string", "integer", "number", "boolean", "date", "datetime"]
CountMode = Literal["auto", "exact", "estimated", "none"]


@dataclass(frozen=True)
class Cql2Filter:
    """A parsed filter in canonical CQL2-JSON, with the CRS of its geometries."""

    expr: Any
    crs: CrsRef = CRS84


NOTHING = Cql2Filter(False)  # a filter no row meets


@dataclass(frozen=True)
class AccessScope:
    """What the caller may read; every provider applies it inside its query.

    ``None`` means unrestricted for that aspect. Security never depends on filtering
    results afterwards. The row and attribute limits of a collection are those of
    ``narrowed(collection_id)``: providers narrow the scope they are given themselves.
    """

    collections: frozenset[str] | None = None
    region: shapely.Geometry | None = None  # allowed area, CRS84 (lon/lat)
    properties: frozenset[str] | None = None  # attribute-level grant
    attribute_filter: Cql2Filter | None = None  # CQL2 every row must meet
    operations: frozenset[str] | None = None  # what the caller may do (None = all)
    # per collection: the limits above for that collection (absent = these)
    per_collection: dict[str, AccessScope] = field(
        default_factory=dict, compare=False, repr=False
    )
    # the limits of the grants that allow writing (None: these): the public grant
    # reads every row, but a role's region still bounds what it may write
    write_scope: AccessScope | None = field(default=None, compare=False, repr=False)

    def for_writing(self) -> AccessScope:
        """The scope a write of the narrowed collection is bounded by."""
        return self.write_scope if self.write_scope is not None else self

    def sees(self, collection_id: str) -> bool:
        """Whether the collection exists for this caller."""
        return self.collections is None or collection_id in self.collections

    def narrowed(self, collection_id: str) -> AccessScope:
        """The scope with the row, attribute and operation limits of one collection
        (no row at all of a collection the caller does not see)."""
        if not self.sees(collection_id):
            return HIDDEN
        return self.per_collection.get(collection_id, self)

    def allows(self, operation: str) -> bool:
        """Whether the caller may perform the operation (on the narrowed collection)."""
        return self.operations is None or operation in self.operations

    def allows_property(self, name: str) -> bool:
        """Whether the caller may see (and filter or sort on) a property."""
        return self.properties is None or name in self.properties

    def visible(self, requested: tuple[str, ...] | None) -> tuple[str, ...] | None:
        """The requested properties (None = all) cut down to the caller's grant."""
        if self.properties is None:
            return requested
        return tuple(p for p in (requested or self.properties) if p in self.properties)

    @property
    def limits_rows(self) -> bool:
        """Whether some rows of the collection are outside the scope."""
        return self.region is not None or self.attribute_filter is not None

    @cached_property
    def data_key(self) -> str:
        """A short text that differs between narrowed scopes that see different rows
        or attributes of their collection."""
        digest = hashlib.blake2b(digest_size=10)
        for part in (
            shapely.to_wkb(self.region) if self.region is not None else None,
            sorted(self.properties) if self.properties is not None else None,
            repr(self.attribute_filter),
        ):
            digest.update(repr(part).encode())
        return digest.hexdigest()

    @cached_property
    def cache_key(self) -> str:
        """A short text that differs between scopes that may see different data."""
        digest = hashlib.blake2b(digest_size=10)
        for part in (
            sorted(self.collections) if self.collections is not None else None,
            shapely.to_wkb(self.region) if self.region is not None else None,
            sorted(self.properties) if self.properties is not None else None,
            repr(self.attribute_filter),
            sorted(self.operations) if self.operations is not None else None,
            sorted((k, v.cache_key) for k, v in self.per_collection.items()),
        ):
            digest.update(repr(part).encode())
        return digest.hexdigest()


UNRESTRICTED = AccessScope()
HIDDEN = AccessScope(
    collections=frozenset(), attribute_filter=NOTHING, operations=frozenset()
)


@dataclass(frozen=True)
class Writer:
    """Who writes: the name kept in the history, the rows they may touch (a feature
    outside ``scope`` is not there for them, and may not be written outside it), and
    the audit row the write's transaction also inserts (when the provider can)."""

    actor: str
    scope: AccessScope = UNRESTRICTED
    audit: AuditRecord | None = None


def coerce_value(value: str, kind: FieldType) -> Any:
    """A validated text value (query parameter, feature id) as the column's type."""
    if kind == "integer":
        return int(value)
    if kind == "number":
        return float(value)
    if kind == "boolean":
        return value.lower() == "true"
    return value


@dataclass(frozen=True)
class FieldInfo:
    """One published property of a collection."""

    name: str
    type: FieldType
    title: I18nText | None = None
    required: bool = False  # NOT NULL without a default: a write must give it


@dataclass(frozen=True)
class CollectionInfo:
    """What a provider knows about one collection, read once at start."""

    id: str
    fields: tuple[FieldInfo, ...]
    id_field: str
    geometry_type: str
    storage_crs: CrsRef
    extent: tuple[float, float, float, float] | None  # CRS84
    temporal_extent: tuple[str | None, str | None] | None
    feature_count: int

    def field(self, name: str) -> FieldInfo | None:
        """The field of that name, if published."""
        return next((f for f in self.fields if f.name == name), None)


@dataclass(frozen=True)
class BBox:
    """A bbox parameter: x/y-ordered bounds in ``crs``."""

    bounds: tuple[float, float, float, float]
    crs: CrsRef


@dataclass(frozen=True)
class Interval:
    """A datetime parameter: closed interval, either end open (None)."""

    start: datetime | None
    end: datetime | None


_KEYSET_TYPES = frozenset({"string", "integer", "number", "boolean"})


@dataclass(frozen=True)
class SortKey:
    """One sortby key."""

    name: str
    descending: bool = False


@dataclass(frozen=True)
class ItemsQuery:
    """A validated items request."""

    limit: int
    offset: int = 0
    crs: CrsRef | None = None  # output CRS; None = CRS84
    bbox: BBox | None = None
    datetime: Interval | None = None
    properties: tuple[str, ...] | None = None
    sortby: tuple[SortKey, ...] = ()
    equals: tuple[tuple[str, str], ...] = ()  # property=value query parameters
    filter: Cql2Filter | None = None
    # numberMatched: "auto" = exact when the planner expects it to be cheap, else omitted
    count: CountMode = "auto"
    # keyset paging: the sort-key values and primary key of the last feature before the
    # page (rows strictly after it in the order; offset is then 0)
    after: tuple[Any, ...] | None = None
    position: int = 0  # features before this page (offset, or the cursor's count)

    def matched_from_page(self, returned: int, more: bool) -> int | None:
        """numberMatched as the page itself tells it, when it does: the last page of an
        offset walk holds all the rest (None: count it)."""
        if self.count == "none" or more or self.after is not None:
            return None
        if returned == 0 and self.offset > 0:
            return None  # past the end: the rows may be fewer than the offset
        return self.offset + returned

    def keyset(self, info: CollectionInfo) -> bool:
        """Whether pages of this query can follow on by key: its sort keys are scalar
        properties (dates and times page by offset)."""
        return all(
            (field := info.field(k.name)) is not None and field.type in _KEYSET_TYPES
            for k in self.sortby
        )


@dataclass(frozen=True)
class TileQuery:
    """A vector tile request: one layer of one tile, in the tile matrix set's CRS."""

    bounds: tuple[float, float, float, float]  # x/y order (lon/lat for geographic)
    crs: CrsRef
    layer: str
    properties: tuple[str, ...] | None = None
    filter: Cql2Filter | None = None
    extent: int = 4096
    buffer: int = 64
    min_size: float = 0.0  # features smaller than this (crs units) both ways are left out
    # largest error (tile units) of an affine stand-in for the CRS transform; 0 = exact
    affine_tolerance: float = 0.0

    @property
    def buffered(self) -> tuple[float, float, float, float]:
        """The bounds grown by the buffer (what geometries are clipped to)."""
        minx, miny, maxx, maxy = self.bounds
        dx = (maxx - minx) * self.buffer / self.extent
        dy = (maxy - miny) * self.buffer / self.extent
        return (minx - dx, miny - dy, maxx + dx, maxy + dy)


@dataclass
class ItemPage:
    """One page of features, streamed: ``has_more`` is known once iteration ends."""

    # a list when the provider has the whole page already (PostGIS), else a stream
    features: AsyncIterator[bytes] | list[bytes]
    number_matched: int | None
    number_returned: int = 0
    has_more: bool = False
    digest: str | None = None  # of the whole page, when known before streaming
    # the sort-key values and primary key of the last feature, when a next page can
    # follow on by key (ItemsQuery.keyset); known once iteration ends
    last_key: tuple[Any, ...] | None = None


class FeatureReader(Protocol):
    """What every source of feature collections does: describe them and read pages
    and single features. A source implements the other Protocols below only if it can."""

    def collections(self) -> dict[str, CollectionInfo]:
        """The collections this source serves, by id."""
        ...

    def version(self, collection_id: str) -> str | None:
        """A token that changes whenever the data changes (None: no cheap token)."""
        ...

    def cache_version(self, collection_id: str) -> str | None:
        """A token that changes within seconds of any change (None: no such token):
        enough for caches whose entries may be that much behind."""
        ...

    async def items(
        self, collection_id: str, query: ItemsQuery, scope: AccessScope
    ) -> ItemPage:
        """A page of features as encoded GeoJSON Feature objects."""
        ...

    async def item(
        self,
        collection_id: str,
        feature_id: str,
        crs: CrsRef | None,
        scope: AccessScope,
    ) -> tuple[bytes, str] | None:
        """An encoded GeoJSON Feature and its version; None if absent or out of scope."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


@runtime_checkable
class VectorTileSource(Protocol):
    """A source that cuts Mapbox Vector Tiles itself (OGC API - Tiles)."""

    async def tile(
        self, collection_id: str, query: TileQuery, scope: AccessScope
    ) -> bytes:
        """One Mapbox Vector Tile layer (empty bytes when no feature falls in it)."""
        ...


@runtime_checkable
class FeatureEditor(Protocol):
    """A source that stores edits with history (OGC API - Features Part 4)."""

    audits_writes: bool  # whether create/update/delete insert Writer.audit themselves

    async def create(
        self, collection_id: str, feature: FeatureInput, writer: Writer
    ) -> EditResult:
        """Insert a feature: one transaction, recorded in the history."""
        ...

    async def update(
        self,
        collection_id: str,
        feature_id: str,
        change: Callable[[FeatureInput], FeatureInput],
        if_match: str | None,
        writer: Writer,
        operation: str,
    ) -> EditResult | None:
        """Replace or patch a feature whose version matches If-Match; None if absent."""
        ...

    async def delete(
        self, collection_id: str, feature_id: str, if_match: str | None, writer: Writer
    ) -> EditResult | None:
        """Delete a feature whose version matches If-Match; None if absent."""
        ...

    async def history(self, collection_id: str, feature_id: str) -> list[dict[str, Any]]:
        """Every recorded version of a feature, oldest first."""
        ...


@runtime_checkable
class HealthCheck(Protocol):
    """A source whose backing service can be down (readiness: /health/ready)."""

    async def ping(self) -> None:
        """Return when the service answers; raise when it does not."""
        ...


@runtime_checkable
class PoolStats(Protocol):
    """A source with a connection pool (gauges of /metrics)."""

    def pool_stats(self) -> dict[str, int]:
        """Pool gauges by name."""
        ...
