"""An incident's score (0-100), the reasons that make it up, and its severity.

The score rewards *context*, not volume: the strongest piece of evidence counts fully and
the next ones less and less, then come breadth (ATT&CK tactics), spread (hosts reached,
lateral edges), corroboration (a rule and a broken baseline agreeing) and resemblance to a
known playbook. One event, however alarming its rule, stays below medium unless it is an
act admins never perform (a critical rule); an administrator's routine (a rare command, a
first logon somewhere new, one log cleared) stays low.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..model import LEVEL_RANK, PlaybookMatch, ScoreReason, Severity, Signal, SignalKind

DETECTION_POINTS = {"critical": 30.0, "high": 18.0, "medium": 8.0, "low": 3.0, "informational": 0.5}
BEHAVIOUR_POINTS = {"critical": 20.0, "high": 12.0, "medium": 7.0, "low": 3.0, "informational": 0.0}
#: How much each further piece of evidence counts after the strongest (halving each time).
DECAY = 0.5
EVIDENCE_CAP = 50.0
TACTIC_POINTS, TACTIC_CAP = 4.0, 20.0
HOST_POINTS, HOST_CAP = 6.0, 18.0
EDGE_POINTS, EDGE_CAP = 3.0, 9.0
CORROBORATION = 8.0
PLAYBOOK_POINTS = 10.0
#: Evidence points (a high-level detection) from which context counts in full.
ANCHOR_POINTS = DETECTION_POINTS["high"]
#: Lowest score of each severity, highest first.
SEVERITIES = (
    (80.0, Severity.CRITICAL),
    (55.0, Severity.HIGH),
    (30.0, Severity.MEDIUM),
    (12.0, Severity.LOW),
    (0.0, Severity.INFORMATIONAL),
)


def points(sig: Signal) -> float:
    table = DETECTION_POINTS if sig.kind == SignalKind.DETECTION else BEHAVIOUR_POINTS
    return table.get(sig.level, 0.0)


def score(
    signals: Sequence[Signal],
    tactics: Sequence[str],
    hosts: int,
    edges: int,
    playbooks: Sequence[PlaybookMatch],
) -> tuple[float, tuple[ScoreReason, ...]]:
    reasons: list[ScoreReason] = []
    # The strongest evidence per distinct name (a rule firing 30 times is one piece), and
    # one piece per event (a log clear seen by a rule and by an analytic counts once).
    best: dict[str, tuple[float, Signal]] = {}
    by_event: dict[tuple[object, object], str] = {}
    for sig in sorted(signals, key=points, reverse=True):
        p = points(sig)
        name = sig.rule_id or sig.name
        cited = [(e.source, e.position) for e in sig.events]
        if cited and all(c in by_event and by_event[c] != name for c in cited):
            continue
        for c in cited:
            by_event.setdefault(c, name)
        if p > best.get(name, (-1.0, sig))[0]:
            best[name] = (p, sig)
    ranked = sorted(best.values(), key=lambda item: -item[0])
    evidence = 0.0
    for k, (p, _sig) in enumerate(ranked):
        evidence += p * DECAY**k
    evidence = min(evidence, EVIDENCE_CAP)
    if ranked:
        top = ranked[0][1]
        what = top.name
        reasons.append(
            ScoreReason(
                evidence,
                f"evidence: {what} ({top.level} {top.kind}) and {len(ranked) - 1} other distinct "
                f"signal{'s' if len(ranked) != 2 else ''}, each counting half the one before",
            )
        )
    # Context counts in proportion to the strongest evidence: breadth around a high-level
    # detection is a story, breadth around routine signals is routine.
    weight = min(1.0, ((ranked[0][0] if ranked else 0.0) / ANCHOR_POINTS) ** 2)
    scaled = (
        f" (x{weight:.2f}: the strongest evidence is {ranked[0][1].level})"
        if weight < 1 and ranked
        else ""
    )
    if len(tactics) > 1:
        p = min(TACTIC_CAP, TACTIC_POINTS * (len(tactics) - 1)) * weight
        reasons.append(
            ScoreReason(p, f"{len(tactics)} ATT&CK tactics: {', '.join(tactics)}{scaled}")
        )
    if hosts > 1:
        reasons.append(
            ScoreReason(min(HOST_CAP, HOST_POINTS * (hosts - 1)) * weight, f"{hosts} hosts{scaled}")
        )
    if edges:
        reasons.append(
            ScoreReason(
                min(EDGE_CAP, EDGE_POINTS * edges) * weight,
                f"{edges} lateral movement{'s' if edges != 1 else ''}{scaled}",
            )
        )
    rules = any(
        s.kind == SignalKind.DETECTION and LEVEL_RANK.get(s.level, 0) >= LEVEL_RANK["medium"]
        for s in signals
    )
    baseline = any(
        s.kind == SignalKind.BEHAVIOUR and LEVEL_RANK.get(s.level, 0) >= LEVEL_RANK["low"]
        for s in signals
    )
    if rules and baseline:
        reasons.append(
            ScoreReason(CORROBORATION * weight, f"rules and broken baselines agree{scaled}")
        )
    for match in playbooks:
        reasons.append(
            ScoreReason(
                PLAYBOOK_POINTS * match.share * weight,
                f"resembles {match.actor}'s playbook ({len(match.techniques)} shared techniques)",
            )
        )
    total = min(100.0, sum(r.points for r in reasons))
    return total, tuple(reasons)


def severity(value: float) -> Severity:
    for floor, sev in SEVERITIES:
        if value >= floor:
            return sev
    return Severity.INFORMATIONAL
