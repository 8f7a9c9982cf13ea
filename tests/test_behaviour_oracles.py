"""Behaviour analytics rewritten as columns, against the versions they replaced as
oracles: key ids compacted once, accounts judged per distinct value, a baseline's
history per host code, unique process runs kept by a mask, parent -> child pairs joined
per distinct pair. Generated data with NULLs, names holding the pair's separator, hosts
in several spellings, and enough distinct values to make the key ids compact midway."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from lotlhunt.analytics import frame as F
from lotlhunt.analytics import hours, processes, tracks
from lotlhunt.analytics.baseline import (
    MIN_FLEET,
    MIN_HISTORY_US,
    Baseline,
    _human,
    behaviour,
    first_rows,
    human,
    session_key,
)
from lotlhunt.analytics.frame import HK, TS, key_ids, np_col
from lotlhunt.events import schema
from lotlhunt.model import Signal

T0 = datetime(2024, 3, 1, tzinfo=UTC)
HOSTS = ("WS01.corp.local", "ws01", "dc01", "FS02", "srv$", "web01")
CHANNELS = ("Security", "security", "Microsoft-Windows-Sysmon/Operational")
NAMES = ("cmd.exe", "a -> b.exe", "b.exe", "powershell.exe", "wmiprvse.exe", "x.exe", "")
ACCOUNTS = ("CORP\\alice", "NT AUTHORITY\\SYSTEM", "CORP\\WS01$", "bob", "", "DWM-1", None)


def _key_ids_oracle(*arrays: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Codes compacted by ``np.unique`` after every array, as written before."""
    combined: np.ndarray | None = None
    for a in arrays:
        if isinstance(a, pa.ChunkedArray):
            a = a.combine_chunks() if a.num_chunks != 1 else a.chunk(0)
        if not pa.types.is_dictionary(a.type):
            a = pc.dictionary_encode(pc.fill_null(a, "") if pa.types.is_string(a.type) else a)
        codes = np.asarray(pc.fill_null(a.indices, -1).to_numpy(zero_copy_only=False), np.int64) + 1
        size = len(a.dictionary) + 1
        combined = codes if combined is None else combined * size + codes
        combined = np.unique(combined, return_inverse=True)[1].astype(np.int64)
    return combined if combined is not None else np.zeros(0, np.int64)


@pytest.mark.parametrize("seed", range(8))
def test_key_ids_rank_combinations_as_compacting_after_every_array(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randrange(0, 3000)
    wide = rng.randrange(2, 40000)  # many distinct values: compacted midway
    arrays: list[pa.Array | pa.ChunkedArray] = [
        pa.array([rng.choice((*HOSTS, None)) for _ in range(n)], pa.string()),
        pa.array([rng.randrange(wide) if rng.random() > 0.05 else None for _ in range(n)]),
        pa.chunked_array(
            [
                pa.array([f"v{rng.randrange(wide)}" for _ in range(n // 2)], pa.string()),
                pa.array([f"v{rng.randrange(wide)}" for _ in range(n - n // 2)], pa.string()),
            ]
        ),
        pc.dictionary_encode(pa.array([rng.choice(NAMES) for _ in range(n)], pa.string())),
        pa.array([rng.randrange(wide) for _ in range(n)], pa.int64()),
        pa.array([rng.randrange(wide) for _ in range(n)], pa.int64()),
    ]
    for k in range(1, len(arrays) + 1):
        got = key_ids(*arrays[:k])
        assert got.tolist() == _key_ids_oracle(*arrays[:k]).tolist()
        assert got.dtype == np.int64


def test_key_ids_of_nothing_are_empty() -> None:
    assert key_ids().size == 0
    assert key_ids(pa.array([], pa.string())).size == 0


@pytest.mark.parametrize("seed", range(4))
def test_human_judged_per_distinct_account_as_per_row(seed: int) -> None:
    rng = random.Random(seed)
    accounts = pa.array([rng.choice(ACCOUNTS) for _ in range(500)], pa.string())
    assert human(accounts).to_pylist() == _human(accounts).to_pylist()
    chunked = pa.chunked_array([accounts.slice(0, 200), accounts.slice(200)])
    assert pa.chunked_array(human(chunked)).to_pylist() == _human(accounts).to_pylist()


def _core(rng: random.Random, n: int) -> pa.Table:
    rows = [
        {
            "timestamp": T0 + timedelta(minutes=rng.randrange(0, 4000)),
            "host": rng.choice(HOSTS),
            "channel": rng.choice(CHANNELS),
            "provider": "p",
            "event_id": rng.choice((1, 4688)),
            "record_id": k + 1,
            "source": rng.choice(("a.evtx", "b.json")),
            "position": k,
        }
        for k in range(n)
    ]
    fields = schema.CORE_FIELDS
    table = pa.table({f.name: pa.array([r[f.name] for r in rows], f.type) for f in fields})
    return F._base(table.append_column(F.ROW, pa.array(range(n), pa.int64())))


def _seasoned_oracle(
    base: Baseline, hks: np.ndarray, ts: np.ndarray, channels: np.ndarray | None
) -> np.ndarray:
    never = 1 << 62
    if len(hks) == 0:
        return np.zeros(0, bool)
    distinct, inverse = np.unique(hks.astype(str), return_inverse=True)
    start = np.array([base.starts.get(v, never) for v in distinct], np.int64)[inverse]
    if channels is not None:
        own = np.array(
            [
                base.channel_starts.get((h, (c or "").lower()), never)
                for h, c in zip(hks, channels, strict=True)
            ],
            np.int64,
        )
        start = np.maximum(start, own)
    return (ts - start) >= MIN_HISTORY_US


@pytest.mark.parametrize("seed", range(4))
def test_seasoned_per_host_code_as_per_row(seed: int) -> None:
    rng = random.Random(seed)
    core = _core(rng, 400)
    base = Baseline.of(core.slice(0, 300))  # some hosts' logs unknown to the baseline
    rows = core.slice(100)
    hks = np.array([*np_col(rows, HK)[:-1], "nowhere"], object)
    ts, channels = np_col(rows, TS), np_col(rows, schema.CHANNEL)
    got = base.seasoned(hks, ts, channels)
    assert got.tolist() == _seasoned_oracle(base, hks, ts, channels).tolist()
    assert base.seasoned(hks, ts).tolist() == _seasoned_oracle(base, hks, ts, None).tolist()
    assert base.seasoned(hks[:0], ts[:0], channels[:0]).size == 0


def _processes(rng: random.Random, n: int) -> pa.Table:
    core = _core(rng, n)
    cols = {
        "image": [rng.choice(NAMES) for _ in range(n)],
        "image_base": [rng.choice(NAMES) for _ in range(n)],
        "parent_base": [
            rng.choice(NAMES) if rng.random() < 0.7 else f"r{rng.randrange(300)}.exe"
            for _ in range(n)
        ],
        "cmd": [rng.choice(("a", "b /c", "")) for _ in range(n)],
        "account": [rng.choice(ACCOUNTS) or "" for _ in range(n)],
        "session": [rng.choice(("0x1a", "0x3e7", "")) for _ in range(n)],
        "guid": [rng.choice(("{1}", "{2}", "")) for _ in range(n)],
        "pguid": [rng.choice(("{3}", "")) for _ in range(n)],
    }
    for name, values in cols.items():
        core = core.append_column(name, pa.array(values, pa.string()))
    return core


def _unique_runs_oracle(table: pa.Table) -> pa.Table:
    second = pc.divide(table.column(TS), 1_000_000)
    ids = key_ids(table.column(HK), second, table.column("image"), table.column("cmd"))
    pref = np.where(np_col(table, schema.EVENT_ID) == 1, 0, 1)
    order = np.lexsort((pref, ids))
    sorted_ids = ids[order]
    first = order[np.r_[True, sorted_ids[1:] != sorted_ids[:-1]]] if ids.size else order
    return table.take(pa.array(np.sort(first)))


def _new_parent_child_oracle(t: pa.Table, base: Baseline) -> list[Signal]:
    """A string per row for every pair, every row judged: as written before."""
    t = t.filter(pc.not_equal(t.column("parent_base"), ""))
    if t.num_rows == 0 or base.fleet < MIN_FLEET:
        return []
    hks, ts = np_col(t, HK), np_col(t, TS)
    pair = pc.binary_join_element_wise(t.column("parent_base"), t.column("image_base"), " -> ")
    firsts, on_host = first_rows(key_ids(t.column(HK), pair), ts)
    fleet = (
        pa.table({"p": pair, "h": t.column(HK)}).group_by("p").aggregate([("h", "count_distinct")])
    )
    hosts_of = dict(
        zip(
            fleet.column("p").to_pylist(), fleet.column("h_count_distinct").to_pylist(), strict=True
        )
    )
    pair_np = np.asarray(pair.to_pylist(), object)
    seasoned = base.seasoned(hks, ts, np_col(t, schema.CHANNEL))
    cols = {c: np_col(t, c) for c in ("account", "session", "guid", "pguid")}
    out = []
    for i in map(int, firsts):
        if not seasoned[i] or hosts_of[pair_np[i]] > 1 or on_host[i] > processes.RARE_ON_HOST:
            continue
        hk = hks[i]
        out.append(
            behaviour(
                "new_parent_child",
                "low",
                f"{pair_np[i]} seen {int(on_host[i])} time{'s' if on_host[i] != 1 else ''} on "
                f"{base.name(hk)}, never before in {base.history_hours(hk, int(ts[i])) / 24:.1f} "
                f"days "
                f"of its logs nor on any other of the {base.fleet} hosts.",
                t,
                [i],
                ("attack.execution",),
                account=cols["account"][i],
                keys=processes._keys(hk, cols["session"][i], cols["guid"][i], cols["pguid"][i]),
            )
        )
    return out


@pytest.mark.parametrize("seed", range(8))
def test_unique_runs_and_new_parent_child_as_row_by_row(seed: int) -> None:
    rng = random.Random(seed)
    table = _processes(rng, rng.randrange(1, 600))
    runs = processes.unique_runs(table)
    want = _unique_runs_oracle(table)
    assert runs.to_pydict() == want.to_pydict()
    base = Baseline.of(table)
    got = processes.new_parent_child(runs, base)
    assert got == _new_parent_child_oracle(runs, base)
    if seed == 0:
        assert got  # the generated data does hold new pairs


def test_joined_pairs_keep_the_dictionary_of_the_joined_text() -> None:
    left = pa.array(["a -> b", "a", "c", "a", None], pa.string())
    right = pa.array(["c", "b -> c", "d", "b -> c", "x"], pa.string())
    got = processes.joined(left, right, " -> ")
    want = pc.dictionary_encode(pc.fill_null(pc.binary_join_element_wise(left, right, " -> "), ""))
    assert (
        got.dictionary.to_pylist() == want.dictionary.to_pylist() == ["a -> b -> c", "c -> d", ""]
    )
    assert got.indices.to_pylist() == want.indices.to_pylist() == [0, 0, 1, 0, 2]
    assert processes.distinct_per_code(got, np.array([0, 1, 1, 1, 0])).tolist() == [2, 1, 1]


def _per_value_oracle(
    values: pa.ChunkedArray | pa.Array, fn: Callable[[pa.Array], pa.Array]
) -> pa.ChunkedArray | pa.Array:
    distinct = pc.unique(values)
    return pc.take(fn(distinct), pc.index_in(values, value_set=distinct))


def _coalesce_oracle(table: pa.Table, *names: str) -> pa.ChunkedArray:
    cols = [pc.if_else(pc.equal(F.text(table, n), ""), None, F.text(table, n)) for n in names]
    return pc.fill_null(pc.coalesce(*cols), "")


@pytest.mark.parametrize("seed", range(4))
def test_per_value_and_coalesce_as_before(seed: int) -> None:
    rng = random.Random(seed)
    n = 300
    hosts = [rng.choice((*HOSTS, None, "")) for _ in range(n)]
    plain = pa.array(hosts, pa.string())
    chunked = pa.chunked_array([plain.slice(0, 100), plain.slice(100, 0), plain.slice(100)])
    for values in (plain, chunked, pa.chunked_array([], pa.string())):
        for fn in (F.host_key, F.address, _human):
            got, want = F.per_value(values, fn), _per_value_oracle(values, fn)
            assert got.type == want.type and got.to_pylist() == want.to_pylist()
    table = pa.table(
        {
            name: pa.array([rng.choice(("", None, "x", "y")) for _ in range(n)], pa.string())
            for name in ("a", "b", "c")
        }
    )
    for names in (("a",), ("a", "b"), ("a", "b", "c")):
        assert F.coalesce(table, *names).to_pylist() == _coalesce_oracle(table, *names).to_pylist()


def _silent_oracle(logs: tuple[pa.Table, np.ndarray], base: Baseline) -> list[Signal]:
    """Each host's rows found by comparing every row's host, names read for every row."""
    t, log = logs
    if t.num_rows == 0:
        return []
    ts = np_col(t, TS)
    hour = ts // tracks.HOUR_US
    hks, channels = np_col(t, HK), np_col(t, schema.CHANNEL)
    host_ids = key_ids(t.column(HK))
    out = []
    for h in np.unique(host_ids):
        rows = np.flatnonzero(host_ids == h)
        spoken = set(hour[rows].tolist())
        if len(spoken) < 2 * tracks.SILENT_HOURS:
            continue
        for lg in np.unique(log[rows]):
            mine = rows[log[rows] == lg]
            hours = np.unique(hour[mine])
            span = hours[-1] - hours[0] + 1
            if hours.size < tracks.BUSY_SHARE * span or hours.size < 2 * tracks.SILENT_HOURS:
                continue
            steps = np.diff(hours)
            for k in np.flatnonzero(steps > tracks.SILENT_HOURS):
                quiet = range(int(hours[k]) + 1, int(hours[k + 1]))
                others = sum(1 for x in quiet if x in spoken)
                if others < tracks.BUSY_SHARE * len(quiet):
                    continue
                before = mine[hour[mine] == hours[k]][-1]
                after = mine[hour[mine] == hours[k + 1]][0]
                out.append(
                    behaviour(
                        "channel_silent",
                        "medium",
                        f"the {channels[before]} log of {base.name(hks[before])} is silent for "
                        f"{len(quiet)} h while the host's other logs speak in {others} of those "
                        f"hours; it speaks in {hours.size} of its {span} other hours.",
                        t,
                        [int(before), int(after)],
                        tracks._TAGS_IMPAIR,
                    )
                )
    return out


@pytest.mark.parametrize("seed", range(4))
def test_silent_channels_per_host_group_as_per_host_comparison(seed: int) -> None:
    rng = random.Random(seed)
    rows = []
    for host in ("ws01", "DC01.corp.local", "fs02"):
        start = rng.randrange(10, 80)
        quiet = range(start, start + rng.randrange(7, 10))
        for channel in ("Security", "System", "Microsoft-Windows-Sysmon/Operational"):
            silent = channel == rng.choice(("Security", "System"))
            for hour in range(100):
                if silent and hour in quiet:
                    continue
                for _ in range(rng.randrange(1, 4)):
                    rows.append((host, channel, hour * 60 + rng.randrange(60)))
    rng.shuffle(rows)
    table = pa.table(
        {
            "timestamp": pa.array(
                [T0 + timedelta(minutes=m) for _, _, m in rows], pa.timestamp("us", "UTC")
            ),
            "host": [h for h, _, _ in rows],
            "channel": [c for _, c, _ in rows],
            "provider": ["p"] * len(rows),
            "event_id": pa.array([1] * len(rows), pa.int32()),
            "record_id": pa.array(range(1, len(rows) + 1), pa.int64()),
            "source": ["a.evtx"] * len(rows),
            "position": pa.array(range(len(rows)), pa.int64()),
        }
    )
    core = F._base(table.append_column(F.ROW, pa.array(range(len(rows)), pa.int64())))
    base = Baseline.of(core)
    logs = tracks.sorted_logs(core)
    got = tracks.silent_channels(logs, base)
    assert got == _silent_oracle(logs, base)
    assert len(got) >= 3  # a silence on every host at least


def _off_hours_oracle(processes: pa.Table, logons: pa.Table, base: Baseline) -> list[Signal]:
    """The people's rows filtered whole, every name read for every row: as before."""
    interactive = logons.filter(
        pc.and_(
            pc.equal(logons.column(schema.EVENT_ID), 4624),
            pc.is_in(logons.column("ltype"), pa.array(["2", "10", "11"])),
        )
    )
    keep = ["__rid", *schema.CORE_COLUMNS, TS, HK, "account", "session"]
    table = pa.concat_tables([processes.select(keep), interactive.select(keep)])
    table = table.filter(pc.and_(human(table.column("account")), pc.greater(table.column(TS), 0)))
    if table.num_rows == 0:
        return []
    ts = np_col(table, TS)
    day = ts // hours.DAY_US
    hour = (ts // hours.HOUR_US) % 24
    ids = key_ids(pc.utf8_lower(table.column("account")))
    # The habits as the signal judges them (unchanged): the rows they are judged on are.
    habits = hours.Habits.of(ids, day, hour)
    inverse, c_acct, c_day = habits.inverse, habits.account, habits.day
    days_of, hours_of, odd, judged = habits.days_of, habits.hours_of, habits.odd, habits.judged
    if not judged:
        base.too_short(
            "off-hours activity", f"an account active on {hours.MIN_DAYS + 1} days or more"
        )
    rows = np.flatnonzero(odd[inverse])
    if rows.size == 0:
        return []
    accounts, hks, sessions = np_col(table, "account"), np_col(table, HK), np_col(table, "session")
    groups = key_ids(pa.array(inverse[rows]), pa.array(hks[rows]))
    out: list[Signal] = []
    for g in np.unique(groups):
        cited = rows[groups == g]
        cited = cited[np.argsort(ts[cited], kind="stable")]
        i = int(cited[0])
        a = int(c_acct[inverse[i]])
        hk, h = hks[i], int(hour[i])
        key = session_key(hk, sessions[i])
        today = int(c_day[inverse[i]])
        usual = sorted(x for x, ds in hours_of[a].items() if ds - {today})
        out.append(
            behaviour(
                "off_hours_activity",
                "low",
                f"{accounts[i]} active on {base.name(hk)} at {h:02d}:00 UTC ({cited.size} "
                f"events); on its other {len(days_of[a]) - 1} days it was never active within "
                f"{hours.SLACK_HOURS} h of that hour (usual hours, UTC: {hours._ranges(usual)}).",
                table,
                cited[:20],
                ("attack.initial-access", "attack.t1078"),
                account=accounts[i],
                keys=(key,) if key else (),
            )
        )
    return out


@pytest.mark.parametrize("seed", range(4))
def test_off_hours_read_at_positions_as_filtered_whole(seed: int) -> None:
    rng = random.Random(seed)
    table = _processes(rng, 0)
    rows = []
    for k in range(rng.randrange(400, 800)):
        who = rng.choice(ACCOUNTS)
        day = rng.randrange(0, 7)
        hour = rng.choice((9, 10, 11, 14)) if rng.random() < 0.9 else rng.randrange(24)
        rows.append((who, day * 24 * 60 + hour * 60 + rng.randrange(60), k))
    core = _core(rng, len(rows))
    stamps = pa.array([T0 + timedelta(minutes=m) for _, m, _ in rows], pa.timestamp("us", "UTC"))
    core = core.set_column(core.schema.get_field_index(schema.TIMESTAMP), schema.TIMESTAMP, stamps)
    core = F._base(core.drop_columns([TS, HK]))
    table = core.append_column("account", pa.array([w or "" for w, _, _ in rows], pa.string()))
    table = table.append_column(
        "session", pa.array([rng.choice(("0x1a", "0x3e7", "")) for _ in rows], pa.string())
    )
    half = table.num_rows // 2
    procs = table.slice(0, half)
    logons = table.slice(half)
    logons = logons.set_column(
        logons.schema.get_field_index(schema.EVENT_ID),
        schema.EVENT_ID,
        pa.array([rng.choice((4624, 4634)) for _ in range(logons.num_rows)], pa.int32()),
    ).append_column(
        "ltype", pa.array([rng.choice(("2", "3", "10")) for _ in range(logons.num_rows)])
    )
    base = Baseline.of(core)
    got = hours.off_hours(procs, logons, base)
    assert got == _off_hours_oracle(procs, logons, base)
    assert got  # some account is active off its hours


@pytest.mark.parametrize("seed", range(6))
def test_take_sorted_takes_what_a_take_of_the_chunked_column_takes(seed: int) -> None:
    rng = random.Random(seed)
    values = [rng.choice((*HOSTS, None)) for _ in range(rng.randrange(0, 400))]
    cuts = sorted(rng.randrange(0, len(values) + 1) for _ in range(rng.randrange(0, 5)))
    bounds = [0, *cuts, len(values)]
    column = pa.chunked_array(
        [pa.array(values[a:b], pa.string()) for a, b in zip(bounds, bounds[1:], strict=False)],
        pa.string(),
    )
    pos = np.array(sorted(rng.sample(range(len(values)), rng.randrange(0, len(values) + 1))))
    pos = pos.astype(np.int64)
    got = F.take_sorted(column, pos)
    assert got.type == column.type
    assert got.to_pylist() == column.take(pa.array(pos, pa.int64())).to_pylist()
