"""Covered tracks: logs cleared, the event-log service stopped or disabled, auditing
changed, holes in a log's record numbers, a log that begins long after the host's others,
a channel silent for hours while the host's other channels speak (volt-typhoon.md row 31,
§2 H8).

Record numbers are judged only in logs that are otherwise whole: an export filtered to
some event ids has holes everywhere, and says nothing by them.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..events import schema
from ..model import Signal
from .baseline import HOUR_US, Baseline, behaviour, human, session_key
from .frame import HK, TS, key_ids, np_col, per_value

_TAGS_CLEAR = ("attack.defense-evasion", "attack.t1070.001")
_TAGS_IMPAIR = ("attack.defense-evasion", "attack.t1562.002")
#: Records a log needs, and the share of its steps that may skip numbers, for a hole to
#: mean something (a whole log skips none).
HOLE_MIN_RECORDS = 200
HOLE_MAX_SHARE = 0.002
#: How much later than the host's other logs a log may begin before it is said to.
LATE_MIN_US = 6 * HOUR_US
LATE_SHARE = 0.2
#: Hours a channel that speaks nearly every hour may stay silent while the others speak.
SILENT_HOURS = 6
BUSY_SHARE = 0.9


def marks(table: pa.Table, base: Baseline) -> list[Signal]:
    """1102 / 104 clears, the event-log service stopped (7036) or disabled (7040), and audit
    policy changed by a person (4719)."""
    out: list[Signal] = []
    if table.num_rows == 0:
        return out
    eid = np_col(table, schema.EVENT_ID)
    p1 = np.asarray(pc.utf8_lower(pc.fill_null(table.column("param1"), "")).to_pylist(), object)
    p2 = np.asarray(pc.utf8_lower(pc.fill_null(table.column("param2"), "")).to_pylist(), object)
    p3 = np.asarray(pc.utf8_lower(pc.fill_null(table.column("param3"), "")).to_pylist(), object)
    person = np.asarray(human(table.column("account")).to_pylist(), bool)
    hks, accounts, sessions = np_col(table, HK), np_col(table, "account"), np_col(table, "session")
    channel = np_col(table, "field_Channel")
    evlog = np.array(["event log" in x or x == "eventlog" for x in p1], bool)
    for i in np.flatnonzero(eid == 1102):
        out.append(
            _mark(
                table,
                int(i),
                "log_cleared",
                "medium",
                f"the Security log of {base.name(hks[i])} was cleared by {accounts[i]}.",
                _TAGS_CLEAR,
                accounts[i],
                hks[i],
                sessions[i],
            )
        )
    for i in np.flatnonzero(eid == 104):
        which = channel[i] or "a"
        out.append(
            _mark(
                table,
                int(i),
                "log_cleared",
                "medium",
                f"the {which} log of {base.name(hks[i])} was cleared by {accounts[i]}.",
                _TAGS_CLEAR,
                accounts[i],
                hks[i],
                sessions[i],
            )
        )
    for i in np.flatnonzero((eid == 7036) & evlog & (p2 == "stopped")):
        out.append(
            _mark(
                table,
                int(i),
                "event_log_service_stopped",
                "high",
                f"the Windows Event Log service of {base.name(hks[i])} stopped: nothing is "
                f"logged until it starts again.",
                _TAGS_IMPAIR,
                None,
                hks[i],
                "",
            )
        )
    for i in np.flatnonzero((eid == 7040) & evlog & (p3 == "disabled")):
        out.append(
            _mark(
                table,
                int(i),
                "event_log_service_disabled",
                "high",
                f"the Windows Event Log service of {base.name(hks[i])} was set to disabled.",
                _TAGS_IMPAIR,
                None,
                hks[i],
                "",
            )
        )
    for i in np.flatnonzero((eid == 4719) & person):
        out.append(
            _mark(
                table,
                int(i),
                "audit_policy_changed",
                "medium",
                f"{accounts[i]} changed the audit policy of {base.name(hks[i])} (a person, "
                f"not the machine applying group policy).",
                _TAGS_IMPAIR,
                accounts[i],
                hks[i],
                sessions[i],
            )
        )
    return out


def _mark(
    table: pa.Table,
    i: int,
    name: str,
    level: str,
    why: str,
    tags: tuple[str, ...],
    account: str | None,
    hk: str,
    session: str,
) -> Signal:
    key = session_key(hk, session)
    return behaviour(
        name,
        level,
        why[0].upper() + why[1:],
        table,
        [i],
        tags,
        account=account,
        keys=(key,) if key else (),
    )


def sorted_logs(core: pa.Table) -> tuple[pa.Table, np.ndarray]:
    """The core rows with a record number, deduplicated (the same log read twice, say as
    EVTX and as its JSON export, counts once), sorted by log then record number; and the
    log id of every row."""
    valid = pc.is_valid(core.column(schema.RECORD_ID)).to_numpy(zero_copy_only=False)
    if not valid.any():  # exports without record numbers (Mordor's) have no logs to judge
        return core.select([*schema.CORE_COLUMNS, TS, HK]).slice(0, 0), np.zeros(0, np.int64)
    # Positions, not a filtered copy: the text columns are taken once, at the end.
    pos = np.flatnonzero(valid)

    def rows(name: str) -> pa.ChunkedArray:
        column = core.column(name)
        return column if pos.size == core.num_rows else column.take(pa.array(pos))

    # Channels lower-cased per distinct channel (NULL stays NULL: key_ids reads it as "").
    log = key_ids(rows(HK), per_value(rows(schema.CHANNEL), pc.utf8_lower))
    rec = rows(schema.RECORD_ID).to_numpy().astype(np.int64)
    order = np.lexsort((rec, log))
    log, rec = log[order], rec[order]
    keep = np.r_[True, (log[1:] != log[:-1]) | (rec[1:] != rec[:-1])]
    idx = pos[order[keep]]
    # Strings as dictionaries first: taking a million rows of text is the costly part.
    narrow = pa.table(
        {
            name: pc.dictionary_encode(core.column(name)) if name in _TEXT else core.column(name)
            for name in (*schema.CORE_COLUMNS, TS, HK)
        }
    )
    return narrow.take(pa.array(idx)), log[keep]


_TEXT = frozenset({schema.HOST, schema.CHANNEL, schema.PROVIDER, schema.SOURCE, HK})


def holes(logs: tuple[pa.Table, np.ndarray], base: Baseline) -> list[Signal]:
    """Record numbers missing inside an otherwise whole log."""
    t, log = logs
    if t.num_rows == 0:
        return []
    rec = np_col(t, schema.RECORD_ID).astype(np.int64)
    same = np.r_[log[1:] == log[:-1], False]
    step = np.r_[rec[1:] - rec[:-1], 0]
    gap = same & (step > 1)
    sizes = np.bincount(log)
    gaps_per_log = np.bincount(log[gap], minlength=sizes.size)
    whole = (sizes >= HOLE_MIN_RECORDS) & (gaps_per_log <= np.maximum(1, sizes * HOLE_MAX_SHARE))
    out = []
    hks, channels = np_col(t, HK), np_col(t, schema.CHANNEL)
    ts = np_col(t, TS)
    for i in map(int, np.flatnonzero(gap & whole[log])):
        missing = int(rec[i + 1] - rec[i] - 1)
        minutes = (ts[i + 1] - ts[i]) / 60e6
        out.append(
            behaviour(
                "record_id_hole",
                "high",
                f"{missing} record{'s' if missing != 1 else ''} ({rec[i] + 1}-{rec[i + 1] - 1}) "
                f"missing "
                f"from the {channels[i]} log of {base.name(hks[i])} within {minutes:.0f} minutes; "
                f"the rest of its {int(sizes[log[i]])} records has {int(gaps_per_log[log[i]]) - 1} "
                f"other hole{'s' if gaps_per_log[log[i]] != 2 else ''}.",
                t,
                [i, i + 1],
                _TAGS_CLEAR,
            )
        )
    return out


def late_logs(logs: tuple[pa.Table, np.ndarray], base: Baseline) -> list[Signal]:
    """A log whose first record is much later than the host's other logs' first records,
    and whose numbering shows that earlier records existed."""
    t, log = logs
    if t.num_rows == 0:
        return []
    first = np.flatnonzero(np.r_[True, log[1:] != log[:-1]])
    hks, channels = np_col(t, HK), np_col(t, schema.CHANNEL)
    ts, rec = np_col(t, TS), np_col(t, schema.RECORD_ID).astype(np.int64)
    by_host: dict[str, list[int]] = {}
    for k in map(int, first):
        by_host.setdefault(hks[k], []).append(k)
    out = []
    for hk, rows in by_host.items():
        if len(rows) < 2:
            continue
        span = base.ends.get(hk, 0) - base.starts.get(hk, 0)
        for i in rows:
            others = [ts[j] for j in rows if j != i and ts[j] > 0]
            if not others or rec[i] <= 1:
                continue
            begin = int(np.median(others))
            late = ts[i] - begin
            if late < max(LATE_MIN_US, LATE_SHARE * span):
                continue
            out.append(
                behaviour(
                    "log_begins_late",
                    "medium",
                    f"the {channels[i]} log of {base.name(hk)} begins {late / HOUR_US:.0f} h after "
                    f"the host's other logs, at record {rec[i]}: {rec[i] - 1} earlier records are "
                    f"gone (cleared, or overwritten).",
                    t,
                    [i],
                    _TAGS_CLEAR,
                )
            )
    return out


def silent_channels(logs: tuple[pa.Table, np.ndarray], base: Baseline) -> list[Signal]:
    """A channel that speaks nearly every hour, silent for ``SILENT_HOURS`` or more while
    the host's other channels keep speaking."""
    t, log = logs
    if t.num_rows == 0:
        return []
    ts = np_col(t, TS)
    hour = ts // HOUR_US
    # Host and channel names only for the rows a signal cites (not a million objects).
    hks, channels = t.column(HK), t.column(schema.CHANNEL)
    host_ids = key_ids(t.column(HK))
    by_host = np.argsort(host_ids, kind="stable")
    bounds = np.flatnonzero(np.r_[True, np.diff(host_ids[by_host]) != 0, True])
    out = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        rows = by_host[a:b]
        spoken = set(np.unique(hour[rows]).tolist())
        if len(spoken) < 2 * SILENT_HOURS:
            continue
        for lg in np.unique(log[rows]):
            mine = rows[log[rows] == lg]
            hours = np.unique(hour[mine])
            span = hours[-1] - hours[0] + 1
            if hours.size < BUSY_SHARE * span or hours.size < 2 * SILENT_HOURS:
                continue
            steps = np.diff(hours)
            for k in np.flatnonzero(steps > SILENT_HOURS):
                quiet = range(int(hours[k]) + 1, int(hours[k + 1]))
                others = sum(1 for x in quiet if x in spoken)
                if others < BUSY_SHARE * len(quiet):
                    continue
                before = mine[hour[mine] == hours[k]][-1]
                after = mine[hour[mine] == hours[k + 1]][0]
                out.append(
                    behaviour(
                        "channel_silent",
                        "medium",
                        f"the {channels[int(before)].as_py()} log of "
                        f"{base.name(hks[int(before)].as_py())} is silent for "
                        f"{len(quiet)} h while the host's other logs speak in {others} of those "
                        f"hours; it speaks in {hours.size} of its {span} other hours.",
                        t,
                        [int(before), int(after)],
                        _TAGS_IMPAIR,
                    )
                )
    return out
