"""Detections kept as columns (:class:`lotlhunt.detections.DetectionTable`) give what the
objects give: every attribute, the JSON form, the detection signals the analytics build
(grouped and chained over NumPy in :mod:`lotlhunt.analytics.cited`, against the object
path of :mod:`lotlhunt.analytics.incidents` as the oracle), the console summary and the
noisiest rules. Generated data with duplicates, missing times, system sessions and
machine accounts, several seeds."""

from __future__ import annotations

import io
import random
from collections.abc import Sequence
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pytest
from rich.console import Console

from lotlhunt.analytics.cited import DetectionColumns, cited_groups
from lotlhunt.analytics.incidents import (
    KEY_FIELDS,
    detection_groups,
    detection_signals,
    event_keys,
)
from lotlhunt.analytics.noise import noisiest
from lotlhunt.analytics.run import _cited_events, _detection_signals
from lotlhunt.detections import DetectionTable
from lotlhunt.events import schema
from lotlhunt.model import CorrelationDetection, Detection, EventRef, HuntResult, HuntStats
from lotlhunt.reports.console import print_activity, print_summary
from test_analytics import SEC, SYSMON, T0
from test_analytics_cited import RowSource

HOSTS = ("WS01.corp.local", "ws01", "dc01.corp.local", "FS02")
SESSIONS = ("0x1a", "0x2B", "0x3e7", "", "-", None, "0x0")
GUIDS = ("{AAA}", "{bbb}", "", None, "0x1f4")
USERS = ("alice", "WS01$", "SYSTEM", "", None, "dwm-1")
KINDS = ((SYSMON, 1), (SEC, 4624), (SEC, 4688), ("System", 7045), ("", 1), (SYSMON, None))


def _events(rng: random.Random, n: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for k in range(n):
        if events and rng.random() < 0.1:  # a copy of an earlier event (another input)
            events.append(dict(rng.choice(events)))
            continue
        channel, eid = rng.choice(KINDS)
        host = rng.choice(HOSTS)
        at = None if rng.random() < 0.05 else T0 + timedelta(minutes=rng.randrange(0, 300))
        if at is not None and rng.random() < 0.03:
            at = T0.replace(year=1969)  # before the epoch: the hour floors
        events.append(
            {
                "timestamp": at,
                "host": host,
                "channel": channel,
                "provider": rng.choice(("p", None)),
                "event_id": eid,
                "record_id": rng.choice((k, None)),
                "source": f"{host}/{channel}",
                "position": rng.choice((k, k, None)),
                "LogonId": rng.choice(SESSIONS),
                "SubjectLogonId": rng.choice(SESSIONS),
                "TargetLogonId": rng.choice(SESSIONS),
                "ProcessGuid": rng.choice(GUIDS),
                "ParentProcessGuid": rng.choice(GUIDS),
                "NewProcessId": rng.choice(GUIDS),
                "ProcessId": rng.choice(GUIDS),
                "User": rng.choice(USERS),
                "SubjectUserName": rng.choice(USERS),
                "SubjectDomainName": rng.choice(("CORP", "", None)),
                "TargetUserName": rng.choice(USERS),
                "TargetDomainName": rng.choice(("CORP", None)),
                "CommandLine": rng.choice(("whoami", "net use", None)),
            }
        )
    return events


def _rules() -> list[SimpleNamespace]:
    return [
        SimpleNamespace(id=f"r{k}", title=f"Rule {k}", level=level, tags=(f"attack.t10{k}",))
        for k, level in enumerate(("high", "low", "medium", "critical", "informational"))
    ]


def _table(rng: random.Random, events: Sequence[dict[str, Any]]) -> DetectionTable:
    """What collection keeps: matched events (as ``engine.matched_events`` orders them),
    explanations, key fields and the fields read by row id."""
    rules = _rules()
    pairs = sorted({(rng.randrange(len(rules)), rng.randrange(len(events))) for _ in range(400)})
    types = {f.name: f.type for f in schema.CORE_FIELDS}

    def order(p: tuple[int, int]) -> tuple[bool, object, int, int]:
        ts = events[p[1]]["timestamp"]
        return (ts is None, ts or T0, p[0], p[1])

    pairs.sort(key=order)
    columns: dict[str, pa.Array] = {
        "rule": pa.array([r for r, _ in pairs], pa.int32()),
        "rid": pa.array([i for _, i in pairs], pa.int64()),
    }
    for name in schema.CORE_COLUMNS:
        columns[name] = pa.array([events[i][name] for _, i in pairs], types[name])
    matched = pa.table(columns)
    explained = {
        (r, i): ({"CommandLine": events[i]["CommandLine"]}, ("selection",) if r % 2 else ())
        for r, i in pairs
        if rng.random() < 0.8
    }
    details = {i: {"User": events[i]["User"]} for _, i in pairs if rng.random() < 0.5}
    rids = sorted({i for _, i in pairs})
    fields = RowSource(events).event_fields(rids, sorted({*KEY_FIELDS, "CommandLine"}))
    return DetectionTable(rules, matched, explained, details, fields)  # type: ignore[arg-type]


def _correlations(events: Sequence[dict[str, Any]]) -> list[CorrelationDetection]:
    refs = tuple(
        EventRef(
            e["timestamp"],
            e["host"],
            e["channel"],
            e["event_id"],
            e["record_id"],
            e["source"],
            e["position"],
        )
        for e in events[:6]
    )
    return [
        CorrelationDetection(
            "c1",
            "Correlation",
            "high",
            ("attack.t1021",),
            "event_count",
            {"host": "ws01"},
            T0,
            T0,
            6,
            None,
            refs,
        )
    ]


SEEDS = range(8)


@pytest.mark.parametrize("seed", SEEDS)
def test_columns_give_every_attribute_and_the_json_form(seed: int) -> None:
    rng = random.Random(seed)
    table = _table(rng, _events(rng, 120))
    objects = table.objects()
    assert len(table) == len(objects) > 0
    for attr in (
        "rule_id",
        "rule_title",
        "level",
        "tags",
        "timestamp",
        "host",
        "channel",
        "event_id",
        "record_id",
        "source",
        "position",
        "fields",
        "matched",
        "details",
        "provider",
        "row",
    ):
        assert table.values_of(attr) == [getattr(d, attr) for d in objects], attr
    assert list(table.dicts()) == [d.to_dict() for d in objects]
    assert table == objects and table[3] == objects[3] and list(table) == objects
    columns = table.columns()
    expected = DetectionColumns.of(objects)
    assert columns.table.equals(expected.table)
    assert [columns.head(k) for k in range(len(table))] == [
        expected.head(k) for k in range(len(table))
    ]


@pytest.mark.parametrize("seed", SEEDS)
def test_signals_from_columns_match_the_object_path(seed: int) -> None:
    rng = random.Random(seed)
    events = _events(rng, 150)
    table = _table(rng, events)
    objects: list[Detection] = table.objects()
    correlations = _correlations(events)
    source = RowSource(events)
    groups = detection_groups(objects)
    keys = event_keys(_cited_events(source, [d for items, _ in groups for d in items]))
    oracle = detection_signals(groups, correlations, keys)
    assert any(s.keys for s in oracle) and any(s.account for s in oracle)
    from_table = _detection_signals(RowSource(events), table, correlations)
    from_objects = _detection_signals(RowSource(events), objects, correlations)
    assert from_table == oracle
    assert from_objects == oracle


def test_groups_cite_the_first_events_and_count_them_all() -> None:
    rng = random.Random(1)
    events = [dict(_events(rng, 1)[0], timestamp=T0 + timedelta(seconds=k)) for k in range(250)]
    for k, e in enumerate(events):
        e["host"], e["position"] = "ws01", k
    columns = DetectionColumns(
        pa.table(
            {
                "rule_id": ["r"] * 250,
                "row": list(range(250)),
                **{
                    name: pa.array([e[name] for e in events], t)
                    for name, t in (
                        (schema.TIMESTAMP, pa.timestamp("us", tz="UTC")),
                        (schema.HOST, pa.string()),
                    )
                },
            }
        ),
        lambda i: ("r", "r", "low", (), ()),
    )
    groups = cited_groups(columns.table)
    assert groups.totals.tolist() == [250]
    assert groups.rows.tolist() == list(range(100))


@pytest.mark.parametrize("seed", range(3))
def test_console_and_noisiest_read_columns_as_objects(seed: int) -> None:
    rng = random.Random(seed)
    table = _table(rng, _events(rng, 120))
    outputs = []
    for detections in (table, table.objects()):
        console = Console(file=io.StringIO(), width=120, record=True)
        result = HuntResult(stats=HuntStats(), detections=detections)
        print_summary(result, console)
        outputs.append((console.export_text(), noisiest(detections, 3)))
    assert outputs[0] == outputs[1]
    assert "Top rules" in outputs[0][0] and outputs[0][1]


def test_a_fresh_table_builds_no_object_for_the_summary_or_json() -> None:
    rng = random.Random(5)
    table = _table(rng, _events(rng, 60))
    console = Console(file=io.StringIO(), width=100)
    print_summary(HuntResult(stats=HuntStats(), detections=table), console)
    noisiest(table, 5)
    list(table.dicts())
    _detection_signals(RowSource([]), table, [])
    assert table._objects is None


def test_correlations_without_detections_still_give_signals() -> None:
    # Base rules that only feed a correlation (generate: false) leave no detection.
    events = _events(random.Random(2), 10)
    correlations = _correlations(events)
    oracle = detection_signals([], correlations, {})
    assert _detection_signals(RowSource(events), [], correlations) == oracle
    assert [s.name for s in oracle] == ["Correlation"]


@pytest.mark.parametrize("seed", range(6))
def test_activity_strips_from_columns_match_the_object_path_in_colour(seed: int) -> None:
    rng = random.Random(seed)
    events = _events(rng, 150)
    if seed == 0:  # one instant: every detection in the first bucket
        events = [dict(e, timestamp=T0) for e in events]
    table = _table(rng, events)
    if seed == 1:  # a level no rule file spells: it colours nothing
        table.rules[1].level = "weird"  # type: ignore[misc]  # a SimpleNamespace here
    outputs = []
    for detections in (table, table.objects()):
        console = Console(file=io.StringIO(), width=90, record=True, color_system="truecolor")
        print_activity(detections, console)
        outputs.append(console.export_text(styles=True))
    assert outputs[0] == outputs[1]
    assert "Activity per host" in outputs[0]
