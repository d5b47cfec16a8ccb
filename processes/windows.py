"""The per-window pixel work of change-detection, here or on a Dask cluster.

Each window is classified independently (read both images, normalise, classify), so
the windows can go to the workers of a Dask distributed cluster (``processes.
dask_scheduler``); the images' paths or URLs must be readable there too. The job's
process keeps only a few windows in flight, so its memory stays bounded either way, and
when the job is dismissed its client goes away and the cluster drops its tasks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from rasterio.windows import Window

from processes import change_rules as rules
from processes.imagery_pair import ImagePair, Normalisation

_IN_FLIGHT = 2  # windows per Dask worker


@dataclass(frozen=True)
class PixelJob:
    """Everything a window's classification needs, picklable."""

    before: str
    after: str
    mask: str | None
    norm: Normalisation
    thresholds: dict[str, Any]
    ndvi_t: float


def classify_window(job: PixelJob, window: tuple[int, int, int, int]) -> tuple[Any, Any]:
    """Classes and scores (uint8, 0-100) of one window (col, row, width, height)."""
    with ImagePair(job.before, job.after, mask=job.mask) as pair:
        return _classify(pair, job, Window(*window))


def _classify(pair: ImagePair, job: PixelJob, window: Window) -> tuple[Any, Any]:
    b, a, valid = pair.read(window, job.norm)
    t = rules.Thresholds.model_validate(job.thresholds)
    cls, score = rules.classify(b, a, valid, t, job.ndvi_t)
    return cls, (score * 100).astype(np.uint8)


def classified(
    pair: ImagePair, job: PixelJob, windows: list[Window], scheduler: str | None
) -> Iterator[tuple[Window, Any, Any]]:
    """(window, classes, scores) of every window, in any order."""
    if scheduler is None:
        for window in windows:
            yield window, *_classify(pair, job, window)
        return
    from distributed import Client, as_completed

    with Client(scheduler, set_as_default=False) as client:  # type: ignore[no-untyped-call]
        workers = len(client.scheduler_info()["workers"])
        pending = list(windows)
        where: dict[str, Window] = {}

        def submit() -> Any:
            window = pending.pop(0)
            box = (int(window.col_off), int(window.row_off),
                   int(window.width), int(window.height))  # fmt: skip
            future = client.submit(classify_window, job, box, pure=False)
            where[future.key] = window
            return future

        first = [submit() for _ in range(min(max(2, _IN_FLIGHT * workers), len(pending)))]
        done = as_completed(first, loop=client.loop)  # type: ignore[no-untyped-call]
        for future in done:
            cls, score = future.result()
            yield where.pop(future.key), cls, score
            if pending:
                done.add(submit())  # type: ignore[no-untyped-call]
