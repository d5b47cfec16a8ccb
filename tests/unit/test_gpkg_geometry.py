"""The GeoPackage spatial predicate's fast paths agree with GEOS."""

from __future__ import annotations

import struct

import numpy as np
import shapely

from providers.geopackage.geometry import _Filter, sqlite_intersects


def _blob(geometry: shapely.Geometry) -> bytes:
    """A GeoPackage geometry blob with an envelope (little-endian, EPSG:4490)."""
    minx, miny, maxx, maxy = geometry.bounds
    header = b"GP\x00" + bytes([0x01 | (1 << 1)]) + struct.pack("<i", 4490)
    return header + struct.pack("<4d", minx, maxx, miny, maxy) + shapely.to_wkb(geometry)


def test_the_inside_cells_of_a_region_agree_with_geos() -> None:
    angles = np.linspace(0, 2 * np.pi, 400, endpoint=False)
    radius = 1 + 0.2 * np.sin(7 * angles)  # a wiggly region with bays
    ring = np.c_[
        109.5 + 0.1 * radius * np.cos(angles), 23.0 + 0.1 * radius * np.sin(angles)
    ]
    region = shapely.Polygon(ring)
    wkb = shapely.to_wkb(region)
    assert len(_Filter(wkb).inside) > 100  # the fast path is there to be tested
    rng = np.random.default_rng(7)
    for _ in range(3000):
        x, y = rng.uniform([109.37, 22.87], [109.63, 23.13])
        size = rng.uniform(0.0005, 0.02)
        parcel = shapely.box(x, y, x + size, y + size)
        assert sqlite_intersects(_blob(parcel), bytes(wkb)) == int(
            region.intersects(parcel)
        ), parcel.wkt
