"""Helpers for testing rules: run a Sigma rule over a few events, end to end.

Events are flat dicts in the flattened-export form (``Channel``, ``EventID``,
``SourceName``, ``Hostname`` plus any fields), written to a JSON-lines file and read back
through the real reader, so a rule test exercises the same path a hunt does.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from sigma.collection import SigmaCollection

from .engines import DEFAULT_ENGINE, create_engine
from .engines.base import Engine, EngineOptions
from .events import schema
from .rules.compile.backend import SqlBackend
from .rules.compile.dialect import DUCKDB, Dialect
from .rules.compiling import load_collection
from .rules.model import CompiledRule, RuleSet


def compile_rules(rule: Mapping[str, Any] | str, dialect: Dialect = DUCKDB) -> RuleSet:
    """Compile one rule (dict or YAML text, possibly several documents) in ``dialect``."""
    if isinstance(rule, str):
        collection = SigmaCollection.from_yaml(rule, collect_errors=True)
    else:
        collection = SigmaCollection.from_dicts([dict(rule)], collect_errors=True)
    return load_collection(collection, Path("<test>"), SqlBackend(dialect))


def load_events(engine: Engine, events: Sequence[Mapping[str, Any]], folder: Path) -> None:
    from .hunt import read_into

    path = folder / "events.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for event in events:
            out.write(json.dumps(event, ensure_ascii=False) + "\n")
    read_into(engine, [path])


def rule_matches(
    rule: Mapping[str, Any] | str,
    events: Sequence[Mapping[str, Any]],
    options: EngineOptions | None = None,
) -> list[bool]:
    """Whether ``rule`` fires on each of ``events`` (one bool per event, in order), on
    an engine tuned by ``options``."""
    ruleset = compile_rules(rule)
    if ruleset.failed or not ruleset.rules:
        reasons = [str(i) for i in ruleset.failed] or ["no rule compiled"]
        raise ValueError("rule does not compile: " + "; ".join(reasons))
    return [bool(fired) for fired in rules_fired(ruleset.rules, events, options=options)]


def rules_fired(
    rules: Sequence[CompiledRule],
    events: Sequence[Mapping[str, Any]],
    engine: str = DEFAULT_ENGINE,
    options: EngineOptions | None = None,
) -> list[set[int]]:
    """For each of ``events``, the indexes of the ``rules`` that fire on it (run by the
    registered ``engine``, tuned by ``options``)."""
    with tempfile.TemporaryDirectory() as tmp:
        hunt = create_engine(engine, options=options)
        try:
            load_events(hunt, events, Path(tmp))
            evaluation = hunt.evaluate(rules)
            if evaluation.failed:
                raise ValueError(f"rule failed to run: {evaluation.failed}")
            pairs = evaluation.matches.to_pylist()
            rows = hunt.event_rows(sorted({p["rid"] for p in pairs}), [schema.POSITION])
            rids = rows.column("rid").to_pylist()
            position = dict(zip(rids, rows.column(schema.POSITION).to_pylist(), strict=True))
        finally:
            hunt.close()
    out: list[set[int]] = [set() for _ in events]
    for pair in pairs:
        out[position[pair["rid"]] - 1].add(pair["rule"])
    return out


def write_yaml(path: Path, *docs: Any) -> Path:
    """Write YAML documents (rules, filters, settings) to ``path``, making its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all(list(docs), sort_keys=False), "utf-8")
    return path


def rule_yaml(**parts: Any) -> str:
    """A small rule document from keyword parts, for inline tests."""
    doc = {"title": "test rule", "id": "00000000-0000-4000-8000-000000000000", "level": "high"}
    doc.update(parts)
    return yaml.safe_dump(doc, sort_keys=False)
