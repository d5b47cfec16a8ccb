"""The sources: small Protocols (base.py), the registry of source kinds (registry.py),
the catalog that opens them (catalog.py), and the kinds: geopackage/, postgis/, cog/;
the demo data generator (demo/), CQL2, CRS and edit validation shared by all."""
