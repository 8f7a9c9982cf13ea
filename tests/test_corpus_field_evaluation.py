"""Per-field evaluation gives the detections of each rule's own SQL on real logs.

The EVTX attack samples and the Mordor datasets with every SigmaHQ rule folder, and a
simulated Volt Typhoon campaign: each loaded once, evaluated both ways, the matches
(rule, event) compared as sets.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from corpus import require_corpus
from lotlhunt.engines.duckdb.engine import DuckDBEngine
from lotlhunt.hunt import read_into
from lotlhunt.rules.loader import load_rules
from lotlhunt.simulate import LOGS_DIR, simulate_volt_typhoon
from match_pairs import pairs as _pairs

pytestmark = pytest.mark.corpus

FOLDERS = ("rules", "rules-emerging-threats", "rules-threat-hunting", "rules-placeholder")


def _both_ways(logs: list[Path]) -> tuple[set[tuple[int, int]], set[tuple[int, int]]]:
    sigma = require_corpus("sigma")
    rules = load_rules([sigma / f for f in FOLDERS if (sigma / f).exists()]).rules
    engine = DuckDBEngine()
    try:
        read_into(engine, logs)
        by_field = engine.evaluate(rules)
        engine.options = dataclasses.replace(engine.options, by_field=False)
        by_sql = engine.evaluate(rules)
    finally:
        engine.close()
    assert by_field.failed == by_sql.failed
    return _pairs(by_field.matches), _pairs(by_sql.matches)


def test_attack_samples() -> None:
    by_field, by_sql = _both_ways([require_corpus("evtx-attack-samples")])
    assert by_field == by_sql
    assert len(by_field) > 1000


def test_mordor() -> None:
    by_field, by_sql = _both_ways([require_corpus("mordor")])
    assert by_field == by_sql
    assert by_field


def test_simulated_campaign(tmp_path: Path) -> None:
    simulate_volt_typhoon(tmp_path, hosts=14, days=3, seed=7)
    by_field, by_sql = _both_ways([tmp_path / LOGS_DIR])
    assert by_field == by_sql
    assert by_field
