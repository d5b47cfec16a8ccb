"""The ``onemap`` command and the tools it runs (import, seed, job workers)."""
