"""change-detection on demo pairs generated here with other seeds: planted changes of
each class, clouds and shadows, a radiometric gain/offset and crop phenology. Accuracy
is object-level against the planted truth (tests/change_accuracy.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely

from config import Settings, load_settings
from processes.base import JobContext, ProcessError
from processes.change_detection import PROCESS, Inputs
from providers.base import AccessScope
from providers.demo import generate_demo
from tests.change_accuracy import accuracy

SEEDS = (11, 20240601)


def _settings(data_dir: Path) -> Settings:
    demo = load_settings()
    return demo.model_copy(update={"data_dir": data_dir, "generate_demo": False})


@pytest.fixture(scope="module", params=SEEDS)
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    data = tmp_path_factory.mktemp(f"pair{request.param}")
    files = generate_demo(data, seed=request.param, parcels=1500)
    settings = _settings(data)
    ctx = JobContext(settings, AccessScope(), "en", f"seed{request.param:08d}")
    result = PROCESS.run(Inputs(publish=False), ctx)
    return files, result


def test_accuracy_on_planted_changes(pair) -> None:  # type: ignore[no-untyped-def]
    files, result = pair
    acc = accuracy(files.truth, result["changes"]["features"])
    print(acc.line())
    assert acc.f1 >= 0.85, acc.line()
    assert acc.area_error <= 0.05, acc.line()
    assert {f["properties"]["class"] for f in result["changes"]["features"]} >= {
        "construction", "farmland_nonagri", "eco_restoration", "mine", "fire"
    }  # fmt: skip


def test_clouds_shadows_and_phenology_are_no_changes(pair) -> None:  # type: ignore[no-untyped-def]
    files, result = pair
    clouds = json.loads(files.truth.with_name("clouds_truth.geojson").read_text())
    masked = shapely.union_all(
        [shapely.geometry.shape(f["geometry"]) for f in clouds["features"]]
    )
    for f in result["changes"]["features"]:
        geom = shapely.geometry.shape(f["geometry"])
        assert shapely.intersection(geom, masked).area < 0.1 * geom.area


def test_polygon_attributes(pair) -> None:  # type: ignore[no-untyped-def]
    _files, result = pair
    features = result["changes"]["features"]
    keys = {f["properties"]["YGTBZJ"] for f in features}
    assert len(keys) == len(features)
    for f in features:
        p = f["properties"]
        assert p["JCSDQ"] == "2024-03-15" and p["JCSDH"] == "2024-09-15"
        assert p["JCMJ_MU"] == pytest.approx(p["JCMJ"] * 0.0015, abs=0.01)
        assert p["XZQDM"] and len(p["XZQDM"]) == 9
        assert p["DLBM_before"]
        assert 0 < p["confidence"] <= 1
    least = {"construction": 200, "mine": 200, "farmland_nonagri": 400,
             "eco_restoration": 600, "fire": 600}  # fmt: skip
    assert all(
        f["properties"]["JCMJ"] >= least[f["properties"]["class"]] for f in features
    )
    assert result["summary"]["count"] == len(features)


def test_area_of_interest_and_bad_inputs(tmp_path: Path) -> None:
    data = tmp_path / "d"
    files = generate_demo(data, seed=SEEDS[0], parcels=1500)
    ctx = JobContext(_settings(data), AccessScope(), "en", "aoi00001")
    truth = json.loads(files.truth.read_text())["features"]
    first = shapely.geometry.shape(truth[0]["geometry"])
    box = list(shapely.bounds(shapely.buffer(first, 0.002)))
    result = PROCESS.run(Inputs(aoi=box, publish=False), ctx)
    found = result["changes"]["features"]
    assert found and all(
        shapely.geometry.shape(f["geometry"]).intersects(shapely.box(*box)) for f in found
    )
    with pytest.raises(ProcessError) as outside:
        PROCESS.run(Inputs(aoi=[0, 0, 1, 1], publish=False), ctx)
    assert outside.value.message_id == "process.aoi_outside"
    with pytest.raises(ProcessError) as escape:
        PROCESS.run(Inputs(before={"href": "/etc/passwd"}, publish=False), ctx)
    assert escape.value.message_id == "source.outside"
    bare = PROCESS.run(Inputs(landuse=None, townships=None, publish=False), ctx)
    kinds = {f["properties"]["class"] for f in bare["changes"]["features"]}
    assert kinds == {"construction", "mine", "fire"}  # no greening without land use
    assert all(f["properties"]["XZQDM"] is None for f in bare["changes"]["features"])
    hidden = JobContext(_settings(data), AccessScope(collections=frozenset()), "en", "x")
    with pytest.raises(ProcessError):
        PROCESS.run(Inputs(publish=False), hidden)
    assert np.isfinite(result["summary"]["area_m2"])


def test_cloud_mask_leaves_out_what_it_covers(tmp_path: Path) -> None:
    import rasterio
    from rasterio.features import rasterize
    from rasterio.transform import from_bounds

    data = tmp_path / "d"
    files = generate_demo(data, seed=SEEDS[0], parcels=1500)
    ctx = JobContext(_settings(data), AccessScope(), "en", "mask0001")
    truth = json.loads(files.truth.read_text())["features"]
    covered = shapely.buffer(shapely.geometry.shape(truth[0]["geometry"]), 0.0003)
    # a mask on its own, coarser grid in EPSG:4326 (warped onto the images' grid)
    with rasterio.open(files.before) as image:
        west, south, east, north = image.bounds
    shape = (600, 600)
    transform = from_bounds(west, south, east, north, *shape[::-1])
    burnt = rasterize([(covered, 1)], out_shape=shape, transform=transform, dtype="uint8")
    mask = data / "cloud_mask.tif"
    with rasterio.open(
        mask, "w", driver="GTiff", width=shape[1], height=shape[0], count=1,
        dtype="uint8", crs="EPSG:4326", transform=transform,
    ) as dst:  # fmt: skip
        dst.write(burnt, 1)
    masked = PROCESS.run(Inputs(cloud_mask={"href": str(mask)}, publish=False), ctx)[
        "changes"
    ]["features"]
    plain = PROCESS.run(Inputs(publish=False), ctx)["changes"]["features"]

    def hits(features: list[dict[str, object]]) -> int:
        return sum(
            shapely.geometry.shape(f["geometry"]).intersects(covered)  # type: ignore[arg-type]
            for f in features
        )

    assert hits(plain) >= 1 and hits(masked) == 0
    assert len(masked) == len(plain) - hits(plain)


def test_windows_on_a_dask_cluster_give_the_same_polygons(pair) -> None:  # type: ignore[no-untyped-def]
    from distributed import LocalCluster

    files, local = pair
    data = files.gpkg.parent.parent
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        base = _settings(data)
        settings = base.model_copy(
            update={
                "processes": base.processes.model_copy(
                    update={"dask_scheduler": cluster.scheduler_address}
                )
            }
        )
        ctx = JobContext(settings, AccessScope(), "en", "dask0001")
        remote = PROCESS.run(Inputs(publish=False), ctx)

    def described(result: dict[str, object]) -> list[tuple[object, ...]]:
        features = result["changes"]["features"]  # type: ignore[index]
        return sorted(
            (f["properties"]["class"], f["properties"]["JCMJ"], f["properties"]["XZQDM"])
            for f in features
        )

    assert described(remote) == described(local)


def test_a_job_opens_only_the_collections_it_reads(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # the demo deployment has 7 collections (imagery among them); a change-detection
    # job reads dltb and xzq and writes change-polygons, each opened on its own
    data = tmp_path / "data"
    generate_demo(data, seed=5, parcels=300)
    settings = _settings(data)
    assert len(settings.collections) > 3
    ctx = JobContext(settings, AccessScope(), "en", "opened01")
    with caplog.at_level("DEBUG", logger="onemap.catalog"):
        result = PROCESS.run(Inputs(publish=True), ctx)
    opened = [r.args for r in caplog.records if r.msg.startswith("opened collections")]
    assert sorted(tuple(ids) for ids, _kinds in opened) == [  # type: ignore[misc]
        ("change-polygons",),
        ("dltb",),
        ("xzq",),
    ]
    assert all(kinds == ["geopackage"] for _ids, kinds in opened)  # type: ignore[misc]
    assert result["summary"]["published"] == len(result["changes"]["features"]) > 0
