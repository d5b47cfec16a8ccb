"""OGC API - Tiles: tile matrix sets, tilesets, imagery (COG) and vector (MVT) tiles.

Imagery tiles are compared with rio-tiler reading the same tile in-process; vector
tiles are decoded and compared with the features shapely finds in the tile.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import mapbox_vector_tile
import morecantile
import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from PIL import Image
from rio_tiler.io import Reader

from config import Settings
from providers.crs import parse_crs, transform_geometries
from server.app import create_app
from server.state import app_state
from tests.conftest import make_settings
from tests.fixtures import parcel_grid
from tiles.style import LANDUSE_CLASS_COLOURS
from tiles.tms import CGCS2000_QUAD, tile_matrix_sets

TMS_IDS = ("WebMercatorQuad", "WorldCRS84Quad", "CGCS2000Quad")
MVT = "application/vnd.mapbox-vector-tile"


def _tile_at(tms_id: str, lon: float, lat: float, z: int) -> morecantile.Tile:
    return tile_matrix_sets()[tms_id].tile(lon, lat, z)


def _path(cid: str, tms_id: str, t: morecantile.Tile) -> str:
    return f"/collections/{cid}/tiles/{tms_id}/{t.z}/{t.y}/{t.x}"


# ------------------------------------------------------------ tile matrix sets


def test_tile_matrix_sets_listed(client: TestClient) -> None:
    body = client.get("/tileMatrixSets").json()
    assert [s["id"] for s in body["tileMatrixSets"]] == list(TMS_IDS)
    for s in body["tileMatrixSets"]:
        assert client.get(s["links"][0]["href"]).status_code == 200


def test_cgcs2000_quad_is_the_tianditu_c_grid(client: TestClient) -> None:
    doc = client.get("/tileMatrixSets/CGCS2000Quad").json()
    assert doc["crs"] == "http://www.opengis.net/def/crs/EPSG/0/4490"
    matrices = doc["tileMatrices"]
    assert [m["id"] for m in matrices] == [str(z) for z in range(1, 19)]
    tms = tile_matrix_sets()[CGCS2000_QUAD]
    for m in matrices:
        z = int(m["id"])
        # Tianditu "c": level z has 2^z x 2^(z-1) tiles of 0.703125 / 2^(z-1) deg/px
        assert m["cellSize"] == pytest.approx(0.703125 / 2 ** (z - 1))
        assert (m["matrixWidth"], m["matrixHeight"]) == (2**z, 2 ** (z - 1))
        assert m["pointOfOrigin"] == [90.0, -180.0]
        span = 180.0 / 2 ** (z - 1)
        for x, y in (
            (0, 0),
            (2**z - 1, 2 ** (z - 1) - 1),
            (2**z // 3, 2 ** (z - 1) // 2),
        ):
            b = tms.xy_bounds(morecantile.Tile(x, y, z))
            assert b.left == pytest.approx(-180 + x * span)
            assert b.top == pytest.approx(90 - y * span)
            assert b.right - b.left == pytest.approx(span)


def test_unknown_tile_matrix_set_is_404(client: TestClient) -> None:
    r = client.get("/tileMatrixSets/GoogleMapsCompatible")
    assert r.status_code == 404
    assert "CGCS2000Quad" in r.json()["detail"]
    assert client.get("/collections/pair/tiles/Nope/1/0/0").status_code == 404
    assert client.get("/tiles/Nope").status_code == 404


# ------------------------------------------------------------ imagery tiles


def _native_tile(client: TestClient, cid: str, tms_id: str) -> morecantile.Tile:
    """A tile at the finest zoom, inside the data (from the tileset's limits)."""
    doc = client.get(f"/collections/{cid}/tiles/{tms_id}").json()
    last = doc["tileMatrixSetLimits"][-1]
    return morecantile.Tile(
        (last["minTileCol"] + last["maxTileCol"]) // 2,
        (last["minTileRow"] + last["maxTileRow"]) // 2,
        int(last["tileMatrix"]),
    )


def _rio_tiler_tile(
    cog_path: Path,
    tms_id: str,
    tile: morecantile.Tile,
    indexes: tuple[int, ...] = (3, 2, 1),
) -> np.ndarray:
    """What rio-tiler itself renders for the tile (bilinear), the reference."""
    with Reader(str(cog_path), tms=tile_matrix_sets()[tms_id]) as cog:
        data = cog.tile(
            tile.x,
            tile.y,
            tile.z,
            indexes=indexes,
            resampling_method="bilinear",
            reproject_method="bilinear",
        )
    array: np.ndarray = data.array.data
    return array


@pytest.mark.parametrize("tms_id", TMS_IDS)
def test_imagery_tile_equals_rio_tiler(
    client: TestClient, store: Path, tms_id: str
) -> None:
    tile = _native_tile(client, "pair", tms_id)
    r = client.get(_path("pair", tms_id, tile), params={"f": "npy", "image": "before"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/x-npy"
    served = np.load(io.BytesIO(r.content))
    expected = _rio_tiler_tile(store.parent / "imagery" / "before.tif", tms_id, tile)
    # NPY: the bands then the mask
    assert served.shape == (4, 256, 256)
    np.testing.assert_array_equal(served[:3], expected)
    assert served[:3].std() > 0


def test_png_tile_is_the_stretched_rgb(client: TestClient, store: Path) -> None:
    tile = _native_tile(client, "pair", "WebMercatorQuad")
    r = client.get(_path("pair", "WebMercatorQuad", tile))
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/png"
    image = np.asarray(Image.open(io.BytesIO(r.content)))
    assert image.shape == (256, 256, 4)
    raw = np.load(
        io.BytesIO(
            client.get(
                _path("pair", "WebMercatorQuad", tile), params={"f": "npy"}
            ).content
        )
    )
    # rescale 0..3000 -> 0..255 of the R, G, B bands where the data is valid
    valid = raw[3] > 0
    expected = np.clip(raw[0] / 3000 * 255, 0, 255)
    assert np.abs(image[..., 0][valid].astype(float) - expected[valid]).max() <= 1.0
    assert (image[..., 3][valid] == 255).all()


@pytest.mark.parametrize(
    "fmt,media,magic",
    [
        ("jpeg", "image/jpeg", b"\xff\xd8"),
        ("webp", "image/webp", b"RIFF"),
        ("tif", "image/tiff; application=geotiff", b"II"),
    ],
)
def test_imagery_formats(client: TestClient, fmt: str, media: str, magic: bytes) -> None:
    tile = _native_tile(client, "pair", "WebMercatorQuad")
    r = client.get(_path("pair", "WebMercatorQuad", tile), params={"f": fmt})
    assert r.status_code == 200
    assert r.headers["content-type"] == media
    assert r.content.startswith(magic)


def test_accept_header_picks_the_format(client: TestClient) -> None:
    tile = _native_tile(client, "pair", "WebMercatorQuad")
    path = _path("pair", "WebMercatorQuad", tile)
    r = client.get(path, headers={"Accept": "image/jpeg"})
    assert r.headers["content-type"] == "image/jpeg"
    assert client.get(path, headers={"Accept": "text/csv"}).status_code == 406


def test_gauss_kruger_image_served_in_every_grid(client: TestClient, store: Path) -> None:
    """An EPSG:4527 COG (zone prefix in the easting) reprojected to each grid."""
    doc = client.get("/collections/gk_image").json()
    west, south, east, north = doc["extent"]["spatial"]["bbox"][0]
    assert 116.9 < west < east < 117.2 and 25.9 < south < north < 26.1
    for tms_id in TMS_IDS:
        tile = _native_tile(client, "gk_image", tms_id)
        r = client.get(_path("gk_image", tms_id, tile), params={"f": "npy"})
        assert r.status_code == 200, tms_id
        served = np.load(io.BytesIO(r.content))
        gk = store.parent / "imagery" / "gk.tif"
        expected = _rio_tiler_tile(gk, tms_id, tile, (1, 2, 3))
        np.testing.assert_array_equal(served[:3], expected)


def test_pair_images_differ_and_are_chosen_by_image(client: TestClient) -> None:
    tile = _native_tile(client, "pair", "WebMercatorQuad")
    path = _path("pair", "WebMercatorQuad", tile)
    before = client.get(path, params={"image": "before", "f": "npy"}).content
    after = client.get(path, params={"f": "npy"}).content
    assert before != after
    assert client.get(path, params={"image": "after", "f": "npy"}).content == after
    r = client.get(path, params={"image": "during"})
    assert r.status_code == 400 and r.json()["parameter"] == "image"
    gk = _native_tile(client, "gk_image", "WebMercatorQuad")
    r = client.get(_path("gk_image", "WebMercatorQuad", gk), params={"image": "before"})
    assert r.status_code == 400


# a value of one rendering parameter at a time that is refused (400 naming it)
BAD_VALUES = {
    "bidx": ["0", "5", "a", "1,2,3,4,1"],
    "rescale": ["10", "5,1", "0,nan", "x,y"],
    "colormap_name": ["viridis"],  # three bands: no colormap
    "resampling": ["magic"],
    "f": ["gif"],
    "bbox": ["1,2,3,4"],
}


@pytest.mark.parametrize(
    "params,parameter",
    [
        *[({name: v}, name) for name, values in BAD_VALUES.items() for v in values],
        ({"bidx": "1,2", "rescale": ["0,1", "0,2", "0,3"]}, "rescale"),
        *[
            ({"bidx": "1", name: value}, name)
            for name, value in (
                ("colormap_name", "no-such-map"),
                ("colormap", "{bad json"),
                ("colormap", "[1, 2]"),
                ("colormap", '{"1": "notacolour"}'),
            )
        ],
    ],
)
def test_bad_rendering_parameters_are_400(
    client: TestClient, params: dict[str, str], parameter: str
) -> None:
    tile = _native_tile(client, "pair", "WebMercatorQuad")
    r = client.get(_path("pair", "WebMercatorQuad", tile), params=params)
    assert r.status_code == 400, params
    body = r.json()
    assert body["parameter"] == parameter
    assert "Traceback" not in r.text


def test_colormap_on_one_band(client: TestClient) -> None:
    tile = _native_tile(client, "pair", "WebMercatorQuad")
    path = _path("pair", "WebMercatorQuad", tile)
    named = client.get(path, params={"bidx": "4", "colormap_name": "viridis"})
    assert named.status_code == 200
    assert np.asarray(Image.open(io.BytesIO(named.content))).shape == (256, 256, 4)
    custom = client.get(
        path,
        params={
            "bidx": "4",
            "rescale": "0,3000",
            "colormap": json.dumps({str(v): "#ff0000" for v in range(0, 256)}),
        },
    )
    assert custom.status_code == 200
    rgba = np.asarray(Image.open(io.BytesIO(custom.content)).convert("RGBA"))
    opaque = rgba[..., 3] == 255
    assert opaque.any() and (rgba[opaque][:, 0] == 255).all()


@pytest.mark.parametrize(
    "path",
    [
        "/collections/pair/tiles/WebMercatorQuad/30/0/0",
        "/collections/pair/tiles/WebMercatorQuad/3/0/8",
        "/collections/pair/tiles/WebMercatorQuad/3/8/0",
        "/collections/pair/tiles/WebMercatorQuad/14/0/0",  # inside the matrix, no data
        "/collections/pair/tiles/CGCS2000Quad/0/0/0",  # Tianditu "c" starts at level 1
        "/collections/pair/tiles/CGCS2000Quad/2/2/0",  # level 2 has 2 rows
        "/collections/secret_image/tiles/WebMercatorQuad/14/7000/13000",
        "/collections/nope/tiles/WebMercatorQuad/14/7000/13000",
    ],
)
def test_tiles_outside_are_404(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404, path
    assert r.json()["status"] == 404


@pytest.mark.parametrize(
    "z,y,x,parameter",
    [
        ("a", "0", "0", "tileMatrix"),
        ("1", "-1", "0", "tileRow"),
        ("1", "0", "1.5", "tileCol"),
        ("1", "0", "99999999999", "tileCol"),
    ],
)
def test_non_integer_tile_index_is_400(
    client: TestClient, z: str, y: str, x: str, parameter: str
) -> None:
    r = client.get(f"/collections/pair/tiles/WebMercatorQuad/{z}/{y}/{x}")
    assert r.status_code == 400
    assert r.json()["parameter"] == parameter


def test_limits_match_the_tiles_that_exist(client: TestClient) -> None:
    doc = client.get("/collections/pair/tiles/CGCS2000Quad").json()
    assert doc["dataType"] == "map"
    limits = doc["tileMatrixSetLimits"]
    assert limits and all(m["minTileRow"] <= m["maxTileRow"] for m in limits)
    last = limits[-1]
    z = last["tileMatrix"]
    base = f"/collections/pair/tiles/CGCS2000Quad/{z}"
    inside = f"{base}/{last['minTileRow']}/{last['minTileCol']}"
    assert client.get(inside).status_code == 200
    below = f"{base}/{last['maxTileRow'] + 1}/{last['minTileCol']}"
    assert client.get(below).status_code == 404
    templates = {
        link["type"]: link["href"] for link in doc["links"] if link["rel"] == "item"
    }
    assert "image/png" in templates and "{tileMatrix}" in templates["image/png"]


def test_tiles_are_cacheable(client: TestClient) -> None:
    tile = _native_tile(client, "pair", "WebMercatorQuad")
    path = _path("pair", "WebMercatorQuad", tile)
    first = client.get(path)
    etag = first.headers["etag"]
    assert "max-age" in first.headers["cache-control"]
    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and not again.content
    other = client.get(path, params={"rescale": "0,1000"})
    assert other.headers["etag"] != etag


def test_tilejson_for_web_mercator_only(client: TestClient) -> None:
    tj = client.get("/collections/pair/tiles/WebMercatorQuad", params={"f": "tilejson"})
    assert tj.status_code == 200
    body = tj.json()
    assert body["tilejson"] == "3.0.0"
    assert "{z}/{y}/{x}" in body["tiles"][0]
    r = client.get("/collections/pair/tiles/CGCS2000Quad", params={"f": "tilejson"})
    assert r.status_code == 400


def test_raster_collection_is_described(client: TestClient) -> None:
    listed = {c["id"]: c for c in client.get("/collections").json()["collections"]}
    assert "pair" in listed and "secret_image" not in listed
    doc = client.get("/collections/pair").json()
    assert doc["itemType"] == "coverage"
    assert doc["images"] == ["before", "after"]
    rels = {link["rel"] for link in doc["links"]}
    assert "http://www.opengis.net/def/rel/ogc/1.0/tilesets-map" in rels
    assert client.get("/collections/pair/items").status_code == 404
    html = client.get("/collections/pair", params={"f": "html", "lang": "en"})
    assert html.status_code == 200 and "Image pair" in html.text


# ------------------------------------------------------------ vector tiles


def _expected_ids(
    tms_id: str, t: morecantile.Tile, buffer: float = 64 / 4096
) -> set[str]:
    tms = tile_matrix_sets()[tms_id]
    b = tms.xy_bounds(t)
    dx, dy = (b.right - b.left) * buffer, (b.top - b.bottom) * buffer
    box = shapely.box(b.left - dx, b.bottom - dy, b.right + dx, b.top + dy)
    geoms, _ = parcel_grid()
    tile_crs = parse_crs(str(tms.crs.root))
    projected = transform_geometries(geoms, parse_crs("EPSG:4490"), tile_crs)
    hit = shapely.intersects(projected, box) & ~shapely.touches(projected, box)
    return {str(i + 1) for i in np.flatnonzero(hit)}


def _decode(content: bytes) -> dict[str, list[dict[str, object]]]:
    decoded = mapbox_vector_tile.decode(content)
    return {name: layer["features"] for name, layer in decoded.items()}


@pytest.mark.parametrize("tms_id", TMS_IDS)
def test_mvt_holds_the_features_of_the_tile(client: TestClient, tms_id: str) -> None:
    z = 15 if tms_id == "CGCS2000Quad" else 14
    t = _tile_at(tms_id, 109.5230, 23.0230, z)
    r = client.get(_path("parcels", tms_id, t))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == MVT
    features = _decode(r.content)["parcels"]
    ids = {str(f["id"]) for f in features}
    assert ids == _expected_ids(tms_id, t)
    first = features[0]["properties"]
    assert {"DLBM", "BSM"} <= set(first)


def _coordinates(content: bytes) -> dict[str, np.ndarray]:
    """Every feature's vertices (tile units), by feature id."""
    layer = mapbox_vector_tile.decode(content, default_options={"y_coord_down": True})
    return {
        str(f["id"]): shapely.get_coordinates(shapely.geometry.shape(f["geometry"]))
        for f in layer["parcels"]["features"]
    }


@pytest.mark.parametrize("z", [13, 14, 16])
def test_mvt_affine_mercator_matches_the_exact_transform(
    client: TestClient, settings: Settings, z: int
) -> None:
    # Large-zoom WebMercatorQuad tiles of lon/lat tables use a straight line for the
    # northing (PostGIS); the vertices must be those of the exact transform to 1 unit.
    exact = settings.model_copy(
        update={"tiles": settings.tiles.model_copy(update={"mvt_affine_tolerance": 0})}
    )
    path = _path(
        "parcels", "WebMercatorQuad", _tile_at("WebMercatorQuad", 109.523, 23.023, z)
    )
    with TestClient(create_app(exact)) as exact_client:
        reference = _coordinates(exact_client.get(path).content)
    served = _coordinates(client.get(path).content)
    assert served.keys() == reference.keys() and served
    for fid, xy in served.items():
        ref = reference[fid]
        assert xy.shape == ref.shape, fid
        assert np.abs(xy - ref).max() <= 1, fid


def test_mvt_properties_and_filter(client: TestClient) -> None:
    t = _tile_at("WebMercatorQuad", 109.5230, 23.0230, 13)
    path = _path("parcels", "WebMercatorQuad", t)
    only = _decode(client.get(path, params={"properties": "DLBM"}).content)["parcels"]
    assert only and all(set(f["properties"]) == {"DLBM"} for f in only)
    filtered = _decode(client.get(path, params={"filter": "DLBM = '0101'"}).content)[
        "parcels"
    ]
    everything = _decode(client.get(path).content)["parcels"]
    assert 0 < len(filtered) < len(everything)
    assert all(f["properties"]["DLBM"] == "0101" for f in filtered)
    r = client.get(path, params={"properties": "NOPE"})
    assert r.status_code == 400 and r.json()["parameter"] == "properties"
    r = client.get(path, params={"filter": "NOPE = 1"})
    assert r.status_code == 400 and r.json()["parameter"] == "filter"
    assert client.get(path, params={"f": "png"}).status_code == 400
    assert client.get(path, params={"bidx": "1"}).status_code == 400


def test_empty_vector_tile_is_204(client: TestClient) -> None:
    t = _tile_at("WebMercatorQuad", 0.0, 0.0, 10)
    r = client.get(_path("parcels", "WebMercatorQuad", t))
    assert r.status_code == 204 and not r.content


def test_low_zoom_leaves_out_subpixel_features(client: TestClient) -> None:
    # At z8 a 0.005 degree parcel is ~1.8 px wide: kept; at z5 ~0.2 px: left out.
    kept = client.get(
        _path("parcels", "WebMercatorQuad", _tile_at("WebMercatorQuad", 109.55, 23.03, 8))
    )
    assert len(_decode(kept.content)["parcels"]) == 300
    dropped = client.get(
        _path("parcels", "WebMercatorQuad", _tile_at("WebMercatorQuad", 109.55, 23.03, 5))
    )
    assert dropped.status_code == 204


def test_dataset_tiles_have_one_layer_per_collection(client: TestClient) -> None:
    t = _tile_at("WebMercatorQuad", 109.5230, 23.0230, 12)
    r = client.get(
        f"/tiles/WebMercatorQuad/{t.z}/{t.y}/{t.x}",
        params={"collections": "parcels,wells"},
    )
    assert r.status_code in (200, 204)
    layers = _decode(r.content) if r.content else {}
    assert "parcels" in layers and "secret" not in layers
    both = client.get(f"/tiles/WebMercatorQuad/{t.z}/{t.y}/{t.x}")
    assert "secret" not in _decode(both.content)
    hidden = client.get(
        f"/tiles/WebMercatorQuad/{t.z}/{t.y}/{t.x}", params={"collections": "secret"}
    )
    unknown = client.get(
        f"/tiles/WebMercatorQuad/{t.z}/{t.y}/{t.x}", params={"collections": "nope"}
    )
    assert hidden.status_code == unknown.status_code == 400
    assert hidden.json()["detail"].replace("secret", "X") == unknown.json()[
        "detail"
    ].replace("nope", "X")
    meta = client.get("/tiles/WebMercatorQuad").json()
    assert {layer["id"] for layer in meta["layers"]} >= {"parcels", "wells"}
    assert "secret" not in {layer["id"] for layer in meta["layers"]}


def _first_tile_url(tileset: dict[str, Any]) -> str:
    """The item template of a tileset filled with the first tile of its last limits."""
    template = next(x["href"] for x in tileset["links"] if x["rel"] == "item")
    limit = tileset["tileMatrixSetLimits"][-1]
    return (
        template.replace("{tileMatrix}", limit["tileMatrix"])
        .replace("{tileRow}", str(limit["minTileRow"]))
        .replace("{tileCol}", str(limit["minTileCol"]))
    )


def test_vector_tileset_metadata(client: TestClient) -> None:
    listing = client.get("/collections/parcels/tiles").json()
    assert {s["tileMatrixSetURI"].rsplit("/", 1)[-1] for s in listing["tilesets"]} == set(
        TMS_IDS
    )
    doc = client.get("/collections/parcels/tiles/WebMercatorQuad").json()
    assert doc["dataType"] == "vector"
    assert doc["layers"][0]["id"] == "parcels"
    assert doc["layers"][0]["propertiesSchema"]["properties"]["SJNF"]["type"] == "integer"
    url = _first_tile_url(doc)
    assert client.get(url).status_code in (200, 204)
    assert client.get("/collections/secret/tiles").status_code == 404
    html = client.get("/collections/parcels/tiles/WebMercatorQuad", params={"f": "html"})
    assert html.status_code == 200 and "tileMatrixSetLimits" in html.text


def test_edit_shows_in_the_next_tile(client: TestClient, admin: dict[str, str]) -> None:
    t = _tile_at("WebMercatorQuad", 109.5025, 23.0025, 14)
    path = _path("editable", "WebMercatorQuad", t)
    before = {
        f["id"]: f["properties"] for f in _decode(client.get(path).content)["editable"]
    }
    assert 1 in before
    item = client.get("/collections/editable/items/1")
    new = "0102" if before[1]["DLBM"] != "0102" else "0103"
    r = client.patch(
        "/collections/editable/items/1",
        json={"properties": {"DLBM": new}},
        headers={
            "If-Match": item.headers["etag"],
            "Content-Type": "application/merge-patch+json",
            **admin,
        },
    )
    assert r.status_code == 204, r.text
    after = {
        f["id"]: f["properties"] for f in _decode(client.get(path).content)["editable"]
    }
    assert after[1]["DLBM"] == new


def test_outside_write_reaches_cached_postgis_tiles(store: Path, pg_store: str) -> None:
    # Tiles of PostGIS tables stay cached while the table's write counters stand
    # still, and a write by another program shows once PostgreSQL publishes it.
    import time

    import psycopg

    from config.settings import CollectionConfig
    from config.sources import PostgisSource

    url = pg_store
    settings = make_settings(store, "postgis", pg_store)
    # a table of its own: no other test's writes move its counters; each session
    # below ends at once, so PostgreSQL publishes its counters
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS public.outside_writes")
        conn.execute("CREATE TABLE public.outside_writes AS TABLE public.editable")
        conn.execute("ALTER TABLE public.outside_writes ADD PRIMARY KEY (fid)")
    polled = settings.model_copy(
        update={
            "database": settings.database.model_copy(update={"change_poll_s": 0.2}),
            "collections": {
                "outside": CollectionConfig(
                    title="Outside", source=PostgisSource(table="public.outside_writes")
                )
            },
        }
    )
    path = _path(
        "outside", "WebMercatorQuad", _tile_at("WebMercatorQuad", 109.5025, 23.0025, 14)
    )
    with TestClient(create_app(polled)) as polled_client:
        first = polled_client.get(path)
        etag = first.headers["etag"]
        time.sleep(0.6)
        assert polled_client.get(path).headers["etag"] == etag  # still cached
        before = _decode(first.content)["outside"]
        old = next(f["properties"]["DLBM"] for f in before if f["id"] == 2)
        new = "0102" if old != "0102" else "0103"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                'UPDATE public.outside_writes SET "DLBM" = %s WHERE fid = 2', (new,)
            )
        deadline = time.monotonic() + 15
        while (r := polled_client.get(path)).headers["etag"] == etag:
            assert time.monotonic() < deadline, "the outside write never showed"
            time.sleep(0.2)
        after = {f["id"]: f["properties"] for f in _decode(r.content)["outside"]}
        assert after[2]["DLBM"] == new


def test_landing_and_map_page_link_tiles(client: TestClient) -> None:
    rels = {link["rel"] for link in client.get("/").json()["links"]}
    assert "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes" in rels
    page = client.get("/map", params={"lang": "en"})
    assert page.status_code == 200
    assert "Web map" in page.text and "onemap-webmap.js" in page.text
    config = page.text.split('id="map-config" type="application/json">')[1].split(
        "</script>"
    )[0]
    layers = {layer["id"]: layer for layer in json.loads(config)["layers"]}
    assert layers["pair"]["kind"] == "imagery" and set(layers["pair"]["tiles"]) == {
        "before",
        "after",
    }
    assert layers["parcels"]["kind"] == "vector"
    assert "secret" not in layers and "secret_image" not in layers
    assert client.get("/map", params={"lang": "xx"}).status_code == 400
    assert client.get("/map", params={"zoom": "3"}).status_code == 400


# ------------------------------------------------------------ map tiles of vectors


def _map_path(cid: str, tms_id: str, t: morecantile.Tile) -> str:
    return f"/collections/{cid}/map/tiles/{tms_id}/{t.z}/{t.y}/{t.x}"


def _rgba(content: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(content)).convert("RGBA")).astype(int)


@pytest.mark.parametrize("tms_id", TMS_IDS)
def test_map_tile_draws_each_parcel_in_its_class_colour(
    client: TestClient, tms_id: str
) -> None:
    z = 16 if tms_id == "CGCS2000Quad" else 15
    t = _tile_at(tms_id, 109.5230, 23.0230, z)
    r = client.get(_map_path("parcels", tms_id, t))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    image = _rgba(r.content)
    assert image.shape == (256, 256, 4)
    tms = tile_matrix_sets()[tms_id]
    b = tms.xy_bounds(t)
    px = (b.right - b.left) / 256
    geoms, attrs = parcel_grid()
    projected = transform_geometries(
        geoms, parse_crs("EPSG:4490"), parse_crs(str(tms.crs.root))
    )
    inner = shapely.box(b.left, b.bottom, b.right, b.top).buffer(-3 * px)
    checked = 0
    for geom, code in zip(projected, attrs["DLBM"], strict=True):
        inside = shapely.intersection(shapely.buffer(geom, -4 * px), inner)
        if inside.is_empty:
            continue
        point = inside.representative_point()
        col = int((point.x - b.left) / px)
        row = int((b.top - point.y) / px)
        colour = LANDUSE_CLASS_COLOURS[code[:2]]
        expected = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
        assert np.abs(image[row, col, :3] - expected).max() <= 3, (code, row, col)
        assert abs(image[row, col, 3] - round(0.45 * 255)) <= 2
        checked += 1
    assert checked >= 2
    # parcel edges carry the outline over the fill: more opaque than the fill alone
    assert (image[..., 3] > round(0.45 * 255) + 10).any()


def test_map_tile_without_features_is_transparent(client: TestClient) -> None:
    t = _tile_at("WebMercatorQuad", 0.0, 0.0, 10)
    r = client.get(_map_path("parcels", "WebMercatorQuad", t))
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert _rgba(r.content)[..., 3].max() == 0


def test_map_tile_filter_and_points(client: TestClient) -> None:
    t = _tile_at("WebMercatorQuad", 109.5230, 23.0230, 14)
    path = _map_path("parcels", "WebMercatorQuad", t)
    every = _rgba(client.get(path).content)
    some = _rgba(client.get(path, params={"filter": "DLBM = '0101'"}).content)
    drawn = (every[..., 3] > 0).mean()
    assert 0 < (some[..., 3] > 0).mean() < drawn
    # a point is drawn as a dot where it is
    lon, lat = client.get("/collections/wells/items/1").json()["geometry"]["coordinates"]
    tms = tile_matrix_sets()["WebMercatorQuad"]
    t = tms.tile(lon, lat, 16)
    dots = _rgba(client.get(_map_path("wells", "WebMercatorQuad", t)).content)
    b = tms.bounds(t)
    col = int((lon - b.left) / (b.right - b.left) * 256)
    # Mercator rows are not linear in latitude; use the projected box
    xy = tms.xy_bounds(t)
    y = tms.xy(lon, lat)[1]
    row = int((xy.top - y) / (xy.top - xy.bottom) * 256)
    assert dots[row, col, 3] > 200
    assert dots[..., 3].astype(bool).mean() < 0.01
    # and the vector tile holds the point, whatever its (zero) size
    mvt = client.get(_path("wells", "WebMercatorQuad", t))
    assert [f["id"] for f in _decode(mvt.content)["wells"]] == [1]


@pytest.mark.parametrize(
    ("path", "status", "parameter"),
    [
        ("/collections/parcels/map/tiles/WebMercatorQuad/14/7110/13180?f=jpeg", 400, "f"),
        (
            "/collections/parcels/map/tiles/WebMercatorQuad/14/7110/13180?bidx=1",
            400,
            "bidx",
        ),
        (
            "/collections/parcels/map/tiles/WebMercatorQuad/14/7110/13180?properties=DLBM",
            400,
            "properties",
        ),
        ("/collections/parcels/map/tiles/WebMercatorQuad/14/7110/x", 400, "tileCol"),
        ("/collections/parcels/map/tiles/WebMercatorQuad/25/0/0", 404, None),
        ("/collections/parcels/map/tiles/WebMercatorQuad/3/9/0", 404, None),
        ("/collections/parcels/map/tiles/NoSuchGrid/3/0/0", 404, None),
        ("/collections/pair/map/tiles/WebMercatorQuad/14/7110/13180", 404, None),
        ("/collections/pair/map/tiles", 404, None),
        ("/collections/nope/map/tiles/WebMercatorQuad", 404, None),
    ],
)
def test_bad_map_tile_requests(
    client: TestClient, path: str, status: int, parameter: str | None
) -> None:
    r = client.get(path)
    assert r.status_code == status, r.text
    if parameter is not None:
        assert r.json()["parameter"] == parameter


def test_hidden_collection_map_tiles_answer_like_unknown(client: TestClient) -> None:
    hidden = client.get("/collections/secret/map/tiles/WebMercatorQuad/14/7110/13180")
    unknown = client.get("/collections/nope/map/tiles/WebMercatorQuad/14/7110/13180")
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json()["detail"].replace("secret", "X") == unknown.json()[
        "detail"
    ].replace("nope", "X")


def test_map_tilesets_are_described(client: TestClient) -> None:
    links = client.get("/collections/parcels").json()["links"]
    href = next(
        x["href"]
        for x in links
        if x["rel"] == "http://www.opengis.net/def/rel/ogc/1.0/tilesets-map"
    )
    listing = client.get(href).json()
    assert {s["dataType"] for s in listing["tilesets"]} == {"map"}
    doc = client.get("/collections/parcels/map/tiles/CGCS2000Quad").json()
    assert doc["dataType"] == "map" and "layers" not in doc
    url = _first_tile_url(doc)
    r = client.get(url)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    tilejson = client.get(
        "/collections/parcels/map/tiles/WebMercatorQuad", params={"f": "tilejson"}
    ).json()
    assert (
        tilejson["tiles"][0]
        .split("?")[0]
        .endswith("/collections/parcels/map/tiles/WebMercatorQuad/{z}/{y}/{x}")
    )
    assert "vector_layers" not in tilejson


def test_map_page_on_the_cgcs2000_grid(client: TestClient) -> None:
    page = client.get("/map", params={"tms": "CGCS2000Quad", "lang": "en"})
    assert page.status_code == 200 and "vendor/ol.js" in page.text
    config = json.loads(
        page.text.split('id="map-config" type="application/json">')[1].split("</script>")[
            0
        ]
    )
    assert config["tms"] == "CGCS2000Quad" and config["grid"]["minzoom"] == 1
    assert config["grid"]["resolutions"][0] == pytest.approx(0.703125)
    layers = {layer["id"]: layer for layer in config["layers"]}
    assert "/tiles/CGCS2000Quad/{z}/{y}/{x}" in layers["parcels"]["tiles"]
    assert layers["parcels"]["style"]["property"] == "DLBM"
    bad = client.get("/map", params={"tms": "WorldCRS84Quad"})
    assert bad.status_code == 400 and bad.json()["parameter"] == "tms"


# ------------------------------------------------------------ hot public tiles


def test_hot_tiles_replay_public_tiles_only(client: TestClient) -> None:
    # The second anonymous request for a tile is answered before routing, with the
    # same bytes and headers; conditional, credentialed, other-format and error
    # requests are not.
    counts = app_state(client.app).hot_tiles
    path = _path(
        "parcels", "WebMercatorQuad", _tile_at("WebMercatorQuad", 109.5230, 23.0230, 15)
    )
    first = client.get(path)
    hits = counts["hits"]
    second = client.get(path)
    assert counts["hits"] == hits + 1
    assert second.content == first.content
    # the same headers, but each response names its own request
    assert second.headers["x-request-id"] != first.headers["x-request-id"]
    del first.headers["x-request-id"], second.headers["x-request-id"]
    assert second.headers == first.headers
    assert second.headers["cache-control"].startswith("public")
    # a client holding the bytes gets a 304 from the handler, not a replayed 200
    etag = first.headers["etag"]
    assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
    client.get(path, headers={"Authorization": "Bearer x"})
    assert counts["hits"] == hits + 1
    raster = _path(
        "pair", "WebMercatorQuad", _tile_at("WebMercatorQuad", 109.5, 23.0, 14)
    )
    png = client.get(raster, headers={"Accept": "image/png"})
    jpeg = client.get(raster, headers={"Accept": "image/jpeg"})
    assert png.headers["content-type"] == "image/png"
    assert jpeg.headers["content-type"] == "image/jpeg"
    again = client.get(raster, headers={"Accept": "image/jpeg"})
    assert again.content == jpeg.content and counts["hits"] == hits + 2
    outside = "/collections/parcels/tiles/WebMercatorQuad/3/0/0"
    assert client.get(outside).status_code in (204, 404)
    assert client.get(outside).status_code in (204, 404)
    secret = "/collections/secret/tiles/WebMercatorQuad/15/0/0"
    assert client.get(secret).status_code == 404
    assert client.get(secret).status_code == 404
    assert counts["hits"] <= hits + 3  # at most the empty tile, never a 404
