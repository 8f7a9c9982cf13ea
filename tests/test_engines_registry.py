"""The engine registry: what is registered, how a hunt picks an engine, and what a user
hears when the engine asked for cannot run here."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from lotlhunt.cli import cli
from lotlhunt.engines import DEFAULT_ENGINE, ENGINES, create_engine
from lotlhunt.engines import spark as spark_engine
from lotlhunt.engines.base import Engine, EngineOptions
from lotlhunt.errors import UsageError
from lotlhunt.hunt import HuntConfig, run_hunt


def test_duckdb_is_the_default_and_meets_the_protocol() -> None:
    assert DEFAULT_ENGINE == "duckdb" and ENGINES["duckdb"].disabled is None
    engine = create_engine(options=EngineOptions(memory_limit="256MB"))
    try:
        assert isinstance(engine, Engine)  # every member of the protocol is there
        assert engine.options.memory_limit == "256MB"
    finally:
        engine.close()


def test_spark_is_registered_disabled_only_without_pyspark(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from importlib.util import find_spec

    entry = ENGINES["spark"]
    assert entry.dialect.name == "spark"
    assert entry.disabled == (None if find_spec("pyspark") else spark_engine.MISSING)
    monkeypatch.setitem(ENGINES, "spark", replace(entry, disabled=spark_engine.MISSING))
    with pytest.raises(UsageError, match="pip install 'lotlhunt\\[spark\\]'"):
        create_engine("spark")


def test_spark_without_pyspark_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spark_engine, "find_spec", lambda name: None)
    assert "pip install 'lotlhunt[spark]'" in spark_engine.disabled_reason()


def test_unknown_engine_is_a_usage_error_listing_the_registered_ones(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="registered: duckdb, spark"):
        create_engine("nosuch")
    with pytest.raises(UsageError, match="nosuch"):
        run_hunt(HuntConfig(paths=[tmp_path], default_rules=False, engine="nosuch"))


@pytest.mark.parametrize(
    ("name", "said"), [("nosuch", "registered: duckdb, spark"), ("spark", "not available")]
)
def test_hunt_refuses_an_engine_it_cannot_use(
    tmp_path: Path, name: str, said: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    spark = ENGINES["spark"]
    monkeypatch.setitem(ENGINES, "spark", replace(spark, disabled=spark_engine.MISSING))
    result = CliRunner().invoke(cli, ["hunt", str(tmp_path), "--engine", name])
    assert result.exit_code == 2
    assert said in result.output


def test_hunt_help_lists_the_registered_engines() -> None:
    result = CliRunner().invoke(cli, ["hunt", "--help"])
    assert result.exit_code == 0
    assert "duckdb" in result.output and "spark" in result.output


def test_memory_limit_comes_from_the_environment_once() -> None:
    assert EngineOptions.from_env({"LOTLHUNT_MEMORY_LIMIT": "300MB"}).memory_limit == "300MB"
    assert EngineOptions.from_env({}) == EngineOptions()


def test_events_as_parts_are_decided_by_the_environment_once_else_by_size() -> None:
    assert EngineOptions().parts is None  # by the inputs' size
    assert EngineOptions.from_env({}).parts is None
    assert EngineOptions.from_env({"LOTLHUNT_EVENT_PARTS": "0"}).parts is False
    assert EngineOptions.from_env({"LOTLHUNT_EVENT_PARTS": "1"}).parts is True
    assert EngineOptions.from_env({"LOTLHUNT_EVENT_PARTS": "no"}).parts is False
    both = EngineOptions.from_env({"LOTLHUNT_EVENT_PARTS": "yes", "LOTLHUNT_MEMORY_LIMIT": "1GB"})
    assert (both.parts, both.memory_limit) == (True, "1GB")


def test_workers_bound_the_engines_threads_unless_the_options_say() -> None:
    # ``--workers N`` is the hunt's share of the cores: the readers and the engine's
    # threads. Left unset, the engine takes every core; set in the options, they win.
    from lotlhunt.hunt import engine_options

    assert engine_options(HuntConfig(workers=1)).threads == 1
    assert engine_options(HuntConfig(workers=2)).threads == 2
    assert engine_options(HuntConfig()).threads is None
    told = HuntConfig(workers=1, engine_options=replace(EngineOptions(), threads=3))
    assert engine_options(told).threads == 3
    engine = create_engine("duckdb", options=engine_options(HuntConfig(workers=1)))
    try:
        assert engine.threads == 1  # type: ignore[attr-defined]
    finally:
        engine.close()
