"""The top-level settings and the sections of the server, collections, tiles and
processes (sources: config/sources.py, security: config/security.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from config.i18n import I18nText, Language
from config.security import SecurityConfig
from config.sources import Source
from config.types import Classification, Identifier, Strict


class ServerConfig(Strict):
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
    gzip_level: int = Field(
        4,
        ge=1,
        le=9,
        description="zlib level of compressed responses: 4 writes a 1,000-feature page "
        "6x faster than 9 for 8 % more bytes",
    )

    @model_validator(mode="after")
    def _limits(self) -> Self:
        if self.default_limit > self.max_limit:
            raise ValueError("default_limit must not exceed max_limit")
        return self


class DatabaseConfig(Strict):
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


class TemporalConfig(Strict):
    """Properties that the `datetime` parameter is matched against."""

    start: Identifier
    end: Identifier | None = None


Colour = Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")]


class StyleConfig(Strict):
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


class CollectionConfig(Strict):
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
    optional: bool = Field(
        False,
        description="When the source is missing or does not fit this definition, log "
        "it and publish the table as discovered (or not at all) instead of stopping",
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


class DiscoverConfig(Strict):
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

    @property
    def source_type(self) -> str:
        """The source kind that discovers these tables."""
        return "geopackage" if self.directory is not None else "postgis"


class TilesConfig(Strict):
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


class ProcessesConfig(Strict):
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


class BasemapConfig(Strict):
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
