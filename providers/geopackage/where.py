"""The SQLite dialect of the WHERE builder: the GeoPackage R-tree first, GEOS after.

Bbox and region use the table's R-tree (joined as ``r``) to find the candidates, and
the exact GEOS test (a registered function) only where the R-tree box cannot decide.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import shapely

from providers.filters import is_rectangle
from providers.geopackage.cql2 import Frag, SqliteDialect, quote
from providers.where import Area


def _julian(value: datetime) -> str:
    """ISO text SQLite's julianday() reads (UTC, no offset)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="milliseconds")


class SqliteWhere(SqliteDialect):
    """The dialect for one statement on one table; ``joins`` is the R-tree join its
    spatial conditions need (empty when they need none)."""

    def __init__(self, geometry_column: str, pk: str, rtree: str | None) -> None:
        super().__init__(geometry_column)
        self._pk = pk
        self._rtree = rtree
        self.joins = ""

    def areas(self, areas: list[Area]) -> list[Frag]:
        """R-tree boxes against the areas' common envelope, then GEOS."""
        envelope = shapely.intersection_all(
            [shapely.box(*a.geometry.bounds) for a in areas]
        )
        if envelope.is_empty:
            return [self.constant(False)]
        parts: list[Frag] = []
        if self._rtree is not None:
            minx, miny, maxx, maxy = envelope.bounds
            self.joins = f" JOIN {quote(self._rtree)} AS r ON r.id = t.{quote(self._pk)}"
            parts.append(
                Frag(
                    "r.minx <= ? AND r.maxx >= ? AND r.miny <= ? AND r.maxy >= ?",
                    (maxx, minx, maxy, miny),
                )
            )
        exact = f"onemap_intersects({self.geometry_column().text}, ?)"
        for area in areas:
            if self._rtree is not None and is_rectangle(area.geometry):
                # A feature whose R-tree box (rounded outwards) lies inside a rectangle
                # intersects it: GEOS runs only for the features on the rectangle's edge.
                ax0, ay0, ax1, ay1 = area.geometry.bounds
                parts.append(
                    Frag(
                        "((r.minx >= ? AND r.maxx <= ? AND r.miny >= ? AND r.maxy <= ?) "
                        f"OR {exact})",
                        (ax0, ax1, ay0, ay1, area.wkb),
                    )
                )
            else:
                parts.append(Frag(exact, (area.wkb,)))
        return parts

    def instant(self, column: str, op: Literal[">=", "<="], value: datetime) -> Frag:
        """Dates and timestamps compare as Julian days."""
        text = f"julianday({self.column(column).text}) {op} julianday(?)"
        return Frag(text, (_julian(value),))
