"""Pausing Python's cyclic garbage collector while many small acyclic objects are made.

Reading a batch of events, loading compiled rules from the cache and building detections
each create hundreds of thousands of tuples, strings and dicts that hold no cycles. The
collector would scan the growing heap again and again for nothing, which costs more than
the work itself (1.5 s of collecting 175 k detections).

What a paused block makes to keep for the rest of a run (a load of compiled rules) would
still be scanned once the collector is back on: at its next young collection (every
object of the block at once), then at every full one. A process that runs one command
and ends (the command line) says so with :func:`freeze_lasting`; a ``lasting`` block
then moves what exists at its end out of the collector's sight (``gc.freeze``), as the
command line does with what its imports made. A library caller keeps the default: in a
long-lived process nothing is frozen, so no cycle made later can outlive its use.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_freeze = [False]
#: The young generation's threshold of a one-command process (Python's default: 700
#: allocations). A hunt allocates millions of short-lived containers; collecting every
#: 700 promotes many of them to older generations, walked again and again: 417 young,
#: 37 middle and 2 full collections took 0.3 s of a warm hunt of the attack samples,
#: 94, 8 and 0 collections 0.1 s with 50,000. Cyclic garbage, rare here, waits longer.
YOUNG_THRESHOLD = 50_000


def freeze_lasting(on: bool = True) -> None:
    """Whether ``lasting`` blocks freeze what exists at their end (a one-command process)."""
    _freeze[0] = on


def one_command_process() -> None:
    """Tune the collector for a process that runs one command and ends: what exists now
    (the imports) is frozen, and so is what a ``lasting`` block makes; young objects are
    collected less often. A library caller (a notebook) keeps Python's defaults."""
    gc.freeze()
    freeze_lasting()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


@contextmanager
def gc_paused(lasting: bool = False) -> Iterator[None]:
    """The cyclic collector off inside the block, then as it was before. ``lasting``:
    what the block made lives as long as the process, frozen if :func:`freeze_lasting`
    said so."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if lasting and _freeze[0]:
            gc.freeze()
        if enabled:
            gc.enable()
