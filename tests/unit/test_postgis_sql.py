"""The PostGIS SQL builders: identifiers from the catalog, values only as parameters."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import psycopg
import pytest

from providers.base import (
    UNRESTRICTED,
    AccessScope,
    BBox,
    CollectionInfo,
    FieldInfo,
    Interval,
    ItemsQuery,
    SortKey,
)
from providers.crs import CRS84, epsg_crs
from providers.postgis.sql import PgTable, count_query, item_query, page_query

INFO = CollectionInfo(
    id="dltb",
    fields=(
        FieldInfo("DLBM", "string"),
        FieldInfo("TBMJ", "number"),
        FieldInfo("GXSJ", "date"),
    ),
    id_field="fid",
    geometry_type="Polygon",
    storage_crs=epsg_crs(4490),
    extent=None,
    temporal_extent=None,
    feature_count=0,
)
TABLE = PgTable("public", "dltb", 1, "fid", "geom", 4490, "GXSJ", INFO)


@pytest.fixture(scope="module")
def conn(pg_url: str) -> psycopg.Connection:
    with psycopg.connect(pg_url) as connection:
        yield connection


def text(statement: psycopg.sql.Composable, conn: psycopg.Connection) -> str:
    return statement.as_string(conn)


def test_page_query_parameters(conn: psycopg.Connection) -> None:
    hostile = "0101' OR 1=1 --"
    query = ItemsQuery(
        limit=10,
        offset=5,
        bbox=BBox((109.5, 23.0, 109.6, 23.1), CRS84),
        datetime=Interval(datetime(2023, 1, 1, tzinfo=UTC), None),
        sortby=(SortKey("TBMJ", descending=True),),
        equals=(("DLBM", hostile),),
    )
    statement, params = page_query(TABLE, query, UNRESTRICTED, ["DLBM", "TBMJ"])
    sql_text = text(statement, conn)
    assert hostile not in sql_text and "OR 1=1" not in sql_text
    assert params[-2:] == [11, 5]  # limit + 1, offset
    assert hostile in params
    # the key runs the way the last sort key does (one range of an index by cursor)
    assert 't."TBMJ" DESC, t."fid" DESC' in sql_text
    assert 'ST_Intersects(t."geom", ST_GeomFromWKB(%s, 4490))' in sql_text
    # CRS84 output from CGCS2000 storage: no ST_Transform (same datum), no flip
    assert "ST_Transform" not in sql_text and "ST_FlipCoordinates" not in sql_text


def test_axis_order_and_integer_srids(conn: psycopg.Connection) -> None:
    lat_lon = text(
        page_query(TABLE, ItemsQuery(limit=1, crs=epsg_crs(4490)), UNRESTRICTED, [])[0],
        conn,
    )
    assert 'ST_FlipCoordinates(t."geom")' in lat_lon and "ST_Transform" not in lat_lon
    gk = text(
        page_query(TABLE, ItemsQuery(limit=1, crs=epsg_crs(4524)), UNRESTRICTED, [])[0],
        conn,
    )
    assert 'ST_FlipCoordinates(ST_Transform(t."geom", 4524))' in gk
    mercator = text(
        page_query(TABLE, ItemsQuery(limit=1, crs=epsg_crs(3857)), UNRESTRICTED, [])[0],
        conn,
    )
    assert 'ST_Transform(t."geom", 3857)' in mercator and "Flip" not in mercator
    assert "'EPSG:" not in gk + mercator  # never a text CRS


def test_region_scope_is_in_every_query(conn: psycopg.Connection) -> None:
    import shapely

    scope = AccessScope(region=shapely.box(109.5, 23.0, 109.55, 23.05))
    for statement, _ in (
        page_query(TABLE, ItemsQuery(limit=1), scope, []),
        count_query(TABLE, ItemsQuery(limit=1), scope),
        item_query(TABLE, 7, scope, [], None),
    ):
        assert "ST_Intersects" in text(statement, conn)


@pytest.mark.parametrize("z", [10, 13, 14, 18])
def test_mercator_affine_error_is_the_largest_miss(z: int) -> None:
    import morecantile
    from pyproj import Transformer

    from providers.mercator import mercator_affine

    wmq = morecantile.tms.get("WebMercatorQuad")
    b = wmq.bounds(wmq.tile(109.6, 23.1, z))
    line = mercator_affine(b.bottom, b.top)
    assert line is not None
    to_merc = Transformer.from_crs(4326, 3857, always_xy=True)
    lats = np.linspace(b.bottom, b.top, 101)
    _, exact = to_merc.transform(np.full_like(lats, b.left), lats)
    miss = np.abs(line.sy * lats + line.y0 - exact)
    # the computed bound is what the straight line really misses by (PROJ's northing)
    assert miss.max() == pytest.approx(line.error_m, rel=0.05, abs=1e-6)
    assert line.sx * b.left == pytest.approx(to_merc.transform(b.left, 0)[0])
    assert mercator_affine(80, 89) is None and mercator_affine(1, 1) is None


def test_a_bbox_inside_the_region_needs_no_region_test() -> None:
    """A feature that meets a bbox lying within the region meets the region: the SQL
    then leaves out the (costly) test against the region; a bbox across its edge, or
    no bbox at all, keeps it."""
    import shapely

    from providers.filters import bbox_area, region_area

    region = shapely.box(109.0, 23.0, 110.0, 24.0)
    scope = AccessScope(region=region)
    storage = epsg_crs(4490)
    inside = ItemsQuery(limit=10, bbox=BBox((109.2, 23.2, 109.3, 23.3), CRS84))
    across = ItemsQuery(limit=10, bbox=BBox((109.9, 23.2, 110.1, 23.3), CRS84))
    assert region_area(bbox_area(inside, storage), scope, storage) is None
    assert region_area(bbox_area(across, storage), scope, storage) is not None
    assert (
        region_area(bbox_area(ItemsQuery(limit=10), storage), scope, storage) is not None
    )
    # in a projected query CRS too (Web Mercator metres of the same inside box)
    mercator = epsg_crs(3857)
    assert (
        region_area(
            bbox_area(
                ItemsQuery(
                    limit=10,
                    bbox=BBox((12_145_000, 2_662_000, 12_155_000, 2_672_000), mercator),
                ),
                storage,
            ),
            scope,
            storage,
        )
        is None
    )
    table = TABLE
    sql_inside, _ = count_query(table, inside, scope)
    sql_across, _ = count_query(table, across, scope)
    text = sql_inside.as_string()
    assert (
        text.count("ST_Intersects") == 1
        and sql_across.as_string().count("ST_Intersects") == 2
    )


def test_keyset_conditions(conn: psycopg.Connection) -> None:
    import dataclasses

    required = dataclasses.replace(
        INFO, fields=tuple(dataclasses.replace(f, required=True) for f in INFO.fields)
    )
    strict = dataclasses.replace(TABLE, info=required)
    by_area = ItemsQuery(limit=5, sortby=(SortKey("TBMJ", descending=True),))
    after = dataclasses.replace(by_area, after=(12.5, 7))
    # NOT NULL keys in one direction: one row comparison (an index range)
    statement, params = page_query(strict, after, UNRESTRICTED, ["DLBM"])
    assert '(t."TBMJ", t."fid") < (%s, %s)' in text(statement, conn)
    assert params[:2] == [12.5, 7]
    # a key that may be NULL, or two directions: the expanded form
    statement, _ = page_query(TABLE, after, UNRESTRICTED, ["DLBM"])
    assert '(t."TBMJ" < %s OR (t."TBMJ" = %s AND t."fid" < %s))' in text(statement, conn)
    mixed = dataclasses.replace(
        after,
        sortby=(SortKey("DLBM"), SortKey("TBMJ", descending=True)),
        after=("0101", 1.0, 3),
    )
    statement, _ = page_query(strict, mixed, UNRESTRICTED, ["DLBM"])
    assert 'OR t."DLBM" IS NULL' in text(statement, conn)
