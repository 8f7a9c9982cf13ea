"""Logons at a glance: who logged on where, from where, how, how often, since when.

Successful (Security 4624) and failed (4625) logons are grouped by outcome, account,
logon type, source address, source workstation and target host, with counts and
first/last seen. A pair of account, source and target whose first logon falls late in
the logs (in their last ``late_share`` of time) is marked: a new path an intruder moving
laterally opens looks like that, where an administrator's daily habits do not. All of it
is Arrow grouping and joining on the logon events alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from ..events import schema

SECURITY = "Security"
SUCCESS, FAILURE = 4624, 4625
#: Event fields read from each logon event (Windows names; any case in the data).
LOGON_FIELDS = (
    "TargetUserName",
    "TargetDomainName",
    "LogonType",
    "IpAddress",
    "WorkstationName",
)
LOGON_TYPES = {
    "0": "System",
    "2": "Interactive",
    "3": "Network",
    "4": "Batch",
    "5": "Service",
    "7": "Unlock",
    "8": "NetworkCleartext",
    "9": "NewCredentials",
    "10": "RemoteInteractive",
    "11": "CachedInteractive",
    "12": "CachedRemoteInteractive",
    "13": "CachedUnlock",
}
#: Values Windows writes where there is no value.
_EMPTY = pa.array(["-", "", "::1", "127.0.0.1"])
_PLACEHOLDER = pa.array(["-", ""])

#: Output columns, in order.
COLUMNS = (
    "outcome",
    "account",
    "logon_type",
    "source_ip",
    "source_host",
    "target_host",
    "count",
    "first",
    "last",
    "late",
)


@dataclass(frozen=True)
class LogonSummary:
    """The grouped logons, and the time from which a first logon counts as late."""

    table: pa.Table
    first: datetime | None
    last: datetime | None
    late_from: datetime | None
    logons: int


def _blank_to_null(column: pa.ChunkedArray | pa.Array, blanks: pa.Array) -> pa.Array:
    text = pc.utf8_trim_whitespace(pc.cast(column, pa.string()))
    return pc.if_else(
        pc.fill_null(pc.is_in(text, blanks), False), pa.scalar(None, pa.string()), text
    )


def summarise_logons(events: pa.Table, late_share: float = 0.2) -> LogonSummary:
    """Group ``events`` (timestamp, host, event_id and :data:`LOGON_FIELDS` columns, as
    :meth:`DuckDBEngine.events_of` gives them) into the logon summary."""
    if not 0 < late_share < 1:
        raise ValueError("late_share must be between 0 and 1")
    n = events.num_rows
    if n == 0:
        empty = pa.table({c: pa.array([], pa.string()) for c in COLUMNS})
        return LogonSummary(empty, None, None, None, 0)
    ts = events.column(schema.TIMESTAMP)
    outcome = pc.if_else(pc.equal(events.column(schema.EVENT_ID), SUCCESS), "success", "failure")
    user = _blank_to_null(events.column("TargetUserName"), _PLACEHOLDER)
    domain = _blank_to_null(events.column("TargetDomainName"), _PLACEHOLDER)
    account = pc.if_else(
        pc.is_null(domain),
        pc.fill_null(user, "?"),
        pc.binary_join_element_wise(domain, pc.fill_null(user, "?"), "\\"),
    )
    code = _blank_to_null(events.column("LogonType"), _PLACEHOLDER)
    names = pa.array(list(LOGON_TYPES.values()))
    named = pc.take(names, pc.index_in(code, pa.array(list(LOGON_TYPES))))
    logon_type = pc.if_else(pc.is_null(named), code, pc.binary_join_element_wise(code, named, " "))
    source_ip = _blank_to_null(events.column("IpAddress"), _EMPTY)
    source_host = _blank_to_null(events.column("WorkstationName"), _PLACEHOLDER)
    target = pc.cast(events.column(schema.HOST), pa.string())
    # Accounts and host names compare without regard to case; the first spelling shows.
    keyed = pa.table(
        {
            "outcome": outcome,
            "account": account,
            "account_key": pc.utf8_lower(account),
            "logon_type": logon_type,
            "source_ip": source_ip,
            "source_host": source_host,
            "source_host_key": pc.utf8_lower(source_host),
            "target_host": target,
            "target_key": pc.utf8_lower(target),
            "source_key": pc.utf8_lower(pc.coalesce(source_ip, source_host)),
            schema.TIMESTAMP: ts,
        }
    )
    group = ["outcome", "account_key", "logon_type", "source_ip", "source_host_key", "target_key"]
    rows = keyed.group_by(group, use_threads=False).aggregate(
        [
            (schema.TIMESTAMP, "count", pc.CountOptions(mode="all")),
            (schema.TIMESTAMP, "min"),
            (schema.TIMESTAMP, "max"),
            ("account", "first"),
            ("source_host", "first"),
            ("target_host", "first"),
            ("source_key", "first"),
        ]
    )
    first_all = pc.min(ts).as_py()
    last_all = pc.max(ts).as_py()
    late_from = None
    if first_all is not None and last_all is not None:
        late_from = last_all - (last_all - first_all) * late_share
    pair = ["account_key", "source_key_first", "target_key"]
    pairs = rows.group_by(pair, use_threads=False).aggregate([(f"{schema.TIMESTAMP}_min", "min")])
    pairs = pairs.rename_columns([*pair, "pair_first"])
    rows = rows.join(pairs, pair, join_type="left outer", use_threads=False)
    if late_from is not None and last_all > first_all:
        late = pc.fill_null(
            pc.greater_equal(rows.column("pair_first"), pa.scalar(late_from, ts.type)), False
        )
    else:
        late = pa.array([False] * rows.num_rows, pa.bool_())
    table = pa.table(
        {
            "outcome": rows.column("outcome"),
            "account": rows.column("account_first"),
            "logon_type": rows.column("logon_type"),
            "source_ip": rows.column("source_ip"),
            "source_host": rows.column("source_host_first"),
            "target_host": rows.column("target_host_first"),
            "count": rows.column(f"{schema.TIMESTAMP}_count"),
            "first": rows.column(f"{schema.TIMESTAMP}_min"),
            "last": rows.column(f"{schema.TIMESTAMP}_max"),
            "late": late,
        }
    ).sort_by(
        [
            ("late", "descending"),
            ("outcome", "descending"),
            ("count", "descending"),
            ("account", "ascending"),
            ("target_host", "ascending"),
        ]
    )
    return LogonSummary(table, first_all, last_all, late_from, n)
