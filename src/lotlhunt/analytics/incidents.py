"""Incidents: detections and behaviour signals chained into stories (see :mod:`.chains`),
each with hosts in the order reached, entry host, accounts, time span, tactics in ATT&CK
order, techniques, lateral edges, playbook resemblance, a score with its reasons
(:mod:`.scoring`), a severity and a one-sentence summary.

Detections become signals here: one per rule, host and hour, citing every event it matched,
with the logon sessions, processes and accounts those events carry (read through the
engine by row id) so they chain like behaviour signals do.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..events import schema
from ..model import (
    LEVEL_RANK,
    CorrelationDetection,
    Detection,
    EventRef,
    Incident,
    LateralEdge,
    Signal,
    SignalKind,
)
from .baseline import SYSTEM_SESSIONS, human
from .chains import chain, short_host
from .frame import HK, TS, Frames, event_identities, lower, text
from .playbooks import resemblance
from .scoring import score, severity

#: ATT&CK tactics in the order of the enterprise matrix.
TACTICS = (
    "reconnaissance",
    "resource-development",
    "initial-access",
    "execution",
    "persistence",
    "privilege-escalation",
    "defense-evasion",
    "credential-access",
    "discovery",
    "lateral-movement",
    "collection",
    "command-and-control",
    "exfiltration",
    "impact",
)
#: Techniques whose tactic the tags of a rule may not name.
_TECHNIQUE_TACTICS = {
    "t1021": "lateral-movement",
    "t1070": "defense-evasion",
    "t1078": "initial-access",
}
#: Events cited per context key (a session or a process tree) at most.
CONTEXT_EVENTS = 40
CONTEXT_MARGIN_US = 60 * 60 * 1_000_000
KEY_FIELDS = (
    "LogonId",
    "SubjectLogonId",
    "TargetLogonId",
    "ProcessGuid",
    "ParentProcessGuid",
    "NewProcessId",
    "ProcessId",
    "User",
    "SubjectUserName",
    "SubjectDomainName",
    "TargetUserName",
    "TargetDomainName",
)
_HOUR_US = 3_600_000_000


def event_account(frame: pa.Table) -> Any:
    """Each event's account: Sysmon's ``User`` where there is one, else the Security
    subject as ``DOMAIN\\user`` (the user alone without a domain); "" where neither."""
    user = text(frame, "User")
    subject = pc.if_else(
        pc.equal(text(frame, "SubjectDomainName"), ""),
        text(frame, "SubjectUserName"),
        pc.binary_join_element_wise(
            text(frame, "SubjectDomainName"), text(frame, "SubjectUserName"), "\\"
        ),
    )
    return pc.if_else(pc.not_equal(user, ""), user, subject)


@dataclass(frozen=True)
class EventKeys:
    """What one matched event carries that chains it: sessions, processes, account."""

    keys: tuple[tuple[str, str], ...]
    account: str | None


def event_keys(frame: pa.Table) -> dict[tuple[str | None, int | None], EventKeys]:
    """(source, position) -> the chaining keys of each event of ``frame`` (an
    ``events_frame`` of ``KEY_FIELDS`` over cited rows)."""
    if frame.num_rows == 0:
        return {}
    hk = pc.replace_substring_regex(pc.utf8_lower(text(frame, schema.HOST)), r"\..*$", "")
    sysmon = pc.equal(
        pc.utf8_lower(text(frame, schema.CHANNEL)), "microsoft-windows-sysmon/operational"
    )
    acct = event_account(frame)
    person = human(acct)
    cols = {
        "hk": hk.to_pylist(),
        "sysmon": sysmon.to_pylist(),
        "acct": acct.to_pylist(),
        "person": person.to_pylist(),
        **{n: lower(frame, n).to_pylist() for n in KEY_FIELDS[:7]},
        "source": frame.column(schema.SOURCE).to_pylist(),
        "position": frame.column(schema.POSITION).to_pylist(),
    }
    out: dict[tuple[str | None, int | None], EventKeys] = {}
    for k in range(frame.num_rows):
        h = cols["hk"][k]
        keys: list[tuple[str, str]] = []
        for name in ("LogonId", "SubjectLogonId", "TargetLogonId"):
            v = cols[name][k]
            if v and v not in SYSTEM_SESSIONS:
                keys.append(("session", f"{h}|{v}"))
        if cols["sysmon"][k]:
            for name in ("ProcessGuid", "ParentProcessGuid"):
                if cols[name][k]:
                    keys.append(("process", f"{h}|{cols[name][k]}"))
        else:
            for name in ("NewProcessId", "ProcessId"):
                if cols[name][k]:
                    keys.append(("process", f"{h}|{cols[name][k]}"))
        account = cols["acct"][k] if cols["person"][k] else None
        out[(cols["source"][k], cols["position"][k])] = EventKeys(
            tuple(dict.fromkeys(keys)), account
        )
    return out


#: Events a detection signal cites at most (the first ones; every detection is in the
#: detections report anyway): a noisy rule's thousands of hits would cost more to cite
#: than they tell.
CITED_EVENTS = 100


def detection_groups(detections: Sequence[Detection]) -> list[tuple[list[Detection], int]]:
    """Detections per (rule, host, hour): the ones a signal cites, and how many there are."""
    groups: dict[tuple[str, str | None, int], list[Detection]] = defaultdict(list)
    counts: Counter[tuple[str, str | None, int]] = Counter()
    for d in detections:
        hour = int(d.timestamp.timestamp()) // 3600 if d.timestamp else 0
        key = (d.rule_id, d.host, hour)
        counts[key] += 1
        if counts[key] <= CITED_EVENTS:
            groups[key].append(d)
    return [(items, counts[key]) for key, items in groups.items()]


def detection_signals(
    groups: Sequence[tuple[list[Detection], int]],
    correlations: Sequence[CorrelationDetection],
    keys: dict[tuple[str | None, int | None], EventKeys],
) -> list[Signal]:
    """One signal per group of :func:`detection_groups`, one per correlation hit."""
    nothing = EventKeys((), None)
    out = []
    for items, total in groups:
        first = items[0]
        host = first.host
        chained: dict[tuple[str, str], None] = {}
        accounts: Counter[str] = Counter()
        for d in items:
            k = keys.get((d.source, d.position), nothing)
            chained.update(dict.fromkeys(k.keys))
            if k.account:
                accounts[k.account] += 1
        events = tuple(
            EventRef(d.timestamp, d.host, d.channel, d.event_id, d.record_id, d.source, d.position)
            for d in items
        )
        more = f" (the first {len(items)} cited)" if total > len(items) else ""
        out.append(
            Signal(
                kind=SignalKind.DETECTION,
                name=first.rule_title,
                level=first.level,
                why=f"rule {first.rule_title!r} ({first.level}) matched {total} event"
                f"{'s' if total != 1 else ''} on {host} within the hour{more}"
                + (f": {', '.join(first.matched)} held" if first.matched else "")
                + ".",
                events=events,
                rule_id=first.rule_id,
                tags=first.tags,
                host=host,
                account=accounts.most_common(1)[0][0] if accounts else None,
                timestamp=first.timestamp,
                keys=tuple(chained),
            )
        )
    return out + correlation_signals(correlations, keys)


def correlation_signals(
    correlations: Sequence[CorrelationDetection],
    keys: dict[tuple[str | None, int | None], EventKeys] | dict[tuple[object, object], EventKeys],
) -> list[Signal]:
    """One signal per correlation hit, chained through the keys of its events."""
    nothing = EventKeys((), None)
    out = []
    for c in correlations:
        chained: dict[tuple[str, str], None] = {}
        for e in c.events:
            chained.update(dict.fromkeys(keys.get((e.source, e.position), nothing).keys))
        out.append(
            Signal(
                kind=SignalKind.DETECTION,
                name=c.rule_title,
                level=c.level,
                why=f"correlation {c.rule_title!r} ({c.kind}) reached {c.value} over "
                f"{len(c.events)} events.",
                events=c.events,
                rule_id=c.rule_id,
                tags=c.tags,
                host=c.host or (c.events[0].host if c.events else None),
                timestamp=c.first,
                keys=tuple(chained),
            )
        )
    return out


def tactics_of(signals: Sequence[Signal]) -> tuple[str, ...]:
    found = set()
    for sig in signals:
        for tag in sig.tags:
            t = tag.lower().removeprefix("attack.")
            if t in TACTICS:
                found.add(t)
            elif t[:5] in _TECHNIQUE_TACTICS:
                found.add(_TECHNIQUE_TACTICS[t[:5]])
    return tuple(t for t in TACTICS if t in found)


def techniques_of(signals: Sequence[Signal]) -> tuple[str, ...]:
    found = set()
    for sig in signals:
        for tag in sig.tags:
            t = tag.lower().removeprefix("attack.")
            if len(t) >= 5 and t[0] == "t" and t[1:5].isdigit():
                found.add(t.upper())
    return tuple(sorted(found))


def _micros(ts: datetime | None) -> int:
    return int(ts.timestamp() * 1_000_000) if ts else 0


class Context:
    """Events that share a logon session or a parent process with an incident's signals:
    the rest of what happened there (the logon itself, the session's other commands)."""

    def __init__(self, frames: Frames, signals: Sequence[Signal]) -> None:
        wanted = {v for s in signals for kind, v in s.keys if kind in ("session", "process")}
        #: key -> (table, row, time, (source, position)) of its events, in time order; the
        #: events' identities are read only for the rows an incident cites.
        self.rows: dict[str, list[tuple[int, int, int, tuple[object, object]]]]
        self.rows = defaultdict(list)
        self.tables: list[pa.Table] = []
        self.times: dict[str, list[int]] = {}
        self.identities: dict[int, list[tuple[Any, ...]]] = {}
        if not wanted:
            return
        values = pa.array(list(wanted), pa.string())
        # Every value a key could end with (a host key may hold a "|" itself).
        idents: set[str] = set()
        for v in wanted:
            parts = v.split("|")
            idents.update("|".join(parts[i:]) for i in range(1, len(parts)))
        ends = pa.array(list(idents), pa.string())
        logons, logon_ids = frames.logons, pa.array([4624, 4634, 4647], pa.int32())
        for table, column, kind in (
            (logons, "session", pc.is_in(logons.column(schema.EVENT_ID), logon_ids)),
            (frames.processes, "session", None),
            (frames.processes, "pguid", None),
        ):
            # The rows whose value could end a wanted key, with only the columns a context
            # cites, then their keys: joining host and value on every row of a million and
            # copying every logon whole cost more than the rest.
            near = pc.is_in(table.column(column), ends)
            table = table.select(list(dict.fromkeys([HK, column, TS, *schema.EVENT_REF_COLUMNS])))
            table = table.filter(near if kind is None else pc.and_(kind, near))
            key = pc.binary_join_element_wise(table.column(HK), table.column(column), "|")
            hit = pc.is_in(key, values)
            found = table.filter(hit).append_column("__key", key.filter(hit))
            # One chunk: taking a few rows from a table of many chunks costs a pass over
            # all of them (pyarrow 26: 9 ms against 0.07 ms on 400 k rows), and every
            # incident's context takes some (a quarter of a 1 M-event hunt's analytics).
            found = found.combine_chunks()
            n = len(self.tables)
            self.tables.append(found)
            cols = [found.column(c).to_pylist() for c in ("__key", TS, schema.SOURCE)]
            cols.append(found.column(schema.POSITION).to_pylist())
            for i, (k, ts, src, pos) in enumerate(zip(*cols, strict=True)):
                self.rows[k].append((n, i, ts, (src, pos)))
        for rows in self.rows.values():
            rows.sort(key=lambda r: r[2])
        self.times = {k: [r[2] for r in rows] for k, rows in self.rows.items()}

    def signals(self, incident: Sequence[Signal]) -> list[Signal]:
        cited: set[tuple[object, object]] = {
            (e.source, e.position) for s in incident for e in s.events
        }
        lo = min(_micros(s.timestamp) for s in incident) - CONTEXT_MARGIN_US
        hi = max(_micros(e.timestamp) for s in incident for e in s.events) + CONTEXT_MARGIN_US
        sessions = {v for s in incident for kind, v in s.keys if kind == "session"}
        keys = dict.fromkeys(
            v for s in incident for kind, v in s.keys if kind in ("session", "process")
        )
        out = []
        for key in keys:
            times = self.times.get(key, [])
            window = self.rows.get(key, [])[bisect_left(times, lo) : bisect_right(times, hi)]
            rows = []
            for r in window:
                if r[3] not in cited:
                    rows.append(r)
                    if len(rows) == CONTEXT_EVENTS:
                        break
            if not rows:
                continue
            rows = rows[:CONTEXT_EVENTS]
            cited.update(r[3] for r in rows)
            host, ident = key.split("|", 1)
            kind = "logon session" if key in sessions else "process tree"
            events = self._refs(rows)
            out.append(
                Signal(
                    kind=SignalKind.BEHAVIOUR,
                    name="context",
                    level="informational",
                    why=f"{len(rows)} more event{'s' if len(rows) != 1 else ''} of the {kind} "
                    f"{ident} on {host}, where this incident's signals occurred.",
                    events=events,
                    host=events[0].host,
                    timestamp=events[0].timestamp,
                )
            )
        return out

    def _refs(
        self, rows: list[tuple[int, int, int, tuple[object, object]]]
    ) -> tuple[EventRef, ...]:
        """The identities of ``rows``, in their order, from each table's identity
        columns read as Python values once (thousands of small takes cost more)."""
        return tuple(EventRef(*self._identity(n)[i]) for n, i, _, _ in rows)

    def _identity(self, n: int) -> list[tuple[Any, ...]]:
        """The identity of every row of table ``n``, in :class:`EventRef` order."""
        rows = self.identities.get(n)
        if rows is None:
            rows = self.identities[n] = event_identities(self.tables[n])
        return rows


def build(signals: Sequence[Signal], frames: Frames | None) -> list[Incident]:
    """Incidents from all signals, best first; only groups holding evidence of level low
    or more become incidents."""
    groups = [[signals[i] for i in g] for g in chain(signals)]
    top = {id(g): max(LEVEL_RANK.get(s.level, 0) for s in g) for g in groups}
    # Context (the rest of a session or process tree) is told for stories with evidence
    # of level medium or more: for the others it would cost more than it tells.
    told = [s for g in groups if top[id(g)] >= LEVEL_RANK["medium"] for s in g]
    context = Context(frames, told) if frames is not None else None
    drafts = []
    for members in groups:
        if top[id(members)] < LEVEL_RANK["low"]:
            continue
        if context is not None and top[id(members)] >= LEVEL_RANK["medium"]:
            members = members + context.signals(members)
        drafts.append(_incident(members))
    drafts.sort(key=lambda inc: (-inc.score, _micros(inc.first)))
    return [replace(inc, id=f"INC-{k + 1:04d}") for k, inc in enumerate(drafts)]


def _incident(members: list[Signal]) -> Incident:
    members.sort(key=lambda s: _micros(s.timestamp))
    names: dict[str, str] = {}
    for s in members:
        if s.host:
            names.setdefault(short_host(s.host), s.host)
    edges = _edges(members, names)
    order, entry = _reach(members, edges)
    hosts = tuple(names[h] for h in order if h in names)
    accounts = Counter(s.account for s in members if s.account and LEVEL_RANK.get(s.level, 0) >= 1)
    tactics = tactics_of(members)
    techniques = techniques_of(members)
    playbooks = resemblance(techniques)
    total, reasons = score(members, tactics, len(hosts), len(edges), playbooks)
    times = [e.timestamp for s in members for e in s.events if e.timestamp]
    first, last = (min(times), max(times)) if times else (None, None)
    inc = Incident(
        id="",
        score=total,
        severity=severity(total),
        summary="",
        hosts=hosts,
        entry_host=names.get(entry) if entry else None,
        accounts=tuple(a for a, _ in accounts.most_common()),
        first=first,
        last=last,
        tactics=tactics,
        techniques=techniques,
        edges=edges,
        playbooks=playbooks,
        signals=tuple(members),
        reasons=reasons,
    )
    return replace(inc, summary=summary(inc))


def _edges(members: Sequence[Signal], names: dict[str, str]) -> tuple[LateralEdge, ...]:
    """The incident's lateral edges between distinct hosts, earliest first, once each."""
    found: dict[tuple[str, str, str | None, str], LateralEdge] = {}
    for s in members:
        e = s.edge
        if e is None or short_host(e.source) == short_host(e.target):
            continue
        src, dst = (
            names.get(short_host(e.source), e.source),
            names.get(short_host(e.target), e.target),
        )
        key = (src.lower(), dst.lower(), (e.account or "").lower() or None, e.method)
        if key not in found or _micros(e.first) < _micros(found[key].first):
            found[key] = LateralEdge(src, dst, e.account, e.method, e.first)
    return tuple(sorted(found.values(), key=lambda e: _micros(e.first)))


def _reach(members: Sequence[Signal], edges: Sequence[LateralEdge]) -> tuple[list[str], str | None]:
    """Hosts (keys) in the order they were reached, and the entry host.

    A host is reached at its first signal of level medium or more (its first signal if it
    has none), or earlier through an edge into it. The entry is the earliest reached host
    that no edge from another host of the incident reached first.
    """
    strong: dict[str, int] = {}
    weak: dict[str, int] = {}
    for s in members:
        h = short_host(s.host)
        if not h:
            continue
        t = _micros(s.timestamp)
        weak[h] = min(weak.get(h, t), t)
        if LEVEL_RANK.get(s.level, 0) >= LEVEL_RANK["medium"]:
            strong[h] = min(strong.get(h, t), t)
    seen = {h: strong.get(h, weak[h]) for h in weak}
    arrival = dict(seen)
    entered: set[str] = set()
    for e in edges:
        src, dst, t = short_host(e.source), short_host(e.target), _micros(e.first)
        if dst in seen and src in seen and src != dst and t <= seen[dst]:
            entered.add(dst)
            arrival[dst] = min(arrival[dst], t)
    if not arrival:
        return [], None
    candidates = [h for h in arrival if h not in entered] or list(arrival)
    entry = min(candidates, key=lambda h: (seen[h], h))
    rest = sorted((h for h in arrival if h != entry), key=lambda h: (arrival[h], h))
    return [entry, *rest], entry


def summary(inc: Incident) -> str:
    """One sentence: where, in what order, who, doing what, when, and whom it resembles."""
    short = [h.split(".", 1)[0] for h in inc.hosts]
    where = (
        f"{len(short)} hosts reached in order {' -> '.join(short)}"
        if len(short) > 1
        else f"host {short[0]}"
        if short
        else "no host"
    )
    who = f" by {', '.join(inc.accounts[:2])}" if inc.accounts else ""
    doing = ", ".join(t.replace("-", " ") for t in inc.tactics) or "activity"
    when = ""
    if inc.first and inc.last:
        when = f" between {inc.first:%Y-%m-%d %H:%M} and {inc.last:%Y-%m-%d %H:%M} UTC"
    like = ""
    if inc.playbooks:
        p = inc.playbooks[0]
        like = f"; resembles {p.actor} ({len(p.techniques)} of its techniques)"
    return f"{inc.severity.capitalize()}: {doing} on {where}{who}{when}{like}."
