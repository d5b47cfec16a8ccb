"""OneMap Server: the HTTP application (routes, errors, negotiation, HTML)."""
