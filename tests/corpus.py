"""The shared real-world corpus (``../shared/data``) for corpus tests.

A fresh checkout has no corpus, so its tests skip; CI sets ``LOTLHUNT_REQUIRE_CORPUS=1``
and a missing corpus then fails the test instead of silently skipping it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data"


def corpus_required() -> bool:
    return os.environ.get("LOTLHUNT_REQUIRE_CORPUS") == "1"


def require_corpus(*parts: str) -> Path:
    """``CORPUS/parts``; skip the calling test when absent, or fail it when required."""
    path = CORPUS.joinpath(*parts)
    if not path.exists():
        message = f"corpus folder not present: {path}"
        if corpus_required():
            pytest.fail(f"{message} (LOTLHUNT_REQUIRE_CORPUS=1)")
        pytest.skip(message)
    return path
