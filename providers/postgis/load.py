"""Load a vector layer read by GDAL (pyogrio) into a PostGIS table with binary COPY.

The layer is streamed in Arrow batches (flat memory at any size); geometries go to the
database as the WKB GDAL reads, without a parse here (PostGIS gives them the column's
SRID). The table keeps the source's SRID and feature ids (primary key ``fid``), gets a
GiST index on the geometry and is analysed, so it is ready to serve.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from providers.layer_file import Layer, open_batches

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
# ... and the type names of binary COPY
_COPY_TYPES = {
    "text": "text",
    "integer": "int4",
    "bigint": "int8",
    "double precision": "float8",
    "date": "date",
    "timestamptz": "timestamptz",
    "time": "time",
    "boolean": "bool",
}
# WKB geometry type codes (ISO: + 1000 per dimension) -> names
_WKB_TYPES = dict(
    enumerate(
        ("Point", "LineString", "Polygon", "MultiPoint", "MultiLineString",
         "MultiPolygon", "GeometryCollection"),
        start=1,
    )
)  # fmt: skip


_RESERVED = ("fid", "geom")  # the columns the loader creates itself


class LoadError(Exception):
    """The layer cannot be loaded (message says why)."""


def _column_type(ogr_type: str, subtype: str) -> str | None:
    if ogr_type == "OFTInteger" and subtype == "OFSTBoolean":
        return "boolean"
    return _PG_TYPES.get(ogr_type)


_TYPES = frozenset(
    ("Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon")
)


class _MixedTypes(Exception):
    """A geometry of another type than the one the file declares."""


def _wkb_type(wkb: bytes) -> str:
    code = int.from_bytes(wkb[1:5], "little" if wkb[0] == 1 else "big")
    return _WKB_TYPES.get((code & 0xFFFF) % 1000, "Geometry")


def _batches(layer: Layer) -> Iterator[list[list[Any]]]:
    """The layer's rows in batches of columns: fid, the fields, the WKB geometry."""
    with open_batches(layer) as (names, reader):
        for batch in reader:
            yield [batch.column(name).to_pylist() for name in names]


def _aware(values: list[Any]) -> list[Any]:
    """Times without an offset as UTC (binary COPY into timestamptz needs one)."""
    return [
        v.replace(tzinfo=UTC) if isinstance(v, datetime) and v.tzinfo is None else v
        for v in values
    ]


def load_layer(
    url: str,
    table: str,
    layer: Layer,
    *,
    overwrite: bool = False,
    title: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> int:
    """Create ``table`` (``schema.name`` or ``name``); return the number of rows.
    ``on_progress(done, total)`` hears of every batch written (total -1: unknown)."""
    declared = layer.geometry_type if layer.geometry_type in _TYPES else "Geometry"
    try:
        return _load(url, table, layer, declared, overwrite, title, on_progress)
    except _MixedTypes:  # the file said one type and holds others: any type, again
        return _load(url, table, layer, "Geometry", overwrite, title, on_progress)


def _load(
    url: str,
    table: str,
    layer: Layer,
    geometry_type: str,
    overwrite: bool,
    title: str | None,
    on_progress: Callable[[int, int], None] | None,
) -> int:
    schema, _, name = table.rpartition(".")
    qualified = f"{schema or 'public'}.{name}"
    relation = sql.Identifier(schema or "public", name)
    keep = [
        i
        for i, (t, s) in enumerate(zip(layer.ogr_types, layer.ogr_subtypes, strict=True))
        if _column_type(t, s) is not None and layer.fields[i].lower() not in _RESERVED
    ]
    types = [
        _column_type(layer.ogr_types[i], layer.ogr_subtypes[i]) or "text" for i in keep
    ]
    columns = [
        sql.SQL("{} {}").format(sql.Identifier(layer.fields[i]), sql.SQL(kind))
        for i, kind in zip(keep, types, strict=True)
    ]
    geometry = sql.SQL("geometry({}, {})").format(
        sql.SQL(geometry_type), sql.Literal(layer.epsg)
    )
    names = [
        sql.Identifier("fid"),
        *(sql.Identifier(layer.fields[i]) for i in keep),
        sql.Identifier("geom"),
    ]
    times = [j for j, kind in enumerate(types, 1) if kind == "timestamptz"]
    count = 0
    with psycopg.connect(url) as conn:  # one transaction: a failed load leaves nothing
        exists = conn.execute("SELECT to_regclass(%s)", (qualified,))
        if (exists.fetchone() or (None,))[0] is not None:
            if not overwrite:
                raise LoadError(f"table {table} exists; pass --overwrite to replace it")
            conn.execute(sql.SQL("DROP TABLE {}").format(relation))
        # fid: kept from the source; new features (Features Part 4) get the next one
        fid = sql.SQL("fid bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
        conn.execute(
            sql.SQL("CREATE TABLE {} ({})").format(
                relation,
                sql.SQL(", ").join([fid, *columns, sql.SQL("geom {}").format(geometry)]),
            )
        )
        copy_sql = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
            relation, sql.SQL(", ").join(names)
        )
        with conn.cursor() as cur, cur.copy(copy_sql) as copy:
            # the geometry goes as WKB bytes: PostGIS reads them with the column's SRID
            copy.set_types(["int8", *(_COPY_TYPES[k] for k in types), "bytea"])
            for batch in _batches(layer):
                values = [batch[0], *(batch[i + 1] for i in keep), batch[-1]]
                for j in times:
                    values[j] = _aware(values[j])
                if geometry_type != "Geometry" and any(
                    _wkb_type(g) != geometry_type for g in batch[-1] if g is not None
                ):
                    raise _MixedTypes
                for row in zip(*values, strict=True):
                    copy.write_row(row)
                count += len(batch[0])
                if on_progress is not None:
                    on_progress(count, layer.count)
        conn.execute(sql.SQL("CREATE INDEX ON {} USING gist (geom)").format(relation))
        conn.execute(
            sql.SQL(
                "SELECT setval(pg_get_serial_sequence({}, 'fid'), "
                "coalesce(max(fid), 0) + 1, false) FROM {}"
            ).format(sql.Literal(qualified), relation)
        )
        if title:  # the collection title of a discovered table
            conn.execute(
                sql.SQL("COMMENT ON TABLE {} IS {}").format(relation, sql.Literal(title))
            )
        conn.execute(sql.SQL("ANALYZE {}").format(relation))
    return count
