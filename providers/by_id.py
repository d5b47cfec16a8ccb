"""A provider's operations on one feature by id (and create), written once for all.

Before any backend runs: the caller's scope is narrowed to the collection, and a feature
id that cannot be a value of the id column is no feature (404). Inside the backend's
transaction, :func:`revision` turns the current row into the 404 or 412 answer or the
feature before and after the edit.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from providers.base import AccessScope, CollectionInfo, Writer, coerce_value
from providers.crs import CrsRef
from providers.edits import EditResult, FeatureInput, check_version

Change = Callable[[FeatureInput], FeatureInput]  # the current feature to the new one


@dataclass(frozen=True)
class Edit:
    """A replace, patch or delete of one feature (``change`` None: a delete)."""

    if_match: str | None
    writer: Writer
    operation: str  # as the history records it
    change: Change | None = None


def feature_key(info: CollectionInfo, feature_id: str) -> Any:
    """The feature id as a value of the id column; None when no row can have it."""
    field = info.field(info.id_field)
    try:
        key = coerce_value(feature_id, field.type if field else "integer")
    except ValueError:
        return None
    if isinstance(key, int) and not -(2**63) <= key < 2**63:
        return None  # beyond a 64-bit integer column
    return key


def revision(
    found: tuple[str, FeatureInput] | None, edit: Edit
) -> tuple[FeatureInput, FeatureInput | None] | None:
    """The feature before and after ``edit`` (after: None for a delete), from its
    current version and content; None when it is absent or outside the writer's grant.
    Raises VersionMismatchError when If-Match names another version."""
    if found is None:
        return None
    version, old = found
    check_version(version, edit.if_match)
    return old, None if edit.change is None else edit.change(old)


class _Published(Protocol):
    @property
    def info(self) -> CollectionInfo: ...


class FeaturesById[T: _Published](ABC):
    """item, create, update, delete and history over the provider's tables."""

    _tables: dict[str, T]

    async def item(
        self,
        collection_id: str,
        feature_id: str,
        crs: CrsRef | None,
        scope: AccessScope,
    ) -> tuple[bytes, str] | None:
        """A feature and its version; None if absent or outside the caller's region."""
        table = self._tables[collection_id]
        key = feature_key(table.info, feature_id)
        if key is None:
            return None
        return await self._read(table, key, crs, scope.narrowed(collection_id))

    async def create(
        self, collection_id: str, feature: FeatureInput, writer: Writer
    ) -> EditResult:
        """Insert a feature (one transaction, history and audit recorded)."""
        table = self._tables[collection_id]
        return await self._insert(table, feature, _narrowed(writer, collection_id))

    async def update(
        self,
        collection_id: str,
        feature_id: str,
        change: Change,
        if_match: str | None,
        writer: Writer,
        operation: str,
    ) -> EditResult | None:
        """Replace or patch a feature; None when it does not exist (for the writer)."""
        edit = Edit(if_match, writer, operation, change)
        return await self._edit(collection_id, feature_id, edit)

    async def delete(
        self, collection_id: str, feature_id: str, if_match: str | None, writer: Writer
    ) -> EditResult | None:
        """Delete a feature; None when it does not exist (for the writer)."""
        edit = Edit(if_match, writer, "delete")
        return await self._edit(collection_id, feature_id, edit)

    async def history(self, collection_id: str, feature_id: str) -> list[dict[str, Any]]:
        """Every recorded version of a feature (also after it was deleted)."""
        table = self._tables[collection_id]
        key = feature_key(table.info, feature_id)
        return [] if key is None else await self._versions(table, key)

    async def _edit(
        self, collection_id: str, feature_id: str, edit: Edit
    ) -> EditResult | None:
        table = self._tables[collection_id]
        key = feature_key(table.info, feature_id)
        if key is None:
            return None
        writer = _narrowed(edit.writer, collection_id)
        return await self._write(table, key, replace(edit, writer=writer))

    @abstractmethod
    async def _read(
        self, table: T, key: Any, crs: CrsRef | None, scope: AccessScope
    ) -> tuple[bytes, str] | None:
        """The feature of id ``key`` in ``crs`` within the (narrowed) scope."""

    @abstractmethod
    async def _insert(
        self, table: T, feature: FeatureInput, writer: Writer
    ) -> EditResult:
        """Insert ``feature``; the writer's scope is narrowed."""

    @abstractmethod
    async def _write(self, table: T, key: Any, edit: Edit) -> EditResult | None:
        """Apply ``edit`` to the feature of id ``key`` (see :func:`revision`)."""

    @abstractmethod
    async def _versions(self, table: T, key: Any) -> list[dict[str, Any]]:
        """The recorded versions of the feature of id ``key``."""


def _narrowed(writer: Writer, collection_id: str) -> Writer:
    return replace(writer, scope=writer.scope.narrowed(collection_id))
