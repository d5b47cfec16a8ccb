"""The caller's access scope, resolved once per request and passed to every provider.

Anonymous callers see the collections classified ``public``; an authenticated caller
sees in addition what its roles grant: collections up to the role's classification
level (optionally only the role's collections); the role ``admin`` sees everything.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request

from config.models import Settings
from providers.base import AccessScope
from server.auth import ANONYMOUS, Principal, UnauthorizedError
from server.errors import ServiceError


class ForbiddenError(ServiceError):
    """Authenticated, but the roles do not allow the operation (403)."""

    status = 403
    code = "Forbidden"
    title_id = "title.forbidden"


ADMIN = "admin"
_RANK = {"public": 0, "internal": 1, "secret": 2}


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


def role_scope(
    settings: Settings, roles: frozenset[str], public: AccessScope
) -> AccessScope:
    """What the roles together may read (the public collections included)."""
    if ADMIN in roles:
        return AccessScope()
    granted = set(public.collections or ())
    for name in roles:
        role = settings.security.roles.get(name)
        if role is None:
            continue
        rank = _RANK[role.level]
        allowed = set(role.collections) if role.collections is not None else None
        granted |= {
            cid
            for cid, conf in settings.collections.items()
            if _RANK[conf.classification] <= rank and (allowed is None or cid in allowed)
        }
    return AccessScope(collections=frozenset(granted))


async def get_principal(request: Request) -> Principal:
    """FastAPI dependency: the caller (401 for bad credentials), once per request."""
    found = getattr(request.state, "principal", None)
    if isinstance(found, Principal):
        return found
    authenticator = getattr(request.app.state, "authenticator", None)
    principal = authenticator.principal(request) if authenticator else ANONYMOUS
    request.state.principal = principal
    return principal


async def require(request: Request, operation: str) -> Principal:
    """The caller, if its roles allow the operation: 401 for an anonymous caller
    (authentication needed), 403 for roles without it."""
    principal = await get_principal(request)
    if principal.anonymous:
        raise UnauthorizedError("auth.required")
    if ADMIN in principal.roles:
        return principal
    roles = request.app.state.settings.security.roles
    if any(operation in roles[r].operations for r in principal.roles if r in roles):
        return principal
    raise ForbiddenError("auth.forbidden", operation=operation)


def actor_allowed_to(operation: str) -> Callable[[Request], Awaitable[str]]:
    """A FastAPI dependency: the caller's name, once its roles allow the operation."""

    async def dependency(request: Request) -> str:
        return (await require(request, operation)).name

    return dependency


async def get_actor(request: Request) -> str:
    """FastAPI dependency: who is making the request (recorded in the history)."""
    return (await get_principal(request)).name


async def get_scope(request: Request) -> AccessScope:
    """FastAPI dependency: the access scope of this request."""
    principal = await get_principal(request)
    public: AccessScope = request.app.state.anonymous_scope
    if principal.anonymous or not principal.roles:
        return public
    cache: dict[frozenset[str], AccessScope] = request.app.state.role_scopes
    if principal.roles not in cache:
        cache[principal.roles] = role_scope(
            request.app.state.settings, principal.roles, public
        )
    return cache[principal.roles]
