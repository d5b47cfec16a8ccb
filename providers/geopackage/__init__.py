"""GeoPackage: the embedded default source (SQLite, edits, geometry blobs, CQL2)."""
