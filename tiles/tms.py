"""Tile matrix sets: WebMercatorQuad and WorldCRS84Quad from morecantile, and the
CGCS2000 quad of Tianditu's matrix set "c" (tiles/data/tms_cgcs2000.json).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import morecantile
from morecantile import TileMatrixSet

from providers.crs import CrsRef, parse_crs

WEB_MERCATOR = "WebMercatorQuad"
WORLD_CRS84 = "WorldCRS84Quad"
CGCS2000_QUAD = "CGCS2000Quad"
TMS_IDS = (WEB_MERCATOR, WORLD_CRS84, CGCS2000_QUAD)
TMS_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/{id}"

# A tile is "in" an extent only if it overlaps by more than this (degrees): a data edge
# that falls exactly on a tile edge does not pull in the neighbouring row or column.
_EDGE = 1e-9


@cache
def tile_matrix_sets() -> dict[str, TileMatrixSet]:
    """The served tile matrix sets, by id (parsed once)."""
    text = (resources.files("tiles") / "data" / "tms_cgcs2000.json").read_text("utf-8")
    return {
        WEB_MERCATOR: morecantile.tms.get(WEB_MERCATOR),
        WORLD_CRS84: morecantile.tms.get(WORLD_CRS84),
        CGCS2000_QUAD: TileMatrixSet.model_validate_json(text),
    }


def tms_id(tms: TileMatrixSet) -> str:
    """The identifier of a tile matrix set (always set on the ones served here)."""
    return str(tms.id)


def tms_uri(tms: TileMatrixSet) -> str:
    """The URI of a tile matrix set (the OGC register's for the standard ones)."""
    return TMS_URI.format(id=tms.id)


def tms_crs(tms: TileMatrixSet) -> CrsRef:
    """The tile matrix set's CRS as the providers name CRSs."""
    return parse_crs(str(tms.crs.root))


def tms_document(tms: TileMatrixSet) -> dict[str, Any]:
    """OGC Two Dimensional Tile Matrix Set 2.0 JSON, with the 1.0 names alongside.

    GDAL up to 3.6 (Debian 12's) reads only the 1.0 encoding (``identifier``,
    ``supportedCRS``, ``tileMatrix`` with ``topLeftCorner``); 2.0 readers ignore those
    keys, so one document serves both.
    """
    doc: dict[str, Any] = tms.model_dump(mode="json", exclude_none=True, by_alias=True)
    doc.setdefault("uri", tms_uri(tms))
    crs = str(tms.crs.root)
    doc["identifier"] = doc["id"]
    doc["supportedCRS"] = crs
    box = doc.get("boundingBox")
    if box is None:
        b = tms.xy_bbox  # x/y order; the document uses the CRS axis order
        lower, upper = [b.left, b.bottom], [b.right, b.top]
        if tms_crs(tms).swap_xy:
            lower, upper = lower[::-1], upper[::-1]
        box = doc["boundingBox"] = {"lowerLeft": lower, "upperRight": upper, "crs": crs}
    if box:
        box.update(
            crs=box.get("crs", crs),
            lowerCorner=box["lowerLeft"],
            upperCorner=box["upperRight"],
        )
    doc["tileMatrix"] = [
        {
            "identifier": m["id"],
            "scaleDenominator": m["scaleDenominator"],
            "topLeftCorner": m["pointOfOrigin"],
            "tileWidth": m["tileWidth"],
            "tileHeight": m["tileHeight"],
            "matrixWidth": m["matrixWidth"],
            "matrixHeight": m["matrixHeight"],
        }
        for m in doc["tileMatrices"]
    ]
    return doc


_METRES_PER_DEGREE = 111_319.49079327358
_WEB_MERCATOR_Z0 = 156_543.03392804097  # m/px at zoom 0


def equivalent_zoom(tms: TileMatrixSet, web_mercator_zoom: int) -> int:
    """The first zoom of ``tms`` at least as fine as a WebMercatorQuad zoom."""
    wanted = _WEB_MERCATOR_Z0 / 2**web_mercator_zoom * 1.01
    for matrix in tms.tileMatrices:
        size = matrix.cellSize * (
            _METRES_PER_DEGREE if tms.rasterio_crs.is_geographic else 1.0
        )
        if size <= wanted:
            return int(matrix.id)
    return tms.maxzoom


@dataclass(frozen=True)
class MatrixLimits:
    """The tile rows and columns of one tile matrix that hold data."""

    zoom: int
    min_row: int
    max_row: int
    min_col: int
    max_col: int

    def document(self) -> dict[str, Any]:
        """As a ``tileMatrixSetLimits`` entry."""
        return {
            "tileMatrix": str(self.zoom),
            "minTileRow": self.min_row,
            "maxTileRow": self.max_row,
            "minTileCol": self.min_col,
            "maxTileCol": self.max_col,
        }

    def holds(self, row: int, col: int) -> bool:
        """Whether a tile lies inside the limits."""
        return self.min_row <= row <= self.max_row and self.min_col <= col <= self.max_col


def matrix_limits(
    tms: TileMatrixSet,
    extent: tuple[float, float, float, float],
    minzoom: int,
    maxzoom: int,
) -> dict[int, MatrixLimits]:
    """Per zoom, the tiles that cover a lon/lat extent (CRS84 ≈ CGCS2000 here)."""
    west, south, east, north = extent
    bbox = tms.bbox  # the matrix set's own lon/lat bounds
    west, south = max(west, bbox.left), max(south, bbox.bottom)
    east, north = min(east, bbox.right), min(north, bbox.top)
    limits = {}
    for zoom in range(max(minzoom, tms.minzoom), min(maxzoom, tms.maxzoom) + 1):
        top_left = tms.tile(west + _EDGE, north - _EDGE, zoom)
        bottom_right = tms.tile(east - _EDGE, south + _EDGE, zoom)
        limits[zoom] = MatrixLimits(
            zoom, top_left.y, bottom_right.y, top_left.x, bottom_right.x
        )
    return limits
