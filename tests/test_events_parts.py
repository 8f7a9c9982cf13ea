"""Parts written a row group at a time: the same file as the whole buffer copied first,
never more than one group of it copied at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lotlhunt.engines.base import EngineOptions
from lotlhunt.engines.duckdb.engine import DuckDBEngine
from lotlhunt.events import parts, schema
from lotlhunt.events.parquet_store import FieldSpellings, nonempty_fields
from lotlhunt.events.parts import ROW_ID, PartBuffer, Spool, take_unified, write_pieces


def _piece(first: int, rows: int, names: list[str], channel: str, null_b: bool) -> pa.Table:
    columns: dict[str, pa.Array] = {
        schema.CHANNEL: pa.array([channel] * rows),
        schema.EVENT_ID: pa.array([(first + i) % 3 for i in range(rows)], pa.int32()),
    }
    for name in names:
        if name in ("b", "B") and null_b:
            columns[name] = pa.nulls(rows)  # a reader's column of no value at all
        else:
            values = [f"{name}{first + i}" if i % 2 else None for i in range(rows)]
            columns[name] = pa.array(values, pa.string())
    columns[ROW_ID] = pa.array(range(first, first + rows), pa.int64())
    return pa.table(columns)


def _expected(pieces: list[pa.Table]) -> pa.Table:
    """What a part held when the whole buffer was copied, unified and trimmed first."""
    table = nonempty_fields(FieldSpellings().unify(take_unified(list(pieces), 1)))
    return parts._with_core_columns(table)


_PIECES = st.lists(
    st.tuples(
        # "A" is "a" spelled again, "B" is "b"
        st.lists(st.sampled_from(["a", "b", "A", "B", "c"]), unique=True),
        st.integers(1, 40),  # rows
        st.sampled_from(["Security", "Sysmon"]),
        st.booleans(),  # "b" null throughout
    ),
    min_size=1,
    max_size=6,
)


@given(_PIECES, st.sampled_from([1, 7, 16, 1000]))
@settings(max_examples=60, deadline=None)
def test_a_part_written_group_by_group_holds_what_the_whole_copy_held(
    tmp_path_factory: pytest.TempPathFactory, given_pieces: list[Any], group: int
) -> None:
    tables, first = [], 0
    for names, rows, channel, null_b in given_pieces:
        tables.append(_piece(first, rows, names, channel, null_b))
        first += rows
    expected = _expected(tables)
    path = str(tmp_path_factory.mktemp("part") / "p.parquet")
    handed = list(tables)
    part = write_pieces(handed, path, group)
    assert not handed  # every piece let go
    got = pq.read_table(path)
    assert got.schema.names == expected.schema.names
    assert got.equals(expected.cast(got.schema))
    assert part.rows == expected.num_rows
    assert (part.first_rid, part.last_rid) == (0, first - 1)
    assert set(part.columns) == {
        n for n in expected.schema.names if not schema.is_core(n) and n != ROW_ID
    }
    assert part.presence == {
        c: frozenset(cols)
        for c, cols in parts.filled_by_channel(expected, schema.CHANNEL, [ROW_ID]).items()
    }
    pairs = expected.select([schema.CHANNEL, schema.EVENT_ID]).to_pylist()
    assert part.pairs == {(p[schema.CHANNEL], p[schema.EVENT_ID]) for p in pairs}


def test_a_part_copies_one_row_group_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A buffer of many pieces is never copied whole beside itself: each copy is one row
    # group of the part, and the row groups are whole ones but the last.
    copied: list[int] = []
    unified_run = parts._unified_run

    def counting(run: list[pa.Table], rows: int, *args: Any) -> pa.Table:
        copied.append(rows)
        return unified_run(run, rows, *args)

    monkeypatch.setattr(parts, "_unified_run", counting)
    # "A" is "a" spelled again: merged a group at a time too, not over the whole buffer.
    names = (["a", "b", "c"], ["A", "b", "c"])
    pieces = [_piece(i * 700, 700, names[i % 2], "Security", False) for i in range(10)]
    part = write_pieces(pieces, str(tmp_path / "p.parquet"), 1024)
    assert max(copied) == 1024 and sum(copied) == 7000 == part.rows
    assert "A" not in part.columns and "a" in part.columns
    meta = pq.ParquetFile(tmp_path / "p.parquet").metadata
    groups = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert groups == [1024] * 6 + [7000 - 6 * 1024]


def test_a_part_buffer_writes_past_its_bytes_and_empties(tmp_path: Path) -> None:
    pieces = [_piece(i * 500, 500, ["a", "c"], "Sysmon", False) for i in range(6)]
    bound = pieces[0].nbytes * 2
    buffer = PartBuffer(str(tmp_path), rows=1 << 30, nbytes=bound)
    for piece in pieces:
        buffer.add(piece)
        assert buffer._held_bytes < bound  # written as soon as the bound is reached
    written = buffer.take()
    assert [p.rows for p in written] == [1000, 1000, 1000]
    assert sum(pq.read_table(p.path).num_rows for p in written) == 3000


def _batch(first: int, rows: int) -> pa.RecordBatch:
    columns = {f.name: pa.nulls(rows, f.type) for f in schema.CORE_FIELDS}
    columns[schema.CHANNEL] = pa.array(["Security"] * rows)
    columns[schema.POSITION] = pa.array(range(first, first + rows), pa.int64())
    columns["CommandLine"] = pa.array([f"cmd /c echo {'x' * 200} {i}" for i in range(rows)])
    return pa.RecordBatch.from_pydict(columns)


def test_the_engine_gathers_batches_for_a_part_in_a_file_not_in_memory() -> None:
    # Batches handed to an engine whose events are parts wait for their part in a file:
    # the process holds none of them (a row group of Mordor's wide rows is 300-400 MB),
    # and a part is still a row group of rows (every query binds every part).
    engine = DuckDBEngine(options=EngineOptions(parts=True, row_group_rows=3000))
    try:
        for k in range(10):
            engine.ingest(_batch(k * 1000, 1000))
            assert engine.store._buffer.rows == engine.store._buffer.nbytes == 0
            spool = engine.store._spool
            assert spool is None or 0 < spool.rows < 3000
        engine.flush()
        written = list(engine.store._parts)
        count = engine.count()
        distinct = engine.con.execute(
            f"SELECT count(DISTINCT {ROW_ID}), count(DISTINCT {schema.POSITION}),"
            f" min(length(CommandLine)) FROM events"
        ).fetchone()
        folder = Path(written[0].path).parent
        left = sorted(p.suffix for p in folder.iterdir())
    finally:
        engine.close()
    assert [p.rows for p in written] == [3000, 3000, 3000, 1000]
    assert count == 10_000 and distinct == (10_000, 10_000, 214)
    assert left == [".parquet"] * 4  # the spools are gone


def test_a_spool_reads_back_what_was_appended_and_removes_its_file(tmp_path: Path) -> None:
    tables = [_piece(i * 10, 10, ["a", "b"], "Security", i == 1) for i in range(3)]
    spool = Spool(str(tmp_path))
    for table in tables:
        spool.add(table)
    back = list(spool.tables())
    assert spool.rows == 30 and len(back) == 3
    assert all(t.equals(e) for t, e in zip(back, tables, strict=True))
    part = spool.write(str(tmp_path / "p.parquet"), 16)
    assert part.rows == 30 and pq.read_table(tmp_path / "p.parquet").equals(
        _expected(tables).cast(pq.read_schema(tmp_path / "p.parquet"))
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.parquet"]


def test_one_field_spelled_twice_once_without_any_value_is_merged() -> None:
    # A column of no value at all (Arrow's null type) and the same field spelled in
    # another case with values: merging them raised (no coalesce of null and string).
    table = pa.table({"a": pa.nulls(2), "A": pa.array(["x", None], pa.string())})
    merged = FieldSpellings().unify(table)
    assert merged.column_names == ["a"] and merged.column("a").to_pylist() == ["x", None]


def test_duckdb_keeps_less_for_queries_when_the_events_are_parts() -> None:
    # Once reading is over DuckDB's limit is lowered for queries, further on parts: it
    # keeps nothing resident then (the parts are files), so what needs more spills.
    from lotlhunt.engines.duckdb.memory import setting_bytes

    limits = {}
    for as_parts in (False, True):
        engine = DuckDBEngine(options=EngineOptions(parts=as_parts, memory_limit="1GB"))
        try:
            engine.ingest(_batch(0, 100))
            engine.evaluate([])
            row = engine.con.execute("SELECT current_setting('memory_limit')").fetchone()
            assert row is not None
            limits[as_parts] = setting_bytes(str(row[0]))
        finally:
            engine.close()
    assert limits[True] < limits[False] < 10**9
    assert limits[True] >= 256 * 2**20 * 0.99  # never below the guard's floor


def test_batches_a_reader_numbered_keep_their_row_ids() -> None:
    # A worker that writes its unit's parts hands the unit's last few rows over as a
    # batch with their ids (``u << UNIT_BITS | n``): the engine keeps them rather than
    # numbering rows in the order batches arrive, so ties between identical events of
    # two files are broken the same way in every run.
    from lotlhunt.events.parts import UNIT_BITS

    late, early = (7 << UNIT_BITS), (3 << UNIT_BITS)
    engine = DuckDBEngine(options=EngineOptions(parts=True))
    try:
        for first in (late, early):  # the later unit's batch arrives first
            batch = _batch(0, 4)
            engine.ingest(
                batch.append_column(ROW_ID, pa.array(range(first, first + 4), pa.int64()))
            )
        engine.ingest(_batch(0, 2))  # read in this process: numbered by the engine
        engine.flush()
        rids = sorted(r for (r,) in engine.con.execute(f"SELECT {ROW_ID} FROM events").fetchall())
    finally:
        engine.close()
    assert rids == [0, 1, *range(early, early + 4), *range(late, late + 4)]


def _grouped_presence(table: pa.Table) -> dict[str, set[str]]:
    """Presence by one grouped count per column: what every table once cost."""
    names = [n for n in table.schema.names if n not in (schema.CHANNEL, ROW_ID)]
    plain = table.select([schema.CHANNEL, *names]).rename_columns(
        ["channel", *(f"c{i}" for i in range(len(names)))]
    )
    counts = plain.group_by("channel").aggregate([(f"c{i}", "count") for i in range(len(names))])
    channels = [str(c or "").lower() for c in counts.column("channel").to_pylist()]
    out: dict[str, set[str]] = {c: set() for c in channels}
    for i, name in enumerate(names):
        for value, n in zip(channels, counts.column(f"c{i}_count").to_pylist(), strict=True):
            if n:
                out[value].add(name.lower())
    return out


_channels = st.sampled_from([None, "Security", "security", "System", ""])


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            _channels,
            st.one_of(st.none(), st.integers(0, 3)),
            st.one_of(st.none(), st.text(max_size=2)),
            st.one_of(st.none(), st.text(max_size=2)),
        ),
        min_size=1,
        max_size=30,
    ),
    st.integers(1, 3),
)
def test_presence_and_pairs_of_one_channel_or_many(rows: list[Any], chunks: int) -> None:
    # One channel (or none) takes the null counts Arrow keeps; several, a grouped count:
    # the same columns per channel and the same (channel, event id) pairs either way.
    cut = max(1, len(rows) // chunks)
    pieces = [rows[i : i + cut] for i in range(0, len(rows), cut)]
    batches = [
        pa.record_batch(
            {
                schema.CHANNEL: pa.array([r[0] for r in piece], pa.string()),
                schema.EVENT_ID: pa.array([r[1] for r in piece], pa.int32()),
                "Image": pa.array([r[2] for r in piece], pa.string()),
                "user": pa.array([r[3] for r in piece], pa.string()),
                "empty": pa.nulls(len(piece)),
                ROW_ID: pa.array(range(len(piece)), pa.int64()),
            }
        )
        for piece in pieces
    ]
    table = pa.Table.from_batches(batches)
    assert parts.filled_by_channel(table, schema.CHANNEL, [ROW_ID]) == _grouped_presence(table)
    written = parts._Written()
    written.add(table)
    assert written.pairs == {(r[0], r[1]) for r in rows}
