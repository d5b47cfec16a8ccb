"""OGC API - Processes: the processes (one module each), their registry, the durable
job store and the worker that runs jobs; below the server, never importing it."""
