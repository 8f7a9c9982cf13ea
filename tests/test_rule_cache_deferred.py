"""A warm load's rules: their bulk decoded on first use, damage found when read, the
entries rebuilt without their classes' constructors, frozen only in a one-command process."""

from __future__ import annotations

import dataclasses
import gc
import marshal
import pickle
import sqlite3
from pathlib import Path

import pytest
import yaml

from lotlhunt._support.gc_pause import freeze_lasting, gc_paused
from lotlhunt.rules import cache as rule_cache
from lotlhunt.rules.cache_entries import _ENTRY_SCHEMA
from lotlhunt.rules.compile.tree import Kind, Node, Op
from lotlhunt.rules.deferred import PENDING
from lotlhunt.rules.loader import load_rules
from lotlhunt.rules.model import DEFERRED_FIELDS, CompiledRule
from test_rule_cache import rule_doc


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    rules.mkdir()
    for n in range(3):
        (rules / f"r{n}.yml").write_text(yaml.safe_dump(rule_doc(n)), "utf-8")
    return rules


def _warm(folder: Path) -> tuple[list[CompiledRule], list[CompiledRule]]:
    cold = load_rules([folder])
    warm = load_rules([folder])
    assert warm.cache_hits == 3 and warm.compiled == 0
    return cold.rules, warm.rules


def test_a_warm_rule_decodes_its_bulk_when_first_read(folder: Path, rule_cache_dir: Path) -> None:
    cold, warm = _warm(folder)
    rule = warm[0]
    assert set(vars(rule)[PENDING]) == set(DEFERRED_FIELDS)
    assert rule.title == cold[0].title and PENDING in vars(rule)  # metadata: no decoding
    assert rule.condition == cold[0].condition
    assert rule.condition is not None and all(isinstance(n, Node) for n in rule.condition)
    assert all(type(n.kind) is Kind for n in rule.condition)
    assert "condition" in vars(rule) and "condition" not in vars(rule)[PENDING]
    assert rule.sql == cold[0].sql and rule.needs == cold[0].needs
    assert rule.selections == cold[0].selections
    assert PENDING not in vars(rule)  # all read: nothing pending any more


def test_warm_rules_equal_hash_replace_and_pickle_like_compiled_ones(
    folder: Path, rule_cache_dir: Path
) -> None:
    cold, warm = _warm(folder)
    assert warm == cold and {hash(r) for r in warm} == {hash(r) for r in cold}
    assert dataclasses.replace(warm[1], level="low") == dataclasses.replace(cold[1], level="low")
    copy = pickle.loads(pickle.dumps(warm[2]))
    assert copy == cold[2] and PENDING not in vars(copy)
    with pytest.raises(AttributeError):
        _ = warm[0].no_such_field  # type: ignore[attr-defined]


def test_a_rule_made_by_its_constructor_has_nothing_pending(folder: Path) -> None:
    rule = load_rules([folder], cache=False).rules[0]
    assert PENDING not in vars(rule) and rule.condition is not None
    bare = CompiledRule(
        "id", "t", "low", "test", (), "p", (None, None, None), (), "x = 1", frozenset()
    )
    assert bare.condition is None and bare.selections == () and bare.needs is None


def test_damage_anywhere_in_an_entry_is_a_miss(folder: Path, rule_cache_dir: Path) -> None:
    load_rules([folder])
    con = sqlite3.connect(rule_cache_dir / rule_cache.DB_NAME)
    with con:
        (key, data) = con.execute(
            "SELECT key, data FROM entries WHERE path LIKE '%r0.yml'"
        ).fetchone()
        # A byte inside a deferred field's blob: the outer marshal data still reads.
        at = data.index(b"tool0.exe")
        damaged = data[:at] + b"X" + data[at + 1 :]
        con.execute("UPDATE entries SET data = ? WHERE key = ?", (damaged, key))
    con.close()
    assert rule_cache.loads(damaged, _ENTRY_SCHEMA) is None
    again = load_rules([folder])
    assert (again.compiled, again.cache_hits) == (1, 2)
    assert load_rules([folder]).cache_hits == 3


def test_an_unknown_enum_value_is_a_miss() -> None:
    node = Node(Kind.FIELD, sql="\"a\" = 'b'", field="a", op=Op.EQUALS, column="a", values=("b",))
    entry = {
        "rules": [],
        "failed": [],
        "not_applicable": [],
        "unresolved": {},
        "known": [],
        "filters_key": "",
    }
    assert rule_cache.loads(rule_cache.dumps(entry), _ENTRY_SCHEMA) == entry
    to_node = rule_cache.converter(Node)
    assert to_node is not None
    stored = rule_cache._plain(node)
    assert to_node(stored) == node
    with pytest.raises(ValueError):
        to_node(("nonsense", *stored[1:]))


def test_a_lasting_block_freezes_only_in_a_one_command_process() -> None:
    gc.unfreeze()
    try:
        with gc_paused(lasting=True):
            kept = [[i] for i in range(100)]
        assert gc.get_freeze_count() == 0  # a library caller: nothing frozen
        freeze_lasting()
        with gc_paused(lasting=True):
            kept.append([0])
        assert gc.get_freeze_count() > 0
        with gc_paused():
            kept.append([1])
        assert gc.isenabled()
    finally:
        freeze_lasting(False)
        gc.unfreeze()


def test_a_stored_object_of_another_layout_is_a_miss() -> None:
    to_node = rule_cache.converter(Node)
    assert to_node is not None
    stored = rule_cache._plain(Node(Kind.AND, args=(0, 1)))
    with pytest.raises(ValueError):
        to_node(stored[:-1])  # a field fewer: an entry older than the class
    with pytest.raises(ValueError):
        to_node((*stored, "x"))
    to_rule = rule_cache.converter(CompiledRule)
    assert to_rule is not None
    names = rule_cache._stored_fields(CompiledRule)
    rule = CompiledRule(
        "id", "t", "low", "test", (), "p", ("windows", None, None), (), "x = 1", frozenset()
    )
    good = rule_cache._plain(rule)
    assert dataclasses.replace(to_rule(good), variants=()) == rule  # variants: derived
    bad = list(good)
    bad[names.index("sql")] = "x = 1"  # a deferred field must be a blob
    with pytest.raises(TypeError):
        to_rule(tuple(bad))


def test_a_dataclass_without_fields_round_trips() -> None:
    @dataclasses.dataclass(frozen=True)
    class Empty:
        pass

    to_empty = rule_cache.converter(Empty)
    assert to_empty is not None and to_empty(()) == Empty()
    with pytest.raises(ValueError):
        to_empty((1,))


def test_threads_reading_the_same_pending_fields_get_one_value(
    folder: Path, rule_cache_dir: Path
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    cold, _ = _warm(folder)
    for _ in range(20):
        warm = load_rules([folder]).rules

        def read(i: int, warm: list[CompiledRule] = warm) -> list[object]:
            return [getattr(r, DEFERRED_FIELDS[i % len(DEFERRED_FIELDS)]) for r in warm]

        with ThreadPoolExecutor(8) as pool:
            seen = list(pool.map(read, range(64)))
        for i, values in enumerate(seen):
            name = DEFERRED_FIELDS[i % len(DEFERRED_FIELDS)]
            assert values == [getattr(r, name) for r in cold]
            assert all(v is getattr(r, name) for v, r in zip(values, warm, strict=True))
        assert all(PENDING not in vars(r) for r in warm)


def test_a_one_command_process_freezes_and_collects_young_objects_less_often() -> None:
    from lotlhunt._support import gc_pause

    saved = gc.get_threshold()
    try:
        gc.unfreeze()
        gc_pause.one_command_process()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (gc_pause.YOUNG_THRESHOLD, *saved[1:])
        frozen = gc.get_freeze_count()
        with gc_paused(lasting=True):
            kept = [[i] for i in range(100)]
        assert gc.get_freeze_count() >= frozen + len(kept)
    finally:
        gc_pause.freeze_lasting(False)
        gc.set_threshold(*saved)
        gc.unfreeze()


def test_whether_a_pending_tree_is_there_is_read_from_its_blob(
    folder: Path, rule_cache_dir: Path
) -> None:
    _, warm = _warm(folder)
    rule = warm[0]
    assert rule.holds("condition") and "condition" in vars(rule)[PENDING]  # not decoded
    assert rule.holds("sql") and "sql" not in vars(rule)[PENDING]  # a string: decoded
    pending = vars(warm[1])[PENDING]
    for value, held in [(None, False), ((), False), ((1,), True), (tuple(range(300)), True)]:
        pending["condition"] = marshal.dumps(value)
        assert warm[1].holds("condition") is held and "condition" in pending
    made = load_rules([folder], cache=False).rules[0]
    assert made.holds("condition") and not dataclasses.replace(made, condition=None).holds(
        "condition"
    )


def test_a_hunt_decodes_only_the_trees_of_the_rules_the_prefilter_keeps(
    folder: Path, rule_cache_dir: Path, tmp_path: Path
) -> None:
    from lotlhunt.engines.duckdb.engine import DuckDBEngine
    from lotlhunt.testing import load_events

    cold, warm = _warm(folder)
    events = [
        {
            "Channel": "Microsoft-Windows-Sysmon/Operational",
            "EventID": 1,
            "Image": f"C:\\x\\tool{n}.exe",
            "CommandLine": f"tool{n} -{'ab'[n % 2]}",
        }
        for n in (0, 1, 0)
    ]
    found = []
    for rules in (cold, warm):
        engine = DuckDBEngine()
        try:
            load_events(engine, events, tmp_path)
            table = engine.evaluate(rules).matches
        finally:
            engine.close()
        pairs = zip(table.column("rule").to_pylist(), table.column("rid").to_pylist(), strict=True)
        found.append(sorted(pairs))
    assert found[0] == found[1] and {r for r, _ in found[1]} == {0, 1}
    assert "condition" not in vars(warm[0]).get(PENDING, {})  # kept: its tree was read
    assert "condition" in vars(warm[2])[PENDING]  # skipped (no tool2.exe): never decoded
