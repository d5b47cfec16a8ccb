"""Pydantic models of the YAML configuration (validated once, at start)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

Language = Literal["zh-CN", "en"]
LANGUAGES: tuple[Language, ...] = ("zh-CN", "en")

# A text shown to users: one string for every language, or one per language.
I18nText = str | dict[Language, str]

Identifier = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_\-]{0,62}$")]
Classification = Literal["public", "internal", "secret"]
Operation = Literal["read", "tiles", "create", "update", "delete", "execute"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerConfig(_Strict):
    """Process-level settings of the HTTP server."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    base_url: str | None = Field(
        None,
        description="Public URL when behind a proxy, e.g. https://gis.example.cn/onemap",
    )
    title: I18nText = {
        "zh-CN": "自然资源一张图服务",
        "en": "OneMap natural-resources service",
    }
    description: I18nText = {
        "zh-CN": "自然资源一张图 OGC API 服务：要素、瓦片与处理。",
        "en": "The natural-resources one-map OGC API service: "
        "features, tiles and processes.",
    }
    internal_url: str | None = Field(
        None,
        description="How the server reaches itself (MapProxy's sources); default "
        "http://127.0.0.1:<port>",
    )
    default_language: Language = "zh-CN"
    cors_origins: list[str] = ["*"]
    default_limit: int = Field(10, ge=1)
    max_limit: int = Field(10000, ge=1, le=100000)
    cache_max_age: int = Field(
        60, ge=0, description="Cache-Control max-age of public reads (s)"
    )
    workers: int = Field(1, ge=1, le=64)
    max_body_bytes: int = Field(
        10_000_000, ge=1024, description="Largest request body accepted (edits)"
    )
    log_format: Literal["json", "text"] = Field(
        "json", description="Lines of the onemap.* and uvicorn loggers (stdout)"
    )
    access_log: bool = Field(
        True, description="One onemap.access line per request (id, status, duration)"
    )

    @model_validator(mode="after")
    def _limits(self) -> Self:
        if self.default_limit > self.max_limit:
            raise ValueError("default_limit must not exceed max_limit")
        return self


class GeoPackageSource(_Strict):
    """A feature table in a GeoPackage file."""

    type: Literal["geopackage"] = "geopackage"
    path: Path = Field(description="GeoPackage file; relative paths are under data_dir")
    layer: Identifier
    id_field: Identifier | None = Field(
        None,
        description="Column used as the feature id (default: the table's primary key)",
    )


_TABLE = r"^([A-Za-z_][A-Za-z0-9_]{0,62}\.)?[A-Za-z_][A-Za-z0-9_]{0,62}$"


class PostgisSource(_Strict):
    """A table or view in the PostgreSQL/PostGIS database of ``database.url``."""

    type: Literal["postgis"] = "postgis"
    table: Annotated[str, Field(pattern=_TABLE)]
    id_field: Identifier | None = Field(
        None, description="Column used as the feature id (default: the primary key)"
    )
    geometry_field: Identifier | None = Field(
        None, description="Geometry column (default: the table's only one)"
    )


Resampling = Literal["nearest", "bilinear", "cubic", "average", "mode", "lanczos"]


class CogSource(_Strict):
    """Imagery: one COG, several (a mosaic: the first valid pixel wins) or a pair.

    An href is a path (relative paths are under data_dir), an http(s):// URL or an
    s3:// URL, read through GDAL's virtual file systems; every href must lie inside the
    allowed sources.
    """

    type: Literal["cog"] = "cog"
    href: str | list[str] | None = Field(None, description="COG path or URL, or a list")
    before: str | None = Field(None, description="Before image (前时相) of a pair")
    after: str | None = Field(None, description="After image (后时相) of a pair")
    before_date: str | None = None
    after_date: str | None = None
    bands: list[Annotated[int, Field(ge=1)]] | None = Field(
        None, description="Default band indexes rendered (bidx), e.g. [3, 2, 1]"
    )
    rescale: list[tuple[float, float]] | None = Field(
        None, description="Default min,max per rendered band (or one for all)"
    )
    colormap: str | None = Field(None, description="Default colormap name (one band)")
    nodata: float | None = Field(None, description="Override the files' nodata value")
    resampling: Resampling = "bilinear"

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        pair = self.before is not None or self.after is not None
        if (self.href is not None) == pair:
            raise ValueError("give either href or both before and after")
        if pair and (self.before is None or self.after is None):
            raise ValueError("a pair needs both before and after")
        if isinstance(self.href, list) and not self.href:
            raise ValueError("href list is empty")
        return self

    @property
    def hrefs(self) -> list[str]:
        """Every image href of the source."""
        if self.href is not None:
            return [self.href] if isinstance(self.href, str) else list(self.href)
        return [h for h in (self.before, self.after) if h is not None]


def _source_type(value: object) -> str:
    """The source kind; a source without ``type`` is a GeoPackage table."""
    if isinstance(value, dict):
        return str(value.get("type", "geopackage"))
    return str(getattr(value, "type", "geopackage"))


Source = Annotated[
    Annotated[GeoPackageSource, Tag("geopackage")]
    | Annotated[PostgisSource, Tag("postgis")]
    | Annotated[CogSource, Tag("cog")],
    Discriminator(_source_type),
]


class DatabaseConfig(_Strict):
    """The PostgreSQL/PostGIS connection (production data path)."""

    url: str | None = Field(None, description="postgresql://user:password@host:5432/db")
    pool_min: int = Field(2, ge=1, le=100)
    pool_max: int = Field(10, ge=1, le=500)
    statement_timeout_ms: int = Field(30000, ge=100)
    exact_count_limit: int = Field(
        20000,
        ge=0,
        description="count=auto: count exactly when the planner expects at most this "
        "many matches, else omit numberMatched",
    )

    change_poll_s: float = Field(
        2.0,
        ge=0,
        description="How often the tables' write counters are read, so that cached "
        "tiles live until the table changes (writes of other programs show within "
        "~10 s, PostgreSQL's statistics delay; this server's own edits at once); "
        "0: no polling, cached tiles of PostGIS tables live 10 s",
    )

    @model_validator(mode="after")
    def _pool(self) -> Self:
        if self.pool_min > self.pool_max:
            raise ValueError("pool_min must not exceed pool_max")
        return self


class TemporalConfig(_Strict):
    """Properties that the `datetime` parameter is matched against."""

    start: Identifier
    end: Identifier | None = None


Colour = Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")]


class StyleConfig(_Strict):
    """How a vector collection is drawn (rendered map tiles, WMS/WMTS, the web map)."""

    fill: Colour = "#3388ff"
    fill_opacity: float = Field(0.3, ge=0, le=1)
    stroke: Colour = "#1f4e79"
    stroke_width: float = Field(1.0, ge=0, le=10, description="Pixels")
    property: Identifier | None = Field(
        None, description="Colour features by this property's value ..."
    )
    prefix: int | None = Field(
        None, ge=1, le=32, description="... or by its first characters"
    )
    colours: dict[str, Colour] = Field({}, description="Fill colour of each value")


class CollectionConfig(_Strict):
    """One published feature collection."""

    title: I18nText
    description: I18nText = ""
    keywords: list[str] = []
    source: Source
    crs: list[str] | None = Field(
        None,
        description="Output CRS URIs; default CRS84, 4490, 4326, 3857 and the CGCS2000 "
        "Gauss-Kruger zones that cover the data",
    )
    temporal: TemporalConfig | None = None
    properties: list[Identifier] | None = Field(
        None, description="Published properties (default: every column)"
    )
    property_titles: dict[str, I18nText] = {}
    classification: Classification = "public"
    editable: bool = Field(
        False,
        description="Accept creates, replaces, patches and deletes (Features Part 4)",
    )
    require_if_match: bool = Field(
        True, description="Edits must name the feature's ETag in If-Match (else 428)"
    )
    allowed_values: dict[Identifier, list[str]] = Field(
        {},
        description="Per property, the only values a write may give it (e.g. the "
        "verification states of change polygons); listed as enum in the queryables",
    )

    tile_minzoom: int = Field(
        0,
        ge=0,
        le=24,
        description="No vector tiles below this zoom (WebMercatorQuad levels; other "
        "grids at the same resolution): dense layers are not worth a tile at low zoom",
    )
    style: StyleConfig | None = Field(
        None,
        description="Map style (default: land-use class colours for a DLBM field, "
        "else one colour per collection)",
    )

    @model_validator(mode="after")
    def _raster_is_read_only(self) -> Self:
        if self.source.type == "cog" and self.editable:
            raise ValueError("imagery collections cannot be editable")
        return self


class DiscoverConfig(_Strict):
    """Tables published without configuring each: a folder of GeoPackages or a schema."""

    directory: Path | None = Field(None, description="Folder of GeoPackage files")
    schema_: Identifier | None = Field(
        None, alias="schema", description="PostGIS schema (needs database.url)"
    )

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.directory is None) == (self.schema_ is None):
            raise ValueError("give exactly one of directory or schema")
        return self


class TilesConfig(_Strict):
    """Tile serving: threads, in-process cache, vector tile generalisation."""

    threads: int | None = Field(
        None, ge=1, le=64, description="Raster read threads (default: the cores)"
    )
    cache_mb: int = Field(
        64, ge=0, description="In-process LRU of hot tiles, per worker (0: off)"
    )
    max_age: int = Field(3600, ge=0, description="Cache-Control max-age of tiles (s)")
    png_zlevel: int = Field(
        2, ge=1, le=9, description="PNG deflate level (1 fastest, 9 smallest)"
    )
    read_timeout_s: float = Field(
        30, gt=0, le=600, description="An imagery tile not read by then answers 504"
    )
    mvt_extent: int = Field(4096, ge=256, le=16384)
    mvt_buffer: int = Field(64, ge=0, le=1024)
    mvt_min_feature_px: float = Field(
        0.5,
        ge=0,
        description="Features smaller than this many pixels (of a 256 px tile) in "
        "both directions are left out of a vector tile",
    )
    mvt_affine_tolerance: float = Field(
        0.125,
        ge=0,
        le=0.5,
        description="Vector tiles of lon/lat tables in WebMercatorQuad: where a straight "
        "line stands in for Mercator's northing within this many tile units over the "
        "tile (large zooms), PostGIS applies it instead of ST_Transform; 0: always exact",
    )
    vector_maxzoom: int = Field(18, ge=0, le=24)


class ProcessesConfig(_Strict):
    """OGC API - Processes: the job queue and the worker processes that run jobs."""

    queue: Literal["auto", "sqlite", "postgres"] = Field(
        "auto",
        description="Where jobs are kept: sqlite (a file in data_dir), postgres "
        "(database.url; workers on any machine), auto = postgres when database.url is "
        "set",
    )
    workers: int = Field(
        1,
        ge=0,
        le=64,
        description="Worker processes `onemap serve` starts beside the web server (0: "
        "none; run `onemap worker` elsewhere)",
    )
    job_timeout_s: int = Field(3600, ge=1, description="A job running longer fails")
    max_attempts: int = Field(
        2, ge=1, le=10, description="Runs of a job whose worker was lost before it fails"
    )
    lease_s: int = Field(
        30,
        ge=3,
        description="A running job whose worker has not reported for this long is "
        "taken over (retried or failed)",
    )
    sync_wait_s: int = Field(
        60,
        ge=1,
        description="Synchronous execution waits this long for the worker, then answers "
        "as asynchronous (201 + Location)",
    )
    retention_days: int = Field(30, ge=1, description="Finished jobs are kept this long")
    dask_scheduler: str | None = Field(
        None,
        description="Address of a Dask distributed scheduler (tcp://host:8786): heavy "
        "raster work (change-detection's windows) runs on its workers, which must "
        "reach the same image paths or URLs; none = in the job's process",
    )


class CollectionRule(_Strict):
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


class RegionConfig(_Strict):
    """An allowed area: admin division codes, a GeoJSON geometry (lon/lat), or both."""

    codes: list[Annotated[str, Field(pattern=r"^[0-9]{2,12}$")]] = Field(
        [],
        description="Admin division codes (XZQDM); a code covers every division whose "
        "code starts with it",
    )
    geometry: dict[str, Any] | None = Field(
        None, description="A GeoJSON Polygon or MultiPolygon in CRS84 (lon/lat)"
    )


class RoleConfig(_Strict):
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


class RegionSourceConfig(_Strict):
    """Where admin division codes of role regions are looked up."""

    collection: Identifier = Field("xzq", description="Collection of admin divisions")
    code_field: Identifier = Field("XZQDM", description="Its admin code property")


class EditionConfig(_Strict):
    """One edition of the service (互联网版 / 政务版 / 涉密版): requests reaching it by
    one of its hosts or under its path prefix see collections up to its level."""

    level: Classification
    hosts: list[str] = Field([], description="Host names (Host header, no port)")
    path_prefix: Annotated[str, Field(pattern=r"^/[A-Za-z0-9_-]+$")] | None = Field(
        None, description="A path prefix, e.g. /public: /public/collections ..."
    )


class AuditConfig(_Strict):
    """The audit trail (append-only, SM3-chained)."""

    retention_days: int = Field(
        186, ge=186, description="Rows older than this are pruned (at least 186 days)"
    )


class RateLimitConfig(_Strict):
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


class JwtConfig(_Strict):
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


class SecurityConfig(_Strict):
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


class BasemapConfig(_Strict):
    """A remote tile service cascaded through MapProxy (WMTS/WMS/TMS and the web map),
    e.g. Tianditu with the bureau's key."""

    title: I18nText
    url: str = Field(
        description="Tile URL template with {z}, {y} (row from the top) and {x}; its "
        "prefix must be in allowed_sources. A key comes from the environment through "
        "${VAR} interpolation, so it is never written in the file",
        examples=[
            "https://t0.tianditu.gov.cn/img_c/wmts?SERVICE=WMTS&REQUEST=GetTile"
            "&VERSION=1.0.0&LAYER=img&STYLE=default&TILEMATRIXSET=c&FORMAT=tiles"
            "&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=${TIANDITU_KEY}"
        ],
    )
    grid: Literal["cgcs2000", "webmercator"] = Field(
        description="The remote tile grid: cgcs2000 = Tianditu 'c' (levels numbered "
        "like Tianditu's), webmercator = Tianditu 'w' / Google"
    )
    format: Literal["image/png", "image/jpeg"] = "image/jpeg"
    attribution: str = ""

    @field_validator("url")
    @classmethod
    def _placeholders(cls, url: str) -> str:
        missing = [p for p in ("{z}", "{y}", "{x}") if p not in url]
        if missing:
            raise ValueError(f"url lacks {', '.join(missing)}")
        return url


class Settings(BaseSettings):
    """Everything the server needs, from YAML plus ``ONEMAP_*`` environment overrides."""

    model_config = SettingsConfigDict(
        env_prefix="ONEMAP_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    data_dir: Path = Path("data")
    server: ServerConfig = ServerConfig()
    database: DatabaseConfig = DatabaseConfig()
    collections: dict[Identifier, CollectionConfig] = {}
    discover: list[DiscoverConfig] = []
    generate_demo: bool = Field(
        False, description="Generate the demo data into data_dir on start when missing"
    )
    tiles: TilesConfig = TilesConfig()
    processes: ProcessesConfig = ProcessesConfig()
    security: SecurityConfig = SecurityConfig()
    basemaps: dict[Identifier, BasemapConfig] = Field(
        {}, description="Remote tile services cascaded through MapProxy"
    )
    allowed_sources: Annotated[list[str], NoDecode] = Field(
        [],
        description="Directories and URL prefixes that imagery and process inputs may "
        "come from (data_dir is always allowed); env ONEMAP_ALLOWED_SOURCES is a "
        "comma-separated list",
    )

    @field_validator("allowed_sources", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @model_validator(mode="after")
    def _basemap_names(self) -> Self:
        clash = sorted(set(self.basemaps) & set(self.collections))
        if clash:
            raise ValueError(f"basemaps and collections share the names {clash}")
        return self

    @model_validator(mode="after")
    def _database_for_postgis(self) -> Self:
        uses = [cid for cid, c in self.collections.items() if c.source.type == "postgis"]
        uses += [f"schema {d.schema_}" for d in self.discover if d.schema_]
        if uses and not self.database.url:
            raise ValueError(f"database.url is required by PostGIS collections {uses}")
        return self

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    def resolve(self, path: Path) -> Path:
        """Resolve a path from the config against the data directory."""
        path = path.expanduser()
        return path if path.is_absolute() else (self.data_dir / path).resolve()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment variables override the YAML file (passed as init values)."""
        return (env_settings, init_settings)


def text_for(text: I18nText, lang: str) -> str:
    """Pick the text of one language, falling back to any available one."""
    if isinstance(text, str):
        return text
    return text.get(lang) or text.get("zh-CN") or next(iter(text.values()), "")  # type: ignore[call-overload]
