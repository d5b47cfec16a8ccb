"""The source kinds a collection reads from: one model per ``source.type``.

A new source kind is a model here (with its ``type`` literal) and a line of ``Source``;
its reader is registered in providers/registry.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Self, get_args

from pydantic import Discriminator, Field, Tag, model_validator

from config.types import Identifier, Strict


class GeoPackageSource(Strict):
    """A feature table in a GeoPackage file."""

    type: Literal["geopackage"] = "geopackage"
    path: Path = Field(description="GeoPackage file; relative paths are under data_dir")
    layer: Identifier
    id_field: Identifier | None = Field(
        None,
        description="Column used as the feature id (default: the table's primary key)",
    )


_TABLE = r"^([A-Za-z_][A-Za-z0-9_]{0,62}\.)?[A-Za-z_][A-Za-z0-9_]{0,62}$"


class PostgisSource(Strict):
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


class CogSource(Strict):
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


SourceConfig = GeoPackageSource | PostgisSource | CogSource

Source = Annotated[
    Annotated[GeoPackageSource, Tag("geopackage")]
    | Annotated[PostgisSource, Tag("postgis")]
    | Annotated[CogSource, Tag("cog")],
    Discriminator(_source_type),
]

# the ``type`` of every source kind (error messages name the kind, not the model)
SOURCE_TYPES: tuple[str, ...] = tuple(
    str(model.model_fields["type"].default) for model in get_args(SourceConfig)
)
