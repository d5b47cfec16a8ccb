"""Who is calling: a bearer token of the identity provider (JWT checked against its
JWKS: signature, issuer, audience, expiry, not-before, with a clock-skew leeway), an
API key (``Authorization: ApiKey …`` or ``X-API-Key``), or nobody (anonymous).

Every failure answers 401 with one and the same body, whatever went wrong, so a caller
learns nothing from it. Tokens are parsed by PyJWT only, with the configured asymmetric
algorithms (no ``none``, no HMAC with a public key), keys looked up by ``kid``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from starlette.requests import Request

from config.security import JwtConfig
from config.settings import Settings
from server.http.errors import ServiceError
from server.security.api_keys import ApiKeys

log = logging.getLogger("onemap.auth")

ANONYMOUS_NAME = "anonymous"


class UnauthorizedError(ServiceError):
    """Credentials were sent and are not valid (401, always the same body)."""

    status = 401
    code = "Unauthorized"
    title_id = "title.unauthorized"

    def __init__(self, message_id: str = "auth.failed") -> None:
        super().__init__(message_id)
        self.headers = {"WWW-Authenticate": 'Bearer realm="onemap"'}


@dataclass(frozen=True)
class Principal:
    """The caller: a name for the records and the roles that decide the scope."""

    name: str
    roles: frozenset[str]
    kind: str  # "anonymous", "token" or "key"

    @property
    def anonymous(self) -> bool:
        """Whether nobody authenticated."""
        return self.kind == "anonymous"


ANONYMOUS = Principal(ANONYMOUS_NAME, frozenset(), "anonymous")


class TokenVerifier:
    """Checks bearer tokens against the provider's keys."""

    def __init__(self, conf: JwtConfig, data_dir: Path) -> None:
        self.conf = conf
        self._client: jwt.PyJWKClient | None = None
        self._keys: dict[str, Any] = {}
        if conf.jwks.startswith("https://") or conf.jwks.startswith("http://"):
            self._client = jwt.PyJWKClient(conf.jwks, cache_keys=True, timeout=5)
        else:
            path = Path(conf.jwks)
            path = path if path.is_absolute() else data_dir / path
            keyset = jwt.PyJWKSet.from_dict(json.loads(path.read_text("utf-8")))
            self._keys = {k.key_id: k for k in keyset.keys if k.key_id}

    def _key(self, token: str) -> Any:
        kid = jwt.get_unverified_header(token).get("kid")
        if not isinstance(kid, str) or len(kid) > 200:
            raise jwt.InvalidTokenError("kid")
        if self._client is not None:
            return self._client.get_signing_key(kid).key
        found = self._keys.get(kid)
        if found is None:
            raise jwt.InvalidTokenError("kid")
        return found.key

    def principal(self, token: str) -> Principal:
        """The caller a valid token names; raise UnauthorizedError otherwise."""
        c = self.conf
        try:
            claims = jwt.decode(
                token,
                self._key(token),
                algorithms=list(c.algorithms),
                audience=c.audience,
                issuer=c.issuer,
                leeway=c.leeway_s,
                options={"require": ["exp", "iss", "aud", c.subject_claim]},
            )
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            log.info("token refused: %s", type(exc).__name__)
            raise UnauthorizedError() from None
        roles = claims.get(c.roles_claim, [])
        if isinstance(roles, str):
            roles = roles.split()
        if not isinstance(roles, list):
            roles = []
        name = str(claims[c.subject_claim])[:200]
        return Principal(name, frozenset(str(r) for r in roles), "token")


class Authenticator:
    """Resolves the caller of a request (once per request)."""

    def __init__(self, settings: Settings) -> None:
        jwt_conf = settings.security.jwt
        self.tokens = TokenVerifier(jwt_conf, settings.data_dir) if jwt_conf else None
        self.keys = ApiKeys(settings.data_dir)

    def principal(self, request: Request) -> Principal:
        """Anonymous, or whom the credentials name; 401 for bad credentials."""
        header = request.headers.get("authorization")
        api_key = request.headers.get("x-api-key")
        if header is None and api_key is None:
            return ANONYMOUS
        scheme, _, value = (header or "").partition(" ")
        if api_key is not None or scheme.lower() == "apikey":
            found = self.keys.verify((api_key or value).strip())
            if found is None:
                log.info("API key refused")
                raise UnauthorizedError()
            return Principal(f"key:{found.name}", frozenset(found.roles), "key")
        if scheme.lower() == "bearer" and self.tokens is not None and value.strip():
            return self.tokens.principal(value.strip())
        raise UnauthorizedError()
