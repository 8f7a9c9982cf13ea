"""Slices of the events table: the rows of one logsource with the columns its rules read.

A slice is built once per group of rules (:mod:`lotlhunt.engines.planning`): the rows
of its channels and event ids, each field the rules read under its Sigma name (renamed
for the slice where the logsource says so), its lower-cased twin for case-insensitive
matching, its address twin for CIDR conditions, NULL where the data has no such field.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Group:
    """The events of one channel (as spelled) and event id: first and last row id, rows."""

    channel: str | None
    event_id: int | None
    first: int
    last: int
    rows: int


class Slices:
    """Builds slices of one events table (:class:`EventStore`)."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        #: SQL keeping only the events a re-hunt is restricted to (``DuckDBEngine.restrict``).
        self.scope_sql: str | None = None
        #: While an evaluation runs (:meth:`hold_groups`), the events in scope grouped
        #: by channel and event id: each group's first and last row id and its rows.
        self._groups: list[Group] | None = None

    def hold_groups(self, con: duckdb.DuckDBPyConnection) -> list[Group]:
        """Group the events in scope by channel and event id, once, for the slices of one
        evaluation to find their bounds in (:meth:`slice_query`) instead of a query
        each: a warm hunt of the attack samples made 52 such queries, a tenth of its
        slices' time. The table must not change until :meth:`drop_groups`."""
        where = f" WHERE {self.scope_sql}" if self.scope_sql else ""
        rows = con.execute(
            f"SELECT {schema.CHANNEL}, {schema.EVENT_ID}, min({ROW_ID}), max({ROW_ID}), "
            f"count(*) FROM {EVENTS}{where} GROUP BY ALL"
        ).fetchall()
        self._groups = [Group(c, e, int(lo), int(hi), int(n)) for c, e, lo, hi, n in rows]
        return self._groups

    def drop_groups(self) -> None:
        """Forget the groups of :meth:`hold_groups` (the table may change now)."""
        self._groups = None

    def _bounds(
        self, groups: list[Group], variant: Variant, span: tuple[int, int] | None
    ) -> tuple[int, int] | None:
        """The first and last row id of the slice of ``variant`` (within ``span``) from the
        held ``groups``, None when no group is in it: the rows :meth:`slice_filter`
        keeps are exactly those of the groups whose channel is one of the spellings it
        names and whose event id one of its ids."""
        chans: set[str] | None = None
        if variant.channels:
            known = self.store.channel_spellings()
            chans = {s for c in variant.channels for s in known.get(c.lower(), ())}
        ids = set(variant.event_ids) if variant.event_ids else None
        lo = hi = None
        for g in groups:
            if chans is not None and g.channel not in chans:
                continue
            if ids is not None and g.event_id not in ids:
                continue
            lo = g.first if lo is None else min(lo, g.first)
            hi = g.last if hi is None else max(hi, g.last)
        if lo is None or hi is None:
            return None
        if span is not None:
            lo, hi = max(lo, int(span[0])), min(hi, int(span[1]))
        return (lo, hi) if lo <= hi else None

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
        # channel and event id columns to find the bounds (or none: the groups held
        # while an evaluation runs). The bounds of the rows ``only`` keeps are the
        # caller's to give as ``span``.
        groups = self._groups
        if groups is not None:
            span = self._bounds(groups, variant, span)
        else:
            bounds = f"SELECT min({ROW_ID}), max({ROW_ID}) {where}"
            if con is None:
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
