"""Imagery collections of Cloud-Optimised GeoTIFFs (one, a mosaic, or a pair)."""
