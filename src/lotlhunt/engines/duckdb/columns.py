"""The columns of the events table: DuckDB types and fields past the cap.

Kept apart from :mod:`.store`, which decides when these apply.
"""

from __future__ import annotations

import orjson
import pyarrow as pa

from ...events import schema
from ...events.parts import ROW_ID

#: Columns that are never fields: the core columns and the row id.
CORE_NAMES = frozenset([*schema.CORE_COLUMNS, ROW_ID])


def fold_fields(
    batch: pa.RecordBatch, new: list[str], room: int
) -> tuple[pa.RecordBatch, list[str]]:
    """``batch`` with those of its ``new`` fields past ``room`` folded into
    :data:`schema.EXTRA_FIELDS`, one JSON object per row (the fields most rows have get
    the room there is), and the fields folded."""
    extra = schema.EXTRA_FIELDS
    new = [n for n in new if n.lower() != extra.lower()]
    ranked = sorted(new, key=lambda n: batch.column(n).null_count)
    folded = ranked[max(room, 0) :]
    if not folded:
        return batch, folded
    values = {n: batch.column(n).to_pylist() for n in folded}
    index = batch.schema.get_field_index(extra)
    before = batch.column(index).to_pylist() if index >= 0 else [None] * batch.num_rows
    cells: list[str | None] = []
    for row, text in enumerate(before):
        cell = {n: values[n][row] for n in folded if values[n][row] is not None}
        if text is not None:
            try:
                cell.update(orjson.loads(text))
            except orjson.JSONDecodeError:
                cell[extra] = text
        cells.append(orjson.dumps(cell).decode() if cell else None)
    batch = batch.drop_columns(folded)
    column = pa.array(cells, pa.string())
    if index >= 0:
        batch = batch.set_column(batch.schema.get_field_index(extra), extra, column)
    else:
        batch = batch.append_column(extra, column)
    return batch, folded


def duck_type(t: pa.DataType) -> str:
    if pa.types.is_timestamp(t):
        return "TIMESTAMPTZ"
    if pa.types.is_int32(t):
        return "INTEGER"
    if pa.types.is_int64(t):
        return "BIGINT"
    return "VARCHAR"
