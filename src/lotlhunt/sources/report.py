"""What reading one input produced: rows, failed records, and every issue with its place."""

from __future__ import annotations

from dataclasses import dataclass, field

from lotlhunt.errors import InputIssue
from lotlhunt.sources.unit import InputUnit

#: Issues kept per unit; a 10 GB file of garbage must not become 10 GB of issues.
MAX_ISSUES = 1000


@dataclass
class UnitReport:
    """What reading one input unit produced: rows, failures and why. Always the last item."""

    unit: InputUnit
    records: int = 0
    records_failed: int = 0
    issues: list[InputIssue] = field(default_factory=list)
    seconds: float = 0.0
    issues_dropped: int = 0
    #: Rows read but outside the hunt's scope (``--from``/``--host``...): counted in
    #: ``records``, dropped by the reader (see :func:`lotlhunt.sources.read_unit`).
    out_of_scope: int = 0

    def fail(self, position: int | None, message: str) -> None:
        """Count one record that could not become a row, and say where and why."""
        self.records_failed += 1
        self.note(position, message)

    def fail_many(self, count: int, position: int | None, message: str) -> None:
        """Count ``count`` records that could not become rows, with one issue for all."""
        self.records_failed += count
        self.note(position, message)

    def note(self, position: int | None, message: str, kind: str = "record") -> None:
        """Record an issue without counting a failed record (a file problem, a repair)."""
        if len(self.issues) < MAX_ISSUES:
            self.issues.append(InputIssue(self.unit.label, position, message, kind))
        else:
            self.issues_dropped += 1

    def say_dropped(self) -> None:
        """End the issues with how many more were not listed, if any: once per input."""
        if self.issues_dropped:
            self.issues.append(
                InputIssue(self.unit.label, None, f"{self.issues_dropped} more issues not listed")
            )
