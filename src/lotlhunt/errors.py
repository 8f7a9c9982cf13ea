"""Errors and the locations they carry.

Bad input never stops a hunt: readers and the rule loader record an :class:`InputIssue`
(what, where) and go on; the caller decides whether issues are fatal (``--strict``).
"""

from __future__ import annotations

from dataclasses import dataclass


class LotlhuntError(Exception):
    """Base class for errors lotlhunt raises on purpose."""


class CaseError(LotlhuntError):
    """A case file that cannot be used: not a DuckDB database, damaged, or inconsistent."""


class UsageError(LotlhuntError):
    """The user asked for something that cannot work (bad path, bad option)."""


@dataclass(frozen=True, slots=True)
class InputIssue:
    """One problem with one input: a file, an archive member, a record, a rule.

    ``position`` is the record index (EVTX), line number (JSON lines) or byte offset,
    whatever locates the problem best in that kind of input; ``None`` for whole files.
    """

    path: str
    position: int | None
    message: str
    kind: str = "record"  # "record", "file" or "rule"

    def __str__(self) -> str:
        where = self.path if self.position is None else f"{self.path}:{self.position}"
        return f"{where}: {self.message}"


class NoEventsError(LotlhuntError):
    """The inputs hold no event at all (an empty folder, nothing readable): hunting them
    would report "0 detections" as if the logs had been clean."""
