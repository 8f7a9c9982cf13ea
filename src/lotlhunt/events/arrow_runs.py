"""Sparse columns assembled from runs of present values and whole runs of nulls.

Events of different shapes leave most columns absent on most rows, in long stretches
(rows are grouped by shape in a batch; batches of one file share a shape). Building such
a column from its present runs plus one null array per gap, in one concatenation, never
visits the absent cells one by one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pyarrow as pa


def with_null_gaps(
    runs: Iterable[tuple[int, Sequence[pa.Array]]], total: int, kind: pa.DataType
) -> pa.Array:
    """One contiguous array of ``total`` rows of type ``kind``: each run's arrays placed
    from its first row on (runs in row order, not overlapping), nulls everywhere else."""
    pieces: list[pa.Array] = []
    at = 0
    for first, arrays in runs:
        if first > at:
            pieces.append(pa.nulls(first - at, kind))
        pieces.extend(arrays)
        at = first + sum(len(a) for a in arrays)
    if total > at:
        pieces.append(pa.nulls(total - at, kind))
    return pa.concat_arrays(pieces) if pieces else pa.nulls(0, kind)
