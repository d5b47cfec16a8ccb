"""The caller's access scope, resolved once per request and passed to every provider.

Until authentication is configured every caller is anonymous: anonymous callers see the
collections classified ``public`` and nothing else.
"""

from __future__ import annotations

from starlette.requests import Request

from config.models import Settings
from providers.base import AccessScope


def anonymous_scope(settings: Settings, collection_ids: list[str]) -> AccessScope:
    """What an unauthenticated caller may read."""
    public = {
        cid
        for cid, conf in settings.collections.items()
        if conf.classification == "public"
    }
    configured = set(settings.collections)
    # Discovered (imported) collections have no classification of their own: public.
    discovered = {cid for cid in collection_ids if cid not in configured}
    return AccessScope(collections=frozenset(public | discovered))


async def get_actor(request: Request) -> str:
    """FastAPI dependency: who is making the request (recorded in the history)."""
    return "anonymous"


async def get_scope(request: Request) -> AccessScope:
    """FastAPI dependency: the access scope of this request."""
    scope: AccessScope = request.app.state.anonymous_scope
    return scope
