"""A real headless Chromium for report tests, or a clean skip when there is none.

Browser downloads are not possible everywhere, so Playwright drives the system's
Chromium (``apt-get install chromium``) through ``executable_path``; set
``LOTLHUNT_CHROMIUM`` to use another. With ``LOTLHUNT_REQUIRE_BROWSER=1`` a missing
browser fails instead of skipping.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def chromium_path() -> str | None:
    explicit = os.environ.get("LOTLHUNT_CHROMIUM")
    if explicit:
        return explicit
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _missing(why: str) -> None:
    if os.environ.get("LOTLHUNT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"a browser is required (LOTLHUNT_REQUIRE_BROWSER=1): {why}")
    pytest.skip(why)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One browser per test module, closed with it: no driver process outlives the
    module (other tests count this process's children)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install playwright)")
    path = chromium_path()
    if path is None:
        _missing("no chromium found (apt-get install -y chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()
