"""How the Spark engine plans its jobs and orders what it returns, without a session.

Slices of the same channels and renames share one pass (one Spark job), each rule
guarded by its own slice's event ids; answers are sorted on the driver with NULL first,
as the engines' SQL orders them. These need pyarrow only (pyspark is imported by the
modules under test only when a session starts).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

pytest.importorskip("pyspark")

from lotlhunt.engines.spark.engine import _sorted  # noqa: E402
from lotlhunt.engines.spark.evaluate import passes  # noqa: E402
from lotlhunt.rules.logsources import Rename, Variant  # noqa: E402

SYSMON = "Microsoft-Windows-Sysmon/Operational"


class _Rule:
    """The part of a compiled rule planning reads."""

    def __init__(self, *fields: str) -> None:
        self.fields = set(fields)


def test_slices_of_one_channel_share_a_pass_each_rule_on_its_own_events() -> None:
    rules = [_Rule("Image"), _Rule("CommandLine"), _Rule("DestinationIp"), _Rule("Payload")]
    groups = [
        (Variant("process_creation", (SYSMON,), (1,)), [0, 1]),
        (Variant("network_connection", (SYSMON,), (3,)), [2]),
        (Variant("ps_module", ("Microsoft-Windows-PowerShell/Operational",), (4103,)), [3]),
    ]
    got = {p.variant.channels: p for p in passes(groups, rules)}  # type: ignore[arg-type]
    assert len(got) == 2
    sysmon = got[(SYSMON,)]
    assert sysmon.variant.event_ids == (1, 3)
    assert sysmon.guards == {0: "__event_id IN (1)", 1: "__event_id IN (1)", 2: "__event_id IN (3)"}
    assert sysmon.fields == {"Image", "CommandLine", "DestinationIp"}
    lone = got[("Microsoft-Windows-PowerShell/Operational",)]
    # A slice alone in its pass needs no guard: the pass reads only its events.
    assert lone.variant.event_ids == (4103,) and lone.guards == {3: None}


def test_a_slice_of_every_event_id_widens_its_pass_and_keeps_no_guard() -> None:
    rules = [_Rule("Image"), _Rule("Data")]
    groups = [
        (Variant("a", ("Security",), (4688,)), [0]),
        (Variant("b", ("Security",), ()), [1]),
    ]
    (only,) = passes(groups, rules)  # type: ignore[arg-type]
    assert only.variant.event_ids == ()
    assert only.guards == {0: "__event_id IN (4688)", 1: None}


def test_slices_whose_fields_resolve_otherwise_never_share_a_pass() -> None:
    rename = (("Image", Rename("same", ("NewProcessName",))),)
    groups = [
        (Variant("a", ("Security",), (4688,), rename), [0]),
        (Variant("b", ("Security",), (4624,)), [1]),
    ]
    got = passes(groups, [_Rule("Image"), _Rule("Image")])  # type: ignore[arg-type]
    assert len(got) == 2
    assert all(g is None for p in got for g in p.guards.values())


def test_answers_are_sorted_with_events_without_a_time_first() -> None:
    t1 = datetime(2024, 1, 1, tzinfo=UTC)
    t2 = datetime(2024, 1, 2, tzinfo=UTC)
    table = pa.table(
        {
            "timestamp": pa.array([t2, None, t1, t1], pa.timestamp("us", tz="UTC")),
            "rule": pa.array([0, 1, 1, 0], pa.int32()),
            "rid": pa.array([9, 8, 7, 6], pa.int64()),
        }
    )
    got = _sorted(table, ["timestamp", "rule", "rid"])
    assert got.column_names == ["timestamp", "rule", "rid"]
    assert got.column("rid").to_pylist() == [8, 6, 7, 9]
    assert _sorted(table, ["rid"]).column("rid").to_pylist() == [6, 7, 8, 9]


def test_a_local_session_gets_a_driver_heap_for_its_executors_unless_told() -> None:
    # In local mode the executors run in the driver's JVM: Spark's 1 GB default ran out
    # of heap at 1 M events, so a local session asks for more; a cluster's, or a user's
    # own setting, is left alone, and the user's settings come last (they win).
    from lotlhunt.engines.spark.session import LOCAL_DRIVER_MEMORY, SparkOptions, session_conf

    local = dict(session_conf(SparkOptions()))
    assert local["spark.driver.memory"] == LOCAL_DRIVER_MEMORY
    assert local["spark.sql.session.timeZone"] == "UTC"
    told = session_conf(SparkOptions(conf=(("spark.driver.memory", "12g"),)))
    assert [v for k, v in told if k == "spark.driver.memory"] == ["12g"]
    cluster = dict(session_conf(SparkOptions(master="spark://head:7077")))
    assert "spark.driver.memory" not in cluster
