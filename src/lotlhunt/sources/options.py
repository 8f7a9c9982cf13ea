"""How the readers are tuned: one object, passed in, the same in every worker process.

Each default carries the measurement that chose it. Tests shrink them to reach a limit
with small inputs; nothing reads them from module globals, so what a test sets is what
the worker processes use too.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ReaderOptions:
    """Batch sizes, limits on hostile input, and when to read with worker processes."""

    #: Rows per record batch (the unit the engine ingests).
    batch_rows: int = 8192
    #: Source text (JSON) per batch: a batch is cut at this many bytes even before its row
    #: count is reached. Event sizes vary a hundredfold (PowerShell script blocks,
    #: Winlogbeat messages): 8,192 of Mordor's rows reached 57 MB in Arrow, and a reader
    #: held about 4x its batch while building it, so rows alone did not bound its memory.
    batch_bytes: int = 4 << 20
    #: Field columns per batch; keys beyond these are dropped (and reported) so that a file
    #: with a new key on every line cannot blow up memory and every table downstream.
    max_field_columns: int = 2048
    #: Longest JSON line or document accepted; longer ones are failed records, not memory.
    max_record_bytes: int = 64 << 20
    #: Bytes read from a JSON stream at a time.
    read_bytes: int = 1 << 22
    #: Inputs smaller than this in all are read in-process whatever the worker count: a
    #: worker process takes about half a second to start and import its readers. Measured
    #: reading into the engine, six runs each: the 277 files (36 MB) of evtx-attack-samples
    #: 1.2-1.5 s in-process, 1.5-2.0 s with two workers; 56 MB of simulated EVTX the same
    #: either way (3.6-4.4 s).
    in_process_bytes: int = 48 << 20
    #: Units read in-process at most this large (as read, and at most half
    #: ``batch_bytes``) share batches: a batch per small file cost more than reading it
    #: (the 277 EVTX attack samples, most of them a few chunks in a file of 1.1 MB: 277
    #: batches of about 30 rows over some 400 columns, then 277 pieces for the engine to
    #: unify; readers 37 -> 25 us a record, the hunt's read phase 1.3 -> 0.7 s at load 5).
    gather_bytes: int = 2 << 20
    #: Files at least this large (plain JSON lines, EVTX) are read in parts by several
    #: workers: one large file would otherwise be parsed by one worker while others idle.
    split_bytes: int = 64 << 20
    #: Smallest part worth a worker of its own.
    part_bytes: int = 32 << 20
    #: Batches a worker may have parsed ahead of the parent (batches are cut at
    #: ``batch_bytes`` of source text, so this bounds a worker's memory too).
    worker_buffer: int = 2
    #: Units sent to a worker ahead of time (small files would otherwise wait on round trips).
    units_in_flight: int = 2
    #: The command that starts a worker process's Python.
    interpreter: tuple[str, ...] = field(default_factory=lambda: (sys.executable,))


DEFAULT_OPTIONS = ReaderOptions()
