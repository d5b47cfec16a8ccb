"""The shared WHERE builder over its two dialects: the same conditions, names only from
the catalog, values only as parameters."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import shapely

from providers.base import (
    HIDDEN,
    UNRESTRICTED,
    AccessScope,
    BBox,
    CollectionInfo,
    FieldInfo,
    Interval,
    ItemsQuery,
)
from providers.cql2 import Cql2Error, parse
from providers.crs import CRS84, epsg_crs
from providers.geopackage.cql2 import Frag
from providers.geopackage.where import SqliteWhere
from providers.postgis.sql import PgDialect, PgFrag, PgTable
from providers.where import GrantFilters, conditions

INFO = CollectionInfo(
    id="dltb",
    fields=(
        FieldInfo("DLBM", "string"),
        FieldInfo("TBMJ", "number"),
        FieldInfo("GXSJ", "date"),
        FieldInfo("SECRET", "string"),
    ),
    id_field="fid",
    geometry_type="Polygon",
    storage_crs=epsg_crs(4490),
    extent=None,
    temporal_extent=None,
    feature_count=0,
)
HOSTILE = "0101' OR 1=1 --"
REGION = shapely.box(109.0, 23.0, 110.0, 24.0)
VISIBLE = frozenset({"DLBM", "TBMJ", "GXSJ"})


class _GpkgTable:
    """What the builder reads of a GeoPackage table."""

    info = INFO
    temporal = "GXSJ"

    def __init__(self) -> None:
        self.grant_filters: GrantFilters[Frag] = GrantFilters()


def _pg(query: ItemsQuery, scope: AccessScope) -> tuple[list[str], list[Any]]:
    table = PgTable("public", "dltb", 1, "fid", "geom", 4490, "GXSJ", INFO)
    frags: list[PgFrag] = conditions(PgDialect(table), table, query, scope)
    return [f.sql.as_string(None) for f in frags], [p for f in frags for p in f.params]


def _sqlite(
    query: ItemsQuery, scope: AccessScope, rtree: str | None = "rtree_dltb_geom"
) -> tuple[list[str], list[Any]]:
    dialect = SqliteWhere("geom", "fid", rtree)
    frags = conditions(dialect, _GpkgTable(), query, scope)
    return [f.text for f in frags], [p for f in frags for p in f.params]


BUILDERS = [pytest.param(_pg, id="postgis"), pytest.param(_sqlite, id="sqlite")]


def _holes(texts: list[str]) -> int:
    return sum(t.count("%s") + t.count("?") for t in texts)


@pytest.mark.parametrize("build", BUILDERS)
def test_every_condition_in_order_with_its_parameters(build: Any) -> None:
    query = ItemsQuery(
        limit=10,
        bbox=BBox((109.5, 23.2, 109.6, 23.3), CRS84),
        datetime=Interval(datetime(2023, 1, 1, tzinfo=UTC), None),
        equals=(("DLBM", "0101"),),
        filter=parse("TBMJ > 5", None),
    )
    texts, params = build(query, AccessScope(attribute_filter=parse("DLBM <> '1'", None)))
    assert _holes(texts) == len(params)
    joined = " AND ".join(texts)
    # bbox first, then datetime, property=value, the caller's filter, the grant's
    order = ["intersects", "GXSJ", '"DLBM" =', '"TBMJ" >', '"DLBM" <>']
    found = [joined.lower().find(word.lower()) for word in order]
    assert -1 not in found and found == sorted(found)
    assert "0101" in params and 5 in params and "1" in params


def test_postgis_uses_the_gist_index_and_integer_srid() -> None:
    query = ItemsQuery(limit=1, bbox=BBox((109.5, 23.2, 109.6, 23.3), CRS84))
    texts, params = _pg(query, AccessScope(region=shapely.box(109.55, 23, 110, 24)))
    # bbox and region: ST_Intersects (its && finds the candidates in the GiST index)
    assert texts == ['ST_Intersects(t."geom", ST_GeomFromWKB(%s, 4490))'] * 2
    assert all(isinstance(p, bytes) for p in params)


def test_sqlite_uses_the_rtree_then_geos() -> None:
    query = ItemsQuery(limit=1, bbox=BBox((109.5, 23.2, 109.6, 23.3), CRS84))
    dialect = SqliteWhere("geom", "fid", "rtree_dltb_geom")
    frags = conditions(dialect, _GpkgTable(), query, UNRESTRICTED)
    assert dialect.joins == ' JOIN "rtree_dltb_geom" AS r ON r.id = t."fid"'
    assert frags[0].text.startswith("r.minx <= ?")
    assert "onemap_intersects" in frags[1].text  # GEOS only on the box's edge
    no_rtree = SqliteWhere("geom", "fid", None)
    texts = [f.text for f in conditions(no_rtree, _GpkgTable(), query, UNRESTRICTED)]
    assert no_rtree.joins == "" and texts == ['onemap_intersects(t."geom", ?)']


@pytest.mark.parametrize("build", BUILDERS)
def test_a_bbox_outside_the_region_meets_no_row(build: Any) -> None:
    far = ItemsQuery(limit=1, bbox=BBox((10.0, 3.0, 10.1, 3.1), CRS84))
    texts, _ = build(far, AccessScope(region=REGION))
    if build is _sqlite:
        assert texts == ["0"]  # the envelopes do not meet: no R-tree lookup at all
    else:  # both areas tested: no geometry meets both
        assert len(texts) == 2


@pytest.mark.parametrize("build", BUILDERS)
def test_a_bbox_inside_the_region_needs_no_region_test(build: Any) -> None:
    inside = ItemsQuery(limit=1, bbox=BBox((109.5, 23.2, 109.6, 23.3), CRS84))
    texts, _ = build(inside, AccessScope(region=REGION))
    assert texts == build(inside, UNRESTRICTED)[0]


@pytest.mark.parametrize("build", BUILDERS)
def test_no_query_and_no_grant_no_condition(build: Any) -> None:
    assert build(ItemsQuery(limit=1), UNRESTRICTED) == ([], [])


@pytest.mark.parametrize("build", BUILDERS)
def test_injection_looking_values_are_parameters(build: Any) -> None:
    query = ItemsQuery(
        limit=1,
        equals=(("DLBM", HOSTILE),),
        filter=parse("DLBM = 'x''); DROP TABLE dltb; --'", None),
    )
    texts, params = build(query, UNRESTRICTED)
    joined = " ".join(texts)
    assert "OR 1=1" not in joined and "DROP" not in joined and "--" not in joined
    assert HOSTILE in params and "x'); DROP TABLE dltb; --" in params


@pytest.mark.parametrize("build", BUILDERS)
def test_unknown_or_hidden_properties(build: Any) -> None:
    # a property=value parameter on no published field adds nothing
    assert build(ItemsQuery(limit=1, equals=(("NOPE", "1"),)), UNRESTRICTED) == ([], [])
    for name in ("NOPE", 'DLBM" OR 1=1 --'):
        cql = json.dumps({"op": "=", "args": [{"property": name}, 1]})
        with pytest.raises(Cql2Error) as raised:
            build(ItemsQuery(limit=1, filter=parse(cql, "cql2-json")), UNRESTRICTED)
        assert raised.value.key == "unknown_property"
    # a property the caller may not see answers like an unknown one...
    seen = AccessScope(properties=VISIBLE)
    with pytest.raises(Cql2Error, match="unknown_property"):
        build(ItemsQuery(limit=1, filter=parse("SECRET = 'a'", None)), seen)
    # ... but the grant's own row filter may name it
    grant = AccessScope(properties=VISIBLE, attribute_filter=parse("SECRET = 'a'", None))
    texts, params = build(ItemsQuery(limit=1), grant)
    assert '"SECRET"' in texts[0] and params == ["a"]


@pytest.mark.parametrize("build", BUILDERS)
def test_hidden_scope_meets_no_row(build: Any) -> None:
    texts, params = build(ItemsQuery(limit=1), HIDDEN)
    assert len(texts) == 1 and params == [False]


def test_grant_filters_are_translated_once_per_table_and_grant() -> None:
    table = _GpkgTable()
    scope = AccessScope(attribute_filter=parse("DLBM <> '1'", None))
    dialect = SqliteWhere("geom", "fid", None)
    first = conditions(dialect, table, ItemsQuery(limit=1), scope)[0]
    again = conditions(dialect, table, ItemsQuery(limit=2), scope)[0]
    assert first is again
    other = AccessScope(attribute_filter=parse("DLBM <> '2'", None))
    assert conditions(dialect, table, ItemsQuery(limit=1), other)[0].params == ("2",)


def test_sqlite_conditions_run(tmp_path: Path) -> None:
    """The SQLite text runs and filters as written (a table without R-tree)."""
    import sqlite3

    from providers.geopackage.edit import register_functions

    conn = sqlite3.connect(tmp_path / "t.sqlite")
    request_close = conn.close
    register_functions(conn)
    conn.execute('CREATE TABLE dltb (fid INTEGER PRIMARY KEY, "DLBM" TEXT, geom BLOB)')
    conn.executemany(
        'INSERT INTO dltb ("DLBM") VALUES (?)', [("0101",), (HOSTILE,), ("0201",)]
    )
    for value, expected in (("0101", [1]), (HOSTILE, [2]), ("x' OR '1'='1", [])):
        query = ItemsQuery(limit=1, equals=(("DLBM", value),))
        texts, params = _sqlite(query, UNRESTRICTED, rtree=None)
        sql = "SELECT fid FROM dltb AS t WHERE " + " AND ".join(texts)  # noqa: S608
        assert [r[0] for r in conn.execute(sql, params)] == expected
    request_close()
