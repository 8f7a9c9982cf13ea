"""Detection signals worked out over columns: groups, cited events and chaining keys.

A 1 M-event hunt has some 150 k detections; grouping them per (rule, host, hour), looking
up the keys of every cited event and counting accounts one detection at a time cost
seconds of Python. Here the grouping, the first-seen order of keys and the most common
account of each group are NumPy work over the detections' columns; Python builds only
what a :class:`~lotlhunt.model.Signal` holds (its events and keys). The result is the
same as :func:`.incidents.detection_groups` and :func:`.incidents.detection_signals`
over objects, which the tests keep as the oracle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..engines.base import RID
from ..events import schema
from ..model import CorrelationDetection, Detection, EventRef, Signal, SignalKind
from .baseline import SYSTEM_SESSIONS, human
from .frame import event_refs, key_ids, lower, text
from .incidents import CITED_EVENTS, EventKeys, correlation_signals, event_account

#: Column of the detection's rule id in :attr:`DetectionColumns.table`.
RULE_ID = "rule_id"
#: Column of the detection's row id (NULL when unknown).
ROW = "row"
#: An event's identity, in :class:`EventRef` order.
REF_COLUMNS = schema.EVENT_REF_COLUMNS
#: Process keys: the Sysmon field, else the Security one.
_PROCESS_SLOTS = (("ProcessGuid", "NewProcessId"), ("ParentProcessGuid", "ProcessId"))
#: What a detection signal takes from the first detection of its group.
Head = tuple[str, str, str, tuple[str, ...], tuple[str, ...]]


@dataclass(frozen=True)
class DetectionColumns:
    """Detections as columns (``RULE_ID``, ``ROW`` and :data:`REF_COLUMNS`, in the
    detections' order), and the rule id, title, level, tags and held selections of
    detection ``i`` (asked only for the first detection of each group)."""

    table: pa.Table
    head: Callable[[int], Head]

    @classmethod
    def of(cls, detections: Sequence[Detection]) -> DetectionColumns:
        """The columns of detection objects (any sequence of them)."""
        items = list(detections)
        types = {f.name: f.type for f in schema.CORE_FIELDS}
        columns: dict[str, pa.Array] = {
            RULE_ID: pa.array([d.rule_id for d in items], pa.string()),
            ROW: pa.array([d.row for d in items], pa.int64()),
        }
        for name, attr in zip(
            REF_COLUMNS,
            ("timestamp", "host", "channel", "event_id", "record_id", "source", "position"),
            strict=True,
        ):
            columns[name] = pa.array([getattr(d, attr) for d in items], types[name])

        def head(i: int) -> Head:
            d = items[i]
            return d.rule_id, d.rule_title, d.level, d.tags, d.matched

        return cls(pa.table(columns), head)


@dataclass(frozen=True)
class CitedGroups:
    """Detections per (rule, host, hour) in order of their first detection: the rows each
    group cites (the first :data:`~.incidents.CITED_EVENTS`), grouped and in detection
    order, the group of each cited row, and each group's count."""

    rows: np.ndarray
    group: np.ndarray
    totals: np.ndarray
    #: Index into ``rows`` where each group's cited rows start (one past the end last).
    bounds: np.ndarray


def cited_groups(table: pa.Table) -> CitedGroups:
    """The groups of :func:`.incidents.detection_groups`, as row indices."""
    n = table.num_rows
    if n == 0:
        empty = np.zeros(0, np.int64)
        return CitedGroups(empty, empty, empty, np.zeros(1, np.int64))
    micros = table.column(schema.TIMESTAMP).cast(pa.int64())
    known = np.asarray(pc.is_valid(micros).to_numpy(zero_copy_only=False), bool)
    m = np.asarray(pc.fill_null(micros, 0).to_numpy(zero_copy_only=False), np.int64)
    # ``int(datetime.timestamp())`` truncates toward zero, then the hour floors.
    seconds = np.where(m < 0, -((-m) // 1_000_000), m // 1_000_000)
    hour = np.where(known, seconds // 3600, 0)
    key = key_ids(table.column(RULE_ID), table.column(schema.HOST), pa.array(hour))
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    # Groups numbered in the order of their first detection.
    rank = np.empty(len(first), np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    group = rank[inverse.reshape(-1)]
    order = np.argsort(group, kind="stable")
    totals = np.bincount(group, minlength=len(first))
    starts = np.concatenate(([0], np.cumsum(totals)[:-1]))
    within = np.arange(n) - np.repeat(starts, totals)
    keep = within < CITED_EVENTS
    rows = order[keep]
    grouped = group[rows]
    bounds = np.searchsorted(grouped, np.arange(len(first) + 1))
    return CitedGroups(rows, grouped, totals, bounds)


def cited_row_ids(table: pa.Table, groups: CitedGroups) -> list[int]:
    """The distinct row ids of the cited detections, sorted."""
    rows = pc.take(table.column(ROW), pa.array(groups.rows, pa.int64()))
    return sorted(pc.unique(pc.drop_null(rows)).to_pylist())


@dataclass(frozen=True)
class FrameKeys:
    """The chaining keys of a frame of cited events (as :func:`.incidents.event_keys`),
    per row: ``slots`` holds up to five key codes per row (-1: none) into ``pairs``;
    ``account`` an account code per row (-1: none) into ``accounts``; ``ident`` the id
    of each row's (source, position) and ``last`` the frame row of each id (a later
    duplicate wins, as in a dictionary keyed by them)."""

    slots: np.ndarray
    pairs: list[tuple[str, str]]
    account: np.ndarray
    accounts: list[str]


def frame_keys(frame: pa.Table) -> FrameKeys:
    """Keys and accounts of every row of ``frame`` (an ``event_fields`` table of
    :data:`~.incidents.KEY_FIELDS` joined to host, source and position)."""
    n = frame.num_rows
    if n == 0:
        return FrameKeys(np.zeros((0, 5), np.int64), [], np.zeros(0, np.int64), [])
    hk = pc.replace_substring_regex(pc.utf8_lower(text(frame, schema.HOST)), r"\..*$", "")
    sysmon = pc.equal(
        pc.utf8_lower(text(frame, schema.CHANNEL)), "microsoft-windows-sysmon/operational"
    )
    none = pa.nulls(n, pa.string())
    system = pa.array(sorted(SYSTEM_SESSIONS))
    slots: list[pa.Array | pa.ChunkedArray] = []
    for name in ("LogonId", "SubjectLogonId", "TargetLogonId"):
        v = lower(frame, name)
        ok = pc.invert(pc.is_in(v, value_set=system))
        slots.append(pc.if_else(ok, _pair("session", hk, v), none))
    for sysmon_name, security_name in (
        ("ProcessGuid", "NewProcessId"),
        ("ParentProcessGuid", "ProcessId"),
    ):
        v = pc.if_else(sysmon, lower(frame, sysmon_name), lower(frame, security_name))
        slots.append(pc.if_else(pc.not_equal(v, ""), _pair("process", hk, v), none))
    flat = pa.chunked_array(
        [c for s in slots for c in (s.chunks if isinstance(s, pa.ChunkedArray) else [s])],
        pa.string(),
    ).combine_chunks()
    coded = pc.dictionary_encode(flat)
    codes = np.asarray(pc.fill_null(coded.indices, -1).to_numpy(zero_copy_only=False), np.int64)
    # Split by Arrow (a hundred thousand distinct keys split one by one in Python cost a
    # third of a second): each key follows its kind's name and a NUL.
    entries = coded.dictionary
    session = pc.starts_with(entries, "session\x00")
    keys = pc.if_else(
        session,
        pc.utf8_slice_codeunits(entries, len("session") + 1),
        pc.utf8_slice_codeunits(entries, len("process") + 1),
    ).to_pylist()
    kinds = ["session" if s else "process" for s in session.to_pylist()]
    pairs = list(zip(kinds, keys, strict=True))
    acct = event_account(frame)
    acct = pc.if_else(human(acct), acct, pa.nulls(n, pa.string()))
    acct_coded = pc.dictionary_encode(
        acct.combine_chunks() if isinstance(acct, pa.ChunkedArray) else acct
    )
    account = np.asarray(
        pc.fill_null(acct_coded.indices, -1).to_numpy(zero_copy_only=False), np.int64
    )
    return FrameKeys(
        codes.reshape(5, n).T.copy(),
        pairs,
        account,
        acct_coded.dictionary.to_pylist(),
    )


def _pair(kind: str, host: pa.ChunkedArray, value: pa.ChunkedArray) -> pa.ChunkedArray:
    """``kind``, NUL, then ``host|value``: one string per key (a kind holds no NUL)."""
    return pc.binary_join_element_wise(kind, pc.binary_join_element_wise(host, value, "|"), "\x00")


def frame_rows(table: pa.Table, rows: np.ndarray, frame: pa.Table) -> np.ndarray:
    """For each detection row of ``rows``, the row of ``frame`` holding the keys of its
    (source, position), the last such row (by row id) as a dictionary keyed by them
    would hold; -1 where none."""
    if frame.num_rows == 0 or len(rows) == 0:
        return np.full(len(rows), -1, np.int64)
    take = pa.array(rows, pa.int64())
    sources = pa.chunked_array(
        [*frame.column(schema.SOURCE).chunks, *pc.take(table.column(schema.SOURCE), take).chunks],
        pa.string(),
    )
    positions = pa.chunked_array(
        [
            *frame.column(schema.POSITION).cast(pa.int64()).chunks,
            *pc.take(table.column(schema.POSITION), take).cast(pa.int64()).chunks,
        ],
        pa.int64(),
    )
    ident = key_ids(sources, positions)
    n = frame.num_rows
    last = np.full(int(ident.max()) + 1, -1, np.int64)
    # Assigned in row order: the last frame row of each identity stays.
    last[ident[:n]] = np.arange(n)
    return last[ident[n:]]


def detection_signals(
    columns: DetectionColumns,
    groups: CitedGroups,
    frame: pa.Table,
    correlations: Sequence[CorrelationDetection],
) -> list[Signal]:
    """One signal per group of ``groups``, one per correlation hit (the signals of
    :func:`.incidents.detection_signals`); ``frame`` holds the chaining fields of the
    cited events (see :func:`.run.cited_frame`)."""
    table = columns.table
    keys = frame_keys(frame)
    rows = groups.rows
    f = frame_rows(table, rows, frame)
    has = f >= 0
    slot = np.full((len(rows), 5), -1, np.int64)
    slot[has] = keys.slots[f[has]]
    # First-seen keys of each group: (group, key) pairs in cited order, the first of each.
    flat_group = np.repeat(groups.group, 5)
    flat = slot.reshape(-1)
    valid = flat >= 0
    vg, vk = flat_group[valid], flat[valid]
    width = len(keys.pairs) + 1
    _, first = np.unique(vg * width + vk, return_index=True)
    first.sort()
    kept_group, kept_key = vg[first], vk[first]
    key_bounds = np.searchsorted(kept_group, np.arange(len(groups.totals) + 1)).tolist()
    # Every group's keys as pairs, in one list: a signal takes its slice.
    pairs = keys.pairs
    kept_keys = [pairs[k] for k in kept_key.tolist()]
    # The most common account of each group, the first seen among equals.
    acct = np.full(len(rows), -1, np.int64)
    acct[has] = keys.account[f[has]]
    owner = _most_common(groups.group, acct, len(groups.totals), len(keys.accounts) + 1)
    refs = _refs(table, rows)
    totals = groups.totals.tolist()
    bounds = groups.bounds.tolist()
    heads = rows[groups.bounds[:-1]].tolist() if len(rows) else []
    out = []
    for g, total in enumerate(totals):
        events = tuple(refs[bounds[g] : bounds[g + 1]])
        rule_id, title, level, tags, matched = columns.head(heads[g])
        first_ref = events[0]
        cited = len(events)
        more = f" (the first {cited} cited)" if total > cited else ""
        a = owner[g]
        out.append(
            Signal(
                kind=SignalKind.DETECTION,
                name=title,
                level=level,
                why=f"rule {title!r} ({level}) matched {total} event"
                f"{'s' if total != 1 else ''} on {first_ref.host} within the hour{more}"
                + (f": {', '.join(matched)} held" if matched else "")
                + ".",
                events=events,
                rule_id=rule_id,
                tags=tags,
                host=first_ref.host,
                account=keys.accounts[a] if a >= 0 else None,
                timestamp=first_ref.timestamp,
                keys=tuple(kept_keys[key_bounds[g] : key_bounds[g + 1]]),
            )
        )
    if correlations:
        out += correlation_signals(correlations, _key_map(frame, keys))
    return out


def _most_common(group: np.ndarray, value: np.ndarray, groups: int, width: int) -> list[int]:
    """Per group, the value (>= 0) seen most often, the first seen among equals; -1 for
    a group without one (``Counter.most_common(1)``)."""
    best = np.full(groups, -1, np.int64)
    ok = value >= 0
    if not ok.any():
        return best.tolist()
    g, v = group[ok], value[ok]
    _, first, count = np.unique(g * width + v, return_index=True, return_counts=True)
    pg, pv = g[first], v[first]
    # Per group: highest count, then earliest first sighting.
    order = np.lexsort((first, -count, pg))
    pg, pv = pg[order], pv[order]
    lead = np.concatenate(([True], pg[1:] != pg[:-1]))
    best[pg[lead]] = pv[lead]
    return best.tolist()


def _refs(table: pa.Table, rows: np.ndarray) -> list[EventRef]:
    """The identity of each detection of ``rows``, in that order."""
    if len(rows) == 0:
        return []
    rid = table.column(ROW).take(pa.array(rows, pa.int64()))
    if rid.null_count:
        return event_refs(table.take(pa.array(rows, pa.int64())))
    # One identity per event: an event several rules matched is cited once per rule.
    _, first, inverse = np.unique(rid.to_numpy(), return_index=True, return_inverse=True)
    refs = event_refs(table.take(pa.array(rows[first], pa.int64())))
    return [refs[i] for i in inverse.reshape(-1).tolist()]


def _key_map(frame: pa.Table, keys: FrameKeys) -> dict[tuple[object, object], EventKeys]:
    """(source, position) -> keys of the frame's events, for correlation hits (few)."""
    out: dict[tuple[object, object], EventKeys] = {}
    if frame.num_rows == 0:  # no cited event (a frame of no columns, even)
        return out
    sources = frame.column(schema.SOURCE).to_pylist()
    positions = frame.column(schema.POSITION).to_pylist()
    slots = keys.slots.tolist()
    accounts = keys.account.tolist()
    for k, (src, pos) in enumerate(zip(sources, positions, strict=True)):
        chained = tuple(dict.fromkeys(keys.pairs[c] for c in slots[k] if c >= 0))
        a = accounts[k]
        out[(src, pos)] = EventKeys(chained, keys.accounts[a] if a >= 0 else None)
    return out


def cited_frame(fields: pa.Table, core: pa.Table) -> pa.Table:
    """The chaining fields of cited events (``fields``: ``event_fields`` by row id) with
    their host, source and position (``core``: by row id), as
    :func:`.run._cited_events` reads them: events without an event id or a channel give
    no keys, and rows are in row id order."""
    if fields.num_rows == 0:
        return pa.table({})
    channel = pc.fill_null(fields.column(schema.CHANNEL), "")
    kept = pc.and_(pc.is_valid(fields.column(schema.EVENT_ID)), pc.not_equal(channel, ""))
    return _left_join(fields.filter(kept).sort_by(RID), core)


def _left_join(left: pa.Table, right: pa.Table) -> pa.Table:
    """``left`` with the other columns of ``right`` where its ``RID`` is that of a row
    of ``right`` (NULL where none), as ``left.join(right, RID)`` gives them, in
    ``left``'s order: a lookup in ``right`` sorted by row id (a row id is there once),
    not a hash join (a third of a second on 130 k cited events)."""
    right = right.sort_by(RID)
    ids = right.column(RID).to_numpy()
    wanted = np.asarray(pc.fill_null(left.column(RID), -1).to_numpy(zero_copy_only=False))
    at = np.minimum(np.searchsorted(ids, wanted), max(len(ids) - 1, 0))
    found = (ids[at] == wanted) if len(ids) else np.zeros(len(wanted), bool)
    found &= np.asarray(pc.is_valid(left.column(RID)).to_numpy(zero_copy_only=False), bool)
    take = pa.array(at, pa.int64(), mask=~found)
    for name in right.column_names:
        if name != RID:
            left = left.append_column(right.field(name), right.column(name).take(take))
    return left
