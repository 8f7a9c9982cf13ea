"""The progress bars of the commands that read logs, on stderr."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from .._support.text import terminal_safe


class RichProgress:
    """Adapts :class:`lotlhunt._support.progress.Progress` to a rich progress bar on stderr.

    Each bar says what it counts: while reading, the records read so far and the files
    done of all files; then the rules compiled or run of all of them. A count never
    passes its total (a step reported twice would otherwise show 105 %).
    """

    def __init__(self, console: Console) -> None:
        self.console = console
        self.bar = Progress(
            TextColumn("{task.description:<9}"),
            BarColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
            disable=not console.is_terminal,
        )
        self.task: TaskID | None = None
        self.records = 0
        self.phase = ""
        self.done = 0
        self.total: int | None = None
        self.phase_records = 0

    def __enter__(self) -> RichProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(None, None, None)

    def start(self, phase: str, total: int | None) -> None:
        if self.task is not None:
            self.bar.update(self.task, completed=self.bar.tasks[self.task].total)
        self.phase, self.done, self.total, self.phase_records = phase, 0, total, 0
        self.task = self.bar.add_task(phase, total=total, counts=self.counts())

    def counts(self) -> str:
        """What the bar counts, in words."""
        of = "" if self.total is None else f"/{self.total:,}"
        if self.phase == "reading":
            return f"{self.phase_records:>12,} records, {self.done:,}{of} files"
        # A hunt runs each rule once per logsource variant it covers (process creation:
        # Sysmon 1 and Security 4688).
        return f"{self.done:,}{of} {'rule runs' if self.phase == 'hunting' else 'rules'}"

    def advance(self, n: int = 1, records: int = 0) -> None:
        self.records += records
        self.phase_records += records
        self.done += n
        if self.total is not None:
            self.done = min(self.done, self.total)
        if self.task is not None:
            self.bar.update(self.task, completed=self.done, counts=self.counts())

    def note(self, message: str) -> None:
        if not self.console.is_terminal:
            return
        self.console.print(f"[dim]{terminal_safe(message)}[/]")


def reading_progress() -> RichProgress:
    """The hunt's progress bar on stderr (records read, files done), for commands that
    read logs."""
    return RichProgress(Console(stderr=True))
