"""EVTX records packed as (shape, values): the same rows, and batches, as mapped dicts."""

from __future__ import annotations

import copy
from typing import Any

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from lotlhunt.sources.formats.evtx_events import map_evtx_event, pack_evtx_event
from lotlhunt.sources.normalise import TS, BatchBuilder
from lotlhunt.sources.shapes import PackedShape


def _doc(event_data: Any = None, **system: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "Provider": {"#attributes": {"Name": "Microsoft-Windows-Security-Auditing", "Guid": "{5}"}},
        "EventID": 4624,
        "Version": 2,
        "Level": 0,
        "Task": 12544,
        "Opcode": 0,
        "Keywords": "0x8020000000000000",
        "TimeCreated": {"#attributes": {"SystemTime": "2026-01-02T03:04:05.123456Z"}},
        "EventRecordID": 77,
        "Correlation": {"#attributes": {"ActivityID": "{abc}"}},
        "Execution": {"#attributes": {"ProcessID": 640, "ThreadID": 700}},
        "Channel": "Security",
        "Computer": "dc01.corp.local",
        "Security": None,
    }
    base.update(system)
    event: dict[str, Any] = {"System": base}
    if event_data is not None:
        event["EventData"] = event_data
    return {"Event": event}


def _as_dict(packed: tuple[PackedShape, tuple[Any, ...]]) -> list[tuple[Any, Any]]:
    shape, values = packed
    assert len(shape.keys) == len(values)
    return list(zip(shape.keys, values, strict=True))


USUAL = [
    _doc({"SubjectUserName": "alice", "LogonType": 3, "IpAddress": "10.0.0.5"}),
    _doc(),  # no EventData
    _doc({}),
    _doc({"Data": ["a", "b"]}),
    _doc(
        {"ServiceName": "evil"},
        Provider={"#attributes": {"Name": "Service Control Manager", "EventSourceName": "SCM"}},
    ),
    _doc({"x": 1}, Provider={"#attributes": {"EventSourceName": "OnlySource"}}),
    _doc({"x": 1}, Provider="not an object", Execution=None, Correlation=None),
    _doc({"x": 1}, TimeCreated={"SystemTime": "2026-01-02T03:04:05Z"}),  # no #attributes
    _doc({"level": "EventData's own, differing only by case"}),
    _doc({"x": 1}, EventID={"#attributes": {"Qualifiers": 16384}, "#text": 7045}),
]

UNUSUAL = [
    _doc({"Level": "EventData's own Level"}),  # a System field's name: EventData wins
    _doc({"#text": "unnamed", "x": 1}),
    _doc({"#attributes": {"Name": "x"}, "y": 2}),
    _doc("EventData as text"),
    _doc({"x": 1}, TimeCreated=None),  # the record header's time is used
    _doc({"x": 1}, TimeCreated={"#attributes": {}}),
    _doc({"x": 1}, TimeCreated="2026-01-02"),
    {"Event": {"System": {"EventID": 1}, "UserData": {"W": {"F": "v"}}}},
    {"Event": {"System": {"EventID": 1}, "ProcessingErrorData": {"ErrorCode": 15005}}},
    {"Event": {"System": "no object"}},
    {"Event": []},
    {"NotAnEvent": {}},
]


def test_usual_records_pack_to_the_mapped_row() -> None:
    for doc in USUAL:
        packed = pack_evtx_event(copy.deepcopy(doc))
        assert packed is not None, doc
        row = map_evtx_event(copy.deepcopy(doc))
        assert row is not None
        assert _as_dict(packed) == list(row.items()), doc


def test_unusual_records_are_left_to_the_mapping_unchanged() -> None:
    for doc in UNUSUAL:
        before = copy.deepcopy(doc)
        assert pack_evtx_event(doc) is None, doc
        assert doc == before


def test_rows_of_one_kind_share_a_shape_object() -> None:
    first = pack_evtx_event(_doc({"a": "1", "b": "2"}))
    second = pack_evtx_event(_doc({"a": "3", "b": "4"}))
    other = pack_evtx_event(_doc({"b": "2", "a": "1"}))  # another key order: another shape
    assert first is not None and second is not None and other is not None
    assert first[0] is second[0]
    assert other[0] is not first[0]


def _batch(rows: list[Any]) -> pa.RecordBatch:
    builder = BatchBuilder("x.evtx")
    for position, row in enumerate(rows):
        builder.add(row, position)
    batch = builder.flush()
    assert batch is not None
    return batch


def _mapped(doc: dict[str, Any]) -> dict[Any, Any]:
    row = map_evtx_event(copy.deepcopy(doc))
    assert row is not None
    if row[TS] is None:
        row[TS] = "2026-01-01T00:00:00Z"
    return row


def test_packed_dict_and_mixed_rows_make_the_same_batch() -> None:
    docs = [*USUAL, *UNUSUAL[:7], *USUAL[::-1]]
    as_dicts = _batch([_mapped(d) for d in docs])
    packed = [pack_evtx_event(copy.deepcopy(d)) for d in docs]
    mixed = _batch([p if p is not None else _mapped(d) for p, d in zip(packed, docs, strict=True)])
    assert mixed.schema == as_dicts.schema
    assert mixed.equals(as_dicts)
    # A dict row with exactly a packed row's keys joins the same columns.
    same = [_mapped(USUAL[0]), pack_evtx_event(copy.deepcopy(USUAL[0])), _mapped(USUAL[0])]
    assert _batch(same).equals(_batch([_mapped(USUAL[0])] * 3))


_names = st.sampled_from(["a", "B", "Level", "level", "Data", "#text", "Task", "x.y", ""])
_values = st.one_of(
    st.none(),
    st.integers(-(2**70), 2**70),
    st.text(max_size=5),
    st.lists(st.text(max_size=3), max_size=2),
    st.dictionaries(st.sampled_from(["#text", "k"]), st.text(max_size=3), max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.dictionaries(_names, _values, max_size=5), min_size=1, max_size=12),
    st.booleans(),
)
def test_any_event_data_packs_to_the_same_batch(datas: list[dict[str, Any]], source: bool) -> None:
    provider = {"#attributes": {"Name": "P", **({"EventSourceName": "S"} if source else {})}}
    docs = [_doc(d, Provider=provider) for d in datas]
    as_dicts = _batch([_mapped(d) for d in docs])
    packed = [pack_evtx_event(copy.deepcopy(d)) for d in docs]
    mixed = _batch([p if p is not None else _mapped(d) for p, d in zip(packed, docs, strict=True)])
    assert mixed.schema == as_dicts.schema
    assert mixed.equals(as_dicts)
