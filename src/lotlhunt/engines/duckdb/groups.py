"""The events table grouped by channel and event id, held while an evaluation runs.

Rows of one channel come in runs (one input file after another), so a slice's scan is
bounded by the first and last row id of its rows and skips the row groups outside them.
Finding those bounds took a query per scan (52 on a warm hunt of the attack samples, a
tenth of its slices' time); one query grouping the events in scope by channel and event
id gives every slice's bounds, and the slices' sizes for running them side by side
(:func:`.rowunits.largest_first`). The groups are right only while the table does not
change: an evaluation holds them (:attr:`.slices.Slices.groups`) and drops them at its end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import duckdb

from ...events import schema
from ...rules.logsources import Variant
from .store import EVENTS, ROW_ID


@dataclass(frozen=True)
class Group:
    """The events of one channel (as spelled) and event id: first and last row id, rows."""

    channel: str | None
    event_id: int | None
    first: int
    last: int
    rows: int


@dataclass(frozen=True)
class EventGroups:
    """The groups of the events in scope (:func:`event_groups`)."""

    groups: tuple[Group, ...]

    def bounds(
        self,
        variant: Variant,
        spellings: Mapping[str, Sequence[str]],
        span: tuple[int, int] | None = None,
    ) -> tuple[int, int] | None:
        """The first and last row id of the slice of ``variant`` (within ``span``), None
        when it holds no row. ``spellings``: lower-cased channel -> the spellings the
        table holds. The rows of a slice (:meth:`.slices.Slices.slice_filter`) are those
        whose channel is one of the spellings of its channels and whose event id is one
        of its ids: exactly the rows of the groups that are."""
        chans: set[str] | None = None
        if variant.channels:
            chans = {s for c in variant.channels for s in spellings.get(c.lower(), ())}
        ids = set(variant.event_ids) if variant.event_ids else None
        first: int | None = None
        last: int | None = None
        for g in self.groups:
            if chans is not None and g.channel not in chans:
                continue
            if ids is not None and g.event_id not in ids:
                continue
            first = g.first if first is None else min(first, g.first)
            last = g.last if last is None else max(last, g.last)
        if first is None or last is None:
            return None
        if span is not None:
            first, last = max(first, int(span[0])), min(last, int(span[1]))
        return (first, last) if first <= last else None


def event_groups(con: duckdb.DuckDBPyConnection, scope_sql: str | None) -> EventGroups:
    """The events (those ``scope_sql`` keeps, if given) grouped by channel and event id."""
    where = f" WHERE {scope_sql}" if scope_sql else ""
    rows = con.execute(
        f"SELECT {schema.CHANNEL}, {schema.EVENT_ID}, min({ROW_ID}), max({ROW_ID}), "
        f"count(*) FROM {EVENTS}{where} GROUP BY ALL"
    ).fetchall()
    return EventGroups(tuple(Group(c, e, int(lo), int(hi), int(n)) for c, e, lo, hi, n in rows))
