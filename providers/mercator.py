"""Web Mercator as an affine map within one tile.

Over the few kilometres of a large-zoom tile, spherical Mercator's northing is so
nearly linear in latitude that the best straight line (halfway between the chord and
the tangent) misses it by a small fraction of a tile unit. PostGIS then applies
``ST_Affine`` (a multiply-add per vertex) instead of ``ST_Transform`` (a PROJ pipeline
per geometry), which is ~15 % of a dense tile's PostgreSQL time. The error is computed
for each tile and the exact transform is used wherever it would exceed the tolerance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

RADIUS = 6378137.0  # EPSG:3857's sphere
_SAMPLES = 33


@dataclass(frozen=True)
class Affine:
    """x' = sx * lon; y' = sy * lat + y0 (metres of EPSG:3857)."""

    sx: float
    sy: float
    y0: float
    error_m: float  # largest distance from the exact northing in the latitude range


def _northing(lat: float) -> float:
    return RADIUS * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))


def mercator_affine(south: float, north: float) -> Affine | None:
    """The minimax straight line of the northing between two latitudes (degrees)."""
    if not -85.0 < south < north < 85.0:
        return None
    slope = (_northing(north) - _northing(south)) / (north - south)
    chord0 = _northing(south) - slope * south
    deviation = [
        _northing(lat) - (chord0 + slope * lat)
        for lat in (south + (north - south) * i / (_SAMPLES - 1) for i in range(_SAMPLES))
    ]
    low, high = min(deviation), max(deviation)
    return Affine(
        sx=RADIUS * math.pi / 180,
        sy=slope,
        y0=chord0 + (low + high) / 2,
        error_m=(high - low) / 2,
    )
