"""The Spark engine gives the embedded engine's results, set against set.

Every comparison runs both engines on the same events with the same rules (compiled in
each engine's dialect) and compares what a hunter sees: which rule fired on which event
(source, position), the explanation (fields, selections) and correlation hits.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import test_sigma_conformance as conformance
from lotlhunt.cli import cli
from lotlhunt.engines.base import EngineOptions
from lotlhunt.hunt import HuntConfig, run_hunt
from lotlhunt.model import HuntResult
from lotlhunt.rules.compile.dialect import DUCKDB, SPARK, Dialect
from lotlhunt.simulate import simulate_volt_typhoon
from lotlhunt.testing import compile_rules, rules_fired
from spark_support import SPARK_OPTIONS, require_spark, spark_options

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module", autouse=True)
def _spark() -> None:
    require_spark()


@pytest.fixture(scope="module")
def simulated_network(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    simulate_volt_typhoon(out, hosts=6, days=2, seed=5)
    return out


def _conformance_rules(dialect: Dialect) -> tuple[list[Any], list[dict[str, Any]], list[Any]]:
    """Every conformance case as one rule, all their events, and what each expects."""
    rules, events, expected = [], [], []
    cases = [(c[1], c[2], c[3], None) for c in conformance.CASES]
    for _, cidr, addresses, hits in conformance.CIDR_CASES:
        cases.append(
            (
                conformance.sel(**{"DestinationIp|cidr": cidr}),
                [{**conformance.NETWORK, "DestinationIp": a} for a in addresses],
                hits,
                {"product": "windows", "category": "network_connection"},
            )
        )
    for n, (detection, case_events, hits, logsource) in enumerate(cases):
        doc = conformance.rule(detection, logsource)
        doc["id"] = f"00000000-0000-4000-8000-{n:012d}"
        compiled = compile_rules(doc, dialect)
        assert not compiled.failed, compiled.failed
        first = len(events)
        rules.append(compiled.rules[0])
        events.extend(case_events)
        expected.append((n, first, hits))
    return rules, events, expected


@pytest.mark.parametrize(
    "tuning",
    [{}, {"distinct_min_rules": 1}],
    ids=["plain", "distinct-groups"],
)
def test_conformance_cases_fire_alike(tuning: dict[str, int]) -> None:
    duck_rules, events, expected = _conformance_rules(DUCKDB)
    spark_rules, _, _ = _conformance_rules(SPARK)
    duck = rules_fired(duck_rules, events, options=EngineOptions(**tuning))
    spark = rules_fired(spark_rules, events, engine="spark", options=spark_options(**tuning))
    assert spark == duck
    for n, first, hits in expected:
        got = [n in spark[first + k] for k in range(len(hits))]
        assert got == hits, f"case {n}"


def _identity(result: HuntResult) -> set[tuple[object, ...]]:
    return {
        (
            d.rule_id,
            d.source,
            d.position,
            json.dumps(d.fields, sort_keys=True),
            tuple(d.matched),
        )
        for d in result.detections
    }


def _correlations(result: HuntResult) -> set[str]:
    return {json.dumps(c.to_dict(), sort_keys=True, default=str) for c in result.correlations}


def _story(result: HuntResult) -> tuple[set[str], list[str]]:
    behaviours = {json.dumps(b.to_dict(), sort_keys=True) for b in result.behaviours}
    incidents = [json.dumps(i.to_dict(), sort_keys=True) for i in result.incidents]
    return behaviours, incidents


def _hunt(paths: list[Path], engine: str, **config: Any) -> HuntResult:
    options = spark_options() if engine == "spark" else EngineOptions()
    return run_hunt(
        HuntConfig(paths=paths, engine=engine, engine_options=options, workers=1, **config)
    )


#: Correlations over what every simulated network holds, so both engines have hits to
#: compare of every kind the engines implement differently (counts, distinct values,
#: ordered sequences).
CORRELATIONS = """
title: network logon
id: 5a1c0000-0000-4000-8000-000000000001
name: network_logon
logsource: {product: windows, service: security}
detection: {sel: {EventID: 4624, LogonType: 3}, condition: sel}
level: informational
---
title: process started
id: 5a1c0000-0000-4000-8000-000000000002
name: process_started
logsource: {product: windows, category: process_creation}
detection: {sel: {Image|endswith: '.exe'}, condition: sel}
level: informational
---
title: many network logons on a host
id: 5a1c0000-0000-4000-8000-000000000003
correlation:
  type: event_count
  rules: [network_logon]
  group-by: [Computer]
  timespan: 1h
  condition: {gte: 5}
level: low
---
title: one source, several accounts
id: 5a1c0000-0000-4000-8000-000000000004
correlation:
  type: value_count
  rules: [network_logon]
  group-by: [IpAddress]
  timespan: 1d
  condition: {field: TargetUserName, gte: 2}
level: low
---
title: logon then a process on the host
id: 5a1c0000-0000-4000-8000-000000000005
correlation:
  type: temporal_ordered
  rules: [network_logon, process_started]
  group-by: [Computer]
  timespan: 10m
level: low
"""


def test_simulated_campaign_alike(simulated_network: Path, tmp_path: Path) -> None:
    logs = [simulated_network / "logs"]
    rules = tmp_path / "correlations.yml"
    rules.write_text(CORRELATIONS, "utf-8")
    duck = _hunt(logs, "duckdb", rules=[rules])
    spark = _hunt(logs, "spark", rules=[rules])
    assert duck.detections, "the campaign should be detected"
    assert {c.rule_title for c in duck.correlations} == {
        "many network logons on a host",
        "one source, several accounts",
        "logon then a process on the host",
    }
    assert _identity(spark) == _identity(duck)
    assert _correlations(spark) == _correlations(duck)
    # The story is told alike: the same behaviour signals and incidents.
    assert duck.incidents, "the campaign should make an incident"
    assert _story(spark) == _story(duck)
    assert spark.stats.records == duck.stats.records
    assert spark.stats.records_failed == duck.stats.records_failed


def test_ingest_then_hunt_the_store_with_either_engine(
    simulated_network: Path, tmp_path: Path
) -> None:
    logs = simulated_network / "logs"
    store = tmp_path / "store"
    runner = CliRunner()
    got = runner.invoke(cli, ["ingest", str(logs), "--to", str(store), "--workers", "1"])
    assert got.exit_code == 0, got.output
    again = runner.invoke(cli, ["ingest", str(logs), "--to", str(store)])
    assert again.exit_code == 2 and "already holds a case store" in again.output
    direct = _hunt([logs], "duckdb")
    from_store = run_hunt(HuntConfig(case=store, engine="duckdb"))
    on_spark = run_hunt(HuntConfig(case=store, engine="spark", engine_options=spark_options()))
    assert _identity(from_store) == _identity(direct)
    assert _identity(on_spark) == _identity(direct)
    assert from_store.stats.records == direct.stats.records == on_spark.stats.records
    assert on_spark.stats.files == direct.stats.files


def test_reading_on_the_executors_counts_every_record(
    simulated_network: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    store = tmp_path / "store"
    args = ["ingest", str(simulated_network / "logs"), "--to", str(store), "--engine", "spark"]
    got = runner.invoke(cli, [*args, "--spark-master", SPARK_OPTIONS.master])
    assert got.exit_code == 0, got.output
    local = tmp_path / "local"
    runner.invoke(cli, ["ingest", str(simulated_network / "logs"), "--to", str(local)])
    remote = run_hunt(HuntConfig(case=store, engine="duckdb"))
    here = run_hunt(HuntConfig(case=local, engine="duckdb"))
    assert remote.stats.records == here.stats.records > 0
    assert _identity(remote) == _identity(here)


def _evaluated(events: list[dict], rules: list) -> tuple[Any, Any]:
    """The Spark engine's evaluation of ``rules`` on ``events`` (each rule as Spark SQL:
    no twins), and its matched events."""
    import tempfile

    from lotlhunt.engines import create_engine
    from lotlhunt.hunt import read_into

    engine = create_engine("spark", options=spark_options())
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "e.jsonl"
            path.write_text("".join(json.dumps(e) + "\n" for e in events))
            read_into(engine, [path])
            evaluation = engine.evaluate(rules)
            return evaluation, engine.matched_events(evaluation.matches)
    finally:
        engine.close()


def test_a_rule_spark_cannot_run_fails_alone() -> None:
    good = conformance.rule(conformance.sel(**{"CommandLine|contains": "whoami"}))
    # RE2 reads this quantifier as literal text; Java refuses the pattern.
    bad = conformance.rule(conformance.sel(**{"CommandLine|re": "who{,3}ami"}))
    bad["id"] = "00000000-0000-4000-8000-00000000000b"
    rules = [compile_rules(good, SPARK).rules[0], compile_rules(bad, SPARK).rules[0]]
    events = [conformance.proc(CommandLine="whoami /all")]
    evaluation, _ = _evaluated(events, rules)
    assert [i for i, _ in evaluation.failed] == [1]
    assert evaluation.matches.column("rule").to_pylist() == [0]


def test_a_broken_rule_among_many_of_one_pass_hides_none_of_the_others() -> None:
    """Rules of two slices of one channel share a job; when it fails, halves run again
    until the broken rule fails alone, and every other rule keeps its matches."""
    words = ["whoami", "net", "ipconfig", "tasklist", "systeminfo", "hostname", "quser"]
    docs = []
    for n, word in enumerate(words):
        doc = conformance.rule(conformance.sel(**{"CommandLine|contains": word}))
        doc["id"] = f"00000000-0000-4000-8000-0000000001{n:02d}"
        docs.append(doc)
    bad = conformance.rule(conformance.sel(**{"CommandLine|re": "who{,3}ami"}))
    bad["id"] = "00000000-0000-4000-8000-00000000020b"
    docs.insert(3, bad)
    network = conformance.rule(
        conformance.sel(**{"Image|endswith": "\\whoami.exe"}),
        {"product": "windows", "category": "network_connection"},
    )
    network["id"] = "00000000-0000-4000-8000-00000000030c"
    docs.append(network)
    rules = [compile_rules(d, SPARK).rules[0] for d in docs]
    events = [
        conformance.proc(CommandLine=f"{w} /all", Image="C:\\Windows\\whoami.exe") for w in words
    ]
    # A network connection whose command line would match the process rules: each
    # rule sees only its own slice's events.
    events.append({**conformance.NETWORK, "Image": "C:\\Windows\\whoami.exe", "CommandLine": "net"})
    evaluation, fired = _evaluated(events, rules)
    assert [i for i, _ in evaluation.failed] == [3]
    by_rule: dict[int, int] = {}
    for r in fired.column("rule").to_pylist():
        by_rule[r] = by_rule.get(r, 0) + 1
    # Each word's rule fires on its own process only (not on the network connection
    # whose command line says "net"), the network rule on the connection only.
    assert by_rule == {0: 1, 1: 1, 2: 1, 4: 1, 5: 1, 6: 1, 7: 1, 8: 1}


Match = tuple[str, str, int, str, tuple[str, ...]]


def _matches(
    engine_name: str, files: list[Path], rule_paths: list[Path]
) -> tuple[set[Match], set[str]]:
    """(rule id, source, position, fields shown, selections that held) of every match of
    the rules on ``files`` (what a hunter reads of a detection, engine aside), and the
    ids of the rules the engine could not run."""
    from lotlhunt.analytics.explain import explain_matches
    from lotlhunt.engines import ENGINES, create_engine
    from lotlhunt.events import schema
    from lotlhunt.hunt import read_into
    from lotlhunt.rules.loader import load_rules

    ruleset = load_rules(rule_paths, dialect=ENGINES[engine_name].dialect)
    options = spark_options() if engine_name == "spark" else EngineOptions()
    engine = create_engine(engine_name, options=options)
    try:
        if engine_name == "spark":
            # As a hunt does: the rules' DuckDB twins, run per field on the executors.
            engine.set_twins(load_rules(rule_paths, dialect=DUCKDB).rules)  # type: ignore[attr-defined]
        read_into(engine, files, workers=2)
        evaluation = engine.evaluate(ruleset.rules)
        if engine_name == "spark":
            assert engine.by_field_rules  # type: ignore[attr-defined]
        events = engine.matched_events(evaluation.matches)
        explained = explain_matches(engine, ruleset.rules, evaluation.matches)
    finally:
        engine.close()
    columns = ("rule", "rid", schema.SOURCE, schema.POSITION)
    out = set()
    for r, rid, src, pos in zip(*(events.column(c).to_pylist() for c in columns), strict=True):
        fields, held = explained[(r, rid)]
        out.add((ruleset.rules[r].id, src, pos, json.dumps(fields, sort_keys=True), held))
    return out, {ruleset.rules[i].id for i, _ in evaluation.failed}


def _alike(duck: tuple[set[Match], set[str]], spark: tuple[set[Match], set[str]]) -> None:
    """The same matches, explained alike, but for the few rules Spark cannot run: Java's
    regular expressions refuse a few RE2 patterns, and such a rule fails alone, reported
    (never silently without its matches)."""
    (duck_hits, duck_failed), (spark_hits, spark_failed) = duck, spark
    assert not duck_failed
    assert len(spark_failed) <= 5, sorted(spark_failed)
    assert {m for m in duck_hits if m[0] not in spark_failed} == spark_hits


@pytest.mark.corpus
@pytest.mark.slow
def test_sigma_regression_cases_alike() -> None:
    from corpus import require_corpus
    from test_corpus_regression import RULE_FOLDERS, load_cases

    sigma = require_corpus("sigma")
    cases = load_cases(require_corpus("sigma-regression"))
    files = sorted({c.evtx for c in cases})
    rules = [sigma / f for f in RULE_FOLDERS if (sigma / f).exists()]
    duck = _matches("duckdb", files, rules)
    assert len(duck[0]) > 100
    _alike(duck, _matches("spark", files, rules))


@pytest.mark.corpus
@pytest.mark.slow
def test_attack_samples_with_every_windows_rule_alike() -> None:
    from corpus import require_corpus
    from lotlhunt.rules.loader import bundled_rules_dir
    from test_corpus_regression import RULE_FOLDERS

    samples = require_corpus("evtx-attack-samples")
    sigma = require_corpus("sigma")
    rules = [bundled_rules_dir(), *(sigma / f for f in RULE_FOLDERS if (sigma / f).exists())]
    duck = _matches("duckdb", [samples], rules)
    assert len(duck[0]) > 1000
    _alike(duck, _matches("spark", [samples], rules))


def test_small_cases_are_interpreted_and_the_settings_restored() -> None:
    from lotlhunt.engines import create_engine
    from lotlhunt.engines.spark.session import SparkOptions, interpreted

    engine = create_engine("spark", options=spark_options())
    try:
        spark = engine.spark
        assert engine.interprets  # an empty case: compiling rules would not pay
        spark.conf.set("spark.sql.codegen.wholeStage", "true")
        spark.conf.unset("spark.sql.codegen.factoryMode")
        with interpreted(spark):
            assert spark.conf.get("spark.sql.codegen.wholeStage") == "false"
            assert spark.conf.get("spark.sql.codegen.factoryMode") == "NO_CODEGEN"
        assert spark.conf.get("spark.sql.codegen.wholeStage") == "true"
        assert spark.conf.get("spark.sql.codegen.factoryMode", None) is None
    finally:
        engine.close()
    own = SparkOptions(
        master=SPARK_OPTIONS.master,
        conf=(*SPARK_OPTIONS.conf, ("spark.sql.codegen.wholeStage", "true")),
    )
    engine = create_engine("spark", options=EngineOptions(spark=own))
    try:
        assert not engine.interprets  # the user's own setting wins
    finally:
        engine.close()
