"""OGC API - Processes: the process registry and durable jobs (planned, see CHANGELOG)."""
