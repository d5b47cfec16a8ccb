"""The land-use code tables of config/domain: 三调 DLBM names and the 三大类."""

from __future__ import annotations

import csv
import io
from functools import cache
from importlib import resources

SANDALEI_EN = {"农用地": "agricultural land", "建设用地": "construction land",
               "未利用地": "unused land"}  # fmt: skip


def _domain_text(name: str) -> str:
    return resources.files("config").joinpath("domain", name).read_text("utf-8")


@cache
def landuse_names(lang: str = "zh-CN") -> dict[str, str]:
    """三调 DLBM code → DLMC name (zh-CN or en)."""
    rows = csv.DictReader(io.StringIO(_domain_text("landuse_codes_sanDiao.csv")))
    column = "name_zh" if lang == "zh-CN" else "name_en"
    return {r["code"]: r[column] for r in rows}


@cache
def sandalei() -> dict[str, str]:
    """三调 DLBM code → 三大类 (农用地 / 建设用地 / 未利用地), at level 1 or 2."""
    rows = csv.DictReader(io.StringIO(_domain_text("landuse_sanDaLei_mapping.csv")))
    return {r["code"]: r["class_zh"] for r in rows}


def base_code(dlbm: str) -> str:
    """The level-2 code of a DLBM value: suffixes (K, A) stripped for aggregation."""
    code = dlbm.strip()
    return code[:4] if len(code) > 4 else code


def sandalei_of(dlbm: str) -> str | None:
    """The 三大类 of a DLBM value (level 2 first, then its level 1)."""
    table = sandalei()
    code = base_code(dlbm)
    return table.get(code) or table.get(code[:2])
