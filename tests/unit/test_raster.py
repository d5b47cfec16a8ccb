"""The raster store: CGCS2000 images read through their WGS 84 view."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio

from tests.fixtures import write_cog
from tiles.raster import RasterStore


def test_cgcs2000_image_is_read_as_wgs84_with_the_same_pixels(tmp_path: Path) -> None:
    path = str(write_cog(tmp_path / "a.tif", 4490, (109.5, 23.06), 0.0001, seed=4))
    store = RasterStore(1)
    view = store.reading(path)
    with rasterio.open(path) as original:
        assert original.crs.to_epsg() == 4490 and view.crs.to_epsg() == 4326
        assert view.transform == original.transform
        assert view.overviews(1) == original.overviews(1)  # overviews stay
        assert view.nodata == original.nodata
        np.testing.assert_array_equal(view.read(), original.read())
        np.testing.assert_array_equal(view.dataset_mask(), original.dataset_mask())
        assert (original.dataset_mask() == 0).any()  # the nodata corner is kept out
    # the description keeps the image's own CRS
    assert store.meta(path).crs == "EPSG:4490"
    other = str(write_cog(tmp_path / "gk.tif", 4527, (39_500_000.0, 2_880_000.0), 10.0))
    assert store.reading(other).crs.to_epsg() == 4527  # other CRSs as they are
