"""Batches gathered into whole row groups before DuckDB's events table takes them.

Readers hand over many small batches (one per file at least) and each INSERT into a wide
table has a fixed cost; appending to a partly filled row group is several times slower
than appending whole ones (:class:`~.store.EventStore`). So the store buffers batches
here and takes them out a whole number of row groups at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from ...events.parquet_store import nonempty_fields

#: Chunks the copy of a row group is made in (see ``take_unified``). Inserted on one
#: thread, four chunks went in as fast as one (Mordor: 1.6 s against 1.5 s).
COPY_PARTS = 4
#: Below this many bytes of Arrow a buffer is copied in one part: parts only bound memory,
#: and each costs a concatenation per column (277 small EVTX files, 401 columns).
ONE_PART_BYTES = 64 << 20
#: Arrow bytes the reader may buffer while a row group is being stored in the background;
#: past it, ingest waits for that group. Simulated EVTX row groups are 89 MB of Arrow:
#: reading and storing overlap fully. Mordor's are 300-400 MB: buffering a whole one more
#: raised the peak of the process tree by about that much (192 MB allowed: 2,336 MB
#: against 2,149 MB on a loaded machine).
STORE_AHEAD_BYTES = 128 << 20


@dataclass
class RowGroup:
    """Buffered tables handed to the storing thread, with what the table needs first:
    made with every column known so far (nothing inserted yet), or columns added."""

    pieces: list[pa.Table]
    create: list[str] | None = None
    add: list[str] = field(default_factory=list)


@dataclass
class RowGroupBuffer:
    """Tables waiting for the events table, in the order they came."""

    pieces: list[pa.Table] = field(default_factory=list)
    rows: int = 0
    nbytes: int = 0

    def add(self, piece: pa.Table) -> None:
        self.pieces.append(piece)
        self.rows += piece.num_rows
        self.nbytes += piece.nbytes

    def take(self, rows: int) -> list[pa.Table]:
        """The first ``rows`` buffered rows (a table cut in two leaves its second part,
        a zero-copy slice, buffered)."""
        pieces: list[pa.Table] = []
        taken = used = 0
        for piece in self.pieces:
            if taken >= rows:
                break
            used += 1
            self.nbytes -= piece.nbytes
            if taken + piece.num_rows > rows:  # cut: its second part stays buffered
                head = rows - taken
                rest = nonempty_fields(piece.slice(head))
                self.nbytes += rest.nbytes
                used -= 1
                self.pieces[used] = rest
                piece = piece.slice(0, head)
            pieces.append(piece)
            taken += piece.num_rows
        del self.pieces[:used]
        self.rows -= taken
        return pieces
