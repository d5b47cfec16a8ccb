"""WMTS, WMS and TMS (MapProxy inside the app) with OWSLib and GDAL, and `onemap seed`."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from owslib.wms import WebMapService
from owslib.wmts import WebMapTileService
from PIL import Image

from tests.clients.conftest import serve_live
from tiles.tms import tile_matrix_sets

pytestmark = pytest.mark.clients

CAPABILITIES = "/wmts/1.0.0/WMTSCapabilities.xml"
# inside the test imagery (109.50-109.5512 E, 23.0088-23.06 N)
BOX = (109.51, 23.02, 109.54, 23.05)


def _image(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))


def test_wmts_capabilities_with_both_grids(live_url: str) -> None:
    wmts = WebMapTileService(live_url + CAPABILITIES)
    assert {"imagery_before", "imagery_after"} <= set(wmts.contents)
    assert {"webmercator", "cgcs2000"} <= set(wmts.tilematrixsets)
    cgcs = wmts.tilematrixsets["cgcs2000"]
    assert "4490" in cgcs.crs
    # level 1 is Tianditu "c" level 1: 0.703125 degree/pixel, 2 x 1 tiles
    level1 = cgcs.tilematrix["01"]
    assert (level1.matrixwidth, level1.matrixheight) == (2, 1)
    assert level1.scaledenominator == pytest.approx(
        0.703125 * 111319.49079327358 / 0.00028, rel=1e-6
    )


@pytest.mark.parametrize("grid", ["webmercator", "cgcs2000"])
def test_wmts_get_tile_rest_and_kvp(live_url: str, grid: str) -> None:
    wmts = WebMapTileService(live_url + CAPABILITIES)
    matrix = "14"  # the image's finest level in both grids
    tms = wmts.tilematrixsets[grid].tilematrix[matrix]
    # the tile holding the box centre
    x0, y0 = tms.topleftcorner
    span = tms.scaledenominator * 0.00028 * tms.tilewidth
    if grid == "cgcs2000":  # lat/lon axis order, degrees
        span /= 111319.49079327358
        col = int((109.525 - y0) / span)
        row = int((x0 - 23.035) / span)
    else:
        from pyproj import Transformer

        x, y = Transformer.from_crs(4326, 3857, always_xy=True).transform(109.525, 23.035)
        col, row = int((x - x0) / span), int((y0 - y) / span)
    tile = wmts.gettile(
        layer="imagery_after",
        tilematrixset=grid,
        tilematrix=matrix,
        row=row,
        column=col,
        format="image/png",
    ).read()
    pixels = _image(tile)
    assert pixels.shape == (256, 256, 4) and pixels[..., :3].std() > 5
    rest = (
        wmts.buildTileRequest
    )  # KVP above; the RESTful template must give the same tile
    assert rest is not None


@pytest.mark.parametrize("tms_id", ["CGCS2000Quad", "WorldCRS84Quad"])
def test_gdal_opens_the_ogc_api_tileset(live_url: str, tms_id: str) -> None:
    """GDAL's OGCAPI driver finds the map tileset and places it where the image is.

    (Debian 12's GDAL 3.6 then sizes the raster from the whole matrix height — its own
    bug with tileMatrixSetLimits — so pixels are read through WMTS, below.)"""
    result = subprocess.run(
        [
            "gdalinfo",
            "-json",
            f"OGCAPI:{live_url}/collections/imagery",
            "-oo",
            f"TILEMATRIXSET={tms_id}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["driverShortName"] == "OGCAPI"
    assert len(info["bands"]) >= 3
    west, north = info["cornerCoordinates"]["upperLeft"]
    east = info["cornerCoordinates"]["lowerRight"][0]
    # the test imagery: 109.50-109.5512 E, 23.0088-23.06 N, snapped to the tile grid
    assert 109.45 < west <= 109.50 and 109.5512 <= east < 109.60
    assert 23.06 <= north < 23.11


def test_gdal_reads_wmts_in_cgcs2000(live_url: str, tmp_path: Path) -> None:
    out = tmp_path / "wmts.tif"
    source = f"WMTS:{live_url}{CAPABILITIES},layer=imagery_after,tilematrixset=cgcs2000"
    subprocess.run(
        [
            "gdal_translate",
            "-q",
            "-projwin",
            str(BOX[0]),
            str(BOX[3]),
            str(BOX[2]),
            str(BOX[1]),
            "-outsize",
            "256",
            "256",
            source,
            str(out),
        ],
        check=True,
        timeout=120,
        cwd=tmp_path,  # GDAL's WMTS driver writes ./gdalwmscache
    )
    info = subprocess.run(
        ["gdalinfo", "-stats", str(out)], capture_output=True, text=True, check=True
    ).stdout
    assert "4490" in info
    import rasterio

    with rasterio.open(out) as ds:
        data = ds.read()
        assert ds.bounds.left == pytest.approx(BOX[0], abs=1e-3)
    assert data[:3].std() > 5


def test_wms_130_axis_order_in_4490(live_url: str) -> None:
    """WMS 1.3.0 with EPSG:4490 takes lat,lon; 1.1.1 lon,lat: the same picture."""
    west, south, east, north = BOX
    wms = WebMapService(live_url + "/wms", version="1.3.0")
    assert "imagery_after" in wms.contents
    # OWSLib puts the box in the CRS's axis order itself
    owslib = wms.getmap(
        layers=["imagery_after"],
        srs="EPSG:4490",
        bbox=BOX,
        size=(200, 200),
        format="image/png",
    ).read()

    def get_map(version: str, crs: str, box: tuple[float, ...]) -> np.ndarray:
        key = "CRS" if version == "1.3.0" else "SRS"
        query = urllib.parse.urlencode(
            {
                "SERVICE": "WMS",
                "REQUEST": "GetMap",
                "VERSION": version,
                key: crs,
                "BBOX": ",".join(map(str, box)),
                "LAYERS": "imagery_after",
                "STYLES": "",
                "WIDTH": 200,
                "HEIGHT": 200,
                "FORMAT": "image/png",
            }
        )
        with urllib.request.urlopen(f"{live_url}/wms?{query}", timeout=60) as response:
            return _image(response.read()).astype(float)

    lat_lon = get_map("1.3.0", "EPSG:4490", (south, west, north, east))
    lon_lat = get_map("1.1.1", "EPSG:4326", (west, south, east, north))
    assert lat_lon[..., :3].std() > 5
    assert np.abs(lat_lon - lon_lat).mean() < 3  # same place, same picture
    assert np.abs(_image(owslib).astype(float) - lat_lon).mean() < 3
    swapped = get_map("1.3.0", "EPSG:4490", (west, south, east, north))
    assert np.abs(swapped - lat_lon).mean() > 3


def test_seeded_tiles_come_from_the_cache(live_url: str, store: Path) -> None:
    config = next(Path(p) for p in Path(store.parent).glob("../live*/onemap.yaml"))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "server.cli.main",
            "seed",
            "imagery",
            "--tms",
            "CGCS2000Quad",
            "--zoom",
            "13-14",
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Seeded 2 cache(s)" in result.stdout
    cached = sorted(
        (store.parent / "cache" / "mapproxy" / "imagery_after" / "cgcs2000").rglob(
            "*.png"
        )
    )
    assert cached
    # tms layout: level/x/y.png with y counted from the top (origin ul)
    level, x, y = cached[0].parts[-3], cached[0].parts[-2], cached[0].stem
    url = f"{live_url}/wmts/imagery_after/cgcs2000/{level}/{x}/{y}.png"
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.read() == cached[0].read_bytes()


def test_vector_collections_are_drawn_for_wms_and_wmts(live_url: str) -> None:
    """Vector collections reach legacy clients as pictures drawn in their style."""
    wmts = WebMapTileService(live_url + "/wmts?SERVICE=WMTS&REQUEST=GetCapabilities")
    assert {"parcels", "wells", "imagery_after"} <= set(wmts.contents)
    tile = wmts.gettile(
        layer="parcels",
        tilematrixset="webmercator",
        tilematrix="14",
        row=7114,
        column=13176,  # 109.53 E, 23.03 N: inside the parcel grid
        format="image/png",
    ).read()
    pixels = _image(tile)
    assert (pixels[..., 3] > 0).mean() > 0.9
    wms = WebMapService(live_url + "/wms", version="1.3.0")
    assert "parcels" in wms.contents

    def get_map(layers: list[str]) -> np.ndarray:
        picture = wms.getmap(
            layers=layers, srs="EPSG:4490", bbox=BOX, size=(200, 200), format="image/png"
        )
        return _image(picture.read())

    both, alone = get_map(["imagery_after", "parcels"]), get_map(["imagery_after"])
    assert np.abs(both.astype(float) - alone.astype(float)).mean() > 5


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/wmts/nothing", 404),
        ("/wmts/1.0.0/nothing.xml", 404),
        ("/wms?SERVICE=WMS&REQUEST=Nope", 400),
        (
            "/wms?SERVICE=WMS&REQUEST=GetMap&VERSION=1.3.0&LAYERS=nope&STYLES=&"
            "CRS=EPSG:4490&BBOX=23,109,23.1,109.1&WIDTH=64&HEIGHT=64&FORMAT=image/png",
            400,
        ),
        (
            "/wms?SERVICE=WMS&REQUEST=GetMap&VERSION=1.3.0&LAYERS=parcels&"
            "CRS=EPSG:4490&BBOX=23,109,23.1,109.1&WIDTH=64&HEIGHT=64&FORMAT=image/png",
            400,  # STYLES missing
        ),
        ("/wmts/parcels/webmercator/99/0/0.png", 400),
    ],
)
def test_bad_legacy_requests_are_4xx(live_url: str, path: str, status: int) -> None:
    try:
        urllib.request.urlopen(live_url + path, timeout=30)
    except urllib.error.HTTPError as exc:
        assert exc.code == status, exc.read()[:300]
    else:
        pytest.fail(f"{path} answered 200")


# ------------------------------------------------------------ cascaded basemaps


@pytest.fixture(scope="module")
def cascade_url(live_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second server cascading the first one's imagery as a keyed 'remote' basemap;
    the key (image=after) comes from the environment by ${...} interpolation."""
    data = tmp_path_factory.mktemp("cascade")
    cfg = data / "onemap.yaml"
    template = (
        f"{live_url}/collections/imagery/tiles/WebMercatorQuad/{{z}}/{{y}}/{{x}}"
        "?f=jpeg&image=${TEST_BASEMAP_KEY}"
    )
    cfg.write_text(
        f"data_dir: {data}\n"
        f"allowed_sources: ['{live_url}/collections/']\n"
        "collections: {}\n"
        "basemaps:\n"
        "  remote:\n"
        "    title: {zh-CN: 远程影像, en: Remote imagery}\n"
        f"    url: '{template}'\n"
        "    grid: webmercator\n",
        encoding="utf-8",
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TEST_BASEMAP_KEY", "after")
        yield from serve_live(["--config", str(cfg)], data / "serve.log")


def test_remote_basemap_is_cascaded_with_its_key(live_url: str, cascade_url: str) -> None:
    wmts = WebMapTileService(cascade_url + CAPABILITIES)
    assert set(wmts.contents) == {"remote"}
    tile = tile_matrix_sets()["WebMercatorQuad"].tile(109.525, 23.035, 14)
    with urllib.request.urlopen(
        f"{cascade_url}/wmts/remote/webmercator/14/{tile.x}/{tile.y}.jpeg", timeout=60
    ) as response:
        cascaded = _image(response.read()).astype(float)
    with urllib.request.urlopen(
        f"{live_url}/collections/imagery/tiles/WebMercatorQuad/14/{tile.y}/{tile.x}"
        "?f=jpeg&image=after",
        timeout=60,
    ) as response:
        direct = _image(response.read()).astype(float)
    assert direct[..., :3].std() > 5
    assert np.abs(cascaded - direct)[..., :3].mean() < 4  # JPEG twice
    with urllib.request.urlopen(cascade_url + CAPABILITIES, timeout=30) as response:
        assert b"image=after" not in response.read()  # the key stays inside
    with urllib.request.urlopen(cascade_url + "/map?lang=en", timeout=30) as response:
        page = response.read().decode()
    assert "/wmts/remote/webmercator/{z}/{x}/{y}.jpeg" in page
