"""Load a vector layer read by GDAL (pyogrio) into a PostGIS table with COPY.

The table keeps the source's SRID and feature ids (primary key ``fid``), gets a GiST index
on the geometry and is analysed, so it is ready to serve.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
import shapely
from psycopg import sql

# OGR field type (and subtype) -> PostgreSQL type
_PG_TYPES = {
    "OFTString": "text",
    "OFTInteger": "integer",
    "OFTInteger64": "bigint",
    "OFTReal": "double precision",
    "OFTDate": "date",
    "OFTDateTime": "timestamptz",
    "OFTTime": "time",
}


_RESERVED = ("fid", "geom")  # the columns the loader creates itself


class LoadError(Exception):
    """The layer cannot be loaded (message says why)."""


@dataclass(frozen=True)
class Layer:
    """A layer as pyogrio.raw.read returns it, plus its EPSG code."""

    fids: np.ndarray
    wkb: Sequence[bytes | None]
    fields: list[str]
    values: list[np.ndarray]
    ogr_types: list[str]
    ogr_subtypes: list[str]
    epsg: int


def _column_type(ogr_type: str, subtype: str) -> str | None:
    if ogr_type == "OFTInteger" and subtype == "OFSTBoolean":
        return "boolean"
    return _PG_TYPES.get(ogr_type)


def _geometry_type(geoms: np.ndarray) -> str:
    kinds = {g.geom_type for g in geoms if g is not None}
    return kinds.pop() if len(kinds) == 1 else "Geometry"


def _python(value: Any) -> Any:
    """numpy scalars and NaN/NaT -> plain Python values (None for missing)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _rows(layer: Layer, geoms: np.ndarray, keep: list[int]) -> Iterator[tuple[Any, ...]]:
    ewkb = shapely.to_wkb(
        shapely.set_srid(geoms, layer.epsg), hex=True, include_srid=True
    )
    columns = [layer.values[i].tolist() for i in keep]
    for row, fid in enumerate(layer.fids.tolist()):
        yield (fid, *(_python(col[row]) for col in columns), ewkb[row])


def load_layer(
    url: str,
    table: str,
    layer: Layer,
    *,
    overwrite: bool = False,
    title: str | None = None,
) -> int:
    """Create ``table`` (``schema.name`` or ``name``); return the number of rows."""
    schema, _, name = table.rpartition(".")
    relation = sql.Identifier(schema or "public", name)
    geoms = shapely.from_wkb(np.array(layer.wkb, dtype=object))
    keep = [
        i
        for i, (t, s) in enumerate(zip(layer.ogr_types, layer.ogr_subtypes, strict=True))
        if _column_type(t, s) is not None
        and layer.fields[i].lower() not in ("fid", "geom")
    ]
    columns = [
        sql.SQL("{} {}").format(
            sql.Identifier(layer.fields[i]),
            sql.SQL(_column_type(layer.ogr_types[i], layer.ogr_subtypes[i]) or "text"),
        )
        for i in keep
    ]
    geometry = sql.SQL("geometry({}, {})").format(
        sql.SQL(_geometry_type(geoms)), sql.Literal(layer.epsg)
    )
    names = [
        sql.Identifier("fid"),
        *(sql.Identifier(layer.fields[i]) for i in keep),
        sql.Identifier("geom"),
    ]
    with psycopg.connect(url) as conn:
        exists = conn.execute("SELECT to_regclass(%s)", (f"{schema or 'public'}.{name}",))
        if (exists.fetchone() or (None,))[0] is not None:
            if not overwrite:
                raise LoadError(f"table {table} exists; pass --overwrite to replace it")
            conn.execute(sql.SQL("DROP TABLE {}").format(relation))
        conn.execute(
            sql.SQL("CREATE TABLE {} (fid bigint PRIMARY KEY, {}, geom {})").format(
                relation, sql.SQL(", ").join(columns), geometry
            )
            if columns
            else sql.SQL("CREATE TABLE {} (fid bigint PRIMARY KEY, geom {})").format(
                relation, geometry
            )
        )
        copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(
            relation, sql.SQL(", ").join(names)
        )
        with conn.cursor() as cur, cur.copy(copy_sql) as copy:
            for row in _rows(layer, geoms, keep):
                copy.write_row(row)
        conn.execute(sql.SQL("CREATE INDEX ON {} USING gist (geom)").format(relation))
        if title:  # the collection title of a discovered table
            conn.execute(
                sql.SQL("COMMENT ON TABLE {} IS {}").format(relation, sql.Literal(title))
            )
        conn.execute(sql.SQL("ANALYZE {}").format(relation))
    return len(layer.fids)
