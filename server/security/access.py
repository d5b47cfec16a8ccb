"""The caller's access scope, resolved once per request and passed to every provider.

Anonymous callers see the collections classified ``public``; an authenticated caller
sees in addition what its roles grant (server/grants.py); the role ``admin`` sees
everything. An edition (host or path prefix) caps what any caller sees.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request

from providers.base import AccessScope
from server.http.errors import ForbiddenError
from server.security.auth import ANONYMOUS, Principal, UnauthorizedError
from server.security.grants import ADMIN, Grants
from server.state import get_state, state_or_none

__all__ = ["ForbiddenError", "get_principal", "get_scope"]


async def get_principal(request: Request) -> Principal:
    """FastAPI dependency: the caller (401 for bad credentials), once per request."""
    found = getattr(request.state, "principal", None)
    if isinstance(found, Principal):
        return found
    authenticator = getattr(state_or_none(request.app), "authenticator", None)
    principal = authenticator.principal(request) if authenticator else ANONYMOUS
    request.state.principal = principal
    return principal


async def request_scope(request: Request) -> AccessScope:
    """The whole scope of this request (every collection), once per request."""
    found = getattr(request.state, "scope", None)
    if isinstance(found, AccessScope):
        return found
    principal = await get_principal(request)
    grants: Grants = get_state(request).grants
    roles = frozenset() if principal.anonymous else principal.roles
    scope = grants.scope(roles, getattr(request.state, "edition_level", None))
    request.state.scope = scope
    return scope


async def get_scope(request: Request) -> AccessScope:
    """FastAPI dependency: the access scope of this request, narrowed to the path's
    collection (its rows, properties and operations) when there is one."""
    scope = await request_scope(request)
    collection_id = request.path_params.get("collectionId")
    if collection_id is None:
        return scope
    note_read(request, collection_id, scope)
    narrowed = scope.narrowed(str(collection_id))
    operation = _operation_of(request)
    if operation and scope.sees(str(collection_id)) and not narrowed.allows(operation):
        request.state.audit_denied = str(collection_id)
        raise ForbiddenError("auth.forbidden", operation=operation)
    return narrowed


def _operation_of(request: Request) -> str | None:
    """The read operation a GET of a collection's sub-resource performs."""
    if request.method not in ("GET", "HEAD"):
        return None  # writes check theirs (require)
    parts = request.url.path.split("/collections/", 1)[-1].split("/")
    if len(parts) < 2:
        return None  # the collection's description: visible to whoever sees it
    return "tiles" if parts[1] in ("tiles", "map") else "read"


def note_read(request: Request, collection_id: str, scope: AccessScope) -> None:
    """Mark the request for the audit trail when it touches non-public data, or a
    collection the caller may not see (a denial that answers 404)."""
    levels: dict[str, str] = get_state(request).grants.levels
    level = levels.get(collection_id)
    if level is None:
        return
    if not scope.sees(collection_id):
        request.state.audit_denied = collection_id
    elif level != "public":
        request.state.audit_collection = collection_id


async def require(request: Request, operation: str) -> Principal:
    """The caller, if its roles allow the operation (on the path's collection): 401
    for an anonymous caller (authentication needed), 403 for roles without it."""
    principal = await get_principal(request)
    if principal.anonymous:
        raise UnauthorizedError("auth.required")
    if ADMIN in principal.roles:
        return principal
    scope = await get_scope(request)
    collection_id = request.path_params.get("collectionId")
    if collection_id is not None and not scope.sees(str(collection_id)):
        return principal  # the handler answers 404, exactly as for an unknown id
    if scope.allows(operation):
        return principal
    request.state.audit_denied = str(collection_id or operation)
    raise ForbiddenError("auth.forbidden", operation=operation)


def actor_allowed_to(operation: str) -> Callable[[Request], Awaitable[str]]:
    """A FastAPI dependency: the caller's name, once its roles allow the operation."""

    async def dependency(request: Request) -> str:
        return (await require(request, operation)).name

    return dependency


async def get_actor(request: Request) -> str:
    """FastAPI dependency: who is making the request (recorded in the history)."""
    return (await get_principal(request)).name
