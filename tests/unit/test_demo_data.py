"""Properties of the synthetic demo data (small size, so the module runs in seconds)."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyogrio
import pyogrio.raw
import pytest
import rasterio
import shapely
from pyproj import Geod
from rasterio.features import rasterize

import providers.demo as demo_pkg
from providers.demo import DemoFiles, generate_demo
from providers.demo.geo import BBOX
from providers.demo.landuse import landuse_names, sandalei

PARCELS = 1500
SEED = 20240601
GEOD = Geod(a=6378137.0, rf=298.257222101)
LAYERS = {
    "xzq": "Polygon",
    "dltb": "Polygon",
    "czkfbj": "MultiPolygon",
    "yjjbnt": "MultiPolygon",
    "stbhhx": "MultiPolygon",
}
CLASSES = ("construction", "farmland_nonagri", "eco_restoration", "mine", "fire")

Layer = tuple[npt.NDArray[Any], dict[str, npt.NDArray[Any]]]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> DemoFiles:
    return generate_demo(tmp_path_factory.mktemp("demo"), seed=SEED, parcels=PARCELS)


@pytest.fixture(scope="module")
def layers(files: DemoFiles) -> dict[str, Layer]:
    out = {}
    for name in LAYERS:
        _, _, wkb, values = pyogrio.raw.read(files.gpkg, layer=name)
        info = pyogrio.read_info(files.gpkg, layer=name)
        fields = dict(zip(info["fields"], values, strict=True))
        out[name] = (shapely.from_wkb(wkb), fields)
    return out


@pytest.fixture(scope="module")
def images(files: DemoFiles) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    with rasterio.open(files.before) as b, rasterio.open(files.after) as a:
        return b.read().astype(np.float64), a.read().astype(np.float64)


def _geodesic(geom: Any) -> float:
    return abs(GEOD.geometry_area_perimeter(geom)[0])


def _union(geoms: npt.NDArray[Any]) -> Any:
    return shapely.union_all(geoms)


# ------------------------------------------------------------------------------- files


def test_files_exist_and_no_temporaries(files: DemoFiles) -> None:
    assert files.complete()
    assert files.gpkg.name == "onemap_demo.gpkg"
    assert files.before.parent.name == "imagery"
    leftovers = list(files.gpkg.parent.rglob("*.tmp-*"))
    assert leftovers == []


def test_existing_files_are_not_regenerated(
    files: DemoFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    monkeypatch.setattr(demo_pkg, "_generate", lambda *a: calls.append(1))
    data_dir = files.gpkg.parent.parent
    assert generate_demo(data_dir, parcels=PARCELS) == files
    assert calls == []
    generate_demo(data_dir, parcels=PARCELS, force=True)
    assert calls == [1]


def test_incomplete_set_is_regenerated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    monkeypatch.setattr(demo_pkg, "_generate", lambda *a: calls.append(1))
    partial = demo_pkg.demo_files(tmp_path)
    for path in partial.all[:-1]:  # everything but the truth file, which is renamed last
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    generate_demo(tmp_path)
    assert calls == [1]


def test_gpkg_layers_crs_types_and_spatial_index(files: DemoFiles) -> None:
    listed = dict(pyogrio.list_layers(files.gpkg).tolist())
    assert listed == {**LAYERS, "change_polygons": "Polygon"}  # empty until monitoring
    for name in LAYERS:
        info = pyogrio.read_info(files.gpkg, layer=name)
        assert info["crs"] == "EPSG:4490"
        assert info["features"] > 0
    with closing(sqlite3.connect(files.gpkg)) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    assert {f"rtree_{name}_geom" for name in LAYERS} <= tables
    gxsj = pyogrio.read_info(files.gpkg, layer="dltb")
    assert dict(zip(gxsj["fields"], gxsj["ogr_types"], strict=True))["GXSJ"] == "OFTDate"


# ---------------------------------------------------------------------------- geometry


def test_dltb_is_an_exact_coverage_of_the_area(layers: dict[str, Layer]) -> None:
    geoms, _ = layers["dltb"]
    assert len(geoms) >= PARCELS
    assert (shapely.get_type_id(geoms) == 3).all()
    assert shapely.is_valid(geoms).all()
    assert bool(shapely.coverage_is_valid(geoms))  # no overlaps, identical shared edges
    area = shapely.box(*BBOX)
    union = shapely.coverage_union_all(geoms)
    assert shapely.area(shapely.symmetric_difference(union, area)) < 1e-12
    assert shapely.area(geoms).sum() == pytest.approx(area.area, rel=1e-12)
    assert shapely.get_num_interior_rings(union) == 0


def test_polygons_are_counter_clockwise(layers: dict[str, Layer]) -> None:
    for name in LAYERS:
        geoms, _ = layers[name]
        shells = shapely.get_exterior_ring(shapely.get_parts(geoms))
        assert shapely.is_ccw(shells).all(), name


def test_townships_tile_the_rectangle(layers: dict[str, Layer]) -> None:
    geoms, fields = layers["xzq"]
    assert 10 <= len(geoms) <= 14
    assert bool(shapely.coverage_is_valid(geoms))
    area = shapely.box(*BBOX)
    assert shapely.area(shapely.symmetric_difference(_union(geoms), area)) < 1e-12
    assert len(set(fields["XZQDM"])) == len(geoms)
    assert all(
        c[:6] in {"450802", "450803", "450804"} and len(c) == 9 for c in fields["XZQDM"]
    )
    assert all(n.endswith(("街道", "镇", "乡")) for n in fields["XZQMC"])
    assert (fields["YSDM"] == "1000600100").all()
    mj = np.array([_geodesic(g) for g in geoms])
    np.testing.assert_allclose(fields["MJ"], mj, rtol=1e-9, atol=0.02)


def test_parcels_nest_in_their_township(layers: dict[str, Layer]) -> None:
    xzq, xf = layers["xzq"]
    parcels, pf = layers["dltb"]
    town = {code: g for code, g in zip(xf["XZQDM"], xzq, strict=True)}
    owner = np.array([town[c[:9]] for c in pf["ZLDWDM"]], object)
    inside = shapely.area(shapely.intersection(parcels, owner))
    np.testing.assert_allclose(inside, shapely.area(parcels), rtol=1e-7, atol=1e-14)
    tbmj = {
        c: pf["TBMJ"][pf["ZLDWDM"].astype(str).astype("<U9") == c].sum() for c in town
    }
    for code, mj in zip(xf["XZQDM"], xf["MJ"], strict=True):
        assert tbmj[code] == pytest.approx(mj, rel=1e-6)


# ------------------------------------------------------------------------------ fields


def test_dltb_field_domains(layers: dict[str, Layer]) -> None:
    geoms, f = layers["dltb"]
    names = landuse_names()
    n = len(geoms)
    assert set(f["DLBM"]) <= set(names)
    assert all(names[c] == m for c, m in zip(f["DLBM"], f["DLMC"], strict=True))
    assert all(len(c) >= 4 or c == "09" for c in f["DLBM"])
    assert len(set(f["BSM"])) == n and {len(b) for b in f["BSM"]} == {18}
    assert (f["YSDM"] == "2001010100").all()
    assert set(f["QSXZ"]) == {"10", "20"}
    for key in ("QSDWDM", "ZLDWDM"):
        assert {len(c) for c in f[key]} == {19}
        assert all(c.isdigit() and c.endswith("0000000") for c in f[key])
    assert all(m.endswith("委员会") for m in f["ZLDWMC"])
    pairs = set(zip(f["ZLDWDM"], f["TBBH"], strict=True))
    assert len(pairs) == n  # TBBH unique within a village
    assert (f["SJNF"] == 2023).all()
    gxsj = f["GXSJ"].astype("datetime64[D]")
    assert gxsj.min() >= np.datetime64("2023-01-01")
    assert gxsj.max() <= np.datetime64("2023-12-31")


def test_dltb_areas_are_ellipsoidal(layers: dict[str, Layer]) -> None:
    geoms, f = layers["dltb"]
    pick = np.random.default_rng(0).choice(len(geoms), 300, replace=False)
    expected = np.array([_geodesic(g) for g in geoms[pick]])
    np.testing.assert_allclose(f["TBMJ"][pick], expected, atol=0.0051)
    assert (f["TBMJ"] >= 100).all()
    np.testing.assert_allclose(f["KCMJ"], np.round(f["TBMJ"] * f["KCXS"], 2), atol=1e-9)
    np.testing.assert_allclose(f["TBDLMJ"], np.round(f["TBMJ"] - f["KCMJ"], 2), atol=1e-9)


def test_cropland_attributes(layers: dict[str, Layer]) -> None:
    _, f = layers["dltb"]
    crop = np.isin(f["DLBM"], ["0101", "0102", "0103"])
    assert crop.any()
    assert (f["KCDLBM"][crop] == "1203").all() and (f["KCDLBM"][~crop] == "").all()
    assert set(f["GDLX"][crop]) <= {"TT", "PD"} and (f["GDLX"][~crop] == "").all()
    assert set(f["GDPDJB"][crop]) <= set("12345") and (f["GDPDJB"][~crop] == "").all()
    assert set(f["ZZSXDM"][crop]) <= {"LS", "FLS", "LYFL", "XG", "LLJZ", "WG"}
    assert (f["ZZSXDM"][~crop] == "").all() and (f["ZZSXMC"][~crop] == "").all()
    kcxs = f["KCXS"]
    assert (kcxs[~crop] == 0).all()
    assert (kcxs[crop] <= 0.12).all()
    sloped = crop & (f["GDPDJB"] != "1")
    assert (kcxs[sloped] >= 0.02).all() and (kcxs[crop & ~sloped] == 0).all()


def test_czcsxm_only_on_construction_land(layers: dict[str, Layer]) -> None:
    _, f = layers["dltb"]
    built = np.isin(f["DLBM"], [c for c, k in sandalei().items() if k == "建设用地"])
    has = f["CZCSXM"] != ""
    assert set(f["CZCSXM"][has]) <= {
        "201",
        "202",
        "203",
        "204",
        "205",
        "201A",
        "202A",
        "203A",
    }
    assert not (has & ~built).any()
    assert {"201", "202", "203"} <= set(f["CZCSXM"])


def test_land_use_shares_and_layout(layers: dict[str, Layer]) -> None:
    _, f = layers["dltb"]
    area = f["TBMJ"]
    total = area.sum()

    def share(mask: npt.NDArray[np.bool_]) -> float:
        return float(area[mask].sum() / total)

    code = f["DLBM"].astype(str)
    built = np.isin(code, [c for c, k in sandalei().items() if k == "建设用地"])
    assert 0.30 <= share(np.char.startswith(code, "01")) <= 0.50
    assert 0.20 <= share(np.char.startswith(code, "03")) <= 0.40
    assert 0.07 <= share(built) <= 0.18
    assert 0.04 <= share(np.char.startswith(code, "11")) <= 0.10
    assert share(code == "1101") > 0.005  # the river
    for required in (
        "0101",
        "0103",
        "0301",
        "0701",
        "0702",
        "1101",
        "1104",
        "1006",
        "1004",
    ):
        assert required in set(code), required


# ------------------------------------------------------------------------ control lines


def test_control_lines_do_not_overlap(layers: dict[str, Layer]) -> None:
    unions = {name: _union(layers[name][0]) for name in ("czkfbj", "yjjbnt", "stbhhx")}
    for a, b in (("czkfbj", "yjjbnt"), ("czkfbj", "stbhhx"), ("yjjbnt", "stbhhx")):
        assert shapely.area(shapely.intersection(unions[a], unions[b])) < 1e-12, (a, b)


def _share_over(layer: Layer, parcels: Layer, codes: set[str]) -> float:
    geoms, _ = layer
    pg, pf = parcels
    union = _union(geoms)
    sel = np.isin(pf["DLBM"], sorted(codes))
    over = shapely.area(shapely.intersection(pg[sel], union)).sum()
    return float(over / shapely.area(union))


def test_control_lines_follow_land_use(layers: dict[str, Layer]) -> None:
    dltb = layers["dltb"]
    built = {c for c, k in sandalei().items() if k == "建设用地"}
    assert _share_over(layers["czkfbj"], dltb, built) > 0.6
    assert _share_over(layers["yjjbnt"], dltb, {"0101", "0102", "0103"}) == pytest.approx(
        1.0
    )
    names = set(landuse_names())
    eco = {c for c in names if c.startswith("03")} | {"0404", "1101", "1103", "1106"}
    assert _share_over(layers["stbhhx"], dltb, eco) == pytest.approx(1.0)


def test_control_line_fields(layers: dict[str, Layer]) -> None:
    for name in ("czkfbj", "yjjbnt", "stbhhx"):
        geoms, f = layers[name]
        assert shapely.is_valid(geoms).all()
        assert (shapely.get_type_id(geoms) == 6).all()
        assert len(set(f["BSM"])) == len(geoms)
        mj = f["YJJBNTTBMJ"] if name == "yjjbnt" else f["MJ"]
        expected = np.array([_geodesic(g) for g in geoms])
        np.testing.assert_allclose(mj, expected, rtol=1e-6, atol=0.006)
    _, czk = layers["czkfbj"]
    assert set(czk["GHFQDM"]) <= {"010", "020", "030"}
    ghfq = {"010": "城镇集中建设区", "020": "城镇弹性发展区", "030": "特别用途区"}
    assert all(ghfq[c] == m for c, m in zip(czk["GHFQDM"], czk["GHFQMC"], strict=True))
    _, yj = layers["yjjbnt"]
    assert set(yj["DLBM"]) <= {"0101", "0102", "0103"}
    assert len(set(yj["YJJBNTTBBH"])) == len(yj["YJJBNTTBBH"])
    _, stb = layers["stbhhx"]
    assert set(stb["LXMC"]) <= {"水源涵养", "生物多样性维护", "水土保持"}
    assert all(h.endswith("生态保护红线") for h in stb["HXMC"])


# --------------------------------------------------------------------------- imagery


def test_cogs_are_valid(files: DemoFiles) -> None:
    for path, date in ((files.before, "2024-03-15"), (files.after, "2024-09-15")):
        with rasterio.open(path) as ds:
            structure = ds.tags(ns="IMAGE_STRUCTURE")
            assert structure["LAYOUT"] == "COG"
            assert structure["COMPRESSION"] == "DEFLATE" and structure["PREDICTOR"] == "2"
            assert ds.count == 4 and ds.dtypes == ("uint16",) * 4
            assert ds.descriptions == ("B", "G", "R", "NIR")
            assert ds.crs.to_epsg() == 4490
            assert ds.width == ds.height == 2048
            assert ds.res == pytest.approx((0.00005, 0.00005))
            assert ds.bounds.left == pytest.approx(109.55)
            assert ds.bounds.top == pytest.approx(23.1524)
            assert ds.nodata is None
            assert ds.tags()["ACQUISITION_DATE"] == date
            assert ds.block_shapes[0] == (512, 512)
            assert ds.overviews(1) == [2, 4]


def test_cogs_pass_rio_cogeo_validation(files: DemoFiles) -> None:
    cogeo = pytest.importorskip("rio_cogeo.cogeo")
    for path in (files.before, files.after):
        valid, errors, warnings = cogeo.cog_validate(str(path), quiet=True)
        assert valid and not errors and not warnings, (errors, warnings)


def _load(path: Path) -> list[dict[str, Any]]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["type"] == "FeatureCollection"
    return list(doc["features"])


def _mask(geom: Any) -> npt.NDArray[np.bool_]:
    transform = rasterio.transform.from_origin(109.55, 23.1524, 0.00005, 0.00005)
    burnt = rasterize(
        [(geom, 1)], out_shape=(2048, 2048), transform=transform, dtype="uint8"
    )
    return np.asarray(burnt, bool)


def test_truth_files(files: DemoFiles) -> None:
    changes = _load(files.truth)
    clouds = _load(files.clouds)
    kinds = [f["properties"]["class"] for f in changes]
    for cls in CLASSES:
        assert kinds.count(cls) >= 2, cls
    image = shapely.box(109.55, 23.05, 109.6524, 23.1524)
    geoms = [shapely.geometry.shape(f["geometry"]) for f in changes]
    for feature, geom in zip(changes, geoms, strict=True):
        assert geom.geom_type == "Polygon" and geom.is_valid
        assert image.contains(geom)
        area = feature["properties"]["area_m2"]
        assert area == pytest.approx(_geodesic(geom), abs=0.01)
        assert 300 <= area <= 21000
    assert {round(f["properties"]["area_m2"], -3) > 5000 for f in changes} == {
        True,
        False,
    }
    assert shapely.area(shapely.union_all(geoms)) == pytest.approx(
        sum(g.area for g in geoms)
    )
    assert {f["properties"]["kind"] for f in clouds} == {"cloud", "shadow"}
    cloud_union = shapely.union_all(
        [shapely.geometry.shape(f["geometry"]) for f in clouds]
    )
    assert not shapely.intersects(cloud_union, shapely.union_all(geoms))


def _normalised_diff(
    before: npt.NDArray[np.float64], after: npt.NDArray[np.float64], stable: Any
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Relative residuals of a per-band linear fit of after on before (``stable`` px)."""
    gains = np.empty((4, 2))
    resid = np.empty_like(before)
    for b in range(4):
        x, y = before[b][stable], after[b][stable]
        gains[b] = np.polyfit(x[::37], y[::37], 1)
        resid[b] = (after[b] - np.polyval(gains[b], before[b])) / (before[b] + 300.0)
    return np.abs(resid).max(axis=0), gains


def test_changes_visible_and_distractors_present(
    files: DemoFiles, images: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]
) -> None:
    before, after = images
    clouds = {
        f["properties"]["kind"] + str(f["id"]): shapely.geometry.shape(f["geometry"])
        for f in _load(files.clouds)
    }
    changes = [shapely.geometry.shape(f["geometry"]) for f in _load(files.truth)]
    masked = _mask(shapely.union_all([*clouds.values(), *changes]))
    diff, gains = _normalised_diff(before, after, ~masked)
    # (b) a global radiometric difference exists, and it is removed by a linear fit
    assert np.abs(gains[:, 0] - 1).max() > 0.01 or np.abs(gains[:, 1]).max() > 20
    background = float(np.quantile(diff[~masked], 0.5))
    assert background < 0.1
    # (a) every planted change is clearly visible
    for geom in changes:
        inside = diff[_mask(geom)]
        assert inside.size >= 10
        assert float(np.median(inside)) > max(0.35, 4 * background)
    # (d) clouds are white in every band, shadows are dark
    for key, geom in clouds.items():
        m = _mask(geom)
        if key.startswith("cloud"):
            assert (after[:, m] > 7000).all()
        else:
            assert float(np.median(after[3][m] / before[3][m])) < 0.6


def test_paddy_phenology_is_greener(
    layers: dict[str, Layer],
    images: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]],
) -> None:
    geoms, f = layers["dltb"]
    before, after = images
    transform = rasterio.transform.from_origin(109.55, 23.1524, 0.00005, 0.00005)
    paddy = rasterize(
        [(g, 1) for g in geoms[f["DLBM"] == "0101"]],
        out_shape=(2048, 2048),
        transform=transform,
        dtype="uint8",
    ).astype(bool)
    assert paddy.sum() > 1000
    ratio = (after[3] / after[0])[paddy] / (before[3] / before[0])[paddy]
    assert np.quantile(ratio, 0.9) > 1.8  # NIR up, blue down in part of the paddy
    assert np.quantile(ratio, 0.1) < 1.3  # the rest stays as it was


# -------------------------------------------------------------------------- determinism


def test_same_seed_same_data(files: DemoFiles, layers: dict[str, Layer]) -> None:
    from providers.demo.imagery import build_scene
    from providers.demo.sampling import stream
    from providers.demo.vector import build_vector

    again = build_vector(SEED, PARCELS)
    for name, layer in again.layers.items():
        geoms, fields = layers[name]
        assert shapely.equals_identical(geoms, layer.geoms).all(), name
        assert list(fields) == list(layer.fields), name
        for key, values in layer.fields.items():
            assert np.array_equal(fields[key], values), (name, key)
    dltb = again.layers["dltb"]
    scene = build_scene(stream(SEED, "imagery"), dltb.geoms, dltb.fields["DLBM"])
    for path, pixels in ((files.before, scene.before), (files.after, scene.after)):
        with rasterio.open(path) as ds:
            assert np.array_equal(ds.read(), pixels)
    planted = [shapely.geometry.shape(f["geometry"]) for f in _load(files.truth)]
    assert all(
        shapely.equals_identical(a, b.geom)
        for a, b in zip(planted, scene.changes, strict=True)
    )


def test_other_seed_other_data() -> None:
    from providers.demo.geo import geoms_to_deg
    from providers.demo.landscape import make_landscape
    from providers.demo.sampling import stream
    from providers.demo.townships import make_townships

    def townships(seed: int) -> npt.NDArray[Any]:
        land = make_landscape(stream(seed, "landscape"))
        return np.asarray(
            geoms_to_deg(make_townships(stream(seed, "townships"), land).geoms)
        )

    assert shapely.equals_identical(townships(SEED), townships(SEED)).all()
    assert not shapely.equals(townships(SEED), townships(SEED + 1)).any()
