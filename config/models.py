"""Pydantic models of the YAML configuration (validated once, at start)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Self

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
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

Language = Literal["zh-CN", "en"]
LANGUAGES: tuple[Language, ...] = ("zh-CN", "en")

# A text shown to users: one string for every language, or one per language.
I18nText = str | dict[Language, str]

Identifier = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_\-]{0,62}$")]


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


def _source_type(value: object) -> str:
    """The source kind; a source without ``type`` is a GeoPackage table."""
    if isinstance(value, dict):
        return str(value.get("type", "geopackage"))
    return str(getattr(value, "type", "geopackage"))


Source = Annotated[
    Annotated[GeoPackageSource, Tag("geopackage")]
    | Annotated[PostgisSource, Tag("postgis")],
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

    @model_validator(mode="after")
    def _pool(self) -> Self:
        if self.pool_min > self.pool_max:
            raise ValueError("pool_min must not exceed pool_max")
        return self


class TemporalConfig(_Strict):
    """Properties that the `datetime` parameter is matched against."""

    start: Identifier
    end: Identifier | None = None


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
    classification: Literal["public", "internal", "secret"] = "public"
    editable: bool = Field(
        False,
        description="Accept creates, replaces, patches and deletes (Features Part 4)",
    )
    require_if_match: bool = Field(
        True, description="Edits must name the feature's ETag in If-Match (else 428)"
    )


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
