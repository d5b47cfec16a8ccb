"""GeoPackage geometry blobs: header parsing and a spatial predicate for SQLite."""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable
from typing import Any

import shapely

# Envelope sizes by the 3-bit envelope indicator of the GeoPackage binary header.
_ENVELOPE_BYTES = (0, 32, 48, 48, 64, 0, 0, 0)


def wkb_of(blob: bytes) -> bytes | None:
    """The WKB inside a GeoPackage geometry blob (None for an empty geometry)."""
    if len(blob) < 8 or blob[0:2] != b"GP":
        raise ValueError("not a GeoPackage geometry blob")
    flags = blob[3]
    if flags & 0x10:
        return None
    return blob[8 + _ENVELOPE_BYTES[(flags >> 1) & 0x07] :]


def envelope_of(blob: bytes) -> tuple[float, float, float, float] | None:
    """The (minx, miny, maxx, maxy) stored in the header, if any."""
    flags = blob[3]
    if not (flags >> 1) & 0x07:
        return None
    order = "<" if flags & 0x01 else ">"
    minx, maxx, miny, maxy = struct.unpack_from(order + "4d", blob, 8)
    return (minx, miny, maxx, maxy)


class _Filter:
    """A prepared filter geometry; rectangles get an envelope-only fast path."""

    def __init__(self, wkb: bytes) -> None:
        self.geometry = shapely.from_wkb(wkb)
        shapely.prepare(self.geometry)
        self.bounds = tuple(self.geometry.bounds)
        self.rectangle = bool(self.geometry.equals(shapely.box(*self.bounds)))

    def intersects(self, blob: bytes) -> bool:
        env = envelope_of(blob)
        if env is not None:
            minx, miny, maxx, maxy = self.bounds
            if env[0] > maxx or env[2] < minx or env[1] > maxy or env[3] < miny:
                return False
            if self.rectangle and (
                env[0] >= minx and env[2] <= maxx and env[1] >= miny and env[3] <= maxy
            ):
                return True
        wkb = wkb_of(blob)
        return wkb is not None and bool(
            shapely.intersects(self.geometry, shapely.from_wkb(wkb))
        )


_local = threading.local()


def per_thread[T](kind: str, wkb: bytes, make: Callable[[bytes], T]) -> T:
    """``make(wkb)``, kept per thread (64 per kind): GEOS prepared geometries are not
    thread-safe (shapely releases the GIL in predicates), so threads never share one."""
    caches: dict[str, dict[bytes, Any]] | None = getattr(_local, "caches", None)
    if caches is None:
        caches = _local.caches = {}
    cache = caches.setdefault(kind, {})
    if wkb not in cache:
        if len(cache) >= 64:
            cache.clear()
        cache[wkb] = make(wkb)
    found: T = cache[wkb]
    return found


def _filter(wkb: bytes) -> _Filter:
    return per_thread("filter", wkb, _Filter)


def sqlite_intersects(blob: bytes | None, filter_wkb: bytes) -> int:
    """SQLite function ``onemap_intersects(geom, filter_wkb)`` -> 0/1."""
    if blob is None:
        return 0
    return int(_filter(bytes(filter_wkb)).intersects(bytes(blob)))
