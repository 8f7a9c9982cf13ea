"""An Arrow table readable by name in DuckDB queries, for the length of a block.

DuckDB scans a registered Arrow table in place, without copying it; the name must be
unregistered afterwards, even when the query fails, or the next registration under it
would read stale data.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
import pyarrow as pa


@contextmanager
def arrow_view(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> Iterator[None]:
    """``table`` readable as ``name`` in ``con``'s queries inside the block."""
    con.register(name, table)
    try:
        yield
    finally:
        con.unregister(name)
