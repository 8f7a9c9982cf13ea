"""Chaining signals into stories, through what an intruder cannot avoid.

Two signals belong together when they share a logon session or a process tree on a host
(the keys each signal carries), when they follow each other on one host within
``HOST_GAP_US``, or when a lateral edge (source -> target) joins a signal on one end to
a signal on the other within ``EDGE_WINDOW_US``: for a person's move, only if evidence
of level high names that person on either end within that window (then the nearest
signal by that person, else the nearest such evidence); for the machine's own move, only
if both ends show such evidence. An administrator's own logon to a server the intruder is
busy on chains nothing.
Informational signals ride along through keys but join nothing by time: they are
context, not evidence.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from ..model import LEVEL_RANK, Signal

#: Signals on one host this close in time are one episode (the actor's hands-on windows
#: are about an hour, commands tens of seconds to a few minutes apart).
HOST_GAP_US = 30 * 60 * 1_000_000
#: How far from a lateral edge the other host's nearest signal may be.
EDGE_WINDOW_US = 60 * 60 * 1_000_000
_LOW = LEVEL_RANK["low"]
_HIGH = LEVEL_RANK["high"]


def user_of(account: str | None) -> str:
    return (account or "").lower().rsplit("\\", 1)[-1]


class _Window:
    """A host's signals in time order, for the ones within the edge window of a time."""

    def __init__(self, items: list[tuple[int, int]], signals: Sequence[Signal]) -> None:
        items = sorted(items)
        self.times = np.array([u for u, _ in items], np.int64)
        self.idx = [j for _, j in items]

    def near(self, t: int) -> list[tuple[int, int]]:
        """(distance, signal index) of the signals within the edge window of ``t``."""
        lo = int(np.searchsorted(self.times, t - EDGE_WINDOW_US, "left"))
        hi = int(np.searchsorted(self.times, t + EDGE_WINDOW_US, "right"))
        return [(abs(int(self.times[k]) - t), self.idx[k]) for k in range(lo, hi)]


_MACHINE = frozenset({"system", "local service", "network service", "anonymous logon", "-", ""})


def person(account: str | None) -> bool:
    """Whether ``account`` is a person's (not the machine's own or a service identity)."""
    user = user_of(account)
    return bool(user) and not user.endswith("$") and user not in _MACHINE


class _Sets:
    def __init__(self, n: int) -> None:
        self.up = list(range(n))

    def find(self, i: int) -> int:
        while self.up[i] != i:
            self.up[i] = self.up[self.up[i]]
            i = self.up[i]
        return i

    def join(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.up[max(ra, rb)] = min(ra, rb)


def _micros(sig: Signal) -> int:
    return int(sig.timestamp.timestamp() * 1_000_000) if sig.timestamp else 0


def short_host(name: str | None) -> str:
    return (name or "").lower().split(".", 1)[0]


def chain(signals: Sequence[Signal]) -> list[list[int]]:
    """Groups of signal indices that tell one story, each in time order."""
    sets = _Sets(len(signals))
    by_key: dict[tuple[str, str], int] = {}
    for i, sig in enumerate(signals):
        for key in sig.keys:
            if key in by_key:
                sets.join(by_key[key], i)
            else:
                by_key[key] = i
    per_host: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for i, sig in enumerate(signals):
        if LEVEL_RANK.get(sig.level, 0) >= _LOW:
            per_host[short_host(sig.host)].append((_micros(sig), i))
    for items in per_host.values():
        items.sort()
        for (t0, a), (t1, b) in zip(items, items[1:], strict=False):
            if t1 - t0 <= HOST_GAP_US:
                sets.join(a, b)
    windows = {h: _Window(items, signals) for h, items in per_host.items()}
    for i, sig in enumerate(signals):
        edge = sig.edge
        if edge is None:
            continue
        here = short_host(sig.host)
        other = (
            short_host(edge.target) if short_host(edge.source) == here else short_host(edge.source)
        )
        if other == here or other not in windows or here not in windows:
            continue
        t = _micros(sig)
        near = windows[other].near(t)
        there = [(d, j) for d, j in near if LEVEL_RANK.get(signals[j].level, 0) >= _HIGH]
        mine = [j for _, j in windows[here].near(t) if LEVEL_RANK.get(signals[j].level, 0) >= _HIGH]
        who = user_of(edge.account)
        if person(edge.account):
            # A person's move chains only if evidence of level high names that person on
            # either end: an administrator's own logon to a busy server chains nothing.
            named = {user_of(signals[j].account) for _, j in there}
            named |= {user_of(signals[j].account) for j in mine}
            if who not in named:
                continue
            same = [item for item in near if user_of(signals[item[1]].account) == who]
            target = min(same or there or [(0, -1)])[1]
        else:
            # The machine's own move (a SYSTEM process connecting out) chains two busy ends.
            target = min(there)[1] if there and mine else -1
        if target >= 0:
            sets.join(i, target)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(signals)):
        groups[sets.find(i)].append(i)
    return [sorted(g, key=lambda i: _micros(signals[i])) for g in groups.values()]
