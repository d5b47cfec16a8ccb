"""GeoPackage geometry blobs: header parsing and a spatial predicate for SQLite."""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
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


_GRID = 32  # cells per side of a filter's grid of inside cells


class _Filter:
    """A prepared filter geometry with envelope-only fast paths: for a rectangle, and
    for a polygon (a region) through a grid of the cells that lie inside it — a
    feature whose envelope falls in inside cells meets the polygon without GEOS."""

    def __init__(self, wkb: bytes) -> None:
        self.geometry = shapely.from_wkb(wkb)
        shapely.prepare(self.geometry)
        self.bounds = tuple(self.geometry.bounds)
        self.rectangle = self.geometry.geom_type == "Polygon" and bool(
            self.geometry.equals(shapely.box(*self.bounds))
        )
        minx, miny, maxx, maxy = self.bounds
        self.cell = ((maxx - minx) / _GRID, (maxy - miny) / _GRID)
        self.inside: frozenset[tuple[int, int]] = frozenset()
        if not self.rectangle and self.cell[0] > 0 and self.cell[1] > 0:
            i, j = np.meshgrid(np.arange(_GRID), np.arange(_GRID), indexing="ij")
            x0, y0 = minx + i * self.cell[0], miny + j * self.cell[1]
            cells = shapely.box(x0, y0, x0 + self.cell[0], y0 + self.cell[1])
            covered = shapely.covers(self.geometry, cells)
            self.inside = frozenset(
                zip(i[covered].tolist(), j[covered].tolist(), strict=True)
            )

    def _in_inside_cells(self, env: tuple[float, float, float, float]) -> bool:
        if not self.inside:  # a line or a point (a bbox of no width or height)
            return False
        minx, miny = self.bounds[0], self.bounds[1]
        i0 = int((env[0] - minx) / self.cell[0])
        i1 = int((env[2] - minx) / self.cell[0])
        j0 = int((env[1] - miny) / self.cell[1])
        j1 = int((env[3] - miny) / self.cell[1])
        if (i1 - i0 + 1) * (j1 - j0 + 1) > 4:
            return False
        return all(
            (i, j) in self.inside for i in range(i0, i1 + 1) for j in range(j0, j1 + 1)
        )

    def intersects(self, blob: bytes) -> bool:
        env = envelope_of(blob)
        if env is not None:
            minx, miny, maxx, maxy = self.bounds
            if env[0] > maxx or env[2] < minx or env[1] > maxy or env[3] < miny:
                return False
            within = (
                env[0] >= minx and env[2] <= maxx and env[1] >= miny and env[3] <= maxy
            )
            if within and (self.rectangle or self._in_inside_cells(env)):
                return True
        wkb = wkb_of(blob)
        return wkb is not None and bool(
            shapely.intersects(self.geometry, shapely.from_wkb(wkb))
        )


_local = threading.local()


def per_thread[T](kind: str, wkb: bytes, make: Callable[[bytes], T]) -> T:
    """``make(wkb)``, kept per thread (64 per kind): GEOS prepared geometries are not
    thread-safe (shapely releases the GIL in predicates), so threads never share one.
    The last one of each kind is found by comparing bytes (SQLite passes a new bytes
    object per row; hashing a region's WKB costs more than comparing it)."""
    caches: dict[str, dict[bytes, Any]] | None = getattr(_local, "caches", None)
    if caches is None:
        caches = _local.caches = {}
        _local.last = {}
    last: dict[str, tuple[bytes, Any]] = _local.last
    seen = last.get(kind)
    if seen is not None and (seen[0] is wkb or seen[0] == wkb):
        hit: T = seen[1]
        return hit
    cache = caches.setdefault(kind, {})
    if wkb not in cache:
        if len(cache) >= 64:
            cache.clear()
        cache[wkb] = make(wkb)
    found: T = cache[wkb]
    last[kind] = (wkb, found)
    return found


def _filter(wkb: bytes) -> _Filter:
    return per_thread("filter", wkb, _Filter)


def sqlite_intersects(blob: bytes | None, filter_wkb: bytes) -> int:
    """SQLite function ``onemap_intersects(geom, filter_wkb)`` -> 0/1."""
    if blob is None:
        return 0
    return int(_filter(bytes(filter_wkb)).intersects(bytes(blob)))
