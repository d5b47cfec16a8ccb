"""HTTP plumbing: errors, negotiation, responses, links, parameters, caching, headers."""
