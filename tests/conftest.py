"""Test configuration: shared helpers importable, and a private rule cache per session."""

import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from browser import browser  # noqa: E402, F401 - a fixture: headless Chromium for reports

# Test hunts must neither read a developer's rule cache nor write to it.
_OWN_CACHE: str | None = None
if "LOTLHUNT_CACHE_DIR" not in os.environ:
    _OWN_CACHE = os.environ["LOTLHUNT_CACHE_DIR"] = tempfile.mkdtemp(prefix="lotlhunt-test-cache-")


def pytest_sessionfinish(session: object, exitstatus: int) -> None:
    """The session's rule cache (about 14 MB of compiled rules) goes with the session."""
    if _OWN_CACHE is not None:
        shutil.rmtree(_OWN_CACHE, ignore_errors=True)


def pytest_addoption(parser: object) -> None:
    parser.addoption(  # type: ignore[attr-defined]
        "--update-golden",
        action="store_true",
        default=False,
        help="Rewrite tests/golden/ from the current outputs instead of comparing.",
    )
