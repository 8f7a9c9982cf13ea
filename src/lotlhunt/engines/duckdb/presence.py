"""Which columns each channel's events fill, recorded as events are inserted.

Keyword rules search the text of every field of an event; in a table made of many
exports most columns are NULL on most channels (Mordor: 552 columns, 30 to 300 per
channel). Knowing which columns a channel fills lets the engine concatenate only those,
with the same result, since NULLs add nothing. Kept in the database beside the events so
a re-hunt of a case has it; a case made before it existed reports it unknown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import duckdb
import pyarrow as pa

from ...events.parts import filled_by_channel
from .arrow_view import arrow_view

#: Table of (channel, column) pairs, lower-cased, in the events' database.
PRESENCE_TABLE = "lotlhunt_presence"


class ColumnPresence:
    """Lower-cased channel -> lower-cased columns its events fill."""

    def __init__(self) -> None:
        self.known: dict[str, set[str]] | None = {}
        self._dirty = False

    def load(self, con: duckdb.DuckDBPyConnection) -> None:
        """Read what an existing database recorded; without a record, presence is
        unknown and every column counts."""
        try:
            pairs = con.execute(f"SELECT channel, col FROM {PRESENCE_TABLE}").fetchall()
        except duckdb.Error:
            self.known = None
            return
        known: dict[str, set[str]] = {}
        for channel, col in pairs:
            known.setdefault(channel, set()).add(col)
        self.known = known

    def note(self, table: pa.Table, channel: str, ignore: Iterable[str] = ()) -> None:
        """Record the columns each channel's rows of ``table`` fill (Arrow wants aligned
        buffers: pass the copy the engine inserts, not batches straight from a reader
        process)."""
        if self.known is None:
            return
        self.merge(filled_by_channel(table, channel, ignore))

    def merge(self, filled: Mapping[str, Iterable[str]]) -> None:
        """Record what a part says its channels fill (lower-cased channel -> lower-cased
        columns), as :func:`~lotlhunt.events.parts.filled_by_channel` gives it."""
        if self.known is None:
            return
        for channel, columns in filled.items():
            cols = self.known.setdefault(channel, set())
            new = set(columns) - cols
            if new:
                cols |= new
                self._dirty = True

    def save(self, con: duckdb.DuckDBPyConnection) -> None:
        """Write the record to the database if it changed."""
        if self.known is None or not self._dirty:
            return
        pairs = [(ch, col) for ch, cols in self.known.items() for col in sorted(cols)]
        table = pa.table(
            {"channel": [p[0] for p in pairs], "col": [p[1] for p in pairs]},
            schema=pa.schema([("channel", pa.string()), ("col", pa.string())]),
        )
        con.execute(f"CREATE OR REPLACE TABLE {PRESENCE_TABLE} (channel VARCHAR, col VARCHAR)")
        with arrow_view(con, "__presence", table):
            con.execute(f"INSERT INTO {PRESENCE_TABLE} SELECT * FROM __presence")
        self._dirty = False

    def filled(self, channels: Iterable[str], columns: list[str]) -> list[str]:
        """The columns (in their order) that events of ``channels`` fill; all of them
        when presence is unknown."""
        if self.known is None:
            return columns
        wanted: set[str] = set()
        for channel in channels:
            wanted |= self.known.get(channel.lower(), set())
        return [c for c in columns if c.lower() in wanted]
