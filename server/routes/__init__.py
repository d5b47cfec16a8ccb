"""One router module per OGC API part; each exposes build_router() and CONFORMANCE."""
