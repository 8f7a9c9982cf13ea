"""Frames come in row-id order without DuckDB sorting them: a scan in insertion order is
checked, and sorted here only when it is not (events in Parquet parts, say); the
engine's own setting is left as it was."""

from __future__ import annotations

from lotlhunt.engines.base import EngineOptions
from lotlhunt.engines.duckdb.case import in_row_order
from lotlhunt.engines.duckdb.engine import DuckDBEngine


def _setting(engine: DuckDBEngine) -> bool:
    row = engine.con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()
    assert row is not None
    return bool(row[0])


def test_rows_out_of_order_are_sorted_by_row_id() -> None:
    engine = DuckDBEngine(None, EngineOptions())
    try:
        before = _setting(engine)
        table = in_row_order(
            engine,
            "SELECT * FROM (VALUES (3, 'c'), (1, 'a'), (7, 'g'), (2, 'b')) t(rid, v) "
            "ORDER BY v DESC",
        )
        assert table.column("rid").to_pylist() == [1, 2, 3, 7]
        assert table.column("v").to_pylist() == ["a", "b", "c", "g"]
        assert _setting(engine) == before
    finally:
        engine.close()


def test_a_scan_in_insertion_order_is_kept_and_the_setting_restored() -> None:
    engine = DuckDBEngine(None, EngineOptions())
    try:
        engine.con.execute("SET preserve_insertion_order = true")
        table = in_row_order(engine, "SELECT range AS rid FROM range(5000)")
        assert table.column("rid").to_pylist() == list(range(5000))
        assert _setting(engine) is True
        engine.con.execute("SET preserve_insertion_order = false")
        in_row_order(engine, "SELECT range AS rid FROM range(10)")
        assert _setting(engine) is False
    finally:
        engine.close()
