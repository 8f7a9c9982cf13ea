"""What a baseline is: how much history each host has before an event, and when that is
too little to call anything "new".

A pair (account -> host, source -> host, command shape on a host) seen for the first time
means something only if the host's logs reach far enough back that a habit would have
shown. ``MIN_HISTORY`` is that reach; an event earlier than that on its host is not judged
(the analytics stay quiet) and the hunt's notes say so.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..model import EventRef, Signal, SignalKind
from .frame import HK, TS, event_ref, key_ids, np_col, per_value

HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
#: History a host's logs need before an event for "first time" to mean "unusual": half a
#: day covers a working day and a night of the machine's own routine. (Simulated networks
#: start the intrusion after a clean first day; on shorter logs the analytics stay quiet.)
MIN_HISTORY_US = 12 * HOUR_US
#: Hosts the fleet needs for "rare across the fleet" to mean anything.
MIN_FLEET = 3


@dataclass
class Baseline:
    """When each host's logs begin and end, and what the analytics could not judge."""

    starts: dict[str, int]
    ends: dict[str, int]
    #: host key -> the spelling of the host name its events use most.
    names: dict[str, str]
    notes: list[str] = field(default_factory=list)
    #: (host key, lower-cased channel) -> when that log begins: a cleared log's history
    #: starts at the clear, and everything after it would look new.
    channel_starts: dict[tuple[str, str], int] = field(default_factory=dict)

    @classmethod
    def of(cls, core: pa.Table) -> Baseline:
        if core.num_rows == 0:
            return cls({}, {}, {})
        # Only the three columns read: filtering the whole core table (every identity
        # column of a million events) cost more than the rest of the baseline.
        narrow = core.select([HK, TS, "channel"])
        known = narrow.filter(pc.greater(narrow.column(TS), 0))
        spans = known.group_by(HK).aggregate([(TS, "min"), (TS, "max")])
        starts = dict(
            zip(spans.column(HK).to_pylist(), spans.column(f"{TS}_min").to_pylist(), strict=True)
        )
        ends = dict(
            zip(spans.column(HK).to_pylist(), spans.column(f"{TS}_max").to_pylist(), strict=True)
        )
        spelled = core.select([HK, "host", TS]).group_by([HK, "host"]).aggregate([(TS, "count")])
        names: dict[str, tuple[int, str]] = {}
        for hk, host, n in zip(
            *(spelled.column(c).to_pylist() for c in (HK, "host", f"{TS}_count")), strict=True
        ):
            if host and (hk not in names or n > names[hk][0]):
                names[hk] = (n, host)
        by_log = known.append_column("ch", pc.utf8_lower(pc.fill_null(known.column("channel"), "")))
        logs = by_log.group_by([HK, "ch"]).aggregate([(TS, "min")])
        channel_starts = {
            (h, c): t
            for h, c, t in zip(
                *(logs.column(n).to_pylist() for n in (HK, "ch", f"{TS}_min")), strict=True
            )
        }
        return cls(starts, ends, {k: v[1] for k, v in names.items()}, [], channel_starts)

    @property
    def fleet(self) -> int:
        return len(self.starts)

    def hours(self, hk: str) -> float:
        """Hours of logs the host has."""
        return (self.ends.get(hk, 0) - self.starts.get(hk, 0)) / HOUR_US

    def seasoned(
        self, hks: np.ndarray, ts: np.ndarray, channels: np.ndarray | None = None
    ) -> np.ndarray:
        """Per row: whether its host, and its own log if ``channels`` are given, had
        ``MIN_HISTORY_US`` of history before the row."""
        never = 1 << 62
        if len(hks) == 0:
            return np.zeros(0, bool)
        # Hosts and logs by dictionary codes: each distinct one looked up once.
        host = pc.dictionary_encode(pa.array(hks, pa.string()))
        per_host = [self.starts.get(h, never) for h in host.dictionary.to_pylist()] + [never]
        codes = pc.fill_null(host.indices, -1).to_numpy(zero_copy_only=False)
        start = np.asarray(per_host, np.int64)[codes]
        if channels is not None:
            ids = key_ids(host, pa.array(channels, pa.string()))
            first = np.zeros(int(ids.max()) + 1, np.int64)
            first[ids[::-1]] = np.arange(len(ids))[::-1]
            own = np.array(
                [
                    self.channel_starts.get((hks[i], (channels[i] or "").lower()), never)
                    for i in first
                ],
                np.int64,
            )
            start = np.maximum(start, own[ids])
        return (ts - start) >= MIN_HISTORY_US

    def history_hours(self, hk: str, ts: int) -> float:
        return max(0.0, (ts - self.starts.get(hk, ts)) / HOUR_US)

    def name(self, hk: str) -> str:
        return self.names.get(hk, hk)

    def too_short(self, analytic: str, needs: str) -> None:
        """Say that ``analytic`` judged nothing, and what it needs."""
        note = f"{analytic}: not judged, {needs}"
        if note not in self.notes:
            self.notes.append(note)


def first_rows(keys: np.ndarray, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For integer ``keys`` per row: the index of each key's earliest row, and per row
    how many rows share its key."""
    if keys.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    order = np.lexsort((ts, keys))
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    firsts = order[starts]
    counts = np.bincount(keys, minlength=int(keys.max()) + 1)
    return firsts, counts[keys]


def refs(table: pa.Table, rows: list[int] | np.ndarray) -> tuple[EventRef, ...]:
    return tuple(event_ref(table, int(i)) for i in rows)


def behaviour(
    name: str,
    level: str,
    why: str,
    table: pa.Table,
    rows: list[int] | np.ndarray,
    tags: tuple[str, ...],
    account: str | None = None,
    keys: tuple[tuple[str, str], ...] = (),
    edge: object = None,
) -> Signal:
    """A behaviour signal citing rows of ``table`` (the first one dates it)."""
    cited = refs(table, rows)
    return Signal(
        kind=SignalKind.BEHAVIOUR,
        name=name,
        level=level,
        why=why,
        events=cited,
        tags=tags,
        host=cited[0].host if cited else None,
        account=account or None,
        timestamp=cited[0].timestamp if cited else None,
        keys=keys,
        edge=edge,  # type: ignore[arg-type]
    )


def dated(sig: Signal) -> Signal:
    """The signal with its edge dated by its first event."""
    if sig.edge is None:
        return sig
    return replace(sig, edge=replace(sig.edge, first=sig.timestamp))


def session_key(hk: str, session: str) -> tuple[str, str] | None:
    """The chaining key of a logon session, or None for the machine's own sessions (SYSTEM,
    LOCAL / NETWORK SERVICE: every service shares them, so they chain nothing)."""
    if not session or session in SYSTEM_SESSIONS:
        return None
    return ("session", f"{hk}|{session}")


SYSTEM_SESSIONS = frozenset({"0x3e7", "0x3e4", "0x3e5", "0x0", "-", ""})

#: Accounts of the machine itself; analytics of people's habits leave them out.
_MACHINE_USERS = frozenset(
    {"system", "local service", "network service", "anonymous logon", "-", "", "localsystem"}
)


def human(accounts: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Per row: whether the account is a person's (not a machine or service identity),
    judged once per distinct account (a few hundred accounts over a million events)."""
    return per_value(accounts, _human)


def _human(accounts: pa.Array) -> pa.Array:
    user = pc.utf8_lower(pc.replace_substring_regex(accounts, r"^.*\\", ""))
    machine = pc.or_(
        pc.is_in(user, pa.array(sorted(_MACHINE_USERS))),
        pc.or_(pc.ends_with(user, "$"), pc.match_substring_regex(user, r"^(dwm|umfd)-\d+$")),
    )
    return pc.invert(machine)


def column(table: pa.Table, name: str) -> np.ndarray:
    return np_col(table, name)
