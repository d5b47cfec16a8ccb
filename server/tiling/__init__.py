"""Tile serving around the routes: tileset documents, tile parameters, hot tiles,
and the legacy WMTS/WMS/TMS services through MapProxy."""
