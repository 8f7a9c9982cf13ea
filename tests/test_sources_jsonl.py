"""JSON exports: framing (lines, arrays, pretty documents), bad input, flavours."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lotlhunt.sources import InputUnit, ReaderOptions, UnitReport, read_unit
from lotlhunt.sources.options import DEFAULT_OPTIONS


def read(
    path: Path, options: ReaderOptions = DEFAULT_OPTIONS
) -> tuple[list[dict[str, Any]], UnitReport]:
    items = list(read_unit(InputUnit(str(path), None, "json"), options))
    report = items[-1]
    assert isinstance(report, UnitReport)
    batches = [b for b in items[:-1] if isinstance(b, pa.RecordBatch)]
    rows = [row for b in batches for row in b.to_pylist()]
    assert report.records == len(rows)
    return rows, report


def event(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "EventID": 1,
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "Hostname": "ws1",
        "@timestamp": "2020-07-22T03:27:42.455Z",
        "RecordNumber": i,
        "CommandLine": f"cmd /c echo {i}",
        **extra,
    }


def test_json_lines_with_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    lines = [
        json.dumps(event(1)),
        "",
        "not json at all",
        json.dumps([1, 2]),
        "   \r",
        json.dumps(event(2)) + "\r",
        '{"EventID": 3, "Channel": "Security"',  # cut short
        json.dumps(event(4)),  # last line without newline
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    rows, report = read(path)
    assert [r["record_id"] for r in rows] == [1, 2, 4]
    assert [r["position"] for r in rows] == [1, 6, 8]
    assert report.records_failed == 3
    assert sorted(i.position for i in report.issues) == [3, 4, 7]
    assert all(i.path == str(path) and i.kind == "record" for i in report.issues)


def test_boms_and_utf16(tmp_path: Path) -> None:
    text = json.dumps(event(1, User="Müller")) + "\n" + json.dumps(event(2)) + "\n"
    (tmp_path / "a.json").write_bytes(b"\xef\xbb\xbf" + text.encode())
    (tmp_path / "b.json").write_bytes(text.encode("utf-16"))  # BOM + UTF-16, as Out-File
    for name in ("a.json", "b.json"):
        rows, report = read(tmp_path / name)
        assert [r["record_id"] for r in rows] == [1, 2] and report.records_failed == 0
        assert rows[0]["User"] == "Müller"


def test_invalid_utf8_is_replaced_not_dropped(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"EventID": 1, "User": "M\xfcller"}\n')
    rows, report = read(path)
    assert rows[0]["User"] == "M\ufffdller"
    assert report.records_failed == 0 and "UTF-8" in report.issues[0].message


def test_array_and_non_objects(tmp_path: Path) -> None:
    path = tmp_path / "array.json"
    path.write_text(json.dumps([event(1), 42, event(2), [event(3)], "s"], indent=2))
    rows, report = read(path)
    assert [(r["record_id"], r["position"]) for r in rows] == [(1, 0), (2, 2)]
    assert report.records_failed == 3
    assert sorted(i.position for i in report.issues) == [1, 3, 4]


def test_concatenated_pretty_documents(tmp_path: Path) -> None:
    docs = [event(i) for i in range(5)]
    path = tmp_path / "pretty.json"
    path.write_text("\n".join(json.dumps(d, indent=2) for d in docs))
    rows, report = read(path)
    assert [r["record_id"] for r in rows] == list(range(5))
    assert [r["position"] for r in rows] == list(range(5))
    assert report.records_failed == 0 and report.issues == []


def test_broken_pretty_document_resyncs(tmp_path: Path) -> None:
    good = [json.dumps(event(i), indent=2) for i in range(3)]
    broken = good[1].replace('"CommandLine"', '"CommandLine": {', 1)  # never closes
    path = tmp_path / "broken.json"
    path.write_text("\n".join([good[0], broken, good[2]]) + "\nstray text\n{")
    rows, report = read(path)
    assert [r["record_id"] for r in rows] == [0, 2]
    assert report.records_failed == 3  # the broken document, the stray text, the last "{"
    assert any("line" in i.message for i in report.issues)


def test_overlong_line_is_one_failure(tmp_path: Path) -> None:
    path = tmp_path / "long.jsonl"
    huge = json.dumps(event(2, Payload="A" * 100_000))  # beyond the framing sniff
    path.write_text("\n".join([json.dumps(event(1)), huge, json.dumps(event(3))]) + "\n")
    rows, report = read(path, ReaderOptions(max_record_bytes=1000, read_bytes=256))
    assert [r["record_id"] for r in rows] == [1, 3]
    assert [r["position"] for r in rows] == [1, 3]
    assert report.records_failed == 1 and report.issues[0].position == 2


def test_flavours_are_sniffed_per_line(tmp_path: Path) -> None:
    evtx_doc = {
        "Event": {
            "System": {
                "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}},
                "EventID": 1,
                "EventRecordID": 10,
                "Channel": "Microsoft-Windows-Sysmon/Operational",
                "Computer": "ws1",
                "TimeCreated": {"#attributes": {"SystemTime": "2021-01-01T00:00:00Z"}},
            },
            "EventData": {"CommandLine": "whoami"},
        }
    }
    beat = {"@timestamp": "2021-01-01T00:00:01Z", "winlog": {"event_id": 1, "record_id": 11}}
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(json.dumps(d) for d in (evtx_doc, beat, event(12))) + "\n")
    rows, _ = read(path)
    assert [r["record_id"] for r in rows] == [10, 11, 12]
    assert rows[0]["CommandLine"] == "whoami" and rows[0]["host"] == "ws1"


def test_batches_are_bounded(tmp_path: Path) -> None:
    path = tmp_path / "many.jsonl"
    path.write_text("".join(json.dumps(event(i)) + "\n" for i in range(25)))
    items = list(read_unit(InputUnit(str(path), None, "json"), ReaderOptions(batch_rows=10)))
    assert [b.num_rows for b in items[:-1]] == [10, 10, 5]  # type: ignore[union-attr]


_DOCS = st.lists(
    st.fixed_dictionaries(
        {"RecordNumber": st.integers(0, 10**6)},
        optional={"Image": st.text(max_size=8), "Note": st.text(alphabet='{}[]"\\ ,x', max_size=8)},
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(docs=_DOCS, framing=st.sampled_from(["lines", "array", "pretty"]), chunk=st.integers(1, 64))
def test_framing_survives_any_chunking(
    tmp_path: Path, docs: list[dict[str, Any]], framing: str, chunk: int
) -> None:
    if framing == "lines":
        text = "".join(json.dumps(d) + "\n" for d in docs)
    elif framing == "array":
        text = json.dumps(docs, indent=1)
    else:
        text = "\n".join(json.dumps(d, indent=2) for d in docs)
    path = tmp_path / "data.json"
    path.write_text(text, encoding="utf-8")
    rows, report = read(path, ReaderOptions(read_bytes=chunk))
    assert report.records_failed == 0
    assert [r["record_id"] for r in rows] == [d["RecordNumber"] for d in docs]
    assert [r.get("Note") for r in rows] == [d.get("Note") for d in docs]


def test_hostile_nesting_and_key_floods(tmp_path: Path) -> None:
    deep: Any = "bottom"
    for _ in range(900):  # within orjson's depth limit, beyond Python's recursion limit
        deep = {"a": deep}
    path = tmp_path / "hostile.jsonl"
    lines = [json.dumps(event(1, nested=deep))]
    lines += [json.dumps(event(i, **{f"k{i}_{j}": "v" for j in range(10)})) for i in range(2, 12)]
    lines.append("[" * 5000 + "]" * 5000)  # beyond orjson's depth limit: a failed line
    path.write_text("\n".join(lines) + "\n")
    rows, report = read(path, ReaderOptions(max_field_columns=50))
    assert [r["record_id"] for r in rows] == list(range(1, 12))
    deep_column = next(k for k in rows[0] if k.startswith("nested.a.a"))
    assert rows[0][deep_column].startswith('{"a":')  # the rest kept as JSON text
    assert len(rows[0]) <= 8 + 50
    assert report.records_failed == 1
    assert any("folded" in i.message for i in report.issues)


def test_batches_are_cut_by_source_bytes_as_well_as_rows(tmp_path: Path) -> None:
    # Event sizes vary a hundredfold (script blocks), so a row count alone does not bound
    # a reader's memory: a batch also ends at ``batch_bytes`` of source text.
    options = ReaderOptions(batch_rows=1000, batch_bytes=4096)
    small = [event(i) for i in range(40)]
    big = [event(40 + i, ScriptBlockText="x" * 3000) for i in range(6)]
    lines = tmp_path / "lines.json"
    lines.write_text("\n".join(json.dumps(e) for e in small + big) + "\n")
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps(small + big, indent=2))
    for path in (lines, pretty):
        items = list(read_unit(InputUnit(str(path), None, "json"), options))
        sizes = [b.num_rows for b in items if isinstance(b, pa.RecordBatch)]
        report = items[-1]
        assert isinstance(report, UnitReport) and report.records == sum(sizes) == 46
        assert len(sizes) >= 5  # 1,000 rows would have made one batch
        assert all(size <= 2 for size in sizes[-3:])  # two big events are already 6 KB
