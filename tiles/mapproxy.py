"""MapProxy for legacy clients: WMTS (KVP and REST), WMS 1.3.0/1.1.1 and TMS, with a
tile cache and seeding. Its configuration is generated from our collections (imagery
tiles, and the map tiles drawn from vector collections); its sources are our own tile
endpoints, so MapProxy caches and reprojects while the rendering stays ours.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# Tianditu "c" on CGCS2000, plus one coarser level in front so that MapProxy's level
# numbers equal the matrix set's identifiers (1 = 0.703125 degree/pixel).
CGCS2000_RES = [1.40625 / 2**z for z in range(0, 19)]
GRIDS = {
    "webmercator": {"base": "GLOBAL_WEBMERCATOR", "num_levels": 21},
    "cgcs2000": {
        "srs": "EPSG:4490",
        "bbox": [-180, -90, 180, 90],
        "bbox_srs": "EPSG:4490",
        "origin": "ul",
        "tile_size": [256, 256],
        "res": CGCS2000_RES,
    },
}
# our tile matrix set serving each grid's tiles (the levels line up one to one)
_SOURCE_TMS = {"webmercator": "WebMercatorQuad", "cgcs2000": "CGCS2000Quad"}
GRIDS_OF_TMS = {tms: grid for grid, tms in _SOURCE_TMS.items()}
WMS_SRS = ["EPSG:4490", "EPSG:4326", "CRS:84", "EPSG:3857", "EPSG:900913"]


@dataclass(frozen=True)
class ProxiedLayer:
    """A collection published through MapProxy."""

    id: str
    title: str
    bbox: tuple[float, float, float, float]  # CRS84
    images: tuple[str, ...]  # "image", or "before" and "after"
    tiles: str  # path of its picture tiles: /collections/{id}/tiles or .../map/tiles


@dataclass(frozen=True)
class CascadedBasemap:
    """A remote tile service (e.g. Tianditu) published through MapProxy."""

    name: str
    title: str
    url: str  # with {z}, {y}, {x}; the key already in place
    grid: str  # "cgcs2000" or "webmercator"
    format: str


def _basemap(basemap: CascadedBasemap, cache_dir: Path) -> tuple[dict[str, Any], ...]:
    """Source, cache and layer of a cascaded basemap."""
    url = (
        basemap.url.replace("%", "%%")
        .replace("{z}", "%(z)s")
        .replace("{y}", "%(y)s")
        .replace("{x}", "%(x)s")
    )
    source = {
        "type": "tile",
        "grid": basemap.grid,
        "url": url,
        "http": {"client_timeout": 30},
        "on_error": {404: {"response": "transparent", "cache": False}},
    }
    cache = {
        "grids": [basemap.grid],
        "sources": [f"{basemap.name}__source"],
        "format": basemap.format,
        "request_format": basemap.format,
        "cache": {
            "type": "file",
            "directory_layout": "tms",
            "directory": str(cache_dir / basemap.name / basemap.grid),
        },
    }
    layer = {
        "name": basemap.name,
        "title": basemap.title,
        "sources": [f"{basemap.name}__{basemap.grid}"],
    }
    return source, cache, layer


def layer_name(layer: ProxiedLayer, image: str) -> str:
    """MapProxy layer name of one image (pairs publish both: id_before, id_after)."""
    return layer.id if image == "image" else f"{layer.id}_{image}"


def mapproxy_config(
    layers: list[ProxiedLayer],
    source_url: str,
    cache_dir: Path,
    title: str,
    basemaps: list[CascadedBasemap] | None = None,
) -> dict[str, Any]:
    """The MapProxy YAML (as a dict) for the layers (sources at ``source_url``) and
    the cascaded basemaps (listed first: they go under everything)."""
    sources: dict[str, Any] = {}
    caches: dict[str, Any] = {}
    mp_layers: list[dict[str, Any]] = []
    for basemap in basemaps or []:
        mp_source, mp_cache, mp_layer = _basemap(basemap, cache_dir)
        sources[f"{basemap.name}__source"] = mp_source
        caches[f"{basemap.name}__{basemap.grid}"] = mp_cache
        mp_layers.append(mp_layer)
    for layer in layers:
        for image in layer.images:
            name = layer_name(layer, image)
            query = "f=png" + ("" if image == "image" else f"&image={image}")
            cache_grids = []
            for grid, tms in _SOURCE_TMS.items():
                source = f"{name}__{grid}_source"
                sources[source] = {
                    "type": "tile",
                    "grid": grid,
                    "url": f"{source_url}{layer.tiles}/{tms}/%(z)s/%(y)s/%(x)s?{query}",
                    "coverage": {"bbox": list(layer.bbox), "srs": "EPSG:4326"},
                    "http": {"client_timeout": 60},
                    "transparent": True,
                    # 404: no data there (outside the image or its zooms), not an error
                    "on_error": {404: {"response": "transparent", "cache": True}},
                }
                cache = f"{name}__{grid}"
                caches[cache] = {
                    "grids": [grid],
                    "sources": [source],
                    "format": "image/png",
                    "request_format": "image/png",
                    "cache": {
                        "type": "file",
                        "directory_layout": "tms",
                        "directory": str(cache_dir / name / grid),
                    },
                }
                cache_grids.append(cache)
            suffix = "" if image == "image" else f" ({image})"
            # WMS renders from the first cache; WMTS/TMS serve each grid's own cache
            mp_layers.append(
                {
                    "name": name,
                    "title": f"{layer.title}{suffix}",
                    "sources": cache_grids[:1],
                    "tile_sources": cache_grids,
                }
            )
    return {
        "services": {
            "wmts": {"restful": True, "kvp": True, "md": {"title": title}},
            "wms": {
                "srs": WMS_SRS,
                "versions": ["1.3.0", "1.1.1"],
                "image_formats": ["image/png", "image/jpeg"],
                "md": {"title": title, "abstract": title},
            },
            "tms": {"use_grid_names": True, "origin": "nw"},
        },
        "layers": mp_layers,
        "caches": caches,
        "sources": sources,
        "grids": GRIDS,
        "globals": {
            "cache": {"base_dir": str(cache_dir), "lock_dir": str(cache_dir / "locks")},
            "image": {"paletted": False},
        },
    }


def write_config(config: dict[str, Any], path: Path) -> Path:
    """Write the YAML where MapProxy reads it (owner-only: it may hold a basemap key)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(config, allow_unicode=True, sort_keys=False)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(path, 0o600)
    return path


def wsgi_app(config_path: Path) -> Any:
    """The MapProxy WSGI application of a configuration file."""
    from mapproxy.wsgiapp import make_wsgi_app

    app = make_wsgi_app(str(config_path), ignore_config_warnings=True)
    for handler in app.handlers.values():
        handler.handle = _bad_request_on_parse_error(handler.handle)
    return app


# What MapProxy raises on a malformed request (BBOX=1,2,3,4,5,6, WIDTH=x, TILEROW=-)
# where it answers a bare 500 "internal error"; its own failures and those of its
# sources are other exceptions (or caught by MapProxy itself)
_PARSE_ERRORS = (ValueError, TypeError, IndexError, KeyError, ArithmeticError)


def _bad_request_on_parse_error(handle: Any) -> Any:
    from mapproxy.response import Response

    def guarded(req: Any) -> Any:
        try:
            return handle(req)
        except _PARSE_ERRORS:
            return Response(
                "invalid request parameters", mimetype="text/plain", status=400
            )

    return guarded
