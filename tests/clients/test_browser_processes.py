"""The execute form of a process page in a real browser (Debian's chromium, headless,
driven by Playwright) against `onemap serve` of the demo, its job workers included."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

pytestmark = pytest.mark.clients

PAGE = "/processes/landuse-statistics?f=html"


def _open(
    browser: Browser, url: str, locale: str, key: Path | None
) -> tuple[Page, list[str]]:
    """The page in a browser that has the server's credentials (as a browser behind
    an authenticating proxy has), or none; page errors and CSP reports collected."""
    headers = {"X-API-Key": key.read_text().strip()} if key else {}
    context = browser.new_context(locale=locale, extra_http_headers=headers)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.goto(url)
    return page, errors


def test_execute_form_runs_a_job_and_shows_its_results(
    browser: Browser, demo_url: str, demo_dir: Path
) -> None:
    page, errors = _open(
        browser, f"{demo_url}{PAGE}&lang=en", "en", demo_dir / "admin.key"
    )
    expect(page.locator("#input-landuse")).to_have_value("dltb")
    page.select_option("#input-level", label="sandalei")
    page.click("#execute button[type=submit]")
    status = page.locator("#job-status")
    expect(status).to_have_attribute("data-status", "successful", timeout=60000)
    expect(status).to_contain_text("successful")
    expect(page.locator("#result")).to_contain_text('"level": "sandalei"', timeout=20000)
    expect(page.locator("#result")).to_contain_text("total_m2")
    assert page.locator("#problem").is_hidden()
    page.context.close()
    assert errors == []


def test_synchronous_execution_shows_the_results(
    browser: Browser, demo_url: str, demo_dir: Path
) -> None:
    page, errors = _open(browser, f"{demo_url}{PAGE}", "zh-CN", demo_dir / "admin.key")
    assert page.evaluate("() => document.documentElement.lang") == "zh-CN"
    page.uncheck("#execute-async")
    page.fill("#input-aoi", "[109.55, 23.05, 109.60, 23.10]")
    page.click("#execute button[type=submit]")
    expect(page.locator("#result")).to_contain_text('"level": "dlbm"', timeout=60000)
    page.context.close()
    assert errors == []


def test_invalid_values_show_their_error(
    browser: Browser, demo_url: str, demo_dir: Path
) -> None:
    page, errors = _open(
        browser, f"{demo_url}{PAGE}&lang=en", "en", demo_dir / "admin.key"
    )
    # not JSON: refused in the page, next to its field, before any request
    page.fill("#input-aoi", "[109.55, 23.05")
    page.click("#execute button[type=submit]")
    aoi = page.locator('.field[data-input="aoi"] .field-error')
    expect(aoi).to_contain_text("Not valid JSON")
    # refused by the server: its problem detail shown, the field marked
    page.fill("#input-aoi", "")
    page.fill("#input-landuse", "no-such-parcels")
    page.click("#execute button[type=submit]")
    problem = page.locator("#problem")
    expect(problem).to_be_visible(timeout=20000)
    expect(problem).to_contain_text("Invalid parameter")
    expect(problem).to_contain_text("landuse: unknown collection 'no-such-parcels'")
    expect(page.locator('.field[data-input="landuse"]')).to_have_class("field invalid")
    expect(aoi).to_have_text("")
    page.context.close()
    assert errors == []


def test_without_credentials_the_refusal_is_shown(
    browser: Browser, demo_url: str
) -> None:
    page, errors = _open(browser, f"{demo_url}{PAGE}", "zh-CN", None)
    page.click("#execute button[type=submit]")
    problem = page.locator("#problem")
    expect(problem).to_be_visible(timeout=20000)
    expect(problem).to_contain_text("执行需要本服务器认可的身份凭据")
    page.context.close()
    assert errors == []
