"""Every process this server offers, by id."""

from __future__ import annotations

from processes import landuse_statistics
from processes.base import Process

PROCESSES: dict[str, Process] = {p.id: p for p in (landuse_statistics.PROCESS,)}
