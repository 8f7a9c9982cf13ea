"""SigmaHQ's regression cases: the named rule must fire on its case's EVTX and JSON twin.

All cases are hunted together (one engine per format, all SigmaHQ rules), then each case
checks that its rule matched events from its own file, at least ``match_count`` times.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from corpus import require_corpus as corpus
from lotlhunt.engines.duckdb.engine import DuckDBEngine
from lotlhunt.hunt import read_into
from lotlhunt.rules.loader import RuleSet, load_rules

pytestmark = pytest.mark.corpus

RULE_FOLDERS = ("rules", "rules-emerging-threats", "rules-threat-hunting", "rules-placeholder")
PASS_RATE = 0.95


@dataclass(frozen=True)
class Case:
    name: str
    rule_id: str
    evtx: Path
    match_count: int | None


def load_cases(root: Path) -> list[Case]:
    cases = []
    for info in sorted(root.rglob("info.yml")):
        doc = yaml.safe_load(info.read_text("utf-8"))
        rule_id = doc["rule_metadata"][0]["id"]
        for test in doc.get("regression_tests_info", []):
            rel = test["path"].removeprefix("regression_data/")
            cases.append(
                Case(
                    info.parent.name,
                    rule_id,
                    root / "regression_data" / rel,
                    test.get("match_count"),
                )
            )
    return cases


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    sigma = corpus("sigma")
    return load_rules([sigma / f for f in RULE_FOLDERS if (sigma / f).exists()])


def hunt_counts(files: list[Path], ruleset: RuleSet) -> Counter[tuple[str, str]]:
    """(source file, rule id) -> number of matching events, from one hunt over all files."""
    engine = DuckDBEngine()
    read_into(engine, files, workers=2)
    evaluation = engine.evaluate(ruleset.rules)
    engine.con.register("m", evaluation.matches)
    rows = engine.con.execute(
        "SELECT e.source, m.rule, count(*) FROM m JOIN events e ON e.__rid = m.rid GROUP BY 1, 2"
    ).fetchall()
    engine.close()
    return Counter({(src, ruleset.rules[r].id): n for src, r, n in rows})


@pytest.mark.parametrize("fmt", ["evtx", "json"])
def test_regression_cases_fire(fmt: str, ruleset: RuleSet) -> None:
    cases = load_cases(corpus("sigma-regression"))
    assert len(cases) >= 100
    files = [c.evtx if fmt == "evtx" else c.evtx.with_suffix(".json") for c in cases]
    counts = hunt_counts(files, ruleset)
    compiled = {r.id for r in ruleset.rules}
    over: list[str] = []
    failures, exact, counted = [], 0, sum(1 for c in cases if c.match_count is not None)
    for case, path in zip(cases, files, strict=True):
        n = counts.get((str(path), case.rule_id), 0)
        need = case.match_count or 1
        if n < need:
            why = "rule did not compile" if case.rule_id not in compiled else f"{n} < {need}"
            failures.append(f"{case.name}: {why}")
        elif case.match_count is not None and n == case.match_count:
            exact += 1
        elif case.match_count is not None:
            over.append(f"{case.name}: {n} > {case.match_count}")
    rate = 1 - len(failures) / len(cases)
    print(
        f"\n{fmt}: {len(cases) - len(failures)}/{len(cases)} cases fire ({rate:.1%}); "
        f"{exact} of {counted} cases with a match_count match it exactly"
    )
    for f in failures:
        print("  FAIL", f)
    for o in over:
        print("  more matches than match_count:", o)
    assert rate >= PASS_RATE, failures
