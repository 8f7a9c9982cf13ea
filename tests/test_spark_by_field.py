"""Rules per field on the Spark executors give the Spark SQL path's matches, rule by rule.

The Spark SQL path (every rule on every row of its slice) is the oracle: the same
engine, the same events, the same rules, once with their DuckDB twins (per field, on
the executors) and once without.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import test_sigma_conformance as conformance
from lotlhunt.engines import create_engine
from lotlhunt.engines.base import EngineOptions
from lotlhunt.engines.spark.by_field import (
    OUTPUT,
    Shipped,
    evaluator,
    twins_usable,
)
from lotlhunt.engines.spark.engine import SparkEngine
from lotlhunt.events.parquet_store import ROW_ID
from lotlhunt.hunt import read_into
from lotlhunt.rules.compile.dialect import DUCKDB, SPARK
from lotlhunt.rules.loader import bundled_rules_dir, load_rules
from lotlhunt.rules.model import CompiledRule
from lotlhunt.scope import EventScope
from lotlhunt.simulate import LOGS_DIR, simulate_volt_typhoon
from lotlhunt.testing import compile_rules
from match_pairs import pairs as _pairs
from spark_support import SPARK_OPTIONS, require_spark

pytestmark = pytest.mark.spark

SECURITY = "Security"


@pytest.fixture(scope="module", autouse=True)
def _spark() -> None:
    require_spark()


def _engine(by_field: bool = True) -> SparkEngine:
    options = dataclasses.replace(SPARK_OPTIONS, by_field=by_field)
    engine = create_engine("spark", options=EngineOptions(spark=options))
    assert isinstance(engine, SparkEngine)
    return engine


def _run(
    events_or_logs: Sequence[dict[str, Any]] | Path,
    spark_rules: Sequence[CompiledRule],
    twins: Sequence[CompiledRule] | None,
    scope: EventScope | None = None,
) -> tuple[set[tuple[int, int]], list[int], set[int]]:
    """(matches, failed rules, rules run per field) of one evaluation."""
    engine = _engine(twins is not None)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            if isinstance(events_or_logs, Path):
                read_into(engine, [events_or_logs], workers=1)
            else:
                path = Path(tmp) / "e.jsonl"
                path.write_text("".join(json.dumps(e) + "\n" for e in events_or_logs))
                read_into(engine, [path])
            if scope is not None:
                engine.restrict(scope)
            if twins is not None:
                engine.set_twins(twins)
            evaluation = engine.evaluate(spark_rules)
    finally:
        engine.close()
    return (
        _pairs(evaluation.matches),
        [i for i, _ in evaluation.failed],
        set(engine.by_field_rules),
    )


def _both(docs: Sequence[dict[str, Any]]) -> tuple[list[CompiledRule], list[CompiledRule]]:
    spark, duck = [], []
    for n, doc in enumerate(docs):
        doc = {**doc, "id": f"00000000-0000-4000-8000-{n:012d}"}
        spark.append(compile_rules(doc, SPARK).rules[0])
        duck.append(compile_rules(doc, DUCKDB).rules[0])
    return spark, duck


PROCESS = {"product": "windows", "category": "process_creation"}
LOGON = {"product": "windows", "service": "security"}

DOCS: list[dict[str, Any]] = [
    conformance.rule(conformance.sel(**{"CommandLine|contains": "whoami"})),
    # Process creation reads Image: on Security 4688 the logsource renames it from
    # NewProcessName.
    conformance.rule(conformance.sel(**{"Image|endswith": "\\ntdsutil.exe"})),
    # Keywords: the text of the whole event.
    {
        "title": "keyword",
        "logsource": PROCESS,
        "detection": {"keywords": ["mimikatz"], "condition": "keywords"},
    },
    conformance.rule(
        {
            "sel": {"CommandLine|re": "(?i)vssadmin.+shadow"},
            "filter": {"ParentImage|endswith": "\\services.exe"},
            "condition": "sel and not filter",
        }
    ),
    {
        "title": "logon",
        "logsource": LOGON,
        "detection": {
            "sel": {"EventID": 4624, "LogonType": 3, "IpAddress|cidr": "10.0.0.0/8"},
            "condition": "sel",
        },
    },
    {
        "title": "absent field",
        "logsource": LOGON,
        "detection": {"sel": {"EventID": 4625, "SubStatus": None}, "condition": "sel"},
    },
]


def _events() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    words = ["whoami /all", "net group", "vssadmin delete shadows", "run mimikatz", "ipconfig"]
    for n in range(40):
        word = words[n % len(words)]
        out.append(
            conformance.proc(
                CommandLine=f"{word} {n % 3}",
                Image=f"C:\\Windows\\System32\\{'ntdsutil' if n % 7 == 0 else 'cmd'}.exe",
                ParentImage="C:\\Windows\\services.exe" if n % 4 == 0 else "C:\\x\\explorer.exe",
            )
        )
        out.append(
            {
                "Channel": SECURITY,
                "EventID": 4688,
                "Computer": f"h{n % 3}",
                "NewProcessName": "C:\\Windows\\System32\\ntdsutil.exe" if n % 5 == 0 else "a",
                "CommandLine": f"{word} via 4688",
            }
        )
        out.append(
            {
                "Channel": SECURITY,
                "EventID": 4624 if n % 2 else 4625,
                "Computer": f"h{n % 3}",
                "LogonType": str(3 if n % 3 else 2),
                "IpAddress": f"10.0.{n}.1" if n % 4 else f"192.168.0.{n}",
                **({"SubStatus": "0xc000006a"} if n % 5 == 0 else {}),
                "TargetUserName": "mimikatz" if n == 7 else "alice",
            }
        )
    return out


def test_per_field_gives_the_sql_paths_matches() -> None:
    spark, duck = _both(DOCS)
    events = _events()
    oracle, oracle_failed, none = _run(events, spark, None)
    got, failed, by_field = _run(events, spark, duck)
    assert not none
    assert by_field == set(range(len(DOCS)))
    assert failed == oracle_failed == []
    assert got == oracle
    fired = {r for r, _ in got}
    # Every rule fires on something: the comparison is not of empty sets.
    assert fired == set(range(len(DOCS)))


def test_a_rule_failing_per_field_runs_by_spark_sql() -> None:
    """A twin the embedded engine cannot run leaves its rule to Spark SQL, whose
    matches it then has; the other rules keep theirs, per field."""
    spark, duck = _both(DOCS[:3])
    broken = dataclasses.replace(duck[0], sql='no_such_function("CommandLine")', condition=None)
    events = _events()
    oracle, _, _ = _run(events, spark, None)
    got, failed, by_field = _run(events, spark, [broken, *duck[1:]])
    assert failed == []
    assert by_field == {1, 2}
    assert got == oracle
    assert any(r == 0 for r, _ in got)


def test_a_rule_neither_path_runs_fails_once_hiding_nothing() -> None:
    # RE2 reads this quantifier as literal text; Java refuses the pattern.
    bad = conformance.rule(conformance.sel(**{"CommandLine|re": "who{,3}ami"}))
    spark, duck = _both([DOCS[0], bad])
    broken = dataclasses.replace(duck[1], sql='no_such_function("CommandLine")', condition=None)
    got, failed, by_field = _run(_events(), spark, [duck[0], broken])
    assert failed == [1]
    assert by_field == {0}
    assert got and {r for r, _ in got} == {0}


def test_a_rule_java_refuses_runs_per_field_as_the_embedded_engine_runs_it() -> None:
    bad = conformance.rule(conformance.sel(**{"CommandLine|re": "who{,3}ami"}))
    spark, duck = _both([bad])
    events = [conformance.proc(CommandLine="who{,3}ami"), conformance.proc(CommandLine="whoami")]
    _, oracle_failed, _ = _run(events, spark, None)
    got, failed, by_field = _run(events, spark, duck)
    assert oracle_failed == [0]
    assert failed == [] and by_field == {0}
    assert len(got) == 1


def test_twins_of_other_rules_are_not_used() -> None:
    spark, duck = _both(DOCS[:2])
    assert twins_usable(spark, duck) == {0: duck[0], 1: duck[1]}
    assert twins_usable(spark, duck[::-1]) == {}
    assert twins_usable(spark, duck[:1]) == {}
    assert twins_usable(spark, None) == {}


def test_rows_outside_the_scope_reach_no_executor() -> None:
    spark, duck = _both(DOCS)
    got, failed, _ = _run(_events(), spark, duck, EventScope(event_ids=frozenset({4104})))
    assert got == set() and failed == []
    some, _, _ = _run(_events(), spark, duck, EventScope(event_ids=frozenset({4625})))
    assert {r for r, _ in some} == {5}


class _Value:
    def __init__(self, value: bytes) -> None:
        self.value = value


def _task(
    idxs: list[int], batches: list[pa.RecordBatch], twins: dict[int, CompiledRule]
) -> list[pa.RecordBatch]:
    import pickle
    import uuid

    shipped = Shipped(_Value(pickle.dumps(twins)), uuid.uuid4().hex)
    run = evaluator(shipped, idxs, 3, EngineOptions(threads=1))
    return list(run(iter(batches)))


def test_an_empty_partition_yields_nothing() -> None:
    _, duck = _both(DOCS[:1])
    assert _task([0], [], {0: duck[0]}) == []
    empty = pa.record_batch(
        {ROW_ID: pa.array([], pa.int64()), "channel": pa.array([], pa.string())}
    )
    assert _task([0], [empty], {0: duck[0]}) == []


def test_a_partition_is_evaluated_in_chunks_with_the_stores_row_ids() -> None:
    _, duck = _both(DOCS[:1])
    sysmon = conformance.proc()["Channel"]
    lines = ["whoami", "x", "whoami /all", "y", "z", "whoami"]
    batches = [
        pa.record_batch(
            {
                ROW_ID: pa.array([100 + 2 * k, 101 + 2 * k], pa.int64()),
                "channel": [sysmon, sysmon],
                "event_id": pa.array([1, 1], pa.int32()),
                "CommandLine": lines[2 * k : 2 * k + 2],
            }
        )
        for k in range(3)
    ]
    out = _task([7], batches, {7: duck[0]})
    # Three rows a chunk: two chunks of two batches (4 rows), then the last batch.
    assert len(out) == 2
    assert all(b.schema.names == ["rule", "rid", "error"] for b in out)
    table = pa.Table.from_batches(out)
    assert sorted(zip(*(table.column(c).to_pylist() for c in ("rule", "rid")), strict=True)) == [
        (7, 100),
        (7, 102),
        (7, 105),
    ]
    assert OUTPUT.startswith("rule INT")


@pytest.fixture(scope="module")
def simulated_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    simulate_volt_typhoon(out, hosts=4, days=1, seed=3)
    return out / LOGS_DIR


def test_the_bundled_rules_on_a_simulated_network_alike(simulated_logs: Path) -> None:
    spark = load_rules([bundled_rules_dir()], dialect=SPARK).rules
    duck = load_rules([bundled_rules_dir()], dialect=DUCKDB).rules
    oracle, oracle_failed, _ = _run(simulated_logs, spark, None)
    got, failed, by_field = _run(simulated_logs, spark, duck)
    assert failed == oracle_failed
    assert len(by_field) > len(spark) // 2
    assert got == oracle and got
