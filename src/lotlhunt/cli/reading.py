"""Reading logs (or opening a case) for one question, as ``stats`` and ``logons`` do.

Both read under a progress bar, ask the engine one question, close it, write the input
problems when asked and say on stderr what reading met: one function each, so a new
command of the kind adds only its question.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

from rich.console import Console

from .._support.text import terminal_safe
from ..errors import InputIssue
from ..model import HuntStats
from ..reports.issues import write_issue_lines
from ..scope import EventScope
from .options import run_or_exit
from .progress import reading_progress
from .tables import read_summary

if TYPE_CHECKING:
    from ..hunt import SearchEngine

T = TypeVar("T")


@dataclass(frozen=True)
class Answer(Generic[T]):
    """What the engine answered, and what reading the logs met on the way."""

    value: T
    stats: HuntStats
    issues: list[InputIssue]
    skipped: list[tuple[str, str]]


def ask_events(
    paths: Sequence[Path],
    case: Path | None,
    scope: EventScope,
    workers: int | None,
    fields: Sequence[str],
    question: Callable[[SearchEngine], T],
) -> Answer[T]:
    """``question`` asked of the events ``paths`` (or ``case``) hold within ``scope``,
    only ``fields`` of each kept; errors become exit codes (:func:`run_or_exit`)."""
    from ..hunt import open_events

    def work() -> Answer[T]:
        with reading_progress() as progress:
            engine, read, issues, skipped = open_events(
                paths, case, scope, workers, progress, fields=fields
            )
        try:
            return Answer(question(engine), read, issues, skipped)
        finally:
            engine.close()

    answer: Answer[T] = run_or_exit(work)
    return answer


def report_reading(answer: Answer[T], paths: Sequence[Path], issues_path: Path | None) -> None:
    """The input problems to ``issues_path`` when given; a line on stderr on what reading
    met when logs were read (a case opened as it is has nothing to say)."""
    if issues_path:
        write_issue_lines(issues_path, answer.issues, answer.skipped)
    if paths:
        Console(stderr=True).print(
            terminal_safe(read_summary(answer.stats, answer.skipped, answer.issues))
        )
