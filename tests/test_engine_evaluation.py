"""How the DuckDB engine evaluates rule groups: slices, per-field tests, skipped slices.

Semantics are covered construct by construct in test_sigma_conformance.py; these tests
check the machinery that makes large hunts cheap gives the same answers as the plain
way (each rule's own SQL).
"""

from __future__ import annotations

import dataclasses
import gc
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from lotlhunt.engines.base import EngineOptions
from lotlhunt.engines.duckdb import evaluate as evaluate_module
from lotlhunt.engines.duckdb.encode import EncodedSlice
from lotlhunt.engines.duckdb.engine import DuckDBEngine
from lotlhunt.engines.duckdb.presence import PRESENCE_TABLE
from lotlhunt.engines.duckdb.store import take_unified
from lotlhunt.hunt import HuntConfig, run_hunt
from lotlhunt.rules.model import CompiledRule
from lotlhunt.testing import compile_rules, load_events
from match_pairs import evaluated_pairs as _matches

SYSMON = "Microsoft-Windows-Sysmon/Operational"


def _events() -> list[dict[str, Any]]:
    """Repetitive process creations (as services and agents make) plus a few odd ones."""
    base = {"Channel": SYSMON, "EventID": 1, "Hostname": "ws1"}
    out = []
    for i in range(300):
        out.append(
            {
                **base,
                "Image": "C:\\Windows\\System32\\svchost.exe",
                "CommandLine": "svchost -k netsvcs",
            }
        )
        out.append(
            {
                **base,
                "Image": "C:\\Windows\\System32\\cmd.exe",
                "CommandLine": f"cmd /c whoami /{i % 3}",
            }
        )
    out += [
        {
            **base,
            "Image": "C:\\Windows\\System32\\WMIC.exe",
            "CommandLine": "wmic process call create ntdsutil",
        },
        {**base, "Image": "C:\\WINDOWS\\system32\\cmd.exe", "CommandLine": None},
        {**base, "Image": "C:\\Windows\\System32\\cmd.exe"},
        {**base, "Image": "", "CommandLine": "SVCHOST -K NETSVCS"},
    ]
    return out


def _rules() -> list[CompiledRule]:
    docs = []
    details: list[dict[str, Any]] = [
        {"selection": {"Image|endswith": "\\cmd.exe"}, "condition": "selection"},
        {"selection": {"CommandLine|contains": "whoami /1"}, "condition": "selection"},
        {"selection": {"CommandLine": "svchost -k netsvcs"}, "condition": "selection"},
        {
            "selection": {"Image|endswith": "\\cmd.exe"},
            "filter": {"CommandLine": None},
            "condition": "selection and not filter",
        },
        {"selection": {"CommandLine|contains|all": ["wmic", "ntdsutil"]}, "condition": "selection"},
        {"selection": {"Image": ""}, "condition": "selection"},
    ]
    for n, detection in enumerate(details):
        docs.append(
            {
                "title": f"rule {n}",
                "id": f"00000000-0000-4000-8000-{n:012d}",
                "level": "high",
                "logsource": {"product": "windows", "category": "process_creation"},
                "detection": detection,
            }
        )
    rules: list[CompiledRule] = []
    for doc in docs:
        rules.extend(compile_rules(doc).rules)
    return rules


def _tune(engine: DuckDBEngine, **options: int) -> None:
    """Evaluate with other tuning from now on (as a hunt configured so would)."""
    engine.options = dataclasses.replace(engine.options, **options)


def _encoded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, EncodedSlice | None]]:
    """Record each slice the engine encodes: its variant and what it became."""
    seen: list[tuple[Any, EncodedSlice | None]] = []
    original = evaluate_module.encode_slice

    def spy(con: Any, slices: Any, variant: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append((variant, original(con, slices, variant, *args, **kwargs)))
        return seen[-1][1]

    monkeypatch.setattr(evaluate_module, "encode_slice", spy)
    return seen


def test_per_field_evaluation_gives_the_matches_of_each_rules_sql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = DuckDBEngine()
    try:
        load_events(engine, _events(), tmp_path)
        rules = _rules()
        _tune(engine, by_field=False)
        plain = _matches(engine, rules)
        _tune(engine, by_field=True)
        encoded = _encoded(monkeypatch)
        by_field = _matches(engine, rules)
    finally:
        engine.close()
    assert plain == by_field
    assert len({r for r, _ in plain}) == 6  # every rule fired
    [(_variant, slice_)] = encoded
    assert slice_ is not None and len(slice_.rids) == 604
    # 604 events, a handful of distinct values of each field
    assert all(len(codes.values) < 20 for codes in slice_.fields.values())


def test_a_keyword_rule_is_one_more_test_of_its_logsources_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The whole-event text is nearly unique per row: it is tested on the rows, in the
    # same scan that encodes the fields the other rules read.
    keyword = compile_rules(
        {
            "title": "keywords",
            "id": "00000000-0000-4000-8000-2000000000aa",
            "logsource": {"product": "windows", "category": "process_creation"},
            "detection": {"keywords": ["ntdsutil"], "condition": "keywords"},
        }
    ).rules
    rules = _rules() + keyword
    engine = DuckDBEngine()
    encoded = _encoded(monkeypatch)
    try:
        load_events(engine, _events(), tmp_path)
        _tune(engine, by_field=False)
        plain = _matches(engine, rules)
        _tune(engine, by_field=True)
        by_field = _matches(engine, rules)
    finally:
        engine.close()
    assert by_field == plain
    assert {rid for r, rid in plain if r == len(rules) - 1} == {600}  # the wmic event
    # Two passes over the slice: the prefilter's fields, then what the rules it keeps
    # read besides, the keyword test among them.
    first, second = (e for _v, e in encoded)
    assert first is not None and second is not None
    assert not first.rows and len(second.rows) == 1
    assert set(first.fields).isdisjoint(second.fields)
    assert list(first.rids) == list(second.rids)


def test_a_lone_keyword_rule_matches_as_it_does_beside_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = {
        **KEYWORD_RULE,
        "id": "00000000-0000-4000-8000-0000000000dd",
        "detection": {"keywords": ["spooler", "evil"], "condition": "keywords"},
    }
    alone = compile_rules(KEYWORD_RULE).rules
    both = compile_rules(yaml.safe_dump_all([KEYWORD_RULE, other])).rules
    engine = DuckDBEngine()
    encoded = _encoded(monkeypatch)
    try:
        load_events(engine, _keyword_events(), tmp_path)
        inline = _matches(engine, alone)
        sliced = _matches(engine, both)
    finally:
        engine.close()
    # The System events only, once per evaluation.
    assert [len(e.rids) for _v, e in encoded if e is not None] == [2, 2]
    assert inline == {(0, rid) for r, rid in sliced if r == 0} and len(inline) == 1
    assert {r for r, _ in sliced} == {0, 1}


def test_rules_whose_literals_occur_nowhere_are_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The presence prefilter skips rules whose required literals are in no value; the
    others give the matches of the plain way, whatever the size of the scan's chunks."""
    extra = [
        {"selection": {"CommandLine|contains": "mimikatz"}, "condition": "selection"},
        {"selection": {"CommandLine|re": "svchost\\s+-k"}, "condition": "selection"},
        # A short literal occurs nearly everywhere: its clause holds on every row.
        {"selection": {"CommandLine|contains": ["/1", "-k"]}, "condition": "selection"},
        {"selection": {"CommandLine|re": "/\\d$"}, "condition": "selection"},
    ]
    rules = _rules() + [
        r
        for n, detection in enumerate(extra)
        for r in compile_rules(
            {
                "title": f"extra {n}",
                "id": f"00000000-0000-4000-8000-1000000000{n:02d}",
                "logsource": {"product": "windows", "category": "process_creation"},
                "detection": detection,
            }
        ).rules
    ]
    engine = DuckDBEngine()
    try:
        load_events(engine, _events(), tmp_path)
        _tune(engine, by_field=False)
        plain = _matches(engine, rules)
        _tune(engine, by_field=True)
        plans: list[Any] = []
        original = evaluate_module.plan_by_presence

        def spy(*args: Any) -> Any:
            plans.append(original(*args))
            return plans[-1]

        monkeypatch.setattr(evaluate_module, "plan_by_presence", spy)
        for rows in (65_536, 2):  # one chunk, and a chunk boundary between every 2 rows
            _tune(engine, scan_rows=rows)
            assert _matches(engine, rules) == plain
    finally:
        engine.close()
    assert len({r for r, _ in plain}) == 6 + 3  # mimikatz is nowhere
    assert [p.skipped for p in plans] == [[6], [6]]


def test_slices_without_events_are_not_built(tmp_path: Path) -> None:
    engine = DuckDBEngine()
    built: list[object] = []
    real = engine.slices.slice_query

    def spy(*args: Any, **kwargs: Any) -> str | None:
        built.append(args[0])
        return real(*args, **kwargs)

    engine.slices.slice_query = spy  # type: ignore[method-assign]
    try:
        load_events(engine, [{"Channel": "Security", "EventID": 4624, "Hostname": "dc1"}], tmp_path)
        evaluation = engine.evaluate(_rules())
    finally:
        engine.close()
    assert built == [] and evaluation.matches.num_rows == 0


def test_cidr_detection_is_explained(tmp_path: Path) -> None:
    # CIDR conditions read an address twin column; explanations must project it too.
    events = tmp_path / "net.jsonl"
    lines = [
        json.dumps({"Channel": SYSMON, "EventID": 3, "Hostname": "ws1", "DestinationIp": ip})
        for ip in ("10.1.2.3", "8.8.8.8")
    ]
    events.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rule = {
        "title": "to the inside",
        "id": "00000000-0000-4000-8000-0000000000aa",
        "level": "medium",
        "logsource": {"product": "windows", "category": "network_connection"},
        "detection": {"inside": {"DestinationIp|cidr": "10.0.0.0/8"}, "condition": "inside"},
    }
    result = run_hunt(HuntConfig(paths=[events], default_rules=False, extra_rule_dicts=[rule]))
    assert [(d.fields, d.matched) for d in result.detections] == [
        ({"DestinationIp": "10.1.2.3"}, ("inside",))
    ]


def test_channels_match_whatever_their_case_also_after_more_input(tmp_path: Path) -> None:
    # Channels are matched by the exact spellings present (so the scan can skip other
    # channels); spellings that arrive later must be seen too.
    rule = compile_rules(
        {
            "title": "logon",
            "id": "00000000-0000-4000-8000-0000000000bb",
            "level": "low",
            "logsource": {"product": "windows", "service": "security"},
            "detection": {"selection": {"EventID": 4624}, "condition": "selection"},
        }
    ).rules
    engine = DuckDBEngine()
    try:
        (tmp_path / "a").mkdir()
        load_events(engine, [{"Channel": "Security", "EventID": 4624}], tmp_path / "a")
        first = engine.evaluate(rule).matches.num_rows
        (tmp_path / "b").mkdir()
        load_events(
            engine,
            [{"Channel": "SECURITY", "EventID": 4624}, {"Channel": "System", "EventID": 4624}],
            tmp_path / "b",
        )
        second = engine.evaluate(rule).matches.num_rows
    finally:
        engine.close()
    assert (first, second) == (1, 2)


def _fails_first(failures: list[Exception]) -> Callable[[], int]:
    """A call that raises each of ``failures`` in turn, then returns 42."""
    pending = iter(failures)

    def flaky() -> int:
        for exc in pending:
            raise exc
        return 42

    return flaky


def test_running_out_of_memory_raises_the_limit_and_says_so() -> None:
    # Wide inputs can need more than the limit to append or scan; the engine retries
    # with a higher limit instead of losing the hunt, and reports it.
    import duckdb

    engine = DuckDBEngine(options=EngineOptions(memory_limit="64MB"))
    flaky = _fails_first([duckdb.OutOfMemoryException("could not allocate block")] * 2)
    try:
        before = engine.memory.limit
        assert engine.memory.run(flaky) == 42
        setting = engine.con.execute("SELECT current_setting('memory_limit')").fetchone()
    finally:
        engine.close()
    assert engine.memory.limit > before * 2
    assert len(engine.memory.notes) == 2 and "raised it to" in engine.memory.notes[-1]
    assert setting is not None and str(setting[0]).endswith("MiB")


def test_running_out_of_memory_while_reading_arrow_batches_raises_the_limit() -> None:
    # A scan read as Arrow batches reports DuckDB running out of memory as the reader's
    # OSError, not as DuckDB's exception: it too raises the limit instead of ending the
    # hunt (Mordor's slices at a 256 MiB limit on parts).
    engine = DuckDBEngine(options=EngineOptions(memory_limit="64MB"))
    flaky = _fails_first([OSError("Out of Memory Error: failed to allocate data of size 2.0 MiB")])
    try:
        before = engine.memory.limit
        assert engine.memory.run(flaky) == 42
    finally:
        engine.close()
    assert engine.memory.limit > before
    other = DuckDBEngine()
    try:
        with pytest.raises(OSError, match="disk"):  # not memory: raised as it came
            other.memory.run(lambda: (_ for _ in ()).throw(OSError("disk full")))
    finally:
        other.close()


def test_other_errors_are_not_retried() -> None:
    import duckdb

    engine = DuckDBEngine()
    calls = []

    def broken() -> None:
        calls.append(1)
        raise duckdb.BinderException("no such column")

    try:
        with pytest.raises(duckdb.BinderException):
            engine.memory.run(broken)
    finally:
        engine.close()
    assert calls == [1] and engine.memory.notes == []


KEYWORD_RULE = {
    "title": "keyword",
    "id": "00000000-0000-4000-8000-0000000000cc",
    "level": "high",
    "logsource": {"product": "windows", "service": "system"},
    "detection": {"keywords": ["evil.exe"], "condition": "keywords"},
}


def _keyword_events() -> list[dict[str, Any]]:
    """System events fill few columns; Security events many others (as in real exports)."""
    out: list[dict[str, Any]] = [
        {"Channel": "Security", "EventID": 4624, f"SecField{i}": f"v{i}"} for i in range(50)
    ]
    out.append({"Channel": "System", "EventID": 7045, "ImagePath": "C:\\Temp\\EVIL.exe"})
    out.append({"Channel": "System", "EventID": 7036, "param1": "Spooler"})
    out.append({"Channel": "Security", "EventID": 4688, "CommandLine": "evil.exe"})
    return out


def test_keyword_rules_read_the_columns_their_channels_fill(tmp_path: Path) -> None:
    rules = compile_rules(KEYWORD_RULE).rules
    engine = DuckDBEngine()
    try:
        load_events(engine, _keyword_events(), tmp_path)
        text = engine.slices.field_expression("__text", rules[0].variants[0])
        hits = engine.evaluate(rules).matches.num_rows
    finally:
        engine.close()
    assert hits == 1  # the System 7045 only; the Security event is another channel
    assert "ImagePath" in text and "SecField1" not in text


def test_case_keeps_column_presence_and_old_cases_fall_back(tmp_path: Path) -> None:
    rules = compile_rules(KEYWORD_RULE).rules
    case = str(tmp_path / "case.duckdb")
    engine = DuckDBEngine(case)
    try:
        load_events(engine, _keyword_events(), tmp_path)
    finally:
        engine.close()
    engine = DuckDBEngine(case)  # re-hunt: presence read back from the case
    try:
        narrow = engine.slices.field_expression("__text", rules[0].variants[0])
        assert engine.evaluate(rules).matches.num_rows == 1
        engine.con.execute(f"DROP TABLE {PRESENCE_TABLE}")
    finally:
        engine.close()
    engine = DuckDBEngine(case)  # a case made before presence was recorded
    try:
        wide = engine.slices.field_expression("__text", rules[0].variants[0])
        assert engine.evaluate(rules).matches.num_rows == 1
    finally:
        engine.close()
    assert "SecField1" not in narrow and "SecField1" in wide


def _plain_batch(first: int, rows: int, extra: str | None = None) -> Any:
    import pyarrow as pa

    from lotlhunt.events import schema

    columns = {f.name: pa.nulls(rows, f.type) for f in schema.CORE_FIELDS}
    columns[schema.CHANNEL] = pa.array(["Security"] * rows)
    columns[schema.POSITION] = pa.array(range(first, first + rows), pa.int64())
    columns["Image"] = pa.array([f"p{i}.exe" for i in range(first, first + rows)])
    if extra:
        columns[extra] = pa.array(["x"] * rows)
    return pa.RecordBatch.from_pydict(columns)


def test_events_are_inserted_in_whole_row_groups() -> None:
    # Appending to a partly filled row group of a wide table is several times slower
    # than filling new ones; the engine buffers until it has whole groups.
    group = EngineOptions().row_group_rows
    engine = DuckDBEngine(options=EngineOptions(parts=False))
    try:
        sizes = [8192] * (2 * group // 8192 + 3)
        first = 0
        for i, size in enumerate(sizes):
            engine.ingest(_plain_batch(first, size, "Late" if i == len(sizes) - 1 else None))
            first += size
        engine.store.settle()  # whole groups are stored in the background
        inserted = engine.con.execute("SELECT count(*) FROM events").fetchone()
        engine.flush()
        groups = engine.con.execute(
            "SELECT row_group_id, max(count) FROM pragma_storage_info('events')"
            " WHERE column_name = '__rid' GROUP BY ALL ORDER BY 1"
        ).fetchall()
        total, rids, late = engine.con.execute(
            "SELECT count(*), count(DISTINCT __rid), count(Late) FROM events"
        ).fetchone()
    finally:
        engine.close()
    assert inserted is not None and inserted[0] == 2 * group  # whole groups, rest buffered
    assert [count for _, count in groups[:2]] == [group, group]  # DuckDB's size is ours
    assert (total, rids, late) == (first, first, 8192)


def test_row_groups_stored_in_the_background_keep_order_and_columns() -> None:
    # Whole groups go to the storing thread while ingest goes on; columns first seen
    # while a group is being stored are added before the group that has them, and the
    # rows keep the order they came in.
    engine = DuckDBEngine(options=EngineOptions(row_group_rows=1000))
    try:
        first = 0
        for i, size in enumerate([700, 700, 900, 1300, 50, 2400, 30]):
            engine.ingest(_plain_batch(first, size, f"F{i % 3}" if i else None))
            first += size
        engine.flush()
        rows = engine.con.execute(
            "SELECT count(*), count(DISTINCT __rid), bool_and(position = __rid),"
            " count(F0), count(F1), count(F2) FROM events"
        ).fetchone()
    finally:
        engine.close()
    assert rows == (first, first, True, 1300 + 30, 700 + 50, 900 + 2400)


def test_a_failure_while_storing_in_the_background_is_raised_and_closing_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lotlhunt.engines.duckdb import store as store_module

    def broken(pieces: list[Any], parts: int) -> Any:
        raise RuntimeError("copy failed")

    engine = DuckDBEngine(options=EngineOptions(row_group_rows=500, parts=False))
    monkeypatch.setattr(store_module, "take_unified", broken)
    try:
        engine.ingest(_plain_batch(0, 600))  # a whole group handed to the storing thread
        with pytest.raises(RuntimeError, match="copy failed"):
            engine.ingest(_plain_batch(600, 600))  # the next group waits for it
    finally:
        engine.close(flush=False)
    assert engine.store._storer is None


_PIECE = st.tuples(
    st.lists(st.sampled_from(["a", "b", "c", "ts"]), unique=True),  # columns it has
    st.integers(0, 5),  # rows
    st.integers(1, 3),  # chunks per column
    st.booleans(),  # whether "b", when present, is all nulls of the null type
)


@given(st.lists(_PIECE, max_size=6))
@settings(max_examples=150, deadline=None)
def test_buffered_tables_are_unified_as_arrow_would(pieces: list[Any]) -> None:
    # Buffers of files with different fields become one table: the engine's own
    # assembly must be exactly Arrow's promoting concatenation, made contiguous.
    tables = []
    for k, (names, rows, chunks, null_b) in enumerate(pieces):
        columns = {}
        for name in names:
            if name == "ts":
                values: pa.Array = pa.array([k * 10 + i for i in range(rows)], pa.int64())
            elif name == "b" and null_b:
                values = pa.nulls(rows)
            else:
                values = pa.array([f"{name}{k}.{i}" if i % 2 else None for i in range(rows)])
            cut = [values.slice(j * rows // chunks, rows // chunks) for j in range(chunks - 1)]
            cut.append(values.slice((chunks - 1) * (rows // chunks)))
            columns[name] = pa.chunked_array(cut, values.type)
        if columns:
            tables.append(pa.table(columns))
    if not tables:
        return
    expected = pa.concat_tables(tables, promote_options="default").combine_chunks()
    got = take_unified(list(tables), 1)
    assert got.equals(expected)
    assert all(column.num_chunks <= 1 for column in got.columns)
    # Made in parts (to let each piece go early): the same rows, at most that many chunks,
    # and the pieces handed over are all used up.
    for parts in (2, 3):
        given_up = list(tables)
        in_parts = take_unified(given_up, parts)
        assert in_parts.equals(expected) and not given_up
        assert all(column.num_chunks <= parts for column in in_parts.columns)


def test_fields_null_on_every_row_are_not_buffered() -> None:
    # A field null throughout a batch, or throughout the rows left over after a whole row
    # group was inserted, would cost a null run in the copy that is inserted; INSERT BY
    # NAME fills it instead. The column still exists and reads NULL there.
    import pyarrow as pa

    engine = DuckDBEngine(options=EngineOptions(row_group_rows=1000, parts=False))
    try:
        with_a = _plain_batch(0, 600, "A")
        without_a = _plain_batch(600, 600)
        empty_b = _plain_batch(1200, 100)
        empty_b = empty_b.append_column("B", pa.nulls(100, pa.string()))
        engine.ingest(with_a)
        engine.ingest(without_a)  # 1,200 rows: one group of 1,000 inserted, 200 kept
        kept = [t.column_names for t in engine.store._buffer.pieces]
        engine.ingest(empty_b)
        buffered = [t.column_names for t in engine.store._buffer.pieces]
        engine.flush()
        row = engine.con.execute(
            "SELECT count(*), count(A), count(B), count(DISTINCT __rid), count(Image) FROM events"
        ).fetchone()
    finally:
        engine.close()
    assert kept and all("A" not in names for names in kept)
    assert all("B" not in names for names in buffered)
    assert row == (1300, 600, 0, 1300, 1300)


def test_duckdb_gives_memory_to_the_buffer_while_reading() -> None:
    # While whole row groups are buffered and inserted, the Arrow buffer and its copy sit
    # beside DuckDB, so DuckDB's limit is lowered; queries after reading get all of it.
    def limit(engine: DuckDBEngine) -> str:
        row = engine.con.execute("SELECT current_setting('memory_limit')").fetchone()
        return str(row[0]) if row else ""

    engine = DuckDBEngine(options=EngineOptions(memory_limit="1GiB", parts=False))
    try:
        before = limit(engine)
        engine.ingest(_plain_batch(0, 100))
        reading = limit(engine)
        engine.flush()
        after = limit(engine)
        count = engine.count()
    finally:
        engine.close()
    assert before == after == "1.0 GiB" and reading == "512.0 MiB" and count == 100


def test_duckdb_keeps_less_once_the_events_are_stored(tmp_path: Path) -> None:
    # Queries need far less than storing wide row groups: past the lower limit DuckDB
    # spills the events no query is reading instead of keeping the whole table resident,
    # and the matches are the same.
    from lotlhunt.engines.duckdb.memory import QUERY_SHARE

    rules = _rules()
    engine = DuckDBEngine(options=EngineOptions(memory_limit="1GiB"))
    try:
        load_events(engine, _events(), tmp_path)
        matches = _matches(engine, rules)
        row = engine.con.execute("SELECT current_setting('memory_limit')").fetchone()
    finally:
        engine.close()
    full = DuckDBEngine(options=EngineOptions(memory_limit="1GiB"))
    try:
        load_events(full, _events(), tmp_path)
        full.memory.stored = lambda *_: None  # type: ignore[method-assign]
        assert _matches(full, rules) == matches and matches
    finally:
        full.close()
    assert row == (f"{(2**30 - int(2**30 * QUERY_SHARE)) // 2**20}.0 MiB",)


def test_a_limit_duckdb_cannot_come_under_at_once_is_left_as_it_was() -> None:
    import duckdb

    engine = DuckDBEngine(options=EngineOptions(memory_limit="1GiB"))
    guard = engine.memory
    applied: list[int] = []

    def apply() -> None:
        applied.append(guard._effective())
        if len(applied) == 1:
            raise duckdb.OutOfMemoryException("could not free up enough memory")

    try:
        guard._apply = apply  # type: ignore[method-assign]
        guard.stored()
    finally:
        engine.close()
    assert guard.reserved == 0 and applied[-1] == guard.limit and len(applied) == 2


def test_freed_allocator_pages_are_returned_in_the_background() -> None:
    # Without it, the pages of each inserted row group stayed resident until a later
    # allocation purged them: a third more peak memory while reading Mordor.
    engine = DuckDBEngine()
    try:
        row = engine.con.execute(
            "SELECT current_setting('allocator_background_threads')"
        ).fetchone()
    finally:
        engine.close()
    assert row is not None and row[0] is True


def test_a_reservation_never_starves_duckdb() -> None:
    from lotlhunt.engines.duckdb.memory import MIN_LIMIT

    engine = DuckDBEngine(options=EngineOptions(memory_limit="1GiB"))
    small = DuckDBEngine(options=EngineOptions(memory_limit="64MiB"))
    try:
        engine.memory.reserve(600 * 2**20)
        lowered = engine.con.execute("SELECT current_setting('memory_limit')").fetchone()
        engine.memory.reserve(4 * 2**30)
        floor = engine.con.execute("SELECT current_setting('memory_limit')").fetchone()
        small.memory.reserve(32 * 2**20)
        kept = small.con.execute("SELECT current_setting('memory_limit')").fetchone()
    finally:
        engine.close()
        small.close()
    assert lowered == ("424.0 MiB",)
    assert floor == (f"{MIN_LIMIT // 2**20}.0 MiB",)
    assert kept == ("64.0 MiB",)  # below the floor already: never raised by a reservation


def _security_rules() -> list[CompiledRule]:
    security = {"product": "windows", "service": "security"}
    details: list[tuple[dict[str, str], dict[str, Any]]] = [
        (security, {"s": {"EventID": 4624, "LogonType": 3}, "condition": "s"}),
        (security, {"s": {"EventID": [4624, 4625]}, "condition": "s"}),
        (security, {"s": {"EventID": 4697}, "condition": "s"}),  # no such event held
        (security, {"a": {"EventID": 4624}, "b": {"User": "bob"}, "condition": "a or b"}),
        (security, {"k": ["bob"], "condition": "k"}),
        (security, {"s": {"EventID": 5145, "ShareName|contains": "C$"}, "condition": "s"}),
        (security, {"s": {"EventID": "04624"}, "condition": "s"}),  # matches no event
        (
            {"product": "windows", "category": "process_creation"},
            {"s": {"EventID": 4688, "CommandLine|contains": "whoami"}, "condition": "s"},
        ),
    ]
    rules: list[CompiledRule] = []
    for n, (logsource, detection) in enumerate(details):
        doc = {"title": f"r{n}", "logsource": logsource, "detection": detection}
        rules.extend(compile_rules(doc).rules)
    return rules


def _security_events() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(120):
        out.append(
            {
                "Channel": "Security",
                "EventID": (4624, 4625, 4634, 5145, 4688)[i % 5],
                "Hostname": f"h{i % 4}",
                "LogonType": str(i % 4),
                "User": ("bob", "alice", "svc")[i % 3],
                "ShareName": ("\\\\*\\C$", "\\\\*\\IPC$")[i % 2],
                "CommandLine": ("whoami /all", "ipconfig")[i % 2],
            }
        )
    out.append({"Channel": SYSMON, "EventID": 1, "Hostname": "h1", "CommandLine": "whoami"})
    return out


def test_rules_run_only_on_the_event_ids_they_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = _security_rules()
    assert [r.event_ids for r in rules] == [
        {4624},
        {4624, 4625},
        {4697},
        None,
        None,
        {5145},
        {4624},
        {4688},
    ]
    engine = DuckDBEngine()
    try:
        load_events(engine, _security_events(), tmp_path)
        unnarrowed = [dataclasses.replace(r, event_ids=None) for r in rules]
        plain = _matches(engine, unnarrowed)
        encoded = _encoded(monkeypatch)
        narrowed = _matches(engine, rules)
        built = [(v.event_ids, len(e.rids) if e else 0) for v, e in encoded]
    finally:
        engine.close()
    assert narrowed == plain and plain
    assert {rule for rule, _ in plain} == {0, 1, 3, 4, 5, 7}
    # One slice of the ids the naming rules need and the logs hold (4697: not held); the
    # rules naming none keep the channel's whole slice (the keyword rule's text is
    # tested in its scan); the process creation rule only on Security 4688. A slice may
    # be scanned twice (the prefilter's fields, then the kept rules' others).
    assert sorted(set(built)) == [((), 120), ((4624, 4625, 5145), 72), ((4688,), 24)]


def test_an_event_field_named_eventid_keeps_the_whole_slice() -> None:
    rule = _security_rules()[0]
    engine = DuckDBEngine()
    try:
        variant = rule.variants[0]
        assert engine.rule_variant(variant, rule) != variant
        engine.store._columns["eventid"] = "EventID"  # an event field spelled like the core id
        assert engine.rule_variant(variant, rule) is variant
    finally:
        engine.close()


def test_the_spill_folder_goes_with_the_engine() -> None:
    closed = DuckDBEngine()
    closed.close()
    forgotten = DuckDBEngine()  # never closed: removed when collected
    folders = [Path(closed._spill), Path(forgotten._spill)]
    assert not folders[0].exists() and folders[1].is_dir()
    del forgotten
    gc.collect()
    assert not folders[1].exists()


def _positions(engine: DuckDBEngine, pairs: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """(rule, event position) for (rule, row id) matches: row ids differ by store."""
    rows = engine.event_rows(sorted({rid for _, rid in pairs}), ["position"])
    at = dict(zip(rows.column("rid").to_pylist(), rows.column("position").to_pylist(), strict=True))
    return {(rule, at[rid]) for rule, rid in pairs}


@pytest.mark.parametrize("workers", [1, 2])
def test_events_as_parts_answer_as_the_table_does(tmp_path: Path, workers: int) -> None:
    # A new hunt's events are Parquet parts (written by the reader workers, or by the
    # engine from the batches it is handed) scanned in place: every question gets the
    # answer DuckDB's own table gave, with row ids unique.
    from dataclasses import replace

    from lotlhunt.hunt import read_into
    from lotlhunt.sources import ReaderOptions

    events = _events() * 60  # 36k rows: the worker writes a part, not only batches
    events += [
        {"Channel": "Security", "EventID": 4688, "NewProcessName": "c:\\x\\cmd.exe"},
        {"Channel": "security", "EventID": 4624, "image": "lower-spelled"},
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    options = replace(ReaderOptions(), in_process_bytes=0)
    rules = _rules()
    seen = {}
    for parts in (False, True):
        engine = DuckDBEngine(options=EngineOptions(parts=parts))
        try:
            stats = read_into(engine, [path], workers, options=options)
            assert (engine.store.parts_dir is not None) == parts
            if parts and workers == 2:
                assert engine.store._parts and engine.store._viewed == len(engine.store._parts)
            rids = engine.con.execute("SELECT count(DISTINCT __rid) FROM events").fetchone()
            seen[parts] = (
                stats.records,
                engine.count(),
                rids[0] if rids else None,
                sorted(engine.present_slices()),
                sorted(engine.store.presence.filled(["security"], list(engine.columns.values()))),
                engine.has_field("Image"),
                engine.count_events(),
                _positions(engine, _matches(engine, rules)),
            )
        finally:
            engine.close()
    assert seen[True] == seen[False]
    assert seen[True][0] == seen[True][1] == seen[True][2] == len(events)


@pytest.mark.parametrize(
    ("parts", "min_bytes", "expected"),
    [(None, 1, True), (None, 1 << 40, False), (True, 1 << 40, True), (False, 1, False)],
)
def test_events_are_parts_by_the_inputs_size_unless_told(
    tmp_path: Path, parts: bool | None, min_bytes: int, expected: bool
) -> None:
    # Left to the inputs' size, a new hunt's events are parts when the inputs reach
    # ``parts_min_bytes`` (large inputs read faster), DuckDB's table below it (many
    # small files hunt faster there); an explicit choice holds whatever the size. The
    # events are the same either way.
    from lotlhunt.hunt import read_into

    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in _events()), encoding="utf-8")
    engine = DuckDBEngine(options=EngineOptions(parts=parts, parts_min_bytes=min_bytes))
    try:
        stats = read_into(engine, [path], 1)
        assert (engine.store.parts_dir is not None) is expected
        assert engine.count() == stats.records == len(_events())
    finally:
        engine.close()


def test_a_case_file_keeps_its_table_whatever_the_inputs_size(tmp_path: Path) -> None:
    from lotlhunt.hunt import read_into

    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in _events()), encoding="utf-8")
    engine = DuckDBEngine(tmp_path / "case.duckdb", options=EngineOptions(parts_min_bytes=1))
    try:
        read_into(engine, [path], 1)
        assert engine.store.parts_dir is None
        assert engine.count() == len(_events())
    finally:
        engine.close()


def test_a_part_past_the_column_cap_is_folded_as_a_table_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A reader's part whose fields would take the events past MAX_TABLE_COLUMNS is read
    # back and ingested by the engine, whose new fields are folded into one JSON column.
    from lotlhunt.engines.duckdb import store as store_module
    from lotlhunt.events import schema
    from lotlhunt.events.parts import ROW_ID, write_part

    monkeypatch.setattr(store_module, "MAX_TABLE_COLUMNS", 12)
    engine = DuckDBEngine()
    try:
        batch = _plain_batch(0, 10)
        wide = pa.table(
            {
                **{n: batch.column(n) for n in batch.schema.names},
                **{f"K{i}": pa.array([f"v{i}"] * 10) for i in range(20)},
                ROW_ID: pa.array(range(1 << 40, (1 << 40) + 10), pa.int64()),
            }
        )
        part = write_part(wide, str(tmp_path / "wide.parquet"))
        engine.add_part(part)
        engine.flush()
        extra = engine.con.execute(
            f"SELECT count(*), count({schema.EXTRA_FIELDS}) FROM events"
        ).fetchone()
        columns = len(engine.columns)
    finally:
        engine.close()
    assert extra == (10, 10) and columns <= 12
    assert not (tmp_path / "wide.parquet").exists()


def test_slices_run_side_by_side_the_largest_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A keyword rule with no channel reads every column of every event: started first.
    every = {**KEYWORD_RULE, "id": "00000000-0000-4000-8000-0000000000ee"}
    every["logsource"] = {"product": "windows"}
    docs = [KEYWORD_RULE, every]
    docs.append(
        {
            "title": "logons",
            "id": "00000000-0000-4000-8000-0000000000ef",
            "logsource": {"product": "windows", "service": "security"},
            "detection": {"s": {"EventID": 4624}, "condition": "s"},
        }
    )
    rules = compile_rules(yaml.safe_dump_all(docs)).rules
    order: list[list[int]] = []
    real = evaluate_module.largest_first

    def spy(*args: Any) -> Any:
        out = real(*args)
        order.extend(idxs for _v, idxs in out)
        return out

    monkeypatch.setattr(evaluate_module, "largest_first", spy)
    found: dict[int, set[tuple[int, int]]] = {}
    for threads in (1, 2):
        engine = DuckDBEngine(options=EngineOptions(threads=threads))
        try:
            (tmp_path / str(threads)).mkdir()
            load_events(engine, _keyword_events(), tmp_path / str(threads))
            found[threads] = _matches(engine, rules)
        finally:
            engine.close()
    # Every event, then the 51 Security logons, then the 2 System events.
    assert order[:3] == [[1], [2], [0]]
    assert found[1] == found[2] and {r for r, _ in found[1]} == {0, 1, 2}


def test_reading_events_after_evaluation_raises_the_limit_when_duckdb_runs_out(
    tmp_path: Path,
) -> None:
    # The reads of collection and the analytics (matched events, event rows and fields,
    # frames) ran outside the guard: past DuckDB's limit (a hunt on parts queries under a
    # quarter of it) the hunt ended with DuckDB's out of memory error instead of raising
    # the limit as the evaluation does. Here a real one, at a limit of a few MiB.
    events = [
        {"Channel": "Security", "EventID": 4688, "CommandLine": f"c {i} " + "x" * 2000}
        for i in range(5000)
    ]
    engine = DuckDBEngine(options=EngineOptions(memory_limit="8MB"))
    rids = list(range(len(events)))
    matches = pa.table(
        {"rule": pa.array([0] * len(rids), pa.int32()), "rid": pa.array(rids, pa.int64())}
    )
    try:
        load_events(engine, events, tmp_path)
        rows = [
            engine.events_frame(["CommandLine"], [4688], ["Security"]).num_rows,
            engine.event_fields(rids, ["CommandLine"]).num_rows,
            engine.event_rows(rids, ["host"]).num_rows,
            engine.matched_events(matches).num_rows,
        ]
        notes = list(engine.memory.notes)
    finally:
        engine.close()
    assert rows == [len(events)] * 4
    assert notes and all("raised it to" in n for n in notes)
