"""Rows to record batches: core columns, field columns, value text, order, case rules."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any
from unittest.mock import patch

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from lotlhunt.events import schema
from lotlhunt.sources import columns
from lotlhunt.sources.formats.evtx_events import map_evtx_event
from lotlhunt.sources.formats.json_flavours import map_document
from lotlhunt.sources.normalise import (
    CHANNEL,
    EVENT_ID,
    HOST,
    PROVIDER,
    RECORD_ID,
    TS,
    BatchBuilder,
    batch_rows_of,
    to_text,
)
from lotlhunt.sources.values import parse_time


def rows_of(batch: pa.RecordBatch) -> list[dict[str, Any]]:
    return batch.to_pylist()


def test_value_text() -> None:
    assert to_text("x") == "x"
    assert to_text(None) is None
    assert to_text(4688) == "4688"
    assert to_text(-9214364837600034816) == "-9214364837600034816"
    assert to_text(3.0) == "3"
    assert to_text(1.5) == "1.5"
    assert to_text(True) == "true" and to_text(False) == "false"
    assert to_text(["a", "b"]) == "a\nb"
    assert to_text(["a", 1, None, True]) == "a\n1\n\ntrue"
    assert to_text({"#text": ["sa", " reason"]}) == "sa\n reason"
    assert to_text({"#attributes": {"Name": "x"}}) is None
    assert to_text({"a": 1, "#attributes": {}}) == '{"a":1}'
    assert to_text([{"a": 1}]) == '[{"a":1}]'


def test_parse_time_formats() -> None:
    want = datetime(2020, 10, 18, 10, 56, 18, 799000, tzinfo=UTC)
    assert parse_time("2020-10-18 10:56:18.799") == want
    assert parse_time("2020-10-18T10:56:18.799Z") == want
    assert parse_time("2020-10-18T12:56:18.799+02:00") == want
    assert parse_time("2019-04-27T15:57:27.0876132Z UTC") == datetime(
        2019, 4, 27, 15, 57, 27, 87613, tzinfo=UTC
    )
    assert parse_time("yesterday") is None
    assert parse_time("") is None


def test_flat_export_core_and_fields() -> None:
    row = {
        "EventID": 4688,
        "Channel": "security",
        "Hostname": "WS1.corp",
        "SourceName": "Microsoft-Windows-Security-Auditing",
        "RecordNumber": 77,
        "@timestamp": "2020-07-22T03:27:42.455Z",
        "EventTime": "2020-07-21 23:27:39",
        "host": "collector",
        "NewProcessName": "C:\\Windows\\System32\\cmd.exe",
        "Task": 13312,
        "tags": ["mordorDataset"],
    }
    batch = batch_rows_of([(row, 1)], "f.json")
    assert batch.schema.field("timestamp").type == schema.CORE_FIELDS[0].type
    for field in schema.CORE_FIELDS:
        assert batch.schema.field(field.name).type == field.type
    got = rows_of(batch)[0]
    assert got["timestamp"] == datetime(2020, 7, 22, 3, 27, 42, 455000, tzinfo=UTC)
    assert (got["host"], got["channel"], got["event_id"], got["record_id"]) == (
        "WS1.corp",
        "security",  # kept as given; matching is case-insensitive downstream
        4688,
        77,
    )
    assert got["provider"] == "Microsoft-Windows-Security-Auditing"
    assert (got["source"], got["position"]) == ("f.json", 1)
    # consumed core keys are not fields; the collector's `host` does not clobber host
    assert "EventID" not in got and "Hostname" not in got and "RecordNumber" not in got
    assert got["field_host"] == "collector"
    assert got["EventTime"] == "2020-07-21 23:27:39"  # a secondary time stays a field
    assert got["Task"] == "13312" and got["tags"] == "mordorDataset"
    assert got["Provider_Name"] == "Microsoft-Windows-Security-Auditing"


def test_timestamp_fallbacks_and_bad_values() -> None:
    rows = [
        ({"EventID": "4624", "TimeCreated": "2020-10-18 10:56:18.799"}, 1),
        ({"EventID": "not a number", "@timestamp": "garbage"}, 2),
        ({"EventID": 2**40, "UtcTime": "2020-10-18 10:56:18.799", "RecordNumber": "12"}, 3),
        ({"EventID": {"#text": 7045, "#attributes": {"Qualifiers": 16384}}}, 4),
    ]
    got = rows_of(batch_rows_of(rows, "x"))
    assert [r["event_id"] for r in got] == [4624, None, None, 7045]
    assert got[0]["timestamp"] == datetime(2020, 10, 18, 10, 56, 18, 799000, tzinfo=UTC)
    assert got[1]["timestamp"] is None
    assert got[2]["timestamp"] == got[0]["timestamp"] and got[2]["UtcTime"] is not None
    assert got[2]["record_id"] == 12


def test_case_insensitive_columns_first_spelling_and_first_non_null() -> None:
    rows = [
        ({"CommandLine": None, "commandline": "b", "Image": "x"}, 1),
        ({"COMMANDLINE": "c", "image": "y"}, 2),
    ]
    batch = batch_rows_of(rows, "x")
    names = [n for n in batch.schema.names if n.lower() == "commandline"]
    assert names == ["CommandLine"]
    assert [r["CommandLine"] for r in rows_of(batch)] == ["b", "c"]
    assert [r["Image"] for r in rows_of(batch)] == ["x", "y"]


def test_spelling_is_stable_across_batches_of_a_unit() -> None:
    builder = BatchBuilder("x")
    builder.add({"TargetObject": "a"}, 1)
    first = builder.flush()
    builder.add({"targetobject": "b"}, 2)
    second = builder.flush()
    assert first is not None and second is not None
    assert "TargetObject" in first.schema.names and "TargetObject" in second.schema.names


def test_nested_values_become_dotted_columns() -> None:
    rows = [
        ({"process": {"command_line": "cmd /c x", "pid": 4}, "a.b": None, "a": {"b": "1"}}, 1),
        ({"process": "flat"}, 2),
    ]
    got = rows_of(batch_rows_of(rows, "x"))
    assert got[0]["process.command_line"] == "cmd /c x" and got[0]["process.pid"] == "4"
    assert got[0]["a.b"] == "1"
    assert got[1]["process"] == "flat" and got[1]["process.pid"] is None


def test_evtx_document_mapping() -> None:
    doc = {
        "Event": {
            "#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
            "System": {
                "Provider": {
                    "#attributes": {"Name": "Service Control Manager", "Guid": "{555}"},
                },
                "EventID": {"#attributes": {"Qualifiers": 16384}, "#text": 7045},
                "Level": 4,
                "Task": 0,
                "Keywords": "0x8080000000000000",
                "TimeCreated": {"#attributes": {"SystemTime": "2019-04-27T15:57:25.868863Z"}},
                "EventRecordID": 6575,
                "Correlation": {"#attributes": {"ActivityID": "{abc}"}},
                "Execution": {"#attributes": {"ProcessID": 1912, "ThreadID": 996}},
                "Channel": "System",
                "Computer": "IEWIN7",
                "Security": {"#attributes": {"UserID": "S-1-5-18"}},
            },
            "EventData": {"ServiceName": "evil", "ImagePath": "C:\\x.exe", "Data": None},
        }
    }
    row = map_evtx_event(doc)
    assert row is not None
    assert (row[EVENT_ID], row[RECORD_ID], row[CHANNEL], row[HOST]) == (
        {"#attributes": {"Qualifiers": 16384}, "#text": 7045},
        6575,
        "System",
        "IEWIN7",
    )
    assert row[PROVIDER] == "Service Control Manager" and row[TS].startswith("2019-04-27")
    got = rows_of(batch_rows_of([(row, 0)], "x.evtx"))[0]
    assert got["event_id"] == 7045
    assert got["ServiceName"] == "evil"
    assert got["Provider_Name"] == "Service Control Manager" and got["Provider_Guid"] == "{555}"
    assert got["Execution_ProcessID"] == "1912" and got["Security_UserID"] == "S-1-5-18"
    assert got["Correlation_ActivityID"] == "{abc}" and got["Level"] == "4"
    for core_name in ("EventID", "Channel", "Computer", "TimeCreated", "EventRecordID"):
        assert core_name not in got


def test_evtx_userdata_leaves_and_unnamed_data() -> None:
    system = {"EventID": 1102, "Channel": "Security", "Provider": {"#attributes": {}}}
    cleared = {
        "Event": {
            "System": system,
            "UserData": {
                "LogFileCleared": {
                    "#attributes": {"xmlns": "x"},
                    "SubjectUserName": "admin",
                    "Channel": "Security",
                }
            },
        }
    }
    classic = {"Event": {"System": system, "EventData": {"Data": {"#text": ["a", "b"]}}}}
    got = rows_of(batch_rows_of([(map_document(cleared), 0), (map_document(classic), 1)], "x"))
    assert got[0]["SubjectUserName"] == "admin"
    assert got[0]["field_Channel"] == "Security"  # a field named like a core column
    assert got[1]["Data"] == "a\nb"


def test_winlogbeat_ecs_and_legacy() -> None:
    ecs = {
        "@timestamp": "2021-01-01T00:00:00.000Z",
        "winlog": {
            "channel": "Microsoft-Windows-Sysmon/Operational",
            "provider_name": "Microsoft-Windows-Sysmon",
            "event_id": "1",
            "record_id": 55,
            "computer_name": "ws1",
            "event_data": {"CommandLine": "whoami", "Image": "C:\\whoami.exe"},
            "process": {"pid": 4, "thread": {"id": 8}},
            "task": "Process Create",
        },
        "process": {"command_line": "whoami"},
        "host": {"name": "beat-host"},
    }
    legacy = {
        "@timestamp": "2019-03-19T17:14:25.901Z",
        "log_name": "Windows PowerShell",
        "source_name": "PowerShell",
        "event_id": 800,
        "record_number": "983832",
        "computer_name": "IT001",
        "event_data": {"param1": "x"},
        "process_id": 4312,
    }
    got = rows_of(batch_rows_of([(map_document(ecs), 1), (map_document(legacy), 2)], "x"))
    assert got[0]["channel"] == "Microsoft-Windows-Sysmon/Operational"
    assert (got[0]["event_id"], got[0]["record_id"], got[0]["host"]) == (1, 55, "ws1")
    assert got[0]["CommandLine"] == "whoami" and got[0]["process.command_line"] == "whoami"
    assert got[0]["Execution_ProcessID"] == "4" and got[0]["Task"] == "Process Create"
    assert got[0]["host.name"] == "beat-host"
    assert (got[1]["channel"], got[1]["provider"], got[1]["event_id"]) == (
        "Windows PowerShell",
        "PowerShell",
        800,
    )
    assert got[1]["record_id"] == 983832 and got[1]["param1"] == "x"
    assert got[1]["Execution_ProcessID"] == "4312"


# Keys from a small pool, with case variants, so shapes repeat and collide.
_KEYS = st.sampled_from(["Image", "image", "CommandLine", "User", "EventID", "Channel", "X.y"])
_VALUES = st.one_of(st.none(), st.text(max_size=5), st.integers(-5, 10**12), st.booleans())


@settings(max_examples=150, deadline=None)
@given(st.lists(st.dictionaries(_KEYS, _VALUES, max_size=6), min_size=1, max_size=40))
def test_rows_round_trip_in_order(rows: list[dict[str, Any]]) -> None:
    batch = batch_rows_of([(row, i) for i, row in enumerate(rows)], "p")
    got = rows_of(batch)
    assert [g["position"] for g in got] == list(range(len(rows)))
    lower = {n.lower(): n for n in batch.schema.names}
    assert len(lower) == len(batch.schema.names)  # unique without regard to case
    for row, out in zip(rows, got, strict=True):
        expected: dict[str, str | None] = {}
        for key, value in row.items():
            if key.lower() in ("eventid", "channel"):
                continue
            text = to_text(value)
            if expected.get(key.lower()) is None:
                expected[key.lower()] = text
        for key, text in expected.items():
            assert out[lower[key]] == text
        assert out["event_id"] == _expected_event_id(row.get("EventID"))


_NESTED = st.one_of(_VALUES, st.dictionaries(st.sampled_from(["a", "b", "#text"]), _VALUES))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.dictionaries(_KEYS, _NESTED, max_size=6), min_size=1, max_size=40))
def test_large_batches_hold_what_small_ones_hold(rows: list[dict[str, Any]]) -> None:
    """Batches above the small-batch size are assembled from runs of grouped rows and
    gathered back into order; each row must read the same as in a small batch."""
    copies = 600 // len(rows) + 1
    big = rows_of(batch_rows_of([(row, i) for i, row in enumerate(rows * copies)], "p"))
    small = rows_of(batch_rows_of([(row, i) for i, row in enumerate(rows)], "p"))

    def present(row: dict[str, Any]) -> dict[str, Any]:
        return {k.lower(): v for k, v in row.items() if v is not None and k != "position"}

    assert len(big) == len(rows) * copies > 512
    assert [g["position"] for g in big] == list(range(len(big)))
    for i, out in enumerate(big):
        assert present(out) == present(small[i % len(rows)])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.dictionaries(_KEYS, _NESTED, max_size=6), min_size=1, max_size=40),
    st.integers(0, 2**32 - 1),
)
def test_scattered_columns_are_built_as_runs_would_build_them(
    rows: list[dict[str, Any]], seed: int
) -> None:
    """A column over many short runs is built from a list of all its rows instead of
    its runs and gaps: both ways give the same batch."""
    shuffled = rows * (600 // len(rows) + 1)
    random.Random(seed).shuffle(shuffled)  # shapes interleaved: many runs per column
    pairs = [(row, i) for i, row in enumerate(shuffled)]
    with patch.object(columns, "ROWS_PER_RUN", 0):
        by_runs = batch_rows_of(pairs, "p")
    with patch.object(columns, "ROWS_PER_RUN", 10**9):
        by_list = batch_rows_of(pairs, "p")
    assert by_list.equals(by_runs)


def _expected_event_id(value: Any) -> int | None:
    if type(value) is str:
        text = value.strip()
        try:
            value = int(text, 16) if text[:2].lower() == "0x" else int(text)
        except ValueError:
            return None
    return value if type(value) is int and -(2**31) <= value < 2**31 else None


def test_deep_values_never_raise() -> None:
    deep: Any = 1
    for _ in range(600):
        deep = [deep]
    assert to_text({"x": deep}).startswith('{"x":[[')
    assert to_text([{"a": deep}]).startswith('[{"a":[[')


def test_utc_datetimes_are_the_values_to_pylist_gives() -> None:
    from datetime import datetime

    values = [
        datetime(2024, 2, 29, 23, 59, 59, 999_999, tzinfo=UTC),
        None,
        datetime(1601, 1, 1, tzinfo=UTC),  # the FILETIME epoch
        datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
    ]
    column = pa.chunked_array([pa.array(values[:2]), pa.array(values[2:])])
    column = column.cast(pa.timestamp("us", tz="UTC"))
    assert schema.utc_datetimes(column) == column.to_pylist() == values
