"""Golden reference files: text a test produces, compared with the copy kept under
``tests/golden``, and rewritten instead when pytest runs with ``--update-golden``.

A golden file is reviewed like code: a change in what the project produces shows up as
a diff of the file in the commit that made it.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

#: Where golden files live.
GOLDEN = Path(__file__).parent / "golden"
#: The pytest option that rewrites golden files (registered in conftest.py).
UPDATE_OPTION = "--update-golden"


def assert_golden(path: str | Path, text: str, request: pytest.FixtureRequest) -> None:
    """``text`` equals the golden file ``path`` (relative to ``tests/golden``); with
    ``--update-golden`` the file is written instead."""
    target = GOLDEN / path
    if request.config.getoption(UPDATE_OPTION):
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_text("utf-8") != text:
            target.write_text(text, "utf-8")
        return
    if not target.exists():
        pytest.fail(f"no golden file {target}: run pytest {UPDATE_OPTION} to write it")
    expected = target.read_text("utf-8")
    if text != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                text.splitlines(keepends=True),
                fromfile=f"golden/{path}",
                tofile="produced",
            )
        )
        pytest.fail(f"differs from golden/{path} (rerun with {UPDATE_OPTION} if intended):\n{diff}")
