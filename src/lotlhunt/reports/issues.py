"""Every problem a hunt met, one JSON line each: what the summary can only count.

Input problems (a corrupt record, a file that could not be opened), rule problems (a rule
that did not load or run) and files skipped as not logs, each with its file, position
(record index, line number or byte offset, null for a whole file) and reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import InputIssue
from ..model import HuntResult
from .rows import JsonlRows


def issue_row(issue: InputIssue) -> dict[str, object]:
    return {
        "kind": issue.kind,
        "file": issue.path,
        "position": issue.position,
        "reason": issue.message,
    }


def write_issues(result: HuntResult, path: Path) -> None:
    """Input problems, then rule problems, then skipped files, in the order met."""
    write_issue_lines(path, [*result.input_issues, *result.rule_issues], result.skipped)


def write_issue_lines(
    path: Path, issues: Sequence[InputIssue], skipped: Sequence[tuple[str, str]]
) -> None:
    """``issues`` then ``skipped`` files (label, why), one JSON line each."""
    sink = JsonlRows(path)
    try:
        sink.write([issue_row(i) for i in issues])
        sink.write(
            [
                {"kind": "skipped", "file": label, "position": None, "reason": why}
                for label, why in skipped
            ]
        )
    finally:
        sink.close()
