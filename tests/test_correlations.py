"""Sigma correlation rules end to end: inline YAML, events through the real reader, DuckDB.

Every timespan is tested on both sides of its boundary, windows are closed (events exactly
``timespan`` apart correlate), input order never matters, and each group's overlapping
windows come back as one hit. Collections are parsed with ``resolve_references=False`` so
that a bad reference reaches the evaluator (pySigma would raise while parsing) and base
rules keep their own output (pySigma turns it off for ``generate: false``).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sigma.collection import SigmaCollection

from lotlhunt.analytics.correlations import CorrelationResult, evaluate_correlations
from lotlhunt.engines.duckdb.engine import DuckDBEngine
from lotlhunt.rules.compile.backend import SqlBackend
from lotlhunt.rules.compiling import load_collection
from lotlhunt.rules.loader import RuleSet, load_rules
from lotlhunt.testing import load_events

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)

BASE = """
title: failed logon
id: 0b6c3a34-0000-4000-8000-000000000001
name: failed_logon
logsource: {product: windows, service: security}
detection: {sel: {EventID: 4625}, condition: sel}
level: low
tags: [attack.credential-access]
---
title: successful logon
id: 0b6c3a34-0000-4000-8000-000000000002
name: successful_logon
logsource: {product: windows, service: security}
detection: {sel: {EventID: 4624}, condition: sel}
level: informational
---
title: special privileges
id: 0b6c3a34-0000-4000-8000-000000000003
name: special_privileges
logsource: {product: windows, service: security}
detection: {sel: {EventID: 4672}, condition: sel}
level: low
---
title: whoami
id: 0b6c3a34-0000-4000-8000-000000000004
name: whoami
logsource: {product: windows, category: process_creation}
detection: {sel: {Image|endswith: '\\whoami.exe'}, condition: sel}
level: low
"""


def at(seconds: float) -> str:
    """ISO time ``seconds`` after T0, microseconds kept."""
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def ev(tag: str, offset: float, eid: int = 4625, host: str = "h1", **fields: Any) -> dict:
    return {
        "Channel": "Security",
        "EventID": eid,
        "Hostname": host,
        "@timestamp": at(offset),
        "Tag": tag,
        **fields,
    }


def correlation(kind: str, rules: list[str], timespan: str = "5m", **extra: Any) -> str:
    """One correlation document (YAML) with a fixed title derived from its type."""
    import yaml

    body: dict[str, Any] = {"type": kind, "rules": rules, "timespan": timespan}
    generate = extra.pop("generate", None)
    if generate is not None:
        body["generate"] = generate
    body.update({k.replace("_", "-"): v for k, v in extra.pop("corr", {}).items()})
    doc = {"title": extra.pop("title", kind), **extra, "correlation": body}
    return yaml.safe_dump(doc, sort_keys=False)


def ruleset(*docs: str) -> RuleSet:
    text = "\n---\n".join([BASE, *docs])
    collection = SigmaCollection.from_yaml(text, collect_errors=True, resolve_references=False)
    rs = load_collection(collection, Path("<test>"), SqlBackend())
    assert not rs.failed, rs.failed
    return rs


def hunt(
    rs: RuleSet, events: list[dict], tmp_path: Path, **kw: Any
) -> tuple[CorrelationResult, dict[int, str]]:
    engine = DuckDBEngine()
    try:
        load_events(engine, events, tmp_path)
        evaluation = engine.evaluate(rs.rules)
        assert not evaluation.failed
        result = evaluate_correlations(engine, rs, evaluation.matches, **kw)
        tags = dict(engine.con.execute('SELECT __rid, "Tag" FROM events').fetchall())
        left = engine.con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '__corr%'"
        ).fetchone()
        assert left == (0,), "temporary tables left behind"
    finally:
        engine.close()
    return result, tags


def summary(result: CorrelationResult, tags: dict[int, str]) -> list[tuple]:
    """Hits as (title, group, sorted event tags, value), in report order."""
    return [(h.title, h.group, sorted(tags[r] for r in h.rids), h.value) for h in result.hits]


def shuffled(events: list[dict], seed: int = 7) -> list[dict]:
    out = list(events)
    random.Random(seed).shuffle(out)
    return out


BRUTE = correlation(
    "event_count",
    ["failed_logon"],
    title="brute force",
    level="high",
    corr={"group_by": ["TargetUserName"], "condition": {"gte": 3}},
)

# -- event_count: boundaries, episodes, order ----------------------------------------------

EVENT_COUNT_CASES = [
    # (id, offsets in seconds, expected tags of each hit)
    ("three-inside", [0, 100, 200], [["a", "b", "c"]]),
    ("exactly-timespan-apart", [0, 150, 300], [["a", "b", "c"]]),
    ("one-microsecond-over", [0, 150, 300.000001], []),
    ("one-second-over", [0, 150, 301], []),
    ("two-only", [0, 10], []),
    # windows [-298, 2] and [2, 302] touch at 2: one episode with every event
    ("touching-windows-merge", [0, 1, 2, 290, 301, 302], [["a", "b", "c", "d", "e", "f"]]),
    # sliding: fires at 299 on [0, 299]; 301..303 fire on later windows overlapping it
    ("sliding-one-episode", [0, 200, 299, 301, 303], [["a", "b", "c", "d", "e"]]),
    # bursts more than 5m apart: two episodes, stray events outside any firing window left out
    ("two-episodes", [0, 1, 2, 1000, 1400, 1401, 1402], [["a", "b", "c"], ["e", "f", "g"]]),
]


@pytest.mark.parametrize(
    "offsets,expected", [c[1:] for c in EVENT_COUNT_CASES], ids=[c[0] for c in EVENT_COUNT_CASES]
)
@pytest.mark.parametrize("order", ["sorted", "shuffled", "reversed"])
def test_event_count_window(tmp_path: Path, offsets, expected, order) -> None:
    events = [ev("abcdefg"[i], t, TargetUserName="bob") for i, t in enumerate(offsets)]
    events = {"sorted": events, "shuffled": shuffled(events), "reversed": events[::-1]}[order]
    result, tags = hunt(ruleset(BRUTE), events, tmp_path)
    assert [s[2] for s in summary(result, tags)] == expected
    for hit in result.hits:
        stamps = sorted(
            datetime.fromisoformat(ev["@timestamp"])
            for ev in events
            if ev["Tag"] in {tags[r] for r in hit.rids}
        )
        assert (hit.first, hit.last) == (stamps[0], stamps[-1])
        assert hit.value >= 3


def test_hit_metadata_and_suppression(tmp_path: Path) -> None:
    events = [ev(t, i * 10, TargetUserName="bob") for i, t in enumerate("abc")]
    rs = ruleset(BRUTE)
    result, _ = hunt(rs, events, tmp_path)
    (hit,) = result.hits
    assert hit.rule_id and hit.title == "brute force" and hit.level == "high"
    assert hit.kind == "event_count" and hit.value == 3 and isinstance(hit.value, int)
    assert hit.tags == ("attack.credential-access",)  # the correlation has none of its own
    assert hit.group == {"TargetUserName": "bob"}
    assert hit.first == T0 and hit.last == T0 + timedelta(seconds=20)
    failed_idx = next(i for i, r in enumerate(rs.rules) if r.name == "failed_logon")
    assert result.suppressed == {failed_idx}
    assert result.failed == []


def test_value_is_peak_of_episode(tmp_path: Path) -> None:
    events = [ev(str(i), i, TargetUserName="bob") for i in range(7)]
    result, _ = hunt(ruleset(BRUTE), events, tmp_path)
    assert [h.value for h in result.hits] == [7]


# -- grouping --------------------------------------------------------------------------------


def test_group_by_separates_users_and_hosts(tmp_path: Path) -> None:
    rule = correlation(
        "event_count",
        ["failed_logon"],
        title="per host and user",
        corr={"group_by": ["Computer", "TargetUserName"], "condition": {"gte": 3}},
    )
    events = [
        ev("b1", 0, TargetUserName="bob"),
        ev("b2", 10, TargetUserName="bob"),
        ev("x1", 15, host="h2", TargetUserName="bob"),  # same user, other host
        ev("a1", 20, TargetUserName="alice"),
        ev("a2", 30, TargetUserName="alice"),
        ev("b3", 40, TargetUserName="bob"),
        ev("x2", 50, host="h2", TargetUserName="bob"),
    ]
    result, tags = hunt(ruleset(rule), shuffled(events), tmp_path)
    assert summary(result, tags) == [
        ("per host and user", {"Computer": "h1", "TargetUserName": "bob"}, ["b1", "b2", "b3"], 3)
    ]


@pytest.mark.parametrize(
    "case_sensitive,expected",
    [
        (False, [({"TargetUserName": "Bob"}, ["a", "b", "c"])]),  # spelling of the first
        (True, []),
    ],
)
def test_group_values_ignore_case(tmp_path: Path, case_sensitive, expected) -> None:
    events = [
        ev("a", 0, TargetUserName="Bob"),
        ev("b", 1, TargetUserName="BOB"),
        ev("c", 2, TargetUserName="bob"),
    ]
    result, tags = hunt(ruleset(BRUTE), events, tmp_path, case_sensitive=case_sensitive)
    assert [(s[1], s[2]) for s in summary(result, tags)] == expected


def test_missing_group_field_is_its_own_group(tmp_path: Path) -> None:
    events = [ev("n1", 0), ev("n2", 1), ev("b", 1, TargetUserName="bob"), ev("n3", 2)]
    result, tags = hunt(ruleset(BRUTE), events, tmp_path)
    assert summary(result, tags) == [
        ("brute force", {"TargetUserName": None}, ["n1", "n2", "n3"], 3)
    ]


def test_no_group_by_counts_everything(tmp_path: Path) -> None:
    rule = correlation("event_count", ["failed_logon"], corr={"condition": {"gt": 2}})
    events = [ev("a", 0, TargetUserName="x"), ev("b", 1, TargetUserName="y"), ev("c", 2)]
    result, tags = hunt(ruleset(rule), events, tmp_path)
    assert summary(result, tags) == [("event_count", {}, ["a", "b", "c"], 3)]


def test_group_by_resolves_per_logsource_variant(tmp_path: Path) -> None:
    """``User`` is a field in Sysmon 1 and built from two fields in Security 4688."""
    rule = correlation(
        "event_count",
        ["whoami"],
        title="whoami burst",
        corr={"group_by": ["User"], "condition": {"gte": 2}},
    )
    sysmon = "Microsoft-Windows-Sysmon/Operational"
    events = [
        {
            "Channel": sysmon,
            "EventID": 1,
            "Hostname": "h1",
            "@timestamp": at(0),
            "Tag": "s",
            "Image": r"C:\Windows\System32\whoami.exe",
            "User": r"CORP\bob",
        },
        ev(
            "4688",
            30,
            eid=4688,
            NewProcessName=r"C:\Windows\System32\whoami.exe",
            SubjectDomainName="CORP",
            SubjectUserName="bob",
        ),
        ev(
            "other",
            40,
            eid=4688,
            NewProcessName=r"C:\Windows\System32\whoami.exe",
            SubjectDomainName="CORP",
            SubjectUserName="alice",
        ),
    ]
    result, tags = hunt(ruleset(rule), events, tmp_path)
    assert summary(result, tags) == [("whoami burst", {"User": r"CORP\bob"}, ["4688", "s"], 2)]


# -- conditions ------------------------------------------------------------------------------

CONDITION_CASES = [
    # (condition, offsets of one user's events, expected hit tags)
    ({"gt": 2}, [0, 1], []),
    ({"gt": 2}, [0, 1, 2], [["a", "b", "c"]]),
    ({"eq": 2}, [0, 1], [["a", "b"]]),
    ({"eq": 2}, [0, 1000], []),
    # lt/lte read the window ending at each event: an event after a quiet timespan fires
    ({"lt": 2}, [0, 100, 1000], [["a"], ["c"]]),
    ({"lte": 1}, [0, 300, 601], [["a"], ["c"]]),  # b is exactly 5m after a: count 2
    ({"neq": 1}, [0, 300, 601], [["a", "b"]]),
]


@pytest.mark.parametrize("cond,offsets,expected", CONDITION_CASES)
def test_condition_operators(tmp_path: Path, cond, offsets, expected) -> None:
    rule = correlation(
        "event_count", ["failed_logon"], corr={"group_by": ["TargetUserName"], "condition": cond}
    )
    events = [ev("abcd"[i], t, TargetUserName="bob") for i, t in enumerate(offsets)]
    result, tags = hunt(ruleset(rule), shuffled(events), tmp_path)
    assert [s[2] for s in summary(result, tags)] == expected


# -- value_count -----------------------------------------------------------------------------

SPRAY = correlation(
    "value_count",
    ["failed_logon"],
    title="password spray",
    corr={"group_by": ["IpAddress"], "condition": {"field": "TargetUserName", "gte": 3}},
)

VALUE_COUNT_CASES = [
    # (id, (tag, offset, user) events from one address, case_sensitive, expected tags)
    ("three-distinct", [("a", 0, "u1"), ("b", 1, "u2"), ("c", 2, "u3")], False, [["a", "b", "c"]]),
    ("repeats-count-once", [("a", 0, "u1"), ("b", 1, "u1"), ("c", 2, "u2")], False, []),
    ("case-folded", [("a", 0, "u1"), ("b", 1, "U1"), ("c", 2, "u2")], False, []),
    ("case-sensitive", [("a", 0, "u1"), ("b", 1, "U1"), ("c", 2, "u2")], True, [["a", "b", "c"]]),
    ("missing-not-a-value", [("a", 0, "u1"), ("b", 1, None), ("c", 2, "u2")], False, []),
    (
        "boundary-inside",
        [("a", 0, "u1"), ("b", 100, "u2"), ("c", 300, "u3")],
        False,
        [["a", "b", "c"]],
    ),
    ("boundary-outside", [("a", 0, "u1"), ("b", 100, "u2"), ("c", 300.5, "u3")], False, []),
    ("many-events-few-values", [(str(i), i, f"u{i % 2}") for i in range(9)], False, []),
]


@pytest.mark.parametrize(
    "rows,case_sensitive,expected",
    [c[1:] for c in VALUE_COUNT_CASES],
    ids=[c[0] for c in VALUE_COUNT_CASES],
)
def test_value_count(tmp_path: Path, rows, case_sensitive, expected) -> None:
    events = [
        ev(tag, t, IpAddress="10.0.0.9", **({"TargetUserName": u} if u else {}))
        for tag, t, u in rows
    ]
    events.append(ev("other-ip", 1, IpAddress="10.0.0.8", TargetUserName="u9"))
    result, tags = hunt(ruleset(SPRAY), shuffled(events), tmp_path, case_sensitive=case_sensitive)
    assert [s[2] for s in summary(result, tags)] == expected
    assert all(h.group == {"IpAddress": "10.0.0.9"} and h.value == 3 for h in result.hits)


def test_value_count_over_field_pairs(tmp_path: Path) -> None:
    """A list of fields counts distinct combinations; a row lacking all of them counts none."""
    rule = correlation(
        "value_count",
        ["failed_logon"],
        title="pairs",
        corr={"condition": {"field": ["TargetUserName", "IpAddress"], "gte": 3}},
    )
    rows = [("a", "u1", "1.1.1.1"), ("b", "u1", "2.2.2.2"), ("c", "U1", "1.1.1.1")]
    events = [ev(tag, i, TargetUserName=u, IpAddress=ip) for i, (tag, u, ip) in enumerate(rows)]
    result, _ = hunt(ruleset(rule), events + [ev("none", 3)], tmp_path)
    assert result.hits == []  # (u1, 1.1.1.1) twice, case folded
    (tmp_path / "again").mkdir()
    result, tags = hunt(
        ruleset(rule), events + [ev("d", 3, TargetUserName="u2")], tmp_path / "again"
    )
    assert [s[2] for s in summary(result, tags)] == [["a", "b", "c", "d"]]


def test_events_without_time_are_left_out(tmp_path: Path) -> None:
    events = [ev("a", 0, TargetUserName="bob"), ev("b", 1, TargetUserName="bob")]
    untimed = ev("c", 2, TargetUserName="bob")
    del untimed["@timestamp"]
    result, _ = hunt(ruleset(BRUTE), [*events, untimed], tmp_path)
    assert result.hits == [] and result.failed == []


# -- value_sum / avg / median / percentile ---------------------------------------------------

VALUE_AGG_CASES = [
    ("value_sum", {"gte": 10}, ["4", "5", "1"], 10.0),
    ("value_sum", {"gt": 10}, ["4", "5", "1"], None),
    ("value_sum", {"gte": 10}, ["4", "5", "x1", "1"], 10.0),  # non-numbers are skipped
    ("value_avg", {"gt": 4}, ["4", "5", "6"], 5.0),
    ("value_avg", {"gt": 5}, ["4", "5", "6"], None),
    ("value_median", {"gte": 5}, ["1", "9", "5"], 5.0),
    ("value_median", {"gte": 5}, ["1", "9", "4"], 5.0),  # [1, 9] is a window too
    ("value_median", {"gte": 5}, ["1", "3", "9"], None),
]


@pytest.mark.parametrize("kind,cond,values,peak", VALUE_AGG_CASES)
def test_value_aggregates(tmp_path: Path, kind, cond, values, peak) -> None:
    rule = correlation(
        kind,
        ["failed_logon"],
        corr={"group_by": ["TargetUserName"], "condition": {"field": "Attempts", **cond}},
    )
    events = [ev(str(i), i, TargetUserName="bob", Attempts=v) for i, v in enumerate(values)]
    events.append(ev("late", 1000, TargetUserName="bob", Attempts="0"))  # a window alone
    result, _ = hunt(ruleset(rule), events, tmp_path)
    assert [h.value for h in result.hits] == ([peak] if peak is not None else [])
    assert all(isinstance(h.value, float) for h in result.hits)


def test_value_percentile(tmp_path: Path) -> None:
    rule = correlation(
        "value_percentile",
        ["failed_logon"],
        corr={
            "group_by": ["TargetUserName"],
            "condition": {"field": "Attempts", "percentile": 90, "gte": 90},
        },
    )
    events = [ev(str(i), i, TargetUserName="bob", Attempts=str(i * 10)) for i in range(11)]
    result, _ = hunt(ruleset(rule), events, tmp_path)
    (hit,) = result.hits  # 90th percentile of 0..100 reaches 90 only once all 11 are in
    assert hit.value == pytest.approx(90.0)


# -- temporal and temporal_ordered -------------------------------------------------------------


def _recon(kind: str, timespan: str = "5m", **corr: Any) -> str:
    return correlation(
        kind,
        ["failed_logon", "successful_logon", "special_privileges"],
        timespan,
        title=kind,
        corr={"group_by": ["TargetUserName"], **corr},
    )


TEMPORAL_CASES = [
    # (id, (tag, offset, event id) for one user, hits of temporal, hits of temporal_ordered)
    (
        "in-order",
        [("f", 0, 4625), ("s", 60, 4624), ("p", 120, 4672)],
        [["f", "p", "s"]],
        [["f", "p", "s"]],
    ),
    ("out-of-order", [("p", 0, 4672), ("s", 60, 4624), ("f", 120, 4625)], [["f", "p", "s"]], []),
    ("one-missing", [("f", 0, 4625), ("s", 60, 4624)], [], []),
    (
        "exactly-timespan",
        [("f", 0, 4625), ("s", 60, 4624), ("p", 300, 4672)],
        [["f", "p", "s"]],
        [["f", "p", "s"]],
    ),
    ("just-over", [("f", 0, 4625), ("s", 60, 4624), ("p", 300.001, 4672)], [], []),
    (
        "equal-times-in-order",
        [("f", 0, 4625), ("s", 0, 4624), ("p", 0, 4672)],
        [["f", "p", "s"]],
        [["f", "p", "s"]],
    ),
    # the chain starts at the latest failure that still fits: f2 .. p spans 290 s
    (
        "latest-start",
        [("f1", 0, 4625), ("f2", 100, 4625), ("s", 200, 4624), ("p", 390, 4672)],
        [["f2", "p", "s"]],
        [["f2", "p", "s"]],
    ),
    # out of order inside the window, then a full ordered chain later on
    (
        "order-found-later",
        [("s", 0, 4624), ("f", 10, 4625), ("p", 20, 4672), ("s2", 30, 4624), ("p2", 40, 4672)],
        [["f", "p", "p2", "s", "s2"]],
        [["f", "p", "p2", "s2"]],
    ),
]


@pytest.mark.parametrize(
    "rows,unordered,ordered", [c[1:] for c in TEMPORAL_CASES], ids=[c[0] for c in TEMPORAL_CASES]
)
def test_temporal_vs_ordered(tmp_path: Path, rows, unordered, ordered) -> None:
    events = [ev(tag, t, eid=eid, TargetUserName="bob") for tag, t, eid in rows]
    events += [ev("alice-" + tag, t, eid=eid, TargetUserName="alice") for tag, t, eid in rows[:1]]
    rs = ruleset(_recon("temporal"), _recon("temporal_ordered"))
    result, tags = hunt(rs, shuffled(events), tmp_path)
    got = summary(result, tags)
    assert [s[2] for s in got if s[0] == "temporal"] == unordered
    assert [s[2] for s in got if s[0] == "temporal_ordered"] == ordered
    assert all(s[3] == 3 and s[1] == {"TargetUserName": "bob"} for s in got)


def test_temporal_extended_condition(tmp_path: Path) -> None:
    rule = correlation(
        "temporal",
        ["failed_logon", "successful_logon"],
        title="failure without success",
        corr={"group_by": ["TargetUserName"], "condition": "failed_logon and not successful_logon"},
    )
    events = [
        ev("f-bob", 0, TargetUserName="bob"),
        ev("s-bob", 60, eid=4624, TargetUserName="bob"),  # window at s-bob holds both
        ev("f-eve", 0, TargetUserName="eve"),
    ]
    result, tags = hunt(ruleset(rule), events, tmp_path)
    groups = [(h.group["TargetUserName"], sorted(tags[r] for r in h.rids)) for h in result.hits]
    # bob's failure fires on its own window [t-5m, t], before the success happened
    assert sorted(groups) == [("bob", ["f-bob"]), ("eve", ["f-eve"])]


def test_aliases_join_different_fields(tmp_path: Path) -> None:
    rule = correlation(
        "temporal",
        ["failed_logon", "successful_logon"],
        title="same address",
        corr={
            "group_by": ["addr"],
            "aliases": {"addr": {"failed_logon": "IpAddress", "successful_logon": "SourceIp"}},
        },
    )
    events = [
        ev("f", 0, IpAddress="10.1.1.1"),
        ev("s", 10, eid=4624, SourceIp="10.1.1.1", IpAddress="10.9.9.9"),
        ev("s-other", 20, eid=4624, SourceIp="10.2.2.2"),
    ]
    result, tags = hunt(ruleset(rule), events, tmp_path)
    assert summary(result, tags) == [("same address", {"addr": "10.1.1.1"}, ["f", "s"], 2)]


# -- generate and suppression ------------------------------------------------------------------


@pytest.mark.parametrize(
    "generates,suppressed",
    [
        ([None], {"failed_logon"}),  # the default is false
        ([False], {"failed_logon"}),
        ([True], set()),
        ([False, True], set()),  # one correlation still wants the rule's own detections
        ([False, False], {"failed_logon"}),
    ],
)
def test_generate_suppresses_base_rules(tmp_path: Path, generates, suppressed) -> None:
    docs = [
        correlation(
            "event_count",
            ["failed_logon"],
            title=f"c{i}",
            generate=g,
            corr={"group_by": ["TargetUserName"], "condition": {"gte": 2}},
        )
        for i, g in enumerate(generates)
    ]
    rs = ruleset(*docs)
    events = [ev("a", 0, TargetUserName="bob"), ev("b", 1, TargetUserName="bob")]
    result, _ = hunt(rs, events, tmp_path)
    assert {rs.rules[i].name for i in result.suppressed} == suppressed
    assert len(result.hits) == len(generates)


def test_broken_correlation_suppresses_nothing(tmp_path: Path) -> None:
    rule = correlation(
        "event_count",
        ["failed_logon", "no_such_rule"],
        title="broken",
        corr={"group_by": ["TargetUserName"], "condition": {"gte": 2}},
    )
    result, _ = hunt(ruleset(rule), [ev("a", 0)], tmp_path)
    assert result.suppressed == set() and result.hits == []
    (issue,) = result.failed
    assert issue.kind == "rule" and "unknown rule reference 'no_such_rule'" in issue.message


# -- chaining ----------------------------------------------------------------------------------

CHAIN = [
    correlation(
        "temporal_ordered",
        ["many_failed", "successful_logon"],
        "10m",
        title="failures then success",
        level="high",
        corr={"group_by": ["TargetUserName"]},
    ),
    correlation(
        "event_count",
        ["failed_logon"],
        "10m",
        title="many failures",
        name="many_failed",
        corr={"group_by": ["TargetUserName"], "condition": {"gte": 3}},
    ),
]


@pytest.mark.parametrize(
    "rows,expected",
    [
        # the inner correlation fires at f3 (t=20); success 9 min later is within 10m
        (
            [("f1", 0, 4625), ("f2", 10, 4625), ("f3", 20, 4625), ("s", 560, 4624)],
            [["f1", "f2", "f3", "s"]],
        ),
        # exactly 10m after the firing: still in; one second more: out
        (
            [("f1", 0, 4625), ("f2", 10, 4625), ("f3", 20, 4625), ("s", 620, 4624)],
            [["f1", "f2", "f3", "s"]],
        ),
        ([("f1", 0, 4625), ("f2", 10, 4625), ("f3", 20, 4625), ("s", 621, 4624)], []),
        # success before the failures: wrong order
        ([("s", 0, 4624), ("f1", 10, 4625), ("f2", 20, 4625), ("f3", 30, 4625)], []),
        # too few failures
        ([("f1", 0, 4625), ("f2", 10, 4625), ("s", 20, 4624)], []),
    ],
)
def test_chained_correlation(tmp_path: Path, rows, expected) -> None:
    rs = ruleset(*CHAIN)
    events = [ev(tag, t, eid=eid, TargetUserName="bob") for tag, t, eid in rows]
    result, tags = hunt(rs, shuffled(events), tmp_path)
    got = summary(result, tags)
    # the inner correlation is referenced with generate false: only the outer one reports
    assert [s[2] for s in got] == expected
    assert all(s[0] == "failures then success" and s[3] == 2 for s in got)
    assert {rs.rules[i].name for i in result.suppressed} == {"failed_logon", "successful_logon"}
    assert all(h.level == "high" for h in result.hits)


def test_chain_needs_inner_group_field(tmp_path: Path) -> None:
    outer = correlation(
        "temporal",
        ["many_failed", "successful_logon"],
        title="outer",
        corr={"group_by": ["IpAddress"]},
    )
    rs = ruleset(outer, CHAIN[1])
    result, _ = hunt(rs, [ev(str(i), i, TargetUserName="bob") for i in range(3)], tmp_path)
    (issue,) = result.failed
    assert "not a group-by field of referenced correlation 'many_failed'" in issue.message
    # the inner one ran and, no longer referenced by a working correlation, reports itself
    assert [h.title for h in result.hits] == ["many failures"]
    assert {rs.rules[i].name for i in result.suppressed} == {"failed_logon"}


def test_cycle_is_reported(tmp_path: Path) -> None:
    a = correlation(
        "event_count", ["cyc_b"], name="cyc_a", title="A", corr={"condition": {"gte": 1}}
    )
    b = correlation(
        "event_count", ["cyc_a"], name="cyc_b", title="B", corr={"condition": {"gte": 1}}
    )
    ok = correlation("event_count", ["failed_logon"], title="fine", corr={"condition": {"gte": 1}})
    result, _ = hunt(ruleset(a, b, ok), [ev("x", 0)], tmp_path)
    assert sorted(i.message.split(" (")[0] for i in result.failed) == ["A", "B"]
    assert all("cycle" in i.message for i in result.failed)
    assert [h.title for h in result.hits] == ["fine"]


# -- what cannot run -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "doc,reason",
    [
        (
            correlation("event_count", ["nope"], corr={"condition": {"gte": 1}}),
            "unknown rule reference 'nope'",
        ),
        (
            correlation(
                "temporal_ordered",
                ["failed_logon", "successful_logon"],
                corr={"condition": {"gte": 1}},
            ),
            "full sequence",
        ),
        (
            correlation(
                "temporal_ordered",
                ["failed_logon", "successful_logon"],
                corr={"condition": "failed_logon or successful_logon"},
            ),
            "only 'and'",
        ),
        (
            correlation(
                "temporal",
                ["failed_logon", "successful_logon"],
                corr={"group_by": ["ip"], "aliases": {"ip": {"failed_logon": "IpAddress"}}},
            ),
            "alias 'ip' names no field for rule 'successful_logon'",
        ),
    ],
)
def test_cannot_run_is_reported(tmp_path: Path, doc, reason) -> None:
    result, _ = hunt(ruleset(doc), [ev("a", 0), ev("b", 1, eid=4624)], tmp_path)
    (issue,) = result.failed
    assert reason in issue.message and issue.path == "<test>"
    assert result.hits == [] and result.suppressed == set()


def test_no_correlations_touch_nothing(tmp_path: Path) -> None:
    result, _ = hunt(ruleset(), [ev("a", 0)], tmp_path)
    assert result == CorrelationResult()


def test_range_condition_is_rejected_by_pysigma() -> None:
    """The specification's range (``gt`` and ``lte`` together) does not parse in pySigma."""
    doc = correlation("event_count", ["failed_logon"], corr={"condition": {"gt": 1, "lte": 5}})
    with pytest.raises(Exception, match="exactly one condition item"):
        SigmaCollection.from_yaml(
            BASE + "\n---\n" + doc, collect_errors=True, resolve_references=False
        )


def test_load_rules_keeps_rules_referenced_by_correlations(tmp_path: Path) -> None:
    path = tmp_path / "brute.yml"
    path.write_text(BASE + "\n---\n" + BRUTE, "utf-8")
    rs = load_rules([path])
    assert rs.failed == [] and len(rs.rules) == 4 and len(rs.correlations) == 1


# -- property: the SQL agrees with a direct reading of the definition --------------------------


OPS = {
    "gte": lambda n, k: n >= k,
    "gt": lambda n, k: n > k,
    "lt": lambda n, k: n < k,
    "lte": lambda n, k: n <= k,
    "eq": lambda n, k: n == k,
    "neq": lambda n, k: n != k,
}


def _oracle(stamps: list[float], span: float, op: str, need: int) -> list[list[int]]:
    """Episodes of ``event_count <op> need`` for one group, straight from the definition."""
    order = sorted(range(len(stamps)), key=lambda i: stamps[i])
    windows = []
    for i in order:
        inside = [j for j in order if stamps[i] - span <= stamps[j] <= stamps[i]]
        if OPS[op](len(inside), need):
            windows.append((stamps[i] - span, stamps[i]))
    episodes: list[list[float]] = []
    for lo, hi in sorted(windows):
        if episodes and lo <= episodes[-1][1]:
            episodes[-1][1] = max(episodes[-1][1], hi)
        else:
            episodes.append([lo, hi])
    return [sorted(j for j in order if lo <= stamps[j] <= hi) for lo, hi in episodes]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    rows=st.lists(
        st.tuples(st.integers(min_value=0, max_value=1200), st.sampled_from(["bob", "eve"])),
        min_size=1,
        max_size=30,
    ),
    op=st.sampled_from(sorted(OPS)),
    need=st.integers(min_value=1, max_value=4),
)
def test_event_count_matches_oracle(tmp_path_factory, rows, op, need) -> None:
    rule = correlation(
        "event_count",
        ["failed_logon"],
        "2m",
        corr={"group_by": ["TargetUserName"], "condition": {op: need}},
    )
    events = [ev(str(i), t, TargetUserName=u) for i, (t, u) in enumerate(rows)]
    result, tags = hunt(ruleset(rule), shuffled(events), tmp_path_factory.mktemp("p"))
    got = sorted(
        (h.group["TargetUserName"], sorted(int(tags[r]) for r in h.rids)) for h in result.hits
    )
    want = []
    for user in ("bob", "eve"):
        idx = [i for i, (_, u) in enumerate(rows) if u == user]
        for episode in _oracle([float(rows[i][0]) for i in idx], 120.0, op, need):
            want.append((user, sorted(idx[j] for j in episode)))
    assert got == sorted(want)


def _ordered_oracle(rows: list[tuple[int, int]], span: float, n: int) -> list[list[int]]:
    """Episodes of ``temporal_ordered`` over rule levels 0..n-1, by exhaustive search."""

    def start(level: int, t: float) -> float | None:
        """Latest start of a chain 0..level whose level-``level`` event is at or before t."""
        starts = [
            tj if level == 0 else start(level - 1, tj) for tj, lv in rows if lv == level and tj <= t
        ]
        starts = [s for s in starts if s is not None]
        return max(starts) if starts else None

    windows = []
    for t, lv in rows:
        if lv == n - 1:
            bs = start(n - 2, t) if n > 1 else t
            if bs is not None and t - bs <= span:
                windows.append((bs, t))
    episodes: list[list[float]] = []
    for lo, hi in sorted(windows):
        if episodes and lo <= episodes[-1][1]:
            episodes[-1][1] = max(episodes[-1][1], hi)
        else:
            episodes.append([lo, hi])
    return [sorted(i for i, (t, _) in enumerate(rows) if lo <= t <= hi) for lo, hi in episodes]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    rows=st.lists(
        st.tuples(st.integers(min_value=0, max_value=600), st.integers(min_value=0, max_value=2)),
        min_size=1,
        max_size=20,
    )
)
def test_temporal_ordered_matches_oracle(tmp_path_factory, rows) -> None:
    rule = _recon("temporal_ordered", "1m")
    eids = (4625, 4624, 4672)
    events = [ev(str(i), t, eid=eids[lv], TargetUserName="bob") for i, (t, lv) in enumerate(rows)]
    result, tags = hunt(ruleset(rule), shuffled(events), tmp_path_factory.mktemp("o"))
    got = [sorted(int(tags[r]) for r in h.rids) for h in result.hits]
    assert got == _ordered_oracle([(float(t), lv) for t, lv in rows], 60.0, 3)


class _OutOfMemoryOnce:
    """A connection that runs out of memory the ``nth`` time it runs a statement starting
    with ``prefix`` (after the statements before it in the same run took effect)."""

    def __init__(self, con: Any, prefix: str, nth: int) -> None:
        self._con = con
        self._prefix = prefix
        self._left = nth
        self.failed = 0

    def execute(self, sql: str, *args: Any) -> Any:
        import duckdb

        if sql.startswith(self._prefix):
            self._left -= 1
            if self._left == 0:
                self.failed += 1
                raise duckdb.OutOfMemoryException("Out of Memory Error: could not allocate block")
        return self._con.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


@pytest.mark.parametrize("prefix", ["INSERT INTO __corr_hits", "INSERT INTO __corr_members"])
@pytest.mark.parametrize("nth", [1, 2])  # the inner correlation's run, the outer's
def test_a_correlation_out_of_memory_is_run_again_under_a_raised_limit(
    tmp_path: Path, prefix: str, nth: int
) -> None:
    # Its members were recorded before the episodes' insert failed: the retry must
    # not count them twice, and the result must be that of a run that never failed.
    rs = ruleset(*CHAIN)
    rows = [("f1", 0, 4625), ("f2", 10, 4625), ("f3", 20, 4625), ("f4", 30, 4625), ("s", 60, 4624)]
    events = [ev(tag, t, eid=eid, TargetUserName="bob") for tag, t, eid in rows]
    (tmp_path / "plain").mkdir()
    (tmp_path / "failing").mkdir()
    expected, tags = hunt(rs, events, tmp_path / "plain")
    engine = DuckDBEngine()
    try:
        load_events(engine, events, tmp_path / "failing")
        evaluation = engine.evaluate(rs.rules)
        real = engine.con
        engine.con = _OutOfMemoryOnce(real, prefix, nth)  # type: ignore[assignment]
        try:
            result = evaluate_correlations(engine, rs, evaluation.matches)
        finally:
            failing, engine.con = engine.con, real
        notes = list(engine.memory.notes)
    finally:
        engine.close()
    assert failing.failed == 1  # type: ignore[attr-defined]
    assert result.failed == []
    assert summary(result, tags) == summary(expected, tags) != []
    assert all(len(set(h.rids)) == len(h.rids) for h in result.hits)
    assert len(notes) == 1 and "raised it" in notes[0]
