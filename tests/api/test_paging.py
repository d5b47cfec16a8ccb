"""Paging: next links follow on by key (a cursor), so a walk over a collection costs
the same at any depth and sees every feature that is there throughout exactly once,
with edits in between; offset stays accepted and correct."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from tests.conftest import AsCaller
from tests.fixtures import GRID_COLS, GRID_ROWS

TOTAL = GRID_COLS * GRID_ROWS
EDITABLE = "/collections/editable/items"
MINE = "filter=BSM LIKE 'PG%'"  # the features this module adds to `editable`


def _get(client: Any, url: str) -> dict[str, Any]:
    r = client.get(url)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _next(body: dict[str, Any]) -> str | None:
    hrefs = [x["href"] for x in body["links"] if x["rel"] == "next"]
    return hrefs[0].removeprefix("http://testserver") if hrefs else None


def _walk(client: Any, url: str) -> tuple[list[Any], list[str]]:
    """Every feature id along the next links, and the links followed."""
    ids: list[Any] = []
    followed = []
    next_url: str | None = url
    while next_url is not None:
        body = _get(client, next_url)
        ids += [f["id"] for f in body["features"]]
        next_url = _next(body)
        if next_url is not None:
            followed.append(next_url)
    return ids, followed


def test_a_walk_by_cursor_sees_every_feature_once(client: TestClient) -> None:
    ids, followed = _walk(client, "/collections/parcels/items?limit=7")
    assert ids == list(range(1, TOTAL + 1))
    assert followed and all("cursor=" in u and "offset=" not in u for u in followed)


@pytest.mark.parametrize("sortby", ["DLBM,-SJNF", "-TBMJ", "MCEN,DLBM,-BSM"])
def test_a_sorted_walk_keeps_the_order(client: TestClient, sortby: str) -> None:
    whole = _get(client, f"/collections/parcels/items?limit=1000&sortby={sortby}")
    ids, followed = _walk(client, f"/collections/parcels/items?limit=13&sortby={sortby}")
    assert ids == [f["id"] for f in whole["features"]]
    assert all("cursor=" in u for u in followed)


def test_a_walk_with_a_filter_and_a_bbox(client: TestClient) -> None:
    query = "filter=DLBM='0101'&bbox=109.5,23.0,109.55,23.05"
    whole = _get(client, f"/collections/parcels/items?limit=1000&{query}")
    ids, followed = _walk(client, f"/collections/parcels/items?limit=4&{query}")
    assert ids == [f["id"] for f in whole["features"]] and len(ids) > 8
    # numberMatched is the whole result's on every page, not what follows the cursor
    matched = {_get(client, url)["numberMatched"] for url in followed}
    assert matched == {len(ids)} == {whole["numberMatched"]}


def test_number_matched_of_cursor_pages_of_the_whole_table(client: TestClient) -> None:
    _ids, followed = _walk(client, "/collections/parcels/items?limit=90")
    assert {_get(client, url)["numberMatched"] for url in followed} == {TOTAL}


def test_dates_page_by_offset(client: TestClient) -> None:
    # a date or time sort key pages by offset (its values have no exact JSON form)
    ids, followed = _walk(client, "/collections/parcels/items?limit=50&sortby=-GXSJ")
    assert len(ids) == TOTAL == len(set(ids))
    assert all("offset=" in u and "cursor=" not in u for u in followed)


def test_prev_link_of_a_cursor_page(client: TestClient) -> None:
    first = _get(client, "/collections/parcels/items?limit=10")
    second_url = _next(first)
    assert second_url is not None
    second = _get(client, second_url)
    assert [f["id"] for f in second["features"]] == list(range(11, 21))
    third = _get(client, _next(second) or "")
    prev = next(x["href"] for x in third["links"] if x["rel"] == "prev")
    assert parse_qs(urlsplit(prev).query)["offset"] == ["10"]
    assert "cursor" not in parse_qs(urlsplit(prev).query)


def _cursor(position: int, key: list[Any]) -> str:
    import orjson

    raw = base64.urlsafe_b64encode(orjson.dumps([position, key])).rstrip(b"=")
    return raw.decode()


@pytest.mark.parametrize(
    "query",
    [
        "cursor=not-base64!",
        "cursor=" + base64.urlsafe_b64encode(b"{}").decode(),
        "cursor=" + _cursor(0, []),  # no primary key
        "cursor=" + _cursor(0, [None]),
        "cursor=" + _cursor(-1, [3]),
        "cursor=" + _cursor(0, [[1], 3]) + "&sortby=DLBM",
        "cursor=" + _cursor(0, ["0101", 3]),  # a sort key the request does not have
        "cursor=" + _cursor(0, [3]) + "&sortby=DLBM",  # ... or the other way round
        "cursor=" + _cursor(0, [3]) + "&offset=10",
        "cursor=" + _cursor(0, ["2023-01-01", 3]) + "&sortby=GXSJ",  # dates: offset
        "cursor=" + "A" * 5000,
    ],
)
def test_bad_cursors(client: TestClient, query: str) -> None:
    r = client.get(f"/collections/parcels/items?{query}")
    assert r.status_code == 400, r.text
    assert r.json()["parameter"] == "cursor"


def test_a_cursor_of_the_last_key_is_an_empty_page(client: TestClient) -> None:
    body = _get(client, "/collections/parcels/items?cursor=" + _cursor(TOTAL, [TOTAL]))
    assert body["features"] == [] and _next(body) is None


@pytest.fixture
def editor(client: TestClient, admin: dict[str, str]) -> AsCaller:
    return AsCaller(client, admin)


def _add(editor: AsCaller, bsm: str, items: str = EDITABLE, **props: Any) -> str:
    x = 109.8 + int(bsm[-3:]) * 0.001
    ring = [[x, 23.3], [x + 0.0005, 23.3], [x + 0.0005, 23.3005], [x, 23.3005], [x, 23.3]]
    feature = {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {"BSM": bsm, "DLBM": "0101", "SJNF": 2024, **props},
    }
    r = editor.post(items, json=feature, headers={"Content-Type": "application/geo+json"})
    assert r.status_code == 201, r.text
    return str(r.headers["location"]).rsplit("/", 1)[-1]


def _delete(editor: AsCaller, fid: str, items: str = EDITABLE) -> None:
    r = editor.delete(f"{items}/{fid}", headers={"If-Match": "*"})
    assert r.status_code == 204, r.text


def _patch(editor: AsCaller, fid: str, **props: Any) -> None:
    r = editor.patch(
        f"{EDITABLE}/{fid}",
        json={"properties": props},
        headers={"Content-Type": "application/merge-patch+json", "If-Match": "*"},
    )
    assert r.status_code == 204, r.text


def test_edits_during_a_walk_lose_and_repeat_nothing(editor: AsCaller) -> None:
    added = [_add(editor, f"PGW{i:03d}") for i in range(20)]
    try:
        seen: list[str] = []
        url: str | None = f"{EDITABLE}?limit=4&{MINE}"
        gone: list[str] = []
        new: list[str] = []
        page = 0
        while url is not None:
            body = _get(editor, url)
            seen += [str(f["id"]) for f in body["features"]]
            url = _next(body)
            page += 1
            if page == 2:  # features seen and not yet seen leave, new ones come
                gone = [seen[0], seen[1], added[-1]]
                for fid in gone:
                    _delete(editor, fid)
                new.append(_add(editor, "PGW900"))
                _patch(editor, added[12], DLMC="改")
        throughout = [fid for fid in added if fid not in gone]
        assert sorted(set(seen) & set(throughout)) == sorted(throughout)
        assert len(seen) == len(set(seen))  # nothing repeated
        assert added[-1] not in seen  # deleted before the walk reached it
        added += new
    finally:
        for fid in added:
            editor.delete(f"{EDITABLE}/{fid}", headers={"If-Match": "*"})


@pytest.mark.parametrize("sortby", ["DLMC", "-DLMC", "DLMC,-SJNF"])
def test_null_sort_keys_page_like_one_page(editor: AsCaller, sortby: str) -> None:
    # NULL sorts as the largest value on both providers (last ascending, first
    # descending), and walks over NULLs and ties keep that order
    added = [
        _add(
            editor,
            f"PGN{i:03d}",
            SJNF=2020 + i % 3,
            **({"DLMC": "甲乙"[i % 2]} if i % 3 else {}),
        )
        for i in range(17)
    ]
    try:
        whole = _get(editor, f"{EDITABLE}?limit=1000&sortby={sortby}&{MINE}")
        names = [f["properties"].get("DLMC") for f in whole["features"]]
        nulls = [i for i, n in enumerate(names) if n is None]
        assert len(nulls) == 6
        expected = (
            list(range(17 - 6, 17)) if not sortby.startswith("-") else list(range(6))
        )
        assert nulls == expected
        ids, _ = _walk(editor, f"{EDITABLE}?limit=3&sortby={sortby}&{MINE}")
        assert ids == [f["id"] for f in whole["features"]]
    finally:
        for fid in added:
            _delete(editor, fid)


def test_whole_table_count_is_kept_exact(store: Any, pg_store: str) -> None:
    # numberMatched of a whole PostGIS table is a kept count (no COUNT(*) per page):
    # exact after this server's own edits at once, and after another program's
    # writes once PostgreSQL publishes its counters
    import time

    import psycopg

    from config.settings import CollectionConfig
    from config.sources import PostgisSource
    from server.app import create_app
    from server.security.api_keys import ApiKeys
    from tests.conftest import make_settings

    with psycopg.connect(pg_store, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS public.kept_count")
        conn.execute("CREATE TABLE public.kept_count AS TABLE public.editable")
        conn.execute("ALTER TABLE public.kept_count ADD PRIMARY KEY (fid)")
        conn.execute(
            "CREATE SEQUENCE kept_count_fid START 100000 OWNED BY public.kept_count.fid"
        )
        conn.execute(
            "ALTER TABLE public.kept_count "
            "ALTER fid SET DEFAULT nextval('kept_count_fid')"
        )

    def exact() -> int:
        with psycopg.connect(pg_store, autocommit=True) as conn:
            row = conn.execute("SELECT count(*) FROM public.kept_count").fetchone()
        assert row is not None
        return int(row[0])

    settings = make_settings(store, "postgis", pg_store)
    polled = settings.model_copy(
        update={
            "database": settings.database.model_copy(
                # kept even for a table this small: counting it would be cheap
                update={"change_poll_s": 0.2, "exact_count_limit": 0}
            ),
            "collections": {
                "kept": CollectionConfig(
                    title="Kept",
                    editable=True,
                    source=PostgisSource(table="public.kept_count"),
                )
            },
        }
    )
    items = "/collections/kept/items"
    url = items + "?limit=1"
    secret, _ = ApiKeys(settings.data_dir).create("kept-count", ["admin"], None)
    with TestClient(create_app(polled)) as plain:
        client = AsCaller(plain, {"X-API-Key": secret})
        assert _get(client, url)["numberMatched"] == exact()
        assert "numberMatched" not in _get(client, url + "&filter=SJNF>0")  # estimated
        fid = _add(client, "PGK001", items)
        assert _get(client, url)["numberMatched"] == exact()  # at once
        _delete(client, fid, items)
        assert _get(client, url)["numberMatched"] == exact()
        with psycopg.connect(pg_store, autocommit=True) as conn:
            conn.execute("DELETE FROM public.kept_count WHERE fid IN (1, 2, 3)")
        deadline = time.monotonic() + 15
        while _get(client, url)["numberMatched"] != exact():
            assert time.monotonic() < deadline, "the outside delete never showed"
            time.sleep(0.2)
        assert _get(client, url + "&count=exact")["numberMatched"] == exact()


def test_geopackage_counts_of_a_big_table(tmp_path: Any) -> None:
    # a whole table: the kept exact count; a bbox: counted (the R-tree narrows it);
    # an attribute filter on a table of more than 20,000 rows: omitted unless exact
    import numpy as np
    import pyogrio.raw
    import shapely

    from config.settings import CollectionConfig
    from config.sources import GeoPackageSource
    from server.app import create_app
    from tests.conftest import make_settings

    rows = 25_000
    x = 109.0 + (np.arange(rows) % 500) * 0.001
    y = 23.0 + (np.arange(rows) // 500) * 0.001
    path = tmp_path / "big.gpkg"
    pyogrio.raw.write(
        path,
        shapely.to_wkb(shapely.points(x, y)),
        [np.array(["0101" if i % 4 else "0102" for i in range(rows)], dtype=object)],
        ["DLBM"],
        layer="big",
        driver="GPKG",
        crs="EPSG:4490",
        geometry_type="Point",
    )
    settings = make_settings(path).model_copy(
        update={
            "collections": {
                "big": CollectionConfig(
                    title="Big", source=GeoPackageSource(path=str(path), layer="big")
                )
            }
        }
    )
    items = "/collections/big/items?limit=1"
    with TestClient(create_app(settings)) as client:
        assert _get(client, items)["numberMatched"] == rows
        assert _get(client, items)["numberMatched"] == rows  # kept, same version
        assert "numberMatched" not in _get(client, items + "&DLBM=0102")
        exact = _get(client, items + "&DLBM=0102&count=exact")
        assert exact["numberMatched"] == rows // 4
        box = _get(client, items + "&bbox=109.0,23.0,109.0095,23.0095")
        assert box["numberMatched"] == 100
        assert "numberMatched" not in _get(client, items + "&count=none")
