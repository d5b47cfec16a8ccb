"""An in-process LRU of encoded tiles, bounded in bytes (per worker process)."""

from __future__ import annotations

import time

from cachetools import TLRUCache

# (tile bytes, ETag, seconds to live)
Entry = tuple[bytes, str, float]


def _ttu(_key: str, value: Entry, now: float) -> float:
    return now + value[2]


class TileCache:
    """Hot tiles by key; the key must name everything that changes the bytes,
    the caller's access scope included, so a cached tile never crosses grants."""

    def __init__(self, max_bytes: int) -> None:
        self._lru: TLRUCache[str, Entry] | None = (
            TLRUCache(
                maxsize=max_bytes,
                ttu=_ttu,
                timer=time.monotonic,
                getsizeof=lambda e: len(e[0]) + 128,
            )
            if max_bytes > 0
            else None
        )

    def get(self, key: str) -> tuple[bytes, str] | None:
        """A cached tile and its ETag, or None."""
        found = self._lru.get(key) if self._lru is not None else None
        return None if found is None else (found[0], found[1])

    def put(self, key: str, data: bytes, etag: str, ttl: float) -> None:
        """Remember a tile for ``ttl`` seconds (one bigger than the cache is not kept)."""
        if self._lru is not None and len(data) + 128 <= self._lru.maxsize:
            self._lru[key] = (data, etag, ttl)
