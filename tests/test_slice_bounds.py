"""The bounds of a slice's row ids, found in the table's groups held for an evaluation.

While an evaluation runs, the slices find the first and last row id of their rows in
the events grouped once by channel and event id (:mod:`lotlhunt.engines.duckdb.groups`) instead of
a query each. Whatever the channels' spellings, event ids, spans and scope, a slice's
query must keep exactly the rows the query for its bounds kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lotlhunt.engines.duckdb.engine import DuckDBEngine
from lotlhunt.engines.duckdb.groups import event_groups
from lotlhunt.engines.duckdb.queries import scope_condition
from lotlhunt.rules.logsources import Variant
from lotlhunt.scope import EventScope
from lotlhunt.testing import load_events


def _events() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(120):
        channel = ("Security", "security", "System", "Microsoft-Windows-Sysmon/Operational")[i % 4]
        out.append(
            {
                "Channel": channel,
                "EventID": (4624, 4688, 7045, 1)[i % 3],
                "Hostname": ("dc1", "ws2")[i % 5 == 0],
                "CommandLine": f"cmd /c {i}",
            }
        )
    out.append({"EventID": 4624, "Hostname": "dc1", "CommandLine": "no channel"})
    return out


VARIANTS = [
    Variant("security", ("Security",)),
    Variant("logons", ("security",), (4624,)),
    Variant("two", ("System", "Microsoft-Windows-Sysmon/Operational"), (7045, 1, 4688)),
    Variant("every event", ()),
    Variant("by id", (), (4624,)),
    Variant("absent channel", ("Application",)),
    Variant("absent id", ("System",), (9999,)),
]


def _rows(engine: DuckDBEngine, query: str | None) -> list[tuple[Any, ...]]:
    return [] if query is None else sorted(engine.cursor().execute(query).fetchall())


@pytest.mark.parametrize("scoped", [False, True])
def test_a_slice_keeps_the_same_rows_with_its_bounds_held_or_queried(
    tmp_path: Path, scoped: bool
) -> None:
    engine = DuckDBEngine()
    try:
        load_events(engine, _events(), tmp_path)
        engine.flush()
        if scoped:
            engine.restrict(EventScope(hosts=("dc1",)))
            assert engine.slices.scope_sql == scope_condition(EventScope(hosts=("dc1",)))
        slices = engine.slices
        cases = [(v, s) for v in VARIANTS for s in (None, (0, 40), (30, 33), (200, 300))]
        queried = [_rows(engine, slices.slice_query(v, ["CommandLine"], span=s)) for v, s in cases]
        held = slices.groups = event_groups(engine.cursor(), slices.scope_sql)
        in_scope = sum(1 for e in _events() if not scoped or e["Hostname"] == "dc1")
        assert sum(g.rows for g in held.groups) == in_scope
        kept = [_rows(engine, slices.slice_query(v, ["CommandLine"], span=s)) for v, s in cases]
        slices.groups = None
    finally:
        engine.close()
    assert kept == queried
    assert any(kept) and not all(kept)  # some slices hold rows, some none


def test_an_evaluation_holds_the_groups_only_while_it_runs(tmp_path: Path) -> None:
    engine = DuckDBEngine()
    try:
        load_events(engine, _events(), tmp_path)
        engine.evaluate([])
        assert engine.slices.groups is None
    finally:
        engine.close()
