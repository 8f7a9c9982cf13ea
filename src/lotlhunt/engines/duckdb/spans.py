"""A large slice evaluated in row id spans, so that what a hunt holds of it is bounded.

Per-field evaluation (:mod:`.evaluate`) holds a slice's fields encoded, their distinct
values with their lowered twins, and the searches over them, all at once. On most slices
that is a few MB; on a slice of long distinct texts it is the slice several times over
(Mordor's PowerShell module logging, 38,802 events: 202 MB of ``ContextInfo``, nearly
every value distinct, held as the scan's batch, its dictionary, its lowered twin and a
search's copy: 0.8 GB of Arrow and 1.25 GB more resident while it ran, the peak of the
whole hunt). Rules test one event at a time, so a rule's matches on a slice are the union
of its matches on any split of the slice's rows: a scan that finds it has encoded more
than :data:`SPAN_BYTES` stops (:class:`SliceTooLarge`), and the slice is evaluated span
by span of row ids instead (:func:`spans`), each span sized from the bytes per row seen.
A slice under the budget is scanned once, as before, at no extra cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Bytes of encoded fields (each batch's dictionary and codes) a scan of a slice may
#: gather before the slice is evaluated in spans. Mordor's PowerShell module logging
#: (its scan stopped at 16,384 of 38,802 rows, 90 MB) becomes seven spans; no slice of
#: the 1 M-event simulated case reaches it.
SPAN_BYTES = 64 * 2**20
#: Rows per batch of a scan that may stop early: a batch is the unit the budget is
#: checked at, and a batch of 65,536 rows of 5 kB texts is itself 330 MB.
PROBE_ROWS = 16_384


@dataclass(frozen=True)
class SliceTooLarge(Exception):
    """A scan of a slice stopped past its budget: ``rows`` read, ``nbytes`` encoded."""

    rows: int
    nbytes: int


#: An inclusive range of row ids: (first, last).
Span = tuple[int, int]


def spans(rids: np.ndarray, big: SliceTooLarge, budget: int) -> list[Span]:
    """The row ids ``rids`` of a slice (sorted) cut into spans of the rows half of
    ``budget`` holds at the bytes per row a stopped scan saw (``big``): half, so that a
    span of rows like those seen is not itself past the budget by a few bytes and split
    again. Each span has fewer rows than the scan read, so splitting a span again ends
    (at one row)."""
    per_row = max(big.nbytes, 1) / max(big.rows, 1)
    rows = max(1, min(int(budget / 2 / per_row), big.rows - 1))
    return [
        (int(rids[start]), int(rids[min(start + rows, len(rids)) - 1]))
        for start in range(0, len(rids), rows)
    ]
