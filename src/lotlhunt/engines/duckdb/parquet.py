"""A Parquet case store (``lotlhunt ingest``) hunted by the embedded engine.

The store's files are read batch by batch into the engine's compressed in-memory table,
and its per-input counts recorded, so a hunt reports what the store holds. DuckDB could
also scan the files in place; measured on the same events, loading them once is what
the engine's slices and prefilters are built for (see ``bench/README.md``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow.parquet as pq

from ...events.parquet_store import ROW_ID, Store
from ..base import InputCounts

if TYPE_CHECKING:
    from .engine import DuckDBEngine

#: Rows per batch read from a store file.
BATCH_ROWS = 65_536


def load_store(engine: DuckDBEngine, root: Path) -> None:
    """Every event of the store at ``root`` into ``engine``, and what it was read from."""
    store = Store.open(root)
    for path in store.files():
        for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS):
            if ROW_ID in batch.schema.names:
                batch = batch.drop_columns([ROW_ID])
            engine.ingest(batch)
    engine.flush()
    engine.record_inputs(
        [InputCounts(i.label, i.records, i.records_failed, tuple(i.issues)) for i in store.inputs]
    )
