"""The HTML pages in a real browser: Debian's chromium, headless, driven by Playwright."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

pytestmark = pytest.mark.clients

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--enable-unsafe-swiftshader",
    "--use-angle=swiftshader",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium")
    assert executable is not None, "install Debian's chromium (scripts/run test does)"
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def _rendered(browser: Browser, url: str, shot: Path) -> tuple[int, list[str], Any]:
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    page.wait_for_selector("#map[data-ready=true]", timeout=20000)
    page.wait_for_function(
        "() => document.getElementById('map').onemapMap.loaded()", timeout=20000
    )
    # distinct ids: a polygon crossing a render tile boundary is returned once per tile
    drawn = page.evaluate(
        "() => new Set(document.getElementById('map').onemapMap"
        ".queryRenderedFeatures({layers: ['fill']}).map(f => f.id)).size"
    )
    lang = page.evaluate("() => document.documentElement.lang")
    page.screenshot(path=str(shot))
    page.close()
    return int(drawn), errors, lang


def test_items_page_draws_the_features(
    browser: Browser, live_url: str, tmp_path: Path
) -> None:
    drawn, errors, lang = _rendered(
        browser,
        f"{live_url}/collections/parcels/items?f=html&limit=100",
        tmp_path / "i.png",
    )
    assert errors == []
    assert drawn >= 100
    assert lang == "zh-CN"
    assert (tmp_path / "i.png").stat().st_size > 10_000


def test_collection_page_fetches_items(
    browser: Browser, live_url: str, tmp_path: Path
) -> None:
    drawn, errors, _ = _rendered(
        browser, f"{live_url}/collections/parcels?f=html&lang=en", tmp_path / "c.png"
    )
    assert errors == [] and drawn > 0


def test_item_page(browser: Browser, live_url: str, tmp_path: Path) -> None:
    drawn, errors, _ = _rendered(
        browser, f"{live_url}/collections/parcels/items/7?f=html", tmp_path / "one.png"
    )
    assert errors == [] and drawn == 1
