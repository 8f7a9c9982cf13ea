"""How long work tells its caller how far it got: one protocol for every phase.

Reading, compiling rules and hunting all report through it; the command line shows a
progress bar, notebooks and tests pass nothing (:class:`Silent`) or a recorder.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """What long work tells its caller while it works."""

    def start(self, phase: str, total: int | None) -> None:
        """A phase begins, with how many steps it has (None: not known)."""

    def advance(self, n: int = 1, records: int = 0) -> None:
        """``n`` steps (and ``records`` records) more are done."""

    def note(self, message: str) -> None:
        """Something worth saying that is not a step."""


class Silent:
    """Progress that goes nowhere."""

    def start(self, phase: str, total: int | None) -> None:
        pass

    def advance(self, n: int = 1, records: int = 0) -> None:
        pass

    def note(self, message: str) -> None:
        pass
