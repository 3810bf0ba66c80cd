"""Browser fixtures: Debian's Chromium driven by Playwright for Python, headless.

``playwright install`` cannot download a browser here, so the tests launch
``/usr/bin/chromium`` (``CW_CHROMIUM`` overrides) through ``executable_path``. Without it the
browser tests are skipped with the reason, except under ``CI=true`` where that fails (CI
installs the ``chromium`` package, see ``.ci/run``). Screenshots go to ``build/web-artifacts``
(``CW_WEB_ARTIFACTS`` overrides).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.servers import ROOT

# Read at import: the autouse fixture clearing CW_* variables runs before each test.
CHROMIUM = Path(os.environ.get("CW_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("CW_WEB_ARTIFACTS", ROOT / "build" / "web-artifacts"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def require_chromium() -> Path:
    """The Chromium binary, or skip (fail under CI=true) when there is none."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        reason = f"no Chromium at {CHROMIUM} (apt-get install -y chromium, or set CW_CHROMIUM)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: required)")
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one test module.

    Module-scoped on purpose: Playwright's sync API keeps an asyncio loop marked running in
    this thread while it is open, which would break any ``anyio`` test that runs meanwhile.
    """
    chromium = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


class PageErrors(list[str]):
    """Uncaught errors of the page's scripts (a test ends by asserting there were none)."""


def open_page(browser: Any, *, width: int = 1100, height: int = 800) -> tuple[Any, Any, PageErrors]:
    """A fresh context and page (own sessionStorage) that records uncaught script errors."""
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors = PageErrors()
    page.on("pageerror", lambda error: errors.append(str(error)))
    return context, page, errors


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context, opened, errors = open_page(browser)
    try:
        yield opened
    finally:
        context.close()
    assert errors == [], f"uncaught errors in the page: {errors}"


def screenshot(page: Any, name: str) -> Path:
    """Save a screenshot of ``page`` as ``ARTIFACTS/name.png`` and return its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path
