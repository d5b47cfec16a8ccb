"""Feature and raster sources behind one Protocol (GeoPackage now; PostGIS next)."""
