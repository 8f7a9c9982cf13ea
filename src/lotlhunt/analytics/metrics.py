"""Metrics of what was read: events per host, per channel and event id, per log, and
which Sigma logsources the logs can feed.

Everything is rolled up in Arrow from one small grouped table, events per (source, host,
channel, provider, event id) with their first and last time
(:meth:`DuckDBEngine.event_counts`): the engine scans the events once, and the rest works
on a few hundred rows however many events there were.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources

import pyarrow as pa
import pyarrow.compute as pc
import yaml

from .._support.yaml_files import YAML_LOADER
from ..events import schema
from ..rules.logsources import Variant, known_logsources

EVENTS = "events"
FIRST = "first"
LAST = "last"


@dataclass(frozen=True)
class Metrics:
    """The tables ``lotlhunt stats`` prints, each sorted most events first."""

    total: int
    first: datetime | None
    last: datetime | None
    #: host, events, channels, first, last
    hosts: pa.Table
    #: channel, event_id, title, provider, events, percent
    event_ids: pa.Table
    #: source, events, hosts, channels, first, last
    sources: pa.Table
    #: kind, logsource, events, event_ids (the ids present that feed it)
    logsources: pa.Table
    #: how many known logsources no event feeds
    logsources_unfed: int


def compute_metrics(counts: pa.Table) -> Metrics:
    """The metrics of a grouped count table (columns of
    :data:`~lotlhunt.engines.duckdb.queries.COUNT_COLUMNS`)."""
    total = int(pc.sum(counts.column(EVENTS)).as_py() or 0) if counts.num_rows else 0
    first = pc.min(counts.column(FIRST)).as_py() if counts.num_rows else None
    last = pc.max(counts.column(LAST)).as_py() if counts.num_rows else None
    logsources, unfed = _logsources(counts)
    return Metrics(
        total=total,
        first=first,
        last=last,
        hosts=_hosts(counts),
        event_ids=_event_ids(counts, total),
        sources=_sources(counts),
        logsources=logsources,
        logsources_unfed=unfed,
    )


def _rolled(counts: pa.Table, keys: list[str], distinct: list[str]) -> pa.Table:
    aggs: list[tuple[str, str] | tuple[str, str, pc.CountOptions]] = [
        (EVENTS, "sum"),
        (FIRST, "min"),
        (LAST, "max"),
    ]
    aggs += [(d, "count_distinct", pc.CountOptions(mode="only_valid")) for d in distinct]
    out = counts.group_by(keys, use_threads=False).aggregate(aggs)
    renames = {f"{EVENTS}_sum": EVENTS, f"{FIRST}_min": FIRST, f"{LAST}_max": LAST}
    renames.update({f"{d}_count_distinct": f"{d}s" for d in distinct})
    return out.rename_columns([renames.get(n, n) for n in out.column_names])


def _hosts(counts: pa.Table) -> pa.Table:
    table = _rolled(counts, [schema.HOST], [schema.CHANNEL])
    return table.select([schema.HOST, EVENTS, f"{schema.CHANNEL}s", FIRST, LAST]).sort_by(
        [(EVENTS, "descending"), (schema.HOST, "ascending")]
    )


def _sources(counts: pa.Table) -> pa.Table:
    table = _rolled(counts, [schema.SOURCE], [schema.HOST, schema.CHANNEL])
    return table.select(
        [schema.SOURCE, EVENTS, f"{schema.HOST}s", f"{schema.CHANNEL}s", FIRST, LAST]
    ).sort_by([(EVENTS, "descending"), (schema.SOURCE, "ascending")])


def _event_ids(counts: pa.Table, total: int) -> pa.Table:
    keys = [schema.CHANNEL, schema.EVENT_ID]
    table = counts.group_by(keys, use_threads=False).aggregate(
        [(EVENTS, "sum"), (schema.PROVIDER, "min")]
    )
    table = table.rename_columns(
        [
            {f"{EVENTS}_sum": EVENTS, f"{schema.PROVIDER}_min": schema.PROVIDER}.get(n, n)
            for n in table.column_names
        ]
    )
    percent = pc.round(
        pc.multiply(pc.divide(pc.cast(table.column(EVENTS), pa.float64()), max(total, 1)), 100.0),
        2,
    )
    table = table.append_column("percent", percent).append_column(
        "title", _titles_of(table.column(schema.CHANNEL), table.column(schema.EVENT_ID))
    )
    return table.select(
        [schema.CHANNEL, schema.EVENT_ID, "title", schema.PROVIDER, EVENTS, "percent"]
    ).sort_by(
        [(EVENTS, "descending"), (schema.CHANNEL, "ascending"), (schema.EVENT_ID, "ascending")]
    )


@cache
def event_titles() -> dict[str, str]:
    """``lower-cased channel/event id`` -> what that event means (data/event_titles.yaml)."""
    text = resources.files("lotlhunt").joinpath("data/event_titles.yaml").read_text("utf-8")
    data = yaml.load(text, Loader=YAML_LOADER)
    return {
        f"{channel.lower()}/{event_id}": str(title)
        for channel, titles in data.items()
        for event_id, title in titles.items()
    }


def _titles_of(channels: pa.ChunkedArray, event_ids: pa.ChunkedArray) -> pa.ChunkedArray:
    """The title of each (channel, event id), null where none is known: one lookup of
    the joined keys, not one per row."""
    titles = event_titles()
    keys = pc.binary_join_element_wise(
        pc.utf8_lower(pc.fill_null(channels, "")),
        pc.cast(event_ids, pa.string()),
        "/",
    )
    where = pc.index_in(keys, pa.array(list(titles), pa.string()))
    return pc.take(pa.array(list(titles.values()), pa.string()), where)


def _covered(pairs: pa.Table, variant: Variant) -> pa.Array:
    """Which (lower-cased channel, event id) pairs belong to ``variant``'s slice (the
    engine's own test, ``DuckDBEngine._covers``, on columns)."""
    keep = pa.array([True] * pairs.num_rows, pa.bool_())
    if variant.channels:
        wanted = pa.array(sorted({c.lower() for c in variant.channels}))
        keep = pc.and_(keep, pc.is_in(pairs.column("channel_lower"), wanted))
    if variant.event_ids:
        ids = pa.array(sorted(variant.event_ids), pairs.column(schema.EVENT_ID).type)
        keep = pc.and_(keep, pc.fill_null(pc.is_in(pairs.column(schema.EVENT_ID), ids), False))
    return pc.fill_null(keep, False)


def _logsources(counts: pa.Table) -> tuple[pa.Table, int]:
    """Each known logsource some event can feed, with how many events and which ids."""
    lowered = pc.utf8_lower(pc.fill_null(counts.column(schema.CHANNEL), ""))
    pairs = (
        pa.table(
            {
                "channel_lower": lowered,
                schema.EVENT_ID: counts.column(schema.EVENT_ID),
                EVENTS: counts.column(EVENTS),
            }
        )
        .group_by(["channel_lower", schema.EVENT_ID], use_threads=False)
        .aggregate([(EVENTS, "sum")])
    )
    kinds: list[str] = []
    names: list[str] = []
    events: list[int] = []
    ids: list[str] = []
    known = known_logsources()
    for kind, name, variants in known:
        keep = pa.array([False] * pairs.num_rows, pa.bool_())
        for variant in variants:
            keep = pc.or_(keep, _covered(pairs, variant))
        fed = pairs.filter(keep)
        n = int(pc.sum(fed.column(f"{EVENTS}_sum")).as_py() or 0) if fed.num_rows else 0
        if n:
            kinds.append(kind)
            names.append(name)
            events.append(n)
            held = sorted({i for i in fed.column(schema.EVENT_ID).to_pylist() if i is not None})
            ids.append(", ".join(map(str, held)))
    table = pa.table(
        {
            "kind": pa.array(kinds, pa.string()),
            "logsource": pa.array(names, pa.string()),
            EVENTS: pa.array(events, pa.int64()),
            "event_ids": pa.array(ids, pa.string()),
        }
    ).sort_by([(EVENTS, "descending"), ("logsource", "ascending")])
    return table, len(known) - len(names)
