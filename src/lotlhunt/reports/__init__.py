"""Reports are pure functions of a :class:`~lotlhunt.model.HuntResult`; none re-runs a hunt.

Each writer takes the result and a path. Rows are built once per detection
(:meth:`Detection.to_dict`) and serialised per format, deterministically.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..model import HuntResult
from .files import write_csv, write_incidents, write_jsonl, write_stats
from .issues import write_issues

Writer = Callable[[HuntResult, Path], None]

REPORTS: dict[str, Writer] = {
    "jsonl": write_jsonl,
    "csv": write_csv,
    "stats": write_stats,
    "issues": write_issues,
    "incidents": write_incidents,
}

__all__ = [
    "REPORTS",
    "Writer",
    "write_csv",
    "write_incidents",
    "write_issues",
    "write_jsonl",
    "write_stats",
]
