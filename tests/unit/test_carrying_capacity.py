"""carrying-capacity: every combination of the single factors, the integrated rule, the
process trend and the warning table, and the threshold boundaries (domain brief §4.1)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from processes.carrying_capacity import (
    County,
    Thresholds,
    evaluate,
    integrated,
    levels,
    trend,
)

OVER, CRITICAL, FINE = "超载", "临界超载", "不超载"
# indicator values that put each factor at each level (default thresholds)
AT = {
    "land": {OVER: {"D": 0.1}, CRITICAL: {"D": -0.1}, FINE: {"D": -0.5}},
    "water": {
        OVER: {"water_use": 120.0},
        CRITICAL: {"water_use": 95.0},
        FINE: {"water_use": 50.0},
    },
    "environment": {OVER: {"R": 0.3}, CRITICAL: {"R": -0.1}, FINE: {"R": -0.5}},
    "ecology": {OVER: {"H": 0.2}, CRITICAL: {"H": 0.07}, FINE: {"H": 0.01}},
}


def county(**values: Any) -> County:
    base: dict[str, Any] = {
        "XZQDM": "450802", "XZQMC": "港北区", "D": -0.5, "water_use": 50.0,
        "water_quota": 100.0, "R": -0.5, "H": 0.01, "efficiency_worse": False,
        "emission_worse": 0, "ecology_worse": False,
    }  # fmt: skip
    return County.model_validate({**base, **values})


def expected_integrated(single: list[str]) -> str:
    if OVER in single or single.count(CRITICAL) >= 2:
        return OVER
    return CRITICAL if single.count(CRITICAL) == 1 else FINE


@pytest.mark.parametrize(
    "combo", list(itertools.product((OVER, CRITICAL, FINE), repeat=4))
)
def test_every_combination_of_single_factors(combo: tuple[str, ...]) -> None:
    values: dict[str, Any] = {}
    for factor, level in zip(AT, combo, strict=True):
        values.update(AT[factor][level])
    c = county(**values)
    single = levels(c, Thresholds())
    assert tuple(single.values()) == combo
    assert integrated(single) == expected_integrated(list(combo))


def test_special_evaluation_counts_in_the_weakest_link() -> None:
    c = county(D=-0.1, special=CRITICAL)
    assert integrated(levels(c, Thresholds())) == OVER  # two 临界超载
    assert integrated(levels(county(special=OVER), Thresholds())) == OVER


@pytest.mark.parametrize("flags", list(itertools.product((False, True), repeat=3)))
def test_process_trend(flags: tuple[bool, bool, bool]) -> None:
    efficiency, emissions, ecology = flags
    c = county(
        efficiency_worse=efficiency,
        emission_worse=3 if emissions else 2,
        ecology_worse=ecology,
    )
    assert trend(c) == ("加剧" if sum(flags) >= 2 else "趋缓")


@pytest.mark.parametrize(
    ("level_values", "worse", "colour"),
    [
        ({"D": 0.1}, True, "red"),
        ({"D": 0.1}, False, "orange"),
        ({"D": -0.1}, True, "yellow"),
        ({"D": -0.1}, False, "blue"),
        ({}, True, "green"),
        ({}, False, "green"),
    ],
)
def test_warning_table(level_values: dict[str, Any], worse: bool, colour: str) -> None:
    c = county(**level_values, efficiency_worse=worse, ecology_worse=worse)
    assert evaluate(c, Thresholds())["warning"] == colour


# (factor, indicator, a value on a boundary, its level, a value just past it, its level)
BOUNDARIES = [
    ("land", "D", 0.0, CRITICAL, 0.0001, OVER),
    ("land", "D", -0.3, CRITICAL, -0.3001, FINE),
    ("water", "water_use", 90.0, FINE, 90.01, CRITICAL),
    ("water", "water_use", 100.0, CRITICAL, 100.01, OVER),
    ("environment", "R", -0.2, FINE, -0.1999, CRITICAL),
    ("ecology", "H", 0.10, CRITICAL, 0.1001, OVER),
    ("ecology", "H", 0.05, FINE, 0.0501, CRITICAL),
]


@pytest.mark.parametrize(
    ("values", "factor", "level"),
    [
        *[
            ({name: value}, factor, level)
            for factor, name, on, on_level, past, past_level in BOUNDARIES
            for value, level in ((on, on_level), (past, past_level))
        ],
        ({"groundwater_overdraft": True}, "water", OVER),
        ({"R": 0.0}, "environment", CRITICAL),
    ],
)
def test_threshold_boundaries(values: dict[str, Any], factor: str, level: str) -> None:
    assert levels(county(**values), Thresholds())[factor] == level


def test_thresholds_are_parameters() -> None:
    strict = Thresholds(land_critical=-0.6)
    assert levels(county(D=-0.5), strict)["land"] == CRITICAL
