"""Test configuration: shared helpers importable, and a private rule cache per session."""

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from browser import browser  # noqa: E402, F401 - a fixture: headless Chromium for reports

# Test hunts must neither read a developer's rule cache nor write to it.
_OWN_CACHE: str | None = None
if "LOTLHUNT_CACHE_DIR" not in os.environ:
    _OWN_CACHE = os.environ["LOTLHUNT_CACHE_DIR"] = tempfile.mkdtemp(prefix="lotlhunt-test-cache-")


# Nor the rule set ``lotlhunt rules update`` installed for them (hunts load it by default).
_OWN_DATA: str | None = None
if "LOTLHUNT_DATA_DIR" not in os.environ:
    _OWN_DATA = os.environ["LOTLHUNT_DATA_DIR"] = tempfile.mkdtemp(prefix="lotlhunt-test-data-")


def pytest_sessionfinish(session: object, exitstatus: int) -> None:
    """The session's rule cache (about 14 MB of compiled rules) goes with the session."""
    for own in (_OWN_CACHE, _OWN_DATA):
        if own is not None:
            shutil.rmtree(own, ignore_errors=True)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="Rewrite the golden files under tests/golden instead of comparing with them.",
    )


@pytest.fixture
def rule_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A rule cache of the test's own, in use and empty (not pytest's ``cache``)."""
    path = tmp_path / "cache"
    monkeypatch.setenv("LOTLHUNT_CACHE_DIR", str(path))
    monkeypatch.delenv("LOTLHUNT_NO_CACHE", raising=False)
    return path
