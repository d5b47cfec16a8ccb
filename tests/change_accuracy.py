"""Object-level accuracy of change polygons against the planted truth of a demo pair:
a detected polygon matches a planted one of the same class when they overlap by at
least half of the smaller; precision, recall, F1 and the relative area error of the
matched polygons."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shapely


@dataclass(frozen=True)
class Accuracy:
    """How the detected polygons compare with the truth."""

    planted: int
    detected: int
    matched: int
    precision: float
    recall: float
    f1: float
    area_error: float  # |detected - planted| / planted, matched polygons
    false: list[tuple[str, float]]  # class, m² of detections matching nothing

    def line(self) -> str:
        """A one-line report."""
        return (
            f"planted {self.planted}, detected {self.detected}, matched {self.matched}: "
            f"precision {self.precision:.3f}, recall {self.recall:.3f}, "
            f"F1 {self.f1:.3f}, area error {100 * self.area_error:.2f} %"
        )


def accuracy(truth_path: Path, detected: list[dict[str, Any]]) -> Accuracy:
    """Compare detected features (properties class and JCMJ) with a truth file."""
    truth = json.loads(truth_path.read_text(encoding="utf-8"))["features"]
    planted = [
        (shapely.geometry.shape(f["geometry"]), f["properties"]["class"],
         f["properties"]["area_m2"]) for f in truth
    ]  # fmt: skip
    found = [
        (shapely.geometry.shape(f["geometry"]), f["properties"]["class"],
         f["properties"]["JCMJ"]) for f in detected
    ]  # fmt: skip
    matched_truth: set[int] = set()
    matched_found: set[int] = set()
    for i, (tg, tc, _ta) in enumerate(planted):
        for j, (fg, fc, _fa) in enumerate(found):
            if fc != tc or not tg.intersects(fg):
                continue
            if shapely.intersection(tg, fg).area >= 0.5 * min(tg.area, fg.area):
                matched_truth.add(i)
                matched_found.add(j)
    precision = len(matched_found) / len(found) if found else 0.0
    recall = len(matched_truth) / len(planted) if planted else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    planted_area = sum(planted[i][2] for i in matched_truth)
    found_area = sum(found[j][2] for j in matched_found)
    error = abs(found_area - planted_area) / planted_area if planted_area else 1.0
    false = [
        (found[j][1], found[j][2]) for j in range(len(found)) if j not in matched_found
    ]
    return Accuracy(
        len(planted), len(found), len(matched_truth), precision, recall, f1, error, false
    )
