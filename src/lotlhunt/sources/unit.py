"""What a reader reads: one file, one archive member, or a part of a large file."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class InputUnit:
    """One readable thing: a file, or a member of an archive, in the format named ``fmt``
    (a name in :data:`lotlhunt.sources.registry.FORMATS`)."""

    path: str
    member: str | None
    fmt: str
    #: Uncompressed size in bytes when known (-1 otherwise); for scheduling and progress.
    size: int = field(default=-1, compare=False)
    #: Part of a large file read on its own: (first byte, end byte, position of its first
    #: record), cut at line ends of JSON lines (``jsonl.line_spans``; positions are line
    #: numbers) or between EVTX chunks (``evtx.chunk_spans``). None: the whole unit.
    span: tuple[int, int, int] | None = None
    #: Which member of that name (1 the first): an archive may hold several members of
    #: one name, and each is read.
    occurrence: int = 1
    #: Row id of the unit's first row when its reader writes the rows as Parquet parts
    #: itself (``events.parts``; -1: the reader hands the rows on, the engine numbers them).
    first_rid: int = field(default=-1, compare=False)

    @property
    def label(self) -> str:
        """What goes in the ``source`` column: ``path``, ``path!member``, or
        ``path!member#N`` for the N-th member of a name the archive holds more than once."""
        if self.member is None:
            return self.path
        extra = f"#{self.occurrence}" if self.occurrence > 1 else ""
        return f"{self.path}!{self.member}{extra}"
