"""Slices of the events table: the rows of one logsource with the columns its rules read.

A slice is built once per group of rules (:mod:`lotlhunt.engines.planning`): the rows
of its channels and event ids, each field the rules read under its Sigma name (renamed
for the slice where the logsource says so), its lower-cased twin for case-insensitive
matching, its address twin for CIDR conditions, NULL where the data has no such field.
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb
import numpy as np

from ...events import schema
from ...rules.compile.dialect import (
    ALL_TEXT_FIELD,
    DUCKDB,
    IP_HEX_FUNCTION,
    IP_SUFFIX,
    LOWER_SUFFIX,
)
from ...rules.logsources import Variant
from ..planning import SliceColumns
from .groups import EventGroups
from .store import EVENTS, ROW_ID, EventStore

#: In-memory database for working tables (not temporary: every thread's connection sees
#: it; not in the case file: a re-hunt leaves the case as it was).
WORK_DB = "lotlhunt_work"
#: The slice of events the current group of rules runs on.
SLICE = f"{WORK_DB}.slice"

#: Sigma field names that refer to core columns, as the event's own System values.
CORE_ALIASES: dict[str, str] = {
    "eventid": f"CAST({schema.EVENT_ID} AS VARCHAR)",
    "channel": schema.CHANNEL,
    "computer": schema.HOST,
    "eventrecordid": f"CAST({schema.RECORD_ID} AS VARCHAR)",
}
_NULL = "CAST(NULL AS VARCHAR)"


class Slices:
    """Builds slices of one events table (:class:`EventStore`)."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        #: SQL keeping only the events a re-hunt is restricted to (``DuckDBEngine.restrict``).
        self.scope_sql: str | None = None
        #: The events in scope grouped, held while an evaluation runs (:mod:`.groups`).
        self.groups: EventGroups | None = None

    def _own(self, name: str) -> str:
        """The column of field ``name`` as the events table holds it, else NULL."""
        col = self.store.column(name)
        return DUCKDB.ident(col) if col else _NULL

    def field_expression(self, name: str, variant: Variant) -> str:
        """SQL giving Sigma field ``name`` on rows of ``variant`` (NULL when absent)."""
        lower = name.lower()
        for target, rename in variant.renames:
            if target.lower() == lower:
                return DUCKDB.transform(rename.transform, [self._own(f) for f in rename.fields])
        if lower == ALL_TEXT_FIELD:
            names = self.store.field_columns()
            if variant.channels:
                # Columns no event of these channels fills are NULL on every row of the
                # slice, and concat_ws skips NULLs: leaving them out changes nothing but
                # the cost (Mordor's 552 columns for a channel that fills 30).
                names = self.store.presence.filled(variant.channels, names)
            cols = [DUCKDB.ident(c) for c in names]
            return f"concat_ws(chr(10), {', '.join(cols)})" if cols else "''"
        if lower == "provider_name":
            col = self.store.column(name)
            return f"coalesce({DUCKDB.ident(col)}, {schema.PROVIDER})" if col else schema.PROVIDER
        col = self.store.column(name)
        if col is not None:
            return DUCKDB.ident(col)
        if lower in CORE_ALIASES:
            return CORE_ALIASES[lower]
        return _NULL

    def slice_filter(self, variant: Variant) -> str:
        """SQL selecting the rows of ``variant``. Channels match whatever their case, by
        the exact spellings present: an exact comparison is pushed into the scan, which
        then reads no other column of rows on other channels (``lower(channel)`` cannot
        be, and made every slice cost a read of every column it projects)."""
        conds = []
        if variant.channels:
            known = self.store.channel_spellings()
            chans = [s for c in variant.channels for s in known.get(c.lower(), ())]
            if not chans:
                return "false"
            conds.append(f"{schema.CHANNEL} IN ({', '.join(map(DUCKDB.literal, chans))})")
        if variant.event_ids:
            conds.append(f"{schema.EVENT_ID} IN ({', '.join(str(i) for i in variant.event_ids)})")
        if self.scope_sql:
            conds.append(self.scope_sql)
        return " AND ".join(conds) or "true"

    def slice_columns(
        self,
        variant: Variant,
        fields: Iterable[str],
        needs: SliceColumns | None = None,
    ) -> list[str]:
        """Projections giving compiled rules the columns they read on rows of ``variant``:
        each field, its lowered twin, its address twin, as far as ``needs`` says they are
        read (without ``needs``: each field and its lowered twin).
        """
        seen: dict[str, str] = {}
        for f in fields:
            seen.setdefault(f.lower(), f)
        exprs = []
        for key, f in seen.items():
            e = self.field_expression(f, variant)
            if needs is None or key in needs.plain:
                exprs.append(f"{e} AS {DUCKDB.ident(f)}")
            if needs is None or key in needs.lower:
                exprs.append(f"lower({e}) AS {DUCKDB.ident(f + LOWER_SUFFIX)}")
            if needs is not None and key in needs.ip:
                exprs.append(f"{IP_HEX_FUNCTION}({e}) AS {DUCKDB.ident(f + IP_SUFFIX)}")
        return exprs

    def slice_query(
        self,
        variant: Variant,
        fields: Iterable[str],
        needs: SliceColumns | None = None,
        con: duckdb.DuckDBPyConnection | None = None,
        only: str | None = None,
        span: tuple[int, int] | None = None,
    ) -> str | None:
        """The rows of ``variant`` with the columns its rules read (:meth:`slice_columns`),
        or None when no row is in it. ``con``: the connection finding the slice's bounds
        (the calling thread's own when slices are built side by side). ``only``: a
        relation of the row ids to keep (a column named as the events' row id).
        ``span``: the first and last row id to keep (a slice evaluated in parts)."""
        fields = list(dict.fromkeys(fields))
        where = f"FROM {EVENTS} WHERE {self.slice_filter(variant)}"
        if span is not None:
            where += f" AND {ROW_ID} BETWEEN {int(span[0])} AND {int(span[1])}"
        if only is not None:
            where += f" AND {ROW_ID} IN (SELECT {ROW_ID} FROM {only})"
        # Rows of one channel come in runs (one input file after another): bounding the
        # row ids lets the scan skip the row groups outside them, reading only the
        # channel and event id columns to find the bounds.
        bounds = f"SELECT min({ROW_ID}), max({ROW_ID}) {where}"
        if self.groups is not None:  # no query; ``only``'s bounds are the caller's span
            span = self.groups.bounds(variant, self.store.channel_spellings(), span)
        elif con is None:
            span = self.store.one(bounds)
        else:
            rows = con.execute(bounds).fetchall()
            span = rows[0] if rows else None
        if not span or span[0] is None:
            return None
        where += f" AND {ROW_ID} BETWEEN {int(span[0])} AND {int(span[1])}"
        exprs = [ROW_ID, *self.slice_columns(variant, fields, needs)]
        query = f"SELECT {', '.join(exprs)} {where}"
        return query

    def slice_rids(
        self,
        variant: Variant,
        con: duckdb.DuckDBPyConnection,
        span: tuple[int, int] | None = None,
    ) -> np.ndarray:
        """The row ids of the slice of ``variant`` (within ``span`` if given), sorted: a
        scan of the channel and event id columns only."""
        where = self.slice_filter(variant)
        if span is not None:
            where += f" AND {ROW_ID} BETWEEN {int(span[0])} AND {int(span[1])}"
        table = con.execute(f"SELECT {ROW_ID} FROM {EVENTS} WHERE {where}").to_arrow_table()
        rids = table.column(0).to_numpy()
        return np.sort(rids)
