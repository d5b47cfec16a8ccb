"""The HTML pages in a real browser: Debian's chromium, headless, driven by Playwright."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.clients


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


def _open_web_map(
    browser: Browser, url: str, tms_id: str, locale: str
) -> tuple[Page, list[str], dict[str, int]]:
    """Open a /map page, counting the imagery and land-use tiles of ``tms_id`` it
    fetches (any other grid's tile fails the test) and collecting page errors."""
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale=locale)
    errors: list[str] = []
    tiles: dict[str, int] = {"imagery": 0, "dltb": 0}
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    other = {"WebMercatorQuad", "CGCS2000Quad"} - {tms_id}

    def count(response: Any) -> None:
        for name in tiles:
            if f"/collections/{name}/tiles/{tms_id}/" in response.url:
                assert response.status in (200, 204), response.url
                tiles[name] += 1
        assert not any(f"/{grid}/" in response.url for grid in other), response.url

    page.on("response", count)
    page.goto(url)
    page.wait_for_selector("#webmap[data-ready=true]", timeout=60000)
    return page, errors, tiles


def _screenshot_not_blank(page: Page, name: str, tmp_path: Path) -> None:
    """Keep a screenshot of the map and check it is a picture, not a blank canvas."""
    shot = _artefact(name, tmp_path)
    box = page.locator("#webmap").bounding_box()
    assert box is not None
    page.screenshot(path=str(shot), clip=box)
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3)
    # many distinct colours (imagery) and no single colour dominating
    assert len(np.unique(pixels, axis=0)) > 2000
    _, counts = np.unique(pixels, axis=0, return_counts=True)
    assert counts.max() < 0.5 * len(pixels)


def test_web_map_shows_imagery_and_land_use(
    browser: Browser, demo_url: str, tmp_path: Path
) -> None:
    """The demo's /map in Chromium: COG tiles and land-use MVT arrive and are drawn."""
    page, errors, tiles = _open_web_map(
        browser, f"{demo_url}/map?lang=en", "WebMercatorQuad", "en"
    )
    page.wait_for_function(
        "() => document.getElementById('webmap').onemapMap.areTilesLoaded()",
        timeout=60000,
    )
    parcels = page.evaluate(
        "() => document.getElementById('webmap').onemapMap"
        ".queryRenderedFeatures({layers: ['dltb:fill']}).length"
    )
    _screenshot_not_blank(page, "web-map.png", tmp_path)
    page.close()
    assert errors == []
    assert tiles["imagery"] >= 4 and tiles["dltb"] >= 1
    assert parcels > 100


def test_web_map_on_the_cgcs2000_grid(
    browser: Browser, demo_url: str, tmp_path: Path
) -> None:
    """/map?tms=CGCS2000Quad: OpenLayers draws CGCS2000Quad imagery and MVT tiles."""
    page, errors, tiles = _open_web_map(
        browser, f"{demo_url}/map?tms=CGCS2000Quad", "CGCS2000Quad", "zh-CN"
    )
    page.wait_for_load_state("networkidle")
    parcels = page.evaluate(
        """() => {
          const map = document.getElementById('webmap').onemapMap;
          const layer = map.getLayers().getArray().find(l => l.get('name') === 'dltb');
          const extent = map.getView().calculateExtent(map.getSize());
          return layer.getFeaturesInExtent(extent).length;
        }"""
    )
    assert "天地图格网" in page.content()
    _screenshot_not_blank(page, "web-map-cgcs2000.png", tmp_path)
    page.close()
    assert errors == []
    assert tiles["imagery"] >= 4 and tiles["dltb"] >= 1
    assert parcels > 100


def _artefact(name: str, tmp_path: Path) -> Path:
    """Screenshots kept for people to look at: in $TEST_ARTEFACTS, else tmp."""
    folder = Path(os.environ.get("TEST_ARTEFACTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name
