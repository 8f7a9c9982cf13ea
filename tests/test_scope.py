"""Event and rule scopes: parsing, the Arrow mask readers apply, the SQL the engine
applies, and that both keep exactly the same events."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from lotlhunt.engines.duckdb import DuckDBEngine
from lotlhunt.errors import UsageError
from lotlhunt.events import schema
from lotlhunt.scope import EventScope, RuleScope, glob_regex, parse_when

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def test_times_parse_as_iso_or_back_from_now() -> None:
    assert parse_when("7d", NOW) == NOW - timedelta(days=7)
    assert parse_when("12h", NOW) == NOW - timedelta(hours=12)
    assert parse_when("30M", NOW) == NOW - timedelta(minutes=30)
    assert parse_when("2w", NOW) == NOW - timedelta(weeks=2)
    assert parse_when("2026-03-01") == datetime(2026, 3, 1, tzinfo=UTC)
    assert parse_when("2026-03-01T10:00Z") == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert parse_when("2026-03-01T12:00+02:00") == datetime(2026, 3, 1, 10, tzinfo=UTC)
    with pytest.raises(UsageError, match="not a time"):
        parse_when("yesterday")
    with pytest.raises(UsageError, match="not before"):
        EventScope.parse("2026-03-02", "2026-03-01")


def test_host_globs_match_whole_names_in_any_case() -> None:
    import re

    assert re.match(glob_regex("dc0?.corp*"), "DC01.corp.local")
    assert not re.match(glob_regex("dc0?"), "dc01.corp.local")
    assert re.match(glob_regex("web[1]"), "web[1]")  # brackets are themselves
    assert not re.match(glob_regex("web[1]"), "web1")


def events(n: int, seed: int = 3) -> pa.Table:
    """Generated events: times over ten days, hosts of several spellings, some NULLs."""
    rng = random.Random(seed)
    hosts = ["DC01.corp.local", "dc02.corp.local", "WS-17", "web01", None]
    start = datetime(2026, 3, 1, tzinfo=UTC)
    times = [
        None if rng.random() < 0.05 else start + timedelta(minutes=rng.randrange(14400))
        for _ in range(n)
    ]
    return pa.table(
        {
            schema.TIMESTAMP: pa.array(times, pa.timestamp("us", tz="UTC")),
            schema.HOST: pa.array([rng.choice(hosts) for _ in range(n)], pa.string()),
            schema.CHANNEL: pa.array(["Security"] * n, pa.string()),
            schema.EVENT_ID: pa.array(
                [rng.choice([4624, 4625, 4688, None]) for _ in range(n)], pa.int32()
            ),
            schema.RECORD_ID: pa.array(range(n), pa.int64()),
            "Data": pa.array([f"v{i}" for i in range(n)], pa.string()),
        }
    )


def globbed(glob: str, host: str) -> bool:
    """The host test written independently: a glob is its characters, ``*`` any run."""
    import re

    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob]
    return re.fullmatch("".join(parts), host, re.IGNORECASE | re.DOTALL) is not None


SCOPES = [
    EventScope(),
    EventScope(since=datetime(2026, 3, 4, tzinfo=UTC)),
    EventScope(until=datetime(2026, 3, 4, tzinfo=UTC)),
    EventScope(since=datetime(2026, 3, 2, tzinfo=UTC), until=datetime(2026, 3, 3, tzinfo=UTC)),
    EventScope(hosts=("dc0*",)),
    EventScope(hosts=("ws-??", "WEB01")),
    EventScope(event_ids=frozenset({4624, 4625})),
    EventScope(
        since=datetime(2026, 3, 2, tzinfo=UTC), hosts=("*corp*",), event_ids=frozenset({4688})
    ),
]


@pytest.mark.parametrize("scope", SCOPES, ids=lambda s: s.describe())
def test_readers_and_engine_keep_the_same_events(scope: EventScope) -> None:
    table = events(3000)
    batch = table.to_batches()[0]
    kept = scope.apply(batch)
    expected = sorted(kept.column(schema.RECORD_ID).to_pylist())
    # The oracle: the same test written out in Python, row by row.
    rows = table.to_pylist()
    oracle = sorted(
        r[schema.RECORD_ID]
        for r in rows
        if (not scope.since or (r["timestamp"] and r["timestamp"] >= scope.since))
        and (not scope.until or (r["timestamp"] and r["timestamp"] < scope.until))
        and (not scope.hosts or (r["host"] and any(globbed(g, r["host"]) for g in scope.hosts)))
        and (not scope.event_ids or r["event_id"] in scope.event_ids)
    )
    assert expected == oracle
    engine = DuckDBEngine()
    try:
        engine.ingest(batch)
        assert engine.count_events(scope) == len(oracle)
    finally:
        engine.close()
    if scope.active:
        assert 0 < len(oracle) < table.num_rows


def test_a_batch_without_the_tested_column_keeps_nothing() -> None:
    batch = pa.record_batch({"Data": pa.array(["x", "y"])})
    assert EventScope(hosts=("a",)).apply(batch).num_rows == 0
    assert EventScope(event_ids=frozenset({1})).apply(batch).num_rows == 0
    assert EventScope().apply(batch) is batch


def test_rule_scope_by_level_and_tag_prefix() -> None:
    scope = RuleScope(min_level="high")
    assert scope.admits("critical", ()) and scope.admits("high", ())
    assert not scope.admits("medium", ()) and not scope.admits(None, ())
    tags = RuleScope(tags=("attack.t1003",))
    assert tags.admits("low", ("attack.credential-access", "attack.T1003.001"))
    assert not tags.admits("low", ("attack.t1021",))
    with pytest.raises(UsageError):
        RuleScope(min_level="severe")
