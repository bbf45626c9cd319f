"""A real browser for the page tests: Debian's chromium driven by Playwright, headless.

Without chromium or Playwright the tests skip with the reason, or fail under ``F0_STRICT=1`` (CI
installs chromium). Screenshots go to ``test-artifacts/`` at the top of the checkout.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("F0_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
DESKTOP = {"width": 1280, "height": 800}
NARROW = {"width": 390, "height": 844}


def _unavailable(reason: str) -> None:
    if os.environ.get("F0_STRICT", "") not in ("", "0"):
        pytest.fail(f"F0_STRICT=1 and the browser tests cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless chromium per test module: Playwright's sync API runs an event loop in this thread
    while it is open, which would break later tests that call ``asyncio.run``."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed: pip install -e '.[dev]'")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        _unavailable(f"no chromium at {CHROMIUM}: apt-get install -y chromium (or set F0_CHROMIUM)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page at 1280x800 in its own context (own cookies); console errors fail the test."""
    context = browser.new_context(viewport=DESKTOP)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    opened.f0_errors = errors
    try:
        yield opened
    finally:
        context.close()
    assert not errors, f"the page reported errors: {errors}"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots are kept (CI keeps the folder as the run's artifacts)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
