"""Analytics steps rewritten to read fewer columns or take fewer rows, against the plain
versions they replaced as oracles: the logs sorted for holes and silences, an incident's
context, and the detection times of the JSON lines. Generated data with NULL record
numbers, the same log read twice, channels in several cases, host keys holding ``|``."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from lotlhunt.analytics import frame as F
from lotlhunt.analytics import tracks
from lotlhunt.analytics.explain import _details
from lotlhunt.analytics.frame import HK, TS, key_ids
from lotlhunt.analytics.incidents import Context
from lotlhunt.detections import iso_times
from lotlhunt.events import schema
from lotlhunt.model import Signal, SignalKind
from lotlhunt.reports.console import host_counts

T0 = datetime(2024, 3, 1, tzinfo=UTC)
CHANNELS = ("Security", "security", "System", None, "Microsoft-Windows-Sysmon/Operational")
HOSTS = ("WS01.corp.local", "ws01", "dc|01", "FS02", None)


def _core(rng: random.Random, n: int) -> pa.Table:
    rows: list[dict[str, object]] = []
    for k in range(n):
        if rows and rng.random() < 0.1:  # the same event read again (another input)
            rows.append(dict(rng.choice(rows), position=k))
            continue
        rows.append(
            {
                "timestamp": None
                if rng.random() < 0.05
                else T0 + timedelta(minutes=rng.randrange(0, 3000)),
                "host": rng.choice(HOSTS),
                "channel": rng.choice(CHANNELS),
                "provider": rng.choice(("p", None)),
                "event_id": rng.choice((1, 4624, 4688, None)),
                "record_id": None if rng.random() < 0.2 else rng.randrange(1, 400),
                "source": rng.choice(("a.evtx", "b.json")),
                "position": k,
            }
        )
    fields = schema.CORE_FIELDS
    table = pa.table({f.name: pa.array([r[f.name] for r in rows], f.type) for f in fields})
    return F._base(table.append_column(F.ROW, pa.array(range(n), pa.int64())))


def _sorted_logs_oracle(core: pa.Table) -> tuple[pa.Table, np.ndarray]:
    """The rows with a record number filtered first, then sorted: as it was written."""
    t = core.filter(pc.is_valid(core.column(schema.RECORD_ID)))
    if t.num_rows == 0:
        return t.select([*schema.CORE_COLUMNS, TS, HK]), np.zeros(0, np.int64)
    log = key_ids(t.column(HK), pc.utf8_lower(pc.fill_null(t.column(schema.CHANNEL), "")))
    rec = t.column(schema.RECORD_ID).to_numpy().astype(np.int64)
    order = np.lexsort((rec, log))
    log, rec = log[order], rec[order]
    keep = np.r_[True, (log[1:] != log[:-1]) | (rec[1:] != rec[:-1])]
    return t.select([*schema.CORE_COLUMNS, TS, HK]).take(pa.array(order[keep])), log[keep]


@pytest.mark.parametrize("seed", range(8))
def test_sorted_logs_take_the_rows_the_filtered_table_gave(seed: int) -> None:
    rng = random.Random(seed)
    core = _core(rng, rng.randrange(1, 400))
    if seed == 0:  # every record numbered: nothing to leave out
        core = core.filter(pc.is_valid(core.column(schema.RECORD_ID)))
    got, log = tracks.sorted_logs(core)
    want, want_log = _sorted_logs_oracle(core)
    assert got.column_names == want.column_names
    for name in got.column_names:
        assert got.column(name).to_pylist() == want.column(name).to_pylist(), name
    assert log.tolist() == want_log.tolist()


def test_sorted_logs_of_events_without_record_numbers_are_empty() -> None:
    core = _core(random.Random(3), 50)
    core = core.set_column(
        core.schema.get_field_index(schema.RECORD_ID),
        schema.RECORD_ID,
        pa.nulls(core.num_rows, pa.int64()),
    )
    got, log = tracks.sorted_logs(core)
    assert got.num_rows == 0 and log.size == 0
    assert got.column_names == [*schema.CORE_COLUMNS, TS, HK]


def _processes(core: pa.Table, rng: random.Random) -> pa.Table:
    sessions = ("0x1a", "0x2b", "x|0x1a", "0xdc", "", None)
    table = core
    for name in ("session", "pguid"):
        table = table.append_column(
            name, pa.array([rng.choice(sessions) for _ in range(core.num_rows)], pa.string())
        )
    return table


def _context_oracle(frames: F.Frames, wanted: set[str]) -> dict[str, list[tuple[int, int, int]]]:
    """Every table's rows whose host and value join into a wanted key, per key."""
    values = pa.array(sorted(wanted))
    logons = frames.logons.filter(
        pc.is_in(frames.logons.column(schema.EVENT_ID), pa.array([4624, 4634, 4647], pa.int32()))
    )
    out: dict[str, list[tuple[int, int, int]]] = {}
    for n, (table, column) in enumerate(
        ((logons, "session"), (frames.processes, "session"), (frames.processes, "pguid"))
    ):
        key = pc.binary_join_element_wise(table.column(HK), table.column(column), "|")
        hit = pc.is_in(key, values)
        found = table.filter(hit)
        for k, ts, position in zip(
            key.filter(hit).to_pylist(),
            found.column(TS).to_pylist(),
            found.column(schema.POSITION).to_pylist(),
            strict=True,
        ):
            out.setdefault(k, []).append((n, ts, position))
    return {k: sorted(v, key=lambda r: r[1]) for k, v in out.items()}


@pytest.mark.parametrize("seed", range(6))
def test_incident_context_finds_the_rows_of_every_wanted_key(seed: int) -> None:
    rng = random.Random(seed)
    core = _core(rng, 300)
    processes = _processes(core, rng)
    logons = processes.set_column(
        processes.schema.get_field_index(schema.EVENT_ID),
        schema.EVENT_ID,
        pa.array([rng.choice((4624, 4634, 4648)) for _ in range(core.num_rows)], pa.int32()),
    )
    empty = core.slice(0, 0)
    frames = F.Frames(processes, logons, empty, empty, empty, core)
    hks = [h for h in set(processes.column(HK).to_pylist()) if h is not None]
    wanted = [f"{h}|{v}" for h in hks for v in ("0x1a", "x|0x1a", "0x2b", "0x9")]
    # A host key and a value holding the separator; "0xdc" wanted only on "dc|01".
    wanted.append("dc|01|0xdc")
    signal = Signal(
        SignalKind.BEHAVIOUR,
        "s",
        "medium",
        "why",
        (),
        keys=tuple(("session" if k % 2 else "process", w) for k, w in enumerate(wanted)),
    )
    context = Context(frames, [signal])
    got = {
        k: [(n, ts, pos) for n, _, ts, (_, pos) in rows] for k, rows in context.rows.items() if rows
    }
    assert got == _context_oracle(frames, set(wanted))
    assert "dc|01|0xdc" in got  # the data holds the key of the host with a "|"


@pytest.mark.parametrize("seed", range(4))
def test_iso_times_write_what_strftime_writes(seed: int) -> None:
    rng = random.Random(seed)
    span = 400 * 365 * 86_400 * 1_000_000
    values = [
        None if rng.random() < 0.1 else rng.randrange(-span, span) + rng.choice((0, 7, 999_999))
        for _ in range(500)
    ]
    values += [0, -1, 253402300799_999_999, 253402300800_000_000, -62135596800_000_000]
    kind = pa.timestamp("us", tz="UTC")
    column = pa.chunked_array([pa.array(values[:200], kind), pa.array(values[200:], kind)])
    want = pc.strftime(column, format="%Y-%m-%dT%H:%M:%SZ").to_pylist()
    assert iso_times(column) == want
    assert iso_times(column.slice(0, 0)) == []


def _details_oracle(
    got: pa.Table, wanted: dict[tuple[str, int], tuple[str, ...]]
) -> dict[int, dict[str, str | None]]:
    """Row by row, every field read for every row: as it was written."""
    shown = sorted({n for names in wanted.values() for n in names})
    columns = {name: got.column(name).to_pylist() for name in shown}
    out: dict[int, dict[str, str | None]] = {}
    for k, (rid, channel, eid) in enumerate(
        zip(
            got.column("rid").to_pylist(),
            got.column(schema.CHANNEL).to_pylist(),
            got.column(schema.EVENT_ID).to_pylist(),
            strict=True,
        )
    ):
        names = wanted.get(((channel or "").lower(), eid))
        if names:
            values = {n: columns[n][k] for n in names if columns[n][k] is not None}
            if values:
                out[rid] = values
    return out


@pytest.mark.parametrize("seed", range(6))
def test_key_fields_read_kind_by_kind_as_row_by_row(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randrange(0, 300)
    names = ("User", "Image", "CommandLine", "TargetUserName")
    wanted = {
        ("security", 4624): ("TargetUserName", "User"),
        ("security", 4688): ("CommandLine",),
        ("microsoft-windows-sysmon/operational", 1): ("Image", "CommandLine", "Image"),
    }
    columns: dict[str, list[object]] = {
        "rid": rng.sample(range(10 * n + 1), n),
        schema.CHANNEL: [rng.choice(CHANNELS) for _ in range(n)],
        schema.EVENT_ID: [rng.choice((1, 4624, 4688, None)) for _ in range(n)],
    }
    for name in names:
        columns[name] = [rng.choice(("a", "", None, "b\\c")) for _ in range(n)]
    types = {"rid": pa.int64(), schema.EVENT_ID: pa.int32()}
    got = pa.table({k: pa.array(v, types.get(k, pa.string())) for k, v in columns.items()})
    details = _details(got, wanted)
    assert details == _details_oracle(got, wanted)
    assert list(details) == list(_details_oracle(got, wanted))  # the same order


def _host_counts_oracle(
    hosts: list[str | None], levels: list[str]
) -> list[tuple[str, list[tuple[str, int]]]]:
    """A Counter per host, one detection at a time: as it was written."""
    out: dict[str, Counter[str]] = {}
    for host, level in zip(hosts, levels, strict=True):
        out.setdefault(host or "?", Counter())[level] += 1
    return [(h, list(c.items())) for h, c in out.items()]


@pytest.mark.parametrize("seed", range(6))
def test_host_counts_of_pairs_keep_the_order_of_one_detection_at_a_time(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randrange(0, 400)
    hosts = [rng.choice(("ws01", "dc01", "", None, "FS02")) for _ in range(n)]
    levels = [rng.choice(("high", "low", "medium", "weird")) for _ in range(n)]
    got = host_counts(hosts, levels)
    assert [(h, list(c.items())) for h, c in got.items()] == _host_counts_oracle(hosts, levels)
