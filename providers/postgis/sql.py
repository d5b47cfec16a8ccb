"""SQL of the PostGIS provider: one pure function per clause, psycopg.sql + parameters.

Identifiers come only from the catalog read at start (never from a request); values are
always parameters. PostgreSQL builds each Feature's JSON text, so the server only joins
bytes. SRIDs are integer literals taken from the validated CRS, never CRS text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from psycopg import sql

from providers.base import AccessScope, CollectionInfo, ItemsQuery, TileQuery
from providers.cql2 import ACCENTED, UNACCENTED
from providers.crs import (
    CRS84,
    CrsRef,
    is_identity,
    transform_bounds,
)
from providers.mercator import mercator_affine
from providers.where import Area, GrantFilters, pk_descending
from providers.where import conditions as where_conditions


@dataclass(frozen=True)
class PgTable:
    """A published table as the catalog found it."""

    schema: str
    name: str
    oid: int
    pk: str
    geometry_column: str
    srid: int
    temporal: str | None
    info: CollectionInfo
    grant_filters: GrantFilters[PgFrag] = field(
        default_factory=GrantFilters, compare=False, repr=False
    )

    @property
    def relation(self) -> sql.Identifier:
        """The schema-qualified table name."""
        return sql.Identifier(self.schema, self.name)


def _col(name: str) -> sql.Composed:
    return sql.SQL("t.{}").format(sql.Identifier(name))


def geometry_json(table: PgTable, out: CrsRef | None) -> sql.Composed:
    """ST_AsGeoJSON of the geometry in ``out`` with that CRS's axis order."""
    out = out or CRS84
    geom: sql.Composable = _col(table.geometry_column)
    if not is_identity(table.info.storage_crs, out):
        geom = sql.SQL("ST_Transform({}, {})").format(geom, sql.Literal(out.epsg or 4326))
    if out.swap_xy:
        geom = sql.SQL("ST_FlipCoordinates({})").format(geom)
    digits = 9 if out.geographic else 3
    return sql.SQL("ST_AsGeoJSON({}, {}, 0)").format(geom, sql.Literal(digits))


def _property(table: PgTable, name: str) -> sql.Composable:
    """A property of row ``t`` for row_to_json. A whole number of a real column keeps
    a decimal point (PostgreSQL writes 0 for 0.0): clients that type a field from the
    first page's values (GDAL, QGIS) would make it an integer and cut later values."""
    field = table.info.field(name)
    if field is None or field.type != "number":
        return _col(name)
    return sql.SQL(
        "CASE WHEN {c} = trunc({c}) AND abs({c}) < 1e15 "
        "THEN (trunc({c})::bigint::text || '.0')::json ELSE to_json({c}) END AS {name}"
    ).format(c=_col(name), name=sql.Identifier(name))


def feature_json(table: PgTable, names: list[str], out: CrsRef | None) -> sql.Composed:
    """A text expression: the whole GeoJSON Feature of row ``t``."""
    if names:
        columns = sql.SQL(", ").join(_property(table, n) for n in names)
        props: sql.Composable = sql.SQL(
            "(SELECT row_to_json(p) FROM (SELECT {}) AS p)::text"
        ).format(columns)
    else:
        props = sql.SQL("'{}'")
    return sql.SQL(
        'concat(\'{{"type":"Feature","id":\', to_json({id})::text, '
        "',\"geometry\":', coalesce({geom}, 'null'), ',\"properties\":', {props}, '}}')"
    ).format(id=_col(table.info.id_field), geom=geometry_json(table, out), props=props)


_ST = {
    "s_intersects": "ST_Intersects",
    "s_within": "ST_Within",
    "s_contains": "ST_Contains",
    "s_disjoint": "ST_Disjoint",
    "s_equals": "ST_Equals",
    "s_touches": "ST_Touches",
    "s_overlaps": "ST_Overlaps",
    "s_crosses": "ST_Crosses",
}


@dataclass(frozen=True)
class PgFrag:
    """SQL and its parameters, in the order the placeholders appear."""

    sql: sql.Composable
    params: tuple[Any, ...] = ()


class PgDialect:
    """The PostGIS dialect of the CQL2 translator: values always as parameters.

    (Never sql.Literal: a literal holding ``%`` would clash with the ``%s``
    placeholders of the rest of the query.)
    """

    def __init__(self, table: PgTable) -> None:
        self._table = table

    def column(self, name: str) -> PgFrag:
        """A catalog-checked column of row ``t``."""
        return PgFrag(_col(name))

    def geometry_column(self) -> PgFrag:
        """The geometry of row ``t``."""
        return PgFrag(_col(self._table.geometry_column))

    def value(self, value: object) -> PgFrag:
        """A literal, as a parameter."""
        return PgFrag(sql.SQL("%s"), (value,))

    def geometry(self, wkb: bytes) -> PgFrag:
        """A geometry literal (WKB in the storage CRS) with the integer SRID."""
        return PgFrag(
            sql.SQL("ST_GeomFromWKB(%s, {})").format(sql.Literal(self._table.srid)),
            (wkb,),
        )

    def temporal(self, expr: PgFrag, is_literal: bool) -> PgFrag:
        """Dates and timestamps compare directly (sessions run in UTC)."""
        if is_literal:
            return PgFrag(sql.SQL("({})::timestamptz").format(expr.sql), expr.params)
        return expr

    def template(self, text: str, *args: PgFrag) -> PgFrag:
        """Fill the ``{}`` holes of ``text`` in order."""
        params = tuple(p for a in args for p in a.params)
        return PgFrag(sql.SQL(text).format(*(a.sql for a in args)), params)

    def spatial(self, op: str, a: PgFrag, b: PgFrag) -> PgFrag:
        """The PostGIS predicate of a CQL2 spatial function."""
        return self.template(f"{_ST[op]}({{}}, {{}})", a, b)

    def casei(self, expr: PgFrag) -> PgFrag:
        """Lower case."""
        return self.template("lower({})", expr)

    def accenti(self, expr: PgFrag) -> PgFrag:
        """Accented Latin letters folded to base letters (no extension needed)."""
        return self.template(
            "translate({}, {}, {})", expr, self.value(ACCENTED), self.value(UNACCENTED)
        )

    def like(self, expr: PgFrag, pattern: PgFrag) -> PgFrag:
        """LIKE with CQL2 wildcards and backslash escapes."""
        return self.template("({} LIKE {} ESCAPE '\\')", expr, pattern)

    def constant(self, truth: bool) -> PgFrag:
        """A constant condition."""
        return PgFrag(sql.SQL("TRUE" if truth else "FALSE"))

    def areas(self, areas: list[Area]) -> list[PgFrag]:
        """ST_Intersects with each area: the GiST index finds the candidates."""
        return [PgFrag(_intersects(self._table), (a.wkb,)) for a in areas]

    def instant(self, column: str, op: Literal[">=", "<="], value: datetime) -> PgFrag:
        """Dates and timestamps compare directly with a timestamptz parameter."""
        return self.template(f"{{}} {op} {{}}", self.column(column), self.value(value))


def conditions(
    table: PgTable, query: ItemsQuery, scope: AccessScope
) -> tuple[list[sql.Composable], list[Any]]:
    """The conditions a row must meet (:func:`providers.where.conditions`) as
    psycopg.sql pieces, and their parameters in order."""
    frags = where_conditions(PgDialect(table), table, query, scope)
    return [f.sql for f in frags], [p for f in frags for p in f.params]


def _intersects(table: PgTable) -> sql.Composable:
    # ST_Intersects includes the && test that lets the GiST index find candidates.
    return sql.SQL("ST_Intersects({}, ST_GeomFromWKB(%s, {}))").format(
        _col(table.geometry_column), sql.Literal(table.srid)
    )


def where(parts: list[sql.Composable]) -> sql.Composable:
    """`` WHERE a AND b`` (or nothing)."""
    if not parts:
        return sql.SQL("")
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(parts)


def order_by(table: PgTable, query: ItemsQuery) -> sql.Composed:
    """ORDER BY the sort keys, then the primary key (stable pages)."""
    keys = [
        sql.SQL("{} {}").format(_col(k.name), sql.SQL("DESC" if k.descending else "ASC"))
        for k in query.sortby
    ]
    direction = "DESC" if pk_descending(query) else "ASC"
    keys.append(sql.SQL("{} {}").format(_col(table.pk), sql.SQL(direction)))
    return sql.SQL(" ORDER BY ") + sql.SQL(", ").join(keys)


def page_query(
    table: PgTable, query: ItemsQuery, scope: AccessScope, names: list[str]
) -> tuple[sql.Composed, list[Any]]:
    """One page of features plus one row, to know whether a next page exists; each
    row is the feature's JSON, then its sort keys and primary key when the next page
    can follow on by key."""
    parts, params = conditions(table, query, scope)
    feature: sql.Composable = feature_json(table, names, query.crs)
    if query.keyset(table.info):
        keys = [k.name for k in query.sortby] + [table.pk]
        feature = sql.SQL(", ").join([feature, *(_col(k) for k in keys)])
    statement = sql.SQL(
        "SELECT {feature} FROM {rel} AS t{where}{order} LIMIT %s OFFSET %s"
    ).format(
        feature=feature,
        rel=table.relation,
        where=where(parts),
        order=order_by(table, query),
    )
    return statement, [*params, int(query.limit) + 1, int(query.offset)]


def count_query(
    table: PgTable, query: ItemsQuery, scope: AccessScope
) -> tuple[sql.Composed, list[Any]]:
    """The exact number of matching features."""
    parts, params = conditions(table, query, scope)
    statement = sql.SQL("SELECT count(*) FROM {rel} AS t{where}").format(
        rel=table.relation, where=where(parts)
    )
    return statement, params


def item_query(
    table: PgTable, key: Any, scope: AccessScope, names: list[str], out: CrsRef | None
) -> tuple[sql.Composed, list[Any]]:
    """One feature by id, within the caller's scope."""
    parts, params = conditions(table, ItemsQuery(limit=1), scope)
    parts.append(sql.SQL("{} = %s").format(_col(table.info.id_field)))
    # md5(t::text): the row's version, the same expression the edits check If-Match with
    statement = sql.SQL(
        "SELECT {feature}, md5(t::text) FROM {rel} AS t{where} LIMIT 1"
    ).format(
        feature=feature_json(table, names, out), rel=table.relation, where=where(parts)
    )
    return statement, [*params, key]


_MVT_GEOM = "__onemap_geom"


def _to_tile_crs(
    geom: sql.Composable,
    query: TileQuery,
    storage: CrsRef,
    box: tuple[float, float, float, float],
    tile_srid: int,
) -> tuple[sql.Composable, list[float]]:
    """The geometry in the tile's CRS, and its parameters: lon/lat to Web Mercator as
    an affine map where that is within the tolerance over the tile, else ST_Transform.
    The coefficients are parameters so that the statement's text stays the same from
    tile to tile (psycopg prepares it after a few runs)."""
    if (
        query.affine_tolerance > 0
        and query.crs.epsg == 3857
        and is_identity(storage, CRS84)
    ):
        line = mercator_affine(box[1], box[3])
        units = query.extent / (query.bounds[2] - query.bounds[0])  # per metre
        if line is not None and line.error_m * units <= query.affine_tolerance:
            affine = "ST_Affine({}, %s::float8, 0, 0, %s::float8, 0, %s::float8)"
            return sql.SQL(affine).format(geom), [line.sx, line.sy, line.y0]
    return sql.SQL("ST_Transform({}, {})").format(geom, sql.Literal(tile_srid)), []


def tile_query(
    table: PgTable, query: TileQuery, scope: AccessScope, names: list[str]
) -> tuple[sql.Composed, list[Any]]:
    """One MVT layer built by PostgreSQL (ST_AsMVT), integer SRIDs throughout.

    Candidates come from the GiST index (``&&`` with the tile as a storage-CRS
    rectangle); ST_AsMVTGeom clips and snaps to the tile grid. ST_AsMVT skips the rows
    whose geometry clipped away (NULL): a ``WHERE geom IS NOT NULL`` on the subquery
    would make PostgreSQL evaluate ST_AsMVTGeom twice per row.
    """
    storage = table.info.storage_crs
    same = is_identity(storage, query.crs)
    tile_srid = table.srid if same else (query.crs.epsg or 4326)
    box = transform_bounds(query.buffered, query.crs, storage)
    geom: sql.Composable = _col(table.geometry_column)
    geom_params: list[float] = []
    if not same:
        geom, geom_params = _to_tile_crs(geom, query, storage, box, tile_srid)
    envelope = sql.SQL("ST_MakeEnvelope(%s, %s, %s, %s, {})").format(
        sql.Literal(tile_srid)
    )
    parts, params = conditions(table, ItemsQuery(limit=1, filter=query.filter), scope)
    parts.insert(
        0,
        sql.SQL("{} && ST_MakeEnvelope(%s, %s, %s, %s, {})").format(
            _col(table.geometry_column), sql.Literal(table.srid)
        ),
    )
    params = [*box, *params]
    if query.min_size > 0:
        # Leave out features smaller than the threshold in both directions (storage
        # units: the same share of the tile's storage-CRS size); points have no size.
        share = query.min_size / (query.bounds[2] - query.bounds[0])
        g = _col(table.geometry_column)
        parts.append(
            sql.SQL(
                "(ST_Dimension({g}) = 0 OR ST_XMax({g}) - ST_XMin({g}) >= %s"
                " OR ST_YMax({g}) - ST_YMin({g}) >= %s)"
            ).format(g=g)
        )
        params += [(box[2] - box[0]) * share, (box[3] - box[1]) * share]
    id_field = table.info.id_field
    id_type = table.info.field(id_field)
    integer_id = id_type is None or id_type.type == "integer"
    columns = [id_field, *(n for n in names if n != id_field)]
    feature_id = (
        sql.SQL(", {}").format(sql.Literal(id_field)) if integer_id else sql.SQL("")
    )
    statement = sql.SQL(
        "SELECT ST_AsMVT(m, %s, {extent}, {geom_name}{feature_id}) FROM ("
        "SELECT {columns}, ST_AsMVTGeom({geom}, {envelope}, {extent}, {buffer}, true) "
        "AS {geom_alias} FROM {rel} AS t{where}) AS m"
    ).format(
        extent=sql.Literal(query.extent),
        buffer=sql.Literal(query.buffer),
        geom_name=sql.Literal(_MVT_GEOM),
        geom_alias=sql.Identifier(_MVT_GEOM),
        feature_id=feature_id,
        columns=sql.SQL(", ").join(_col(c) for c in columns),
        geom=geom,
        envelope=envelope,
        rel=table.relation,
        where=where(parts),
    )
    # placeholders in order: layer name, geometry transform, envelope, the WHERE's
    return statement, [query.layer, *geom_params, *query.bounds, *params]
