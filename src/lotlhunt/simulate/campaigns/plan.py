"""What every campaign plan is made of, whoever the actor: timed actions per host and
window, the script that runs one window on one host, and the plan's summary (Ops, steps,
attacked hosts, lateral edges) that the scenario and its truth are written from.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from lotlhunt.simulate.actions import BEHAVIOUR_ONLY, EDGE_METHODS, Window
from lotlhunt.simulate.host import SEC, Label, Op
from lotlhunt.simulate.network import Host, Network
from lotlhunt.simulate.state import HostState


class Action(NamedTuple):
    """One verb of the actor at one time on one host, with the truth label of its events."""

    ts: int
    label: Label
    fn: Callable[..., None]
    kw: dict[str, Any]


@dataclass
class CampaignPlan:
    """A campaign as the scenario needs it: Ops per host and what an evaluator is told."""

    ops: list[Op]
    #: host -> channel index -> time of the last clear; records before it are wiped.
    clears: dict[str, dict[int, int]]
    attacked: list[str]
    variants: dict[str, object]
    #: One entry per (step, host): step, technique, host, first time, and
    #: ``detectable_by: "behaviour"`` where all its events are only behaviour-detectable.
    steps: list[dict[str, Any]] = field(default_factory=list)
    #: The host the actor entered by (the exploited edge server).
    entry_host: str = ""
    #: One entry per (from, to, account, method): where the actor moved and first when;
    #: ``first`` is the time of the target's logon event.
    edges: list[dict[str, Any]] = field(default_factory=list)


def actor_script(st: HostState, ts: int, script: list[Action]) -> None:
    """Run one window of the actor's actions on this host, each with its own truth label."""
    ctx = Window()
    for action in script:
        st.label = action.label
        action.fn(st, action.ts, ctx, **action.kw)
    st.label = None


class Timeline:
    """Timed actions per host and window; the clock advances like a person typing."""

    def __init__(self, rng: random.Random) -> None:
        self.rng, self.t = rng, 0
        self.by_host: dict[str, list[Action]] = defaultdict(list)
        self.windows: list[dict[str, list[Action]]] = []

    def open(self, t0: int) -> None:
        """Start a new hands-on-keyboard window at ``t0``."""
        self.t, self.by_host = t0, defaultdict(list)
        self.windows.append(self.by_host)

    def step(self, lo: int = 20, hi: int = 150) -> int:
        """Advance the clock by ``lo``-``hi`` seconds; returns the new time."""
        self.t += self.rng.randrange(lo, hi) * SEC
        return self.t

    def add(
        self, host: Host, t: int, step: str, tech: str, fn: Callable[..., None], **kw: Any
    ) -> None:
        self.by_host[host.name].append(Action(t, (step, tech), fn, kw))

    def now(
        self,
        host: Host,
        step: str,
        tech: str,
        fn: Callable[..., None],
        lo: int = 20,
        hi: int = 150,
        **kw: Any,
    ) -> int:
        """Advance the clock, then add the action at the new time; returns that time."""
        t = self.step(lo, hi)
        self.add(host, t, step, tech, fn, **kw)
        return t


def rand_text(
    rng: random.Random, n: int, alphabet: str = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def summarise(
    net: Network,
    timeline: Timeline,
    clears: dict[str, dict[int, int]],
    variants: dict[str, object],
    entry: Host,
) -> CampaignPlan:
    """The plan's Ops (one per host and window), steps, attacked hosts and lateral edges."""
    ops: list[Op] = []
    steps: dict[tuple[str, str], dict[str, Any]] = {}
    behaviour: dict[tuple[str, str], bool] = {}
    for win in timeline.windows:
        for host, items in win.items():
            items.sort(key=lambda x: x.ts)
            ops.append(Op(items[0].ts, host, actor_script, {"script": items}))
            for action in items:
                step, tech = action.label
                steps.setdefault(
                    (step, host),
                    {"step": step, "technique": tech, "host": host, "first": action.ts},
                )
                only = behaviour.get((step, host), True) and action.fn in BEHAVIOUR_ONLY
                behaviour[(step, host)] = only
    for key, only in behaviour.items():
        if only:  # every event of this step on this host is one only baselines can judge
            steps[key]["detectable_by"] = "behaviour"
    order = [h.name for h in net.hosts]
    attacked = sorted({op.host for op in ops}, key=order.index)
    return CampaignPlan(
        ops, clears, attacked, variants, list(steps.values()), entry.name, edges(net, timeline)
    )


def edges(net: Network, timeline: Timeline) -> list[dict[str, Any]]:
    """The lateral edges of the plan, from the target-side actions and their source address."""
    by_ip = {h.ip: h.name for h in net.hosts}
    first: dict[tuple[str, str, str, str], int] = {}
    for win in timeline.windows:
        for host, items in win.items():
            for action in items:
                method = EDGE_METHODS.get(action.fn)
                if method is None:
                    continue
                ip = action.kw.get("src_ip") or action.kw["ip"]
                key = (by_ip.get(ip, ip), host, action.kw["acct"].qualified, method)
                first[key] = min(action.ts, first.get(key, action.ts))
    return [
        {
            "from": src,
            "to": to,
            "account": acct,
            "method": method,
            "first": t,
            "from_ip": next((h.ip for h in net.hosts if h.name == src), src),
            "to_ip": net.host(to).ip,
        }
        for (src, to, acct, method), t in sorted(first.items(), key=lambda kv: kv[1])
    ]
