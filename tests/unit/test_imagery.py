"""One imagery tile rendered from plain inputs, without an app: a COG written by GDAL."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import shapely
from morecantile import Tile
from PIL import Image

from providers.errors import QueryError, SourceFailed, SourceTimeout
from tests.fixtures import write_cog
from tiles.imagery import (
    BandOutOfRange,
    ImageryTile,
    TileReadFailed,
    TileReadTimeout,
    read_tile,
    render_tile,
)
from tiles.raster import RasterStore
from tiles.render import RenderOptions
from tiles.tms import tile_matrix_sets

TMS = tile_matrix_sets()["WebMercatorQuad"]
# the image covers lon 109.5 to 109.5512, lat 23.0088 to 23.06 (512 px of 0.0001°)
INSIDE = TMS.tile(109.52, 23.04, 14)
OPTIONS = RenderOptions(bands=(1, 2, 3), rescale=((0.0, 2000.0),))


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("imagery")
    return str(write_cog(folder / "a.tif", 4326, (109.5, 23.06), 0.0001, seed=2))


@pytest.fixture(scope="module")
def store() -> Iterator[RasterStore]:
    found = RasterStore(1)
    yield found
    found.close()


def _render(store: RasterStore, spec: ImageryTile, timeout: float = 30.0) -> bytes | None:
    return asyncio.run(render_tile(store, spec, timeout))


def _alpha(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as decoded:
        assert decoded.mode == "RGBA" and decoded.size == (256, 256)
        return np.asarray(decoded)[:, :, 3]


def test_a_tile_is_encoded_off_the_loop(store: RasterStore, image: str) -> None:
    spec = ImageryTile((image,), TMS, INSIDE, OPTIONS)
    data = _render(store, spec)
    assert data is not None and data.startswith(b"\x89PNG")
    assert spec.media_type == "image/png"
    assert (_alpha(data) == 255).any()
    # the blocking function gives the same bytes on the caller's thread
    assert read_tile(store, spec) == data


def test_raw_formats_carry_the_values_read(store: RasterStore, image: str) -> None:
    spec = ImageryTile((image,), TMS, INSIDE, OPTIONS, fmt="npy")
    data = _render(store, spec)
    assert data is not None and spec.media_type == "application/x-npy"
    values = np.load(io.BytesIO(data))
    assert values.shape == (4, 256, 256)  # three bands and the mask
    assert values[:3].max() > 255  # not stretched to 8 bits


def test_pixels_outside_the_region_are_hidden(store: RasterStore, image: str) -> None:
    b = TMS.bounds(INSIDE)
    west_half = shapely.box(b.left, b.bottom, (b.left + b.right) / 2, b.top)
    whole = _render(store, ImageryTile((image,), TMS, INSIDE, OPTIONS))
    masked = _render(store, ImageryTile((image,), TMS, INSIDE, OPTIONS, region=west_half))
    assert whole is not None and masked is not None
    alpha = _alpha(masked)
    assert (alpha[:, :120] == _alpha(whole)[:, :120]).all()
    assert (alpha[:, 136:] == 0).all()


def test_a_mosaic_fills_from_the_next_image(store: RasterStore, tmp_path: Path) -> None:
    # the first image's nodata corner (its north-west eighth) comes from the second
    first = str(write_cog(tmp_path / "first.tif", 4326, (109.5, 23.06), 0.0001))
    second = str(write_cog(tmp_path / "second.tif", 4326, (109.49, 23.07), 0.0002))
    corner = TMS.tile(109.5005, 23.0595, 17)
    alone = _render(store, ImageryTile((first,), TMS, corner, OPTIONS))
    both = _render(store, ImageryTile((first, second), TMS, corner, OPTIONS))
    assert alone is not None and both is not None
    assert (_alpha(both) > 0).sum() > (_alpha(alone) > 0).sum()


def test_a_tile_away_from_the_images_is_none(store: RasterStore, image: str) -> None:
    far = TMS.tile(10.0, 50.0, 14)
    assert _render(store, ImageryTile((image,), TMS, far, OPTIONS)) is None


def test_a_band_the_image_has_not_is_a_query_error(
    store: RasterStore, image: str
) -> None:
    spec = ImageryTile((image,), TMS, INSIDE, RenderOptions(bands=(9,), rescale=()))
    with pytest.raises(BandOutOfRange) as caught:
        _render(store, spec)
    assert isinstance(caught.value, QueryError)
    assert caught.value.message_id == "tile.bidx"
    assert caught.value.parameter == "bidx" and caught.value.params == {"count": 4}


def test_an_unreadable_href_is_a_failed_source(
    store: RasterStore, tmp_path: Path
) -> None:
    missing = ImageryTile((str(tmp_path / "missing.tif"),), TMS, INSIDE, OPTIONS)
    broken_path = tmp_path / "broken.tif"
    broken_path.write_bytes(b"not a tiff")
    broken = ImageryTile((str(broken_path),), TMS, INSIDE, OPTIONS)
    for spec in (missing, broken):
        with pytest.raises(TileReadFailed) as caught:
            _render(store, spec)
        assert isinstance(caught.value, SourceFailed)
        assert not isinstance(caught.value, SourceTimeout)
        assert caught.value.message_id == "tile.read_failed"


def test_a_read_not_done_in_time_is_a_timeout(store: RasterStore, image: str) -> None:
    spec = ImageryTile((image,), TMS, Tile(INSIDE.x + 1, INSIDE.y, 14), OPTIONS)
    with pytest.raises(TileReadTimeout) as caught:
        _render(store, spec, timeout=1e-6)
    assert isinstance(caught.value, SourceTimeout)
    assert caught.value.message_id == "tile.read_timeout"
    assert caught.value.params == {"seconds": 1e-6}
    assert _render(store, spec) is not None  # the store goes on
