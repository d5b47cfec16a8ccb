"""Tiles: tile matrix sets, COG and MVT tiles, MapProxy (planned, see CHANGELOG)."""
