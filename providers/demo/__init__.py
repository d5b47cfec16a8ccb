"""Demo data for OneMap Server: a synthetic county around Guigang, Guangxi (EPSG:4490).

``generate_demo(data_dir)`` writes, under ``data_dir/demo``:

- ``onemap_demo.gpkg``: layers ``xzq``, ``dltb``, ``czkfbj``, ``yjjbnt``, ``stbhhx``;
- ``imagery/before.tif`` and ``imagery/after.tif``: a 4-band (B, G, R, NIR) COG pair;
- ``imagery/changes_truth.geojson`` and ``imagery/clouds_truth.geojson``.

The output depends only on ``seed`` and ``parcels``. Every file is written under a
temporary name and renamed into place; the change truth file is renamed last, so a set
of files counts as complete only when all of them exist.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULT_PARCELS", "DEFAULT_SEED", "DemoFiles", "demo_files", "generate_demo"]

DEFAULT_SEED = 20240601
DEFAULT_PARCELS = 24000


@dataclass(frozen=True)
class DemoFiles:
    """Paths of the generated demo files."""

    gpkg: Path
    before: Path
    after: Path
    truth: Path

    @property
    def clouds(self) -> Path:
        """Cloud and cloud-shadow polygons of the "after" image (not changes)."""
        return self.truth.with_name("clouds_truth.geojson")

    @property
    def all(self) -> tuple[Path, ...]:
        """Every file, in the order they are put in place (truth last)."""
        return (self.gpkg, self.before, self.after, self.clouds, self.truth)

    def complete(self) -> bool:
        """Whether every file exists."""
        return all(p.is_file() for p in self.all)


def demo_files(data_dir: Path) -> DemoFiles:
    """Where the demo files live inside ``data_dir``."""
    demo = Path(data_dir) / "demo"
    imagery = demo / "imagery"
    return DemoFiles(
        gpkg=demo / "onemap_demo.gpkg",
        before=imagery / "before.tif",
        after=imagery / "after.tif",
        truth=imagery / "changes_truth.geojson",
    )


def generate_demo(
    data_dir: Path,
    *,
    seed: int = DEFAULT_SEED,
    parcels: int = DEFAULT_PARCELS,
    force: bool = False,
) -> DemoFiles:
    """Generate the demo GeoPackage and COG pair, unless they already exist.

    ``parcels`` is the minimum number of land-use parcels (the result has somewhat more:
    roads, canals and the river are cut out of the Voronoi cells as parcels of their own).
    """
    from processes.change_publish import create_layer

    files = demo_files(Path(data_dir))
    if files.complete() and not force:
        create_layer(files.gpkg)  # data dirs made before the layer existed
        return files
    if parcels < 200:
        raise ValueError("parcels must be at least 200")
    if seed < 0:
        raise ValueError("seed must be non-negative")
    _generate(files, seed, parcels)
    return files


def _temp_name(path: Path) -> Path:
    return path.with_name(f"{path.stem}.tmp-{os.getpid()}{path.suffix}")


def _generate(files: DemoFiles, seed: int, parcels: int) -> None:
    """Write every file under a temporary name, then rename them into place."""
    from processes.change_publish import create_layer

    from . import imagery
    from .sampling import stream
    from .vector import build_vector, write_gpkg

    tmp = {path: _temp_name(path) for path in files.all}
    for path in files.all:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp[path].unlink(missing_ok=True)
    try:
        demo = build_vector(seed, parcels)
        write_gpkg(tmp[files.gpkg], demo)
        # where departments verify the polygons of the monitoring (empty at first)
        create_layer(tmp[files.gpkg])
        dltb = demo.dltb
        scene = imagery.build_scene(
            stream(seed, "imagery"), dltb.geoms, dltb.fields["DLBM"]
        )
        imagery.write_cog(tmp[files.before], scene.before, imagery.BEFORE_DATE)
        imagery.write_cog(tmp[files.after], scene.after, imagery.AFTER_DATE)
        imagery.write_clouds(tmp[files.clouds], scene.clouds)
        imagery.write_truth(tmp[files.truth], scene.changes)
        files.truth.unlink(missing_ok=True)  # the set is incomplete until the end
        for path in files.all:
            os.replace(tmp[path], path)
    finally:
        for path in tmp.values():
            path.unlink(missing_ok=True)
