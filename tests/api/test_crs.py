"""Features Part 2: crs / bbox-crs / Content-Crs, axis order, checked against pyproj."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pyproj import Transformer

from tests.fixtures import CELL, GRID_COLS, GRID_ORIGIN

EPSG = "http://www.opengis.net/def/crs/EPSG/0/"
ITEM = (
    "/collections/parcels/items/1"  # cell (0, 0): lon 109.500-109.505, lat 23.000-23.005
)


def _ring(client: TestClient, url: str) -> list[list[float]]:
    r = client.get(url)
    assert r.status_code == 200, r.text
    return r.json()["geometry"]["coordinates"][0]  # type: ignore[no-any-return]


def test_default_is_crs84_lon_lat(client: TestClient) -> None:
    ring = _ring(client, ITEM)
    assert ring[0] == pytest.approx([109.505, 23.0])
    r = client.get(ITEM)
    assert r.headers["content-crs"] == "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"


def test_4490_is_lat_lon(client: TestClient) -> None:
    r = client.get(f"{ITEM}?crs={EPSG}4490")
    assert r.headers["content-crs"] == f"<{EPSG}4490>"
    assert r.json()["geometry"]["coordinates"][0][0] == pytest.approx([23.0, 109.505])


@pytest.mark.parametrize("code", [4524, 4545, 4497, 3857])
def test_projected_output_matches_pyproj(client: TestClient, code: int) -> None:
    ring = _ring(client, f"{ITEM}?crs={EPSG}{code}")
    trans = Transformer.from_crs(4490, code, always_xy=True)
    x, y = trans.transform(109.505, 23.0)
    # Gauss-Kruger zones are northing-first; Web Mercator is easting-first.
    expected = [x, y] if code == 3857 else [y, x]
    assert ring[0] == pytest.approx(expected, abs=1e-3)


def test_crs_forms_accepted(client: TestClient) -> None:
    for form in ("EPSG:4490", "urn:ogc:def:crs:EPSG::4490", f"{EPSG}4490"):
        assert _ring(client, f"{ITEM}?crs={form}")[0] == pytest.approx([23.0, 109.505])


def test_bbox_crs_4490_lat_lon_order(client: TestClient) -> None:
    x = GRID_ORIGIN[0] + 3 * CELL + 0.001
    y = GRID_ORIGIN[1] + 0.001
    bbox = f"{y},{x},{y + 0.001},{x + 0.001}"
    url = f"/collections/parcels/items?bbox={bbox}&bbox-crs={EPSG}4490"
    body = client.get(url).json()
    assert [f["id"] for f in body["features"]] == [4]


@pytest.mark.parametrize("code", [4524, 3857])
def test_bbox_crs_projected(client: TestClient, code: int) -> None:
    # the centre of cell (col 5, row 2), as a tiny bbox in a projected CRS
    lon = GRID_ORIGIN[0] + 5.5 * CELL
    lat = GRID_ORIGIN[1] + 2.5 * CELL
    x, y = Transformer.from_crs(4490, code, always_xy=True).transform(lon, lat)
    a = [x - 5, y - 5, x + 5, y + 5] if code == 3857 else [y - 5, x - 5, y + 5, x + 5]
    url = f"/collections/parcels/items?bbox={','.join(map(str, a))}&bbox-crs={EPSG}{code}"
    body = client.get(url).json()
    assert [f["id"] for f in body["features"]] == [2 * GRID_COLS + 5 + 1]


def test_gk_stored_collection_to_crs84(client: TestClient) -> None:
    body = client.get("/collections/wells/items?limit=1").json()
    lon, lat = body["features"][0]["geometry"]["coordinates"]
    expected = Transformer.from_crs(4524, 4490, always_xy=True).transform(
        36_540_000, 2_550_000
    )
    assert [lon, lat] == pytest.approx(list(expected), abs=1e-9)
    native = client.get(f"/collections/wells/items?limit=1&crs={EPSG}4524").json()
    assert native["features"][0]["geometry"]["coordinates"] == [2_550_000.0, 36_540_000.0]


def test_gk_collection_bbox_in_crs84(client: TestClient) -> None:
    lon, lat = Transformer.from_crs(4524, 4490, always_xy=True).transform(
        36_540_500, 2_550_700
    )
    body = client.get(
        "/collections/wells/items?bbox="
        f"{lon - 1e-5},{lat - 1e-5},{lon + 1e-5},{lat + 1e-5}"
    ).json()
    assert [f["properties"]["NAME"] for f in body["features"]] == ["井1"]


def test_crs_items_header_and_etag_differ(client: TestClient) -> None:
    a = client.get("/collections/parcels/items?limit=1")
    b = client.get(f"/collections/parcels/items?limit=1&crs={EPSG}4490")
    assert b.headers["content-crs"] == f"<{EPSG}4490>"
    assert a.headers["etag"] != b.headers["etag"]
