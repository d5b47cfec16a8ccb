"""The security section: roles, regions, editions, audit, rate limits, tokens."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from config.types import Classification, Identifier, Operation, Strict


class CollectionRule(Strict):
    """What a role may do with one collection, beyond (or instead of) its defaults."""

    operations: list[Operation] | None = Field(
        None, description="Operations on this collection; none = the role's operations"
    )
    filter: str | None = Field(
        None,
        description="CQL2 text every row must meet (applied inside each query, tile "
        "and export), e.g. \"QSDWDM LIKE '450802%'\"",
    )
    properties: list[Identifier] | None = Field(
        None, description="Only these properties are visible; none = all"
    )
    region: bool = Field(True, description="Apply the role's region to this collection")


class RegionConfig(Strict):
    """An allowed area: admin division codes, a GeoJSON geometry (lon/lat), or both."""

    codes: list[Annotated[str, Field(pattern=r"^[0-9]{2,12}$")]] = Field(
        [],
        description="Admin division codes (XZQDM); a code covers every division whose "
        "code starts with it",
    )
    geometry: dict[str, Any] | None = Field(
        None, description="A GeoJSON Polygon or MultiPolygon in CRS84 (lon/lat)"
    )


class RoleConfig(Strict):
    """What a role may see and do: collections up to a classification level (optionally
    only some), operations, an allowed region, and per-collection rules."""

    level: Classification = Field(
        "public", description="Most classified collections the role sees"
    )
    collections: list[Identifier] | None = Field(
        None, description="Only these collections (with the level); none = all"
    )
    operations: list[Operation] = Field(
        ["read", "tiles"], description="What the role may do with what it sees"
    )
    region: RegionConfig | None = Field(
        None, description="Rows and pixels outside this area are invisible to the role"
    )
    rules: dict[Identifier, CollectionRule] = Field(
        {}, description="Per collection: operations, a CQL2 row filter, properties"
    )
    processes: list[Identifier] | None = Field(
        None, description="Processes the role may execute (with 'execute'); none = all"
    )


class RegionSourceConfig(Strict):
    """Where admin division codes of role regions are looked up."""

    collection: Identifier = Field("xzq", description="Collection of admin divisions")
    code_field: Identifier = Field("XZQDM", description="Its admin code property")


class EditionConfig(Strict):
    """One edition of the service (互联网版 / 政务版 / 涉密版): requests reaching it by
    one of its hosts or under its path prefix see collections up to its level."""

    level: Classification
    hosts: list[str] = Field([], description="Host names (Host header, no port)")
    path_prefix: Annotated[str, Field(pattern=r"^/[A-Za-z0-9_-]+$")] | None = Field(
        None, description="A path prefix, e.g. /public: /public/collections ..."
    )


class AuditConfig(Strict):
    """The audit trail (append-only, SM3-chained)."""

    retention_days: int = Field(
        186, ge=186, description="Rows older than this are pruned (at least 186 days)"
    )


class RateLimitConfig(Strict):
    """Per-caller token buckets, in memory of each web process (each uvicorn worker
    counts on its own)."""

    requests_per_s: float = Field(
        100,
        ge=0,
        description="Sustained requests per second of one caller: its API key or token "
        "(hashed) when it sends one, else its address; 0: no limit",
    )
    burst: int = Field(1000, ge=1, description="Requests a caller may make at once")
    failed_auth_per_min: int = Field(
        60,
        ge=0,
        description="Failed authentications (401) per minute from one address; beyond "
        "them its requests with unproven credentials answer 429; 0: no limit",
    )
    exempt_addresses: list[str] = Field(
        ["127.0.0.1", "::1"],
        description="Anonymous requests from these addresses are not limited: the "
        "server's own MapProxy fetches its tiles from internal_url (failed "
        "authentications count from every address)",
    )


class JwtConfig(Strict):
    """Bearer tokens of the identity provider (OIDC / JWT)."""

    jwks: str = Field(
        description="The provider's JWKS: a file path (offline) or an https:// URL"
    )
    issuer: str
    audience: str
    algorithms: list[Literal["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]] = [
        "RS256"
    ]
    leeway_s: int = Field(60, ge=0, le=600, description="Clock skew allowed (s)")
    roles_claim: str = Field("roles", description="Claim with the caller's roles")
    subject_claim: str = Field("sub", description="Claim naming the caller")


class SecurityConfig(Strict):
    """Authentication (bearer tokens, API keys) and the roles they carry."""

    jwt: JwtConfig | None = None
    roles: dict[Identifier, RoleConfig] = Field(
        {}, description="Roles by name (from token claims or API keys); admin sees all"
    )
    regions: RegionSourceConfig = RegionSourceConfig()
    editions: dict[Identifier, EditionConfig] = Field(
        {},
        description="Editions by name; a request matching none sees every level its "
        "roles allow",
    )
    audit: AuditConfig = AuditConfig()
    rate_limit: RateLimitConfig = RateLimitConfig()
    frame_ancestors: list[str] = Field(
        [],
        description="Origins that may show the HTML pages in a frame (a portal), e.g. "
        "https://portal.example.cn; none: no framing (X-Frame-Options: DENY)",
    )
