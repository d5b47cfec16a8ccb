"""Tiles: tile matrix sets (CGCS2000 / Tianditu), COG reading and rendering, MVT
encoding and styles, the tile cache and the MapProxy configuration."""
