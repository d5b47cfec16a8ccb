"""Who calls and what they may do: identity, API keys, grants, editions, limits, audit."""
