"""Synthetic 三调-style vector layers for a county around Guigang, Guangxi (EPSG:4490).

Layers: ``xzq`` (townships), ``dltb`` (land-use parcels tiling the townships) and the
三区三线 control lines ``czkfbj``, ``yjjbnt`` and ``stbhhx`` (unions of parcels). All
geometry is built in a local kilometre frame (isotropic Voronoi cells) and converted to
longitude/latitude at the end; the parcels form an exact polygonal coverage.

This module assembles the layers and writes them; the parts live in ``geo``,
``sampling``, ``landscape``, ``townships``, ``linear``, ``tiling``, ``landuse``,
``parcels``, ``layers`` and ``controls``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyogrio.raw
import shapely

from .controls import czkfbj_layer, stbhhx_layer, yjjbnt_layer
from .geo import CRS
from .landscape import make_landscape
from .layers import Layer, dltb_layer, xzq_layer
from .parcels import make_parcels
from .sampling import stream
from .townships import make_townships

__all__ = ["Layer", "VectorDemo", "build_vector", "write_gpkg"]


@dataclass(frozen=True)
class VectorDemo:
    """All demo vector layers, keyed by layer name."""

    layers: dict[str, Layer]

    @property
    def dltb(self) -> Layer:
        """The land-use parcels."""
        return self.layers["dltb"]


def build_vector(seed: int, parcels: int) -> VectorDemo:
    """Generate every vector layer (deterministic for a given seed and size)."""
    land = make_landscape(stream(seed, "landscape"))
    tw = make_townships(stream(seed, "townships"), land)
    p = make_parcels(seed, land, tw, parcels)
    dltb = dltb_layer(stream(seed, "attributes"), tw, p)
    czk, in_czk = czkfbj_layer(tw, p)
    layers = [
        xzq_layer(tw, p),
        dltb,
        czk,
        yjjbnt_layer(land, tw, p, in_czk),
        stbhhx_layer(land, tw, p, in_czk),
    ]
    return VectorDemo({layer.name: layer for layer in layers})


def write_gpkg(path: Path, demo: VectorDemo) -> None:
    """Write all layers into one GeoPackage (spatial index per layer).

    The file is GeoPackage 1.3, which GDAL releases older than 3.7 read without warnings.
    """
    for i, layer in enumerate(demo.layers.values()):
        pyogrio.raw.write(
            str(path),
            shapely.to_wkb(layer.geoms),
            list(layer.fields.values()),
            list(layer.fields),
            layer=layer.name,
            driver="GPKG",
            geometry_type=layer.geometry_type,
            crs=CRS,
            encoding="UTF-8",
            dataset_options={"VERSION": "1.3"} if i == 0 else None,
            layer_options={"DESCRIPTION": layer.title},
        )
