"""Every process this server offers, by id."""

from __future__ import annotations

from processes import (
    carrying_capacity,
    change_detection,
    landuse_statistics,
    monitoring_statistics,
    planning_compliance,
)
from processes.base import Process

PROCESSES: dict[str, Process] = {
    p.id: p
    for p in (
        change_detection.PROCESS,
        monitoring_statistics.PROCESS,
        landuse_statistics.PROCESS,
        carrying_capacity.PROCESS,
        planning_compliance.PROCESS,
    )
}
