"""Moves between hosts that join evidence, first-seen or not.

The first-seen analytics judge a logon by its novelty; once the intruder has used a path,
its next uses are no longer new. Yet a later hands-on window (another RDP session into
the DC, after its Security log was wiped) belongs to the same story. So every logon from
another host (4624 types 3/10, 4778, 1149), every explicit-credential use (4648) and every
connection to another host's remote-administration port (Sysmon 3) is a candidate move;
a candidate becomes a signal only when it is a person's, both hosts show evidence of level
high within the edge window, and that evidence names the person. Routine logons between
quiet hosts, and the machines' own traffic, never become signals.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..events import schema
from ..model import LEVEL_RANK, LateralEdge, Signal
from .baseline import behaviour, dated, human, session_key
from .chains import EDGE_WINDOW_US, person, short_host, user_of
from .frame import HK, TS, Frames, np_col
from .hosts import PORT_METHODS, HostMap

_HIGH = LEVEL_RANK["high"]
#: Per host: the times of its signals of level high or more, sorted, and their accounts.
Hot = dict[str, tuple[np.ndarray, list[str]]]


def _hot_times(signals: Sequence[Signal]) -> Hot:
    """Per host: times of its signals of level high or more, sorted, and their accounts."""
    found: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for s in signals:
        if LEVEL_RANK.get(s.level, 0) >= _HIGH and s.timestamp is not None:
            found[short_host(s.host)].append(
                (int(s.timestamp.timestamp() * 1e6), user_of(s.account))
            )
    out = {}
    for h, items in found.items():
        items.sort()
        out[h] = (np.array([t for t, _ in items], np.int64), [a for _, a in items])
    return out


def _near(hot: Hot, hks: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Per row: whether its host has a hot signal within the edge window."""
    out = np.zeros(hks.size, bool)
    for h in np.unique(hks):
        if h not in hot:
            continue
        times = hot[h][0]
        rows = np.flatnonzero(hks == h)
        lo = np.searchsorted(times, ts[rows] - EDGE_WINDOW_US, "left")
        hi = np.searchsorted(times, ts[rows] + EDGE_WINDOW_US, "right")
        out[rows] = hi > lo
    return out


def _accounts_near(hot: Hot, h: str, t: int) -> set[str]:
    if h not in hot:
        return set()
    times, accounts = hot[h]
    lo = np.searchsorted(times, t - EDGE_WINDOW_US, "left")
    hi = np.searchsorted(times, t + EDGE_WINDOW_US, "right")
    return set(accounts[lo:hi])


def movements(frames: Frames, hosts: HostMap, signals: Sequence[Signal]) -> list[Signal]:
    hot = _hot_times(signals)
    if len(hot) < 2:
        return []
    out: list[Signal] = []
    out += _inbound(frames.logons, hosts, hot)
    out += _outbound(frames.network, hosts, hot)
    return out


def _inbound(logons: pa.Table, hosts: HostMap, hot: Hot) -> list[Signal]:
    t = logons
    inbound = pc.or_(
        pc.and_(
            pc.equal(t.column(schema.EVENT_ID), 4624),
            pc.is_in(t.column("ltype"), pa.array(["3", "10"])),
        ),
        pc.is_in(t.column(schema.EVENT_ID), pa.array([4778, 1149], pa.int32())),
    )
    t = t.filter(pc.and_(inbound, human(t.column("account"))))
    if t.num_rows == 0:
        return []
    hks, ts = np_col(t, HK), np_col(t, TS)
    src = np.array(
        [hosts.resolve(a, n) for a, n in zip(np_col(t, "src"), np_col(t, "src_name"), strict=True)],
        object,
    )
    both = _near(hot, hks, ts) & _near(hot, src, ts) & (src != hks)
    rows = np.flatnonzero(both)
    accounts, ltypes, sessions = np_col(t, "account"), np_col(t, "ltype"), np_col(t, "session")
    return _signals(
        t,
        rows,
        src,
        hks,
        ts,
        accounts,
        hot,
        lambda i: (
            "rdp" if ltypes[i] == "10" else hosts.methods.get((hks[i], sessions[i]), "logon"),
            session_key(hks[i], sessions[i]),
        ),
    )


def _outbound(network: pa.Table, hosts: HostMap, hot: Hot) -> list[Signal]:
    t = network.filter(
        pc.and_(
            pc.equal(network.column("initiated"), "true"),
            pc.is_in(network.column("port"), pa.array(sorted(PORT_METHODS))),
        )
    )
    if t.num_rows == 0:
        return []
    hks, ts = np_col(t, HK), np_col(t, TS)
    dst = np.array([hosts.by_address.get(a, "") for a in np_col(t, "dst")], object)
    both = (dst != "") & (dst != hks) & _near(hot, hks, ts) & _near(hot, dst, ts)
    rows = np.flatnonzero(both)
    ports, guids = np_col(t, "port"), np_col(t, "guid")
    return _signals(
        t,
        rows,
        hks,
        dst,
        ts,
        np_col(t, "account"),
        hot,
        lambda i: (
            PORT_METHODS[ports[i]],
            ("process", f"{hks[i]}|{guids[i]}") if guids[i] else None,
        ),
    )


def _signals(
    t: pa.Table,
    rows: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    ts: np.ndarray,
    accounts: np.ndarray,
    hot: Hot,
    how: Callable[[int], tuple[str, tuple[str, str] | None]],
) -> list[Signal]:
    """One signal per (source, target, account, method) and hour among the moves whose
    account the evidence of either host names (or that are the machine's own)."""
    seen: set[tuple[str, str, str, str, int]] = set()
    out = []
    for i in map(int, rows):
        who = accounts[i]
        when = int(ts[i])
        if not person(who):
            continue  # the machine's own traffic (monitoring, backups) joins nothing here
        named = _accounts_near(hot, src[i], when) | _accounts_near(hot, dst[i], when)
        if user_of(who) not in named:
            continue
        method, key = how(i)
        mark = (src[i], dst[i], user_of(who), method, when // 3_600_000_000)
        if mark in seen:
            continue
        seen.add(mark)
        at = datetime.fromtimestamp(when / 1e6, UTC).strftime("%Y-%m-%d %H:%M UTC")
        out.append(
            behaviour(
                "lateral_movement",
                "low",
                f"{who or 'an unnamed account'} moved from {src[i]} to {dst[i]} ({method}) at "
                f"{at}, while both hosts show evidence of level high within the hour naming "
                f"{who}.",
                t,
                [i],
                ("attack.lateral-movement",),
                account=who or None,
                keys=(key,) if key else (),
                edge=LateralEdge(src[i], dst[i], who or None, method, None),
            )
        )
    return [dated(s) for s in out]
