"""PostgreSQL/PostGIS: the production source (SQL, edits, bulk loads)."""
