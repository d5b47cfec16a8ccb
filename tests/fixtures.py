"""Small real GeoPackages written by the tests (no committed binaries)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyogrio
import shapely

# A 20 x 15 grid of 0.005 degree squares in EPSG:4490 near Guigang.
GRID_COLS, GRID_ROWS, CELL = 20, 15, 0.005
GRID_ORIGIN = (109.50, 23.00)
CLASSES = [
    ("0101", "水田"),
    ("0103", "旱地"),
    ("0301", "乔木林地"),
    ("1101", "河流水面"),
    ("0702", "农村宅基地"),
]
NAMES_EN = ["Paddy", "Dryland", "Forêt", "Rivière", "Village"]  # accents for ACCENTI


def parcel_grid() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Geometries and attributes of the grid, row-major from the south-west corner."""
    names = ("BSM", "DLBM", "DLMC", "MCEN", "TBMJ", "SJNF", "GXSJ")
    geoms, fields = [], {k: [] for k in names}
    for row in range(GRID_ROWS):
        for col in range(GRID_COLS):
            i = row * GRID_COLS + col
            x0 = GRID_ORIGIN[0] + col * CELL
            y0 = GRID_ORIGIN[1] + row * CELL
            geoms.append(shapely.box(x0, y0, x0 + CELL, y0 + CELL))
            code, name = CLASSES[i % len(CLASSES)]
            fields["BSM"].append(f"450802{i:012d}")
            fields["DLBM"].append(code)
            fields["DLMC"].append(name)
            fields["MCEN"].append(NAMES_EN[i % len(NAMES_EN)])
            fields["TBMJ"].append(round(250000.0 + i, 2))
            fields["SJNF"].append(2020 + i % 4)
            fields["GXSJ"].append(np.datetime64("2023-01-01") + np.timedelta64(i, "D"))
    arrays = {
        "BSM": np.array(fields["BSM"], dtype=object),
        "DLBM": np.array(fields["DLBM"], dtype=object),
        "DLMC": np.array(fields["DLMC"], dtype=object),
        "MCEN": np.array(fields["MCEN"], dtype=object),
        "TBMJ": np.array(fields["TBMJ"], dtype="float64"),
        "SJNF": np.array(fields["SJNF"], dtype="int32"),
        "GXSJ": np.array(fields["GXSJ"], dtype="datetime64[D]"),
    }
    return np.array(geoms, dtype=object), arrays


def write_layer(
    path: Path,
    layer: str,
    geoms: np.ndarray,
    fields: dict[str, np.ndarray],
    epsg: int,
    geometry_type: str = "Polygon",
) -> None:
    """Write one layer with pyogrio (GDAL), spatial index included."""
    pyogrio.raw.write(
        path,
        shapely.to_wkb(geoms),
        list(fields.values()),
        list(fields.keys()),
        layer=layer,
        driver="GPKG",
        crs=f"EPSG:{epsg}",
        geometry_type=geometry_type,
        append=path.exists(),
    )


def write_test_store(directory: Path) -> Path:
    """parcels (4490), wells (points stored in GK zone EPSG:4526), secret (4490)."""
    path = directory / "store.gpkg"
    geoms, fields = parcel_grid()
    write_layer(path, "parcels", geoms, fields, 4490)
    # Points stored in a CGCS2000 3-degree Gauss-Kruger zone (CM 108, zone prefix 36).
    wells = np.array(
        [shapely.Point(36_540_000 + 500 * i, 2_550_000 + 700 * i) for i in range(7)],
        dtype=object,
    )
    write_layer(
        path,
        "wells",
        wells,
        {"NAME": np.array([f"井{i}" for i in range(7)], dtype=object)},
        4524,
        "Point",
    )
    write_layer(path, "secret", geoms[:5], {k: v[:5] for k, v in fields.items()}, 4490)
    # A copy of the first 20 parcels that the edit tests change
    write_layer(
        path, "editable", geoms[:20], {k: v[:20] for k, v in fields.items()}, 4490
    )
    return path


def write_cog(
    path: Path,
    epsg: int,
    origin: tuple[float, float],
    pixel: float,
    size: int = 512,
    seed: int = 0,
) -> Path:
    """A 4-band uint16 COG written by GDAL, with a smooth pattern and a nodata corner."""
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    bands = []
    for b in range(4):
        wave = np.sin(xx / (17 + 5 * b)) + np.cos(yy / (23 + 3 * b))
        bands.append(800 + 400 * b + 300 * wave + rng.normal(0, 20, (size, size)))
    data = np.clip(np.stack(bands), 1, 60000).astype("uint16")
    data[:, : size // 8, : size // 8] = 0  # nodata corner
    profile = {
        "driver": "COG",
        "width": size,
        "height": size,
        "count": 4,
        "dtype": "uint16",
        "crs": f"EPSG:{epsg}",
        "transform": from_origin(origin[0], origin[1], pixel, pixel),
        "nodata": 0,
        "compress": "DEFLATE",
        "blocksize": 256,
        "overview_resampling": "average",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        dst.descriptions = ("B", "G", "R", "NIR")
    return path


def write_test_imagery(directory: Path) -> dict[str, Path]:
    """COGs near the test parcels (EPSG:4490) and in a Gauss-Kruger zone (EPSG:4527)."""
    imagery = directory / "imagery"
    imagery.mkdir(exist_ok=True)
    return {
        # 512 px of 0.0001 degree (~10 m) over the parcel grid's south-west part
        "before": write_cog(
            imagery / "before.tif", 4490, (109.50, 23.06), 0.0001, seed=1
        ),
        "after": write_cog(imagery / "after.tif", 4490, (109.50, 23.06), 0.0001, seed=2),
        # CM 117E, zone 39 with the zone prefix in the easting; 10 m pixels
        "gk": write_cog(
            imagery / "gk.tif", 4527, (39_500_000.0, 2_880_000.0), 10.0, seed=3
        ),
    }
