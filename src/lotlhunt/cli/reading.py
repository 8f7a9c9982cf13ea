"""Reading logs (or opening a case) for one question, as ``stats`` and ``logons`` do.

Both read under a progress bar, ask the engine one question, close it, write the input
problems when asked and say on stderr what reading met: one function, so a new command
of the kind adds only its question.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from rich.console import Console

from .._support.text import terminal_safe
from ..errors import InputIssue
from ..model import HuntStats
from ..reports.issues import write_issue_lines
from .options import LogsIn, run_or_exit
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
    logs: LogsIn, fields: Sequence[str], question: Callable[[SearchEngine], T]
) -> Answer[T]:
    """``question`` asked of the events ``logs`` hold within their scope, only
    ``fields`` of each kept. Then the input problems go to ``--issues`` when given, and
    a line on stderr says what reading met when logs were read (a case opened as it is
    has nothing to say). Errors become exit codes (:func:`run_or_exit`)."""
    from ..hunt import open_events

    def work() -> Answer[T]:
        with reading_progress() as progress:
            engine, read, issues, skipped = open_events(
                logs.paths, logs.case, logs.scope, logs.workers, progress, fields=fields
            )
        try:
            return Answer(question(engine), read, issues, skipped)
        finally:
            engine.close()

    answer: Answer[T] = run_or_exit(work)
    if logs.issues_path:
        write_issue_lines(logs.issues_path, answer.issues, answer.skipped)
    if logs.paths:
        Console(stderr=True).print(
            terminal_safe(read_summary(answer.stats, answer.skipped, answer.issues))
        )
    return answer
