"""Each behaviour analytic, the chaining and the scoring on small generated event tables
(no corpus, no engine): what must fire fires with its numbers, what is routine stays
quiet, and a baseline too short judges nothing."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from lotlhunt.analytics import hours, logons, processes, shares, tracks
from lotlhunt.analytics.baseline import Baseline
from lotlhunt.analytics.chains import chain
from lotlhunt.analytics.frame import load_frames
from lotlhunt.analytics.hosts import host_map
from lotlhunt.analytics.incidents import build
from lotlhunt.analytics.scoring import score, severity
from lotlhunt.engines.base import FrameRequest
from lotlhunt.events import schema
from lotlhunt.model import EventRef, LateralEdge, Severity, Signal, SignalKind

T0 = datetime(2026, 3, 2, tzinfo=UTC)
SEC = "Security"
SYSMON = "Microsoft-Windows-Sysmon/Operational"


class Source:
    """``events_frame`` over a list of event dicts, as an engine would answer it."""

    def __init__(self, events: Sequence[dict]) -> None:
        self.events = list(events)

    def events_frame(self, columns: Iterable[str], event_ids, channels) -> pa.Table:
        ids = set(event_ids)
        chans = {c.lower() for c in channels}
        picked = [
            (rid, e)
            for rid, e in enumerate(self.events)
            if (not ids or e["event_id"] in ids) and (not chans or e["channel"].lower() in chans)
        ]
        types = {f.name: f.type for f in schema.CORE_FIELDS}
        out: dict[str, pa.Array] = {"rid": pa.array([r for r, _ in picked], pa.int64())}
        for name in dict.fromkeys(columns):
            out[name] = pa.array([e.get(name) for _, e in picked], types.get(name, pa.string()))
        return pa.table(out)

    def events_frames(self, requests: Sequence[FrameRequest]) -> list[pa.Table]:
        return [self.events_frame(r.columns, r.event_ids, r.channels) for r in requests]


_record: dict[tuple[str, str], int] = {}


def ev(host: str, channel: str, event_id: int, at: timedelta, **fields: str) -> dict:
    key = (host, channel)
    _record[key] = _record.get(key, 0) + 1
    return {
        "timestamp": T0 + at,
        "host": host,
        "channel": channel,
        "provider": "p",
        "event_id": event_id,
        "record_id": _record[key],
        "source": f"{host}/{channel}",
        "position": _record[key],
        **fields,
    }


def h(n: float) -> timedelta:
    return timedelta(hours=n)


def logon(host: str, at: timedelta, user: str, ip: str, ltype: str = "3", lid: str = "0x1") -> dict:
    return ev(
        host,
        SEC,
        4624,
        at,
        TargetUserName=user,
        TargetDomainName="CORP",
        LogonType=ltype,
        IpAddress=ip,
        TargetLogonId=lid,
        WorkstationName="-",
    )


def proc(
    host: str,
    at: timedelta,
    cmd: str,
    image: str,
    lid: str = "0x5",
    user: str = "CORP\\alice",
    parent: str = "C:\\Windows\\System32\\cmd.exe",
) -> dict:
    return ev(
        host,
        SYSMON,
        1,
        at,
        Image=image,
        CommandLine=cmd,
        User=user,
        LogonId=lid,
        ParentImage=parent,
        ProcessGuid=f"g{at.total_seconds()}",
        ParentProcessGuid="gp",
    )


def analyse(events: Sequence[dict]):
    frames = load_frames(Source(events))
    base = Baseline.of(frames.core)
    return frames, base, host_map(frames)


def _routine(hosts: Sequence[str] = ("dc01", "ws01", "ws02"), hours_: int = 40) -> list[dict]:
    """Hourly background on every host so each has a history and the fleet has hosts."""
    return [
        ev(x, "System", 7036, h(k), param1="Time", param2="running")
        for x in hosts
        for k in range(hours_)
    ]


def test_first_logon_from_a_new_source_is_a_signal_with_its_numbers() -> None:
    events = _routine() + [logon("dc01", h(k), "alice", "10.0.0.5") for k in range(0, 36, 2)]
    events.append(logon("dc01", h(30), "mallory", "10.9.9.9", ltype="10", lid="0x77"))
    frames, base, hosts = analyse(events)
    found = logons.inbound(frames.logons, base, hosts)
    assert [s.account for s in found] == ["CORP\\mallory"]
    why = found[0].why
    assert "first RDP logon of CORP\\mallory to dc01" in why and "10.9.9.9" in why
    assert "an address no host saw before" in why
    assert found[0].edge and found[0].edge.method == "rdp" and found[0].edge.target == "dc01"
    assert ("session", "dc01|0x77") in found[0].keys


def test_first_seen_logons_stay_quiet_without_history() -> None:
    events = [logon("dc01", h(0.1 * k), "alice", "10.0.0.5") for k in range(5)]
    events.append(logon("dc01", h(1), "mallory", "10.9.9.9"))
    frames, base, hosts = analyse(events)
    assert logons.inbound(frames.logons, base, hosts) == []
    assert any("first-seen logons: not judged" in n for n in base.notes)


def test_admin_share_opened_by_a_new_account_is_a_signal() -> None:
    events = _routine()
    events += [
        ev(
            "fs01",
            SEC,
            5140,
            h(k),
            SubjectUserName="bob",
            SubjectDomainName="CORP",
            IpAddress="10.0.0.6",
            ShareName="\\\\*\\C$",
            SubjectLogonId="0x9",
        )
        for k in range(0, 30, 3)
    ]
    events.append(
        ev(
            "fs01",
            SEC,
            5140,
            h(31),
            SubjectUserName="eve",
            SubjectDomainName="CORP",
            IpAddress="10.0.0.6",
            ShareName="\\\\*\\ADMIN$",
            SubjectLogonId="0x10",
        )
    )
    events += [ev("fs01", "System", 7036, h(k), param1="x", param2="running") for k in range(40)]
    frames, base, hosts = analyse(events)
    found = shares.shares(frames.shares, base, hosts)
    assert [(s.account, s.name) for s in found] == [("CORP\\eve", "new_admin_share_access")]
    assert "admin$ on fs01" in found[0].why


def test_rare_lotl_shape_fires_and_a_fleet_habit_does_not() -> None:
    events = _routine()
    wmic = "C:\\Windows\\System32\\wbem\\WMIC.exe"
    for x in ("dc01", "ws01", "ws02"):
        events += [proc(x, h(k), "wmic volume list brief", wmic) for k in (1, 20, 30)]
    events.append(proc("dc01", h(25), "wmic /node:ws02 process call create calc", wmic))
    frames, base, _ = analyse(events)
    found = processes.rare_lotl(frames.processes, base)
    assert len(found) == 1 and "/node:ws# process call create" in found[0].why
    assert "on none of the other 2 hosts" in found[0].why


def test_discovery_burst_needs_six_distinct_commands_in_one_session() -> None:
    tools = ["whoami", "systeminfo", "ipconfig", "arp", "netstat", "tasklist"]
    events = _routine()
    events += [
        proc("ws01", h(20) + timedelta(minutes=k), t, f"C:\\Windows\\System32\\{t}.exe", lid="0xa")
        for k, t in enumerate(tools)
    ]
    events += [
        proc("ws02", h(20) + timedelta(minutes=k), t, f"C:\\Windows\\System32\\{t}.exe", lid="0xb")
        for k, t in enumerate(tools[:5])
    ]
    frames, base, _ = analyse(events)
    found = processes.discovery_bursts(frames.processes, base)
    assert [s.host for s in found] == ["ws01"]
    assert found[0].level == "medium" and "6 distinct discovery commands" in found[0].why
    assert len(found[0].events) == 6


def test_activity_outside_the_accounts_hours_is_a_signal() -> None:
    events = _routine(hours_=100)
    for day in range(4):
        events += [
            proc("ws01", h(24 * day + k), "notepad", "C:\\n.exe") for k in (9, 10, 11, 12, 13, 14)
        ]
    events.append(proc("ws01", h(24 * 3 + 3), "notepad", "C:\\n.exe"))
    frames, base, _ = analyse(events)
    found = hours.off_hours(frames.processes, frames.logons, base)
    assert len(found) == 1 and "03:00 UTC" in found[0].why and "09-15" in found[0].why


def test_covered_tracks_clear_hole_and_late_log() -> None:
    events = _routine(("dc01", "ws01", "ws02"), 300)
    # A whole Application log on dc01 with records 150-159 missing.
    app = [ev("dc01", "Application", 1000, h(k * 0.1)) for k in range(300)]
    app = [e for e in app if not 150 <= e["record_id"] < 160]
    # A Security log on ws01 that begins at record 5000, 100 h after the host's others.
    late = [dict(ev("ws01", SEC, 4634, h(100 + k)), record_id=5000 + k) for k in range(10)]
    clear = ev("dc01", SEC, 1102, h(5), SubjectUserName="eve", SubjectDomainName="CORP")
    frames, base, _ = analyse(events + app + late + [clear])
    assert [s.name for s in tracks.marks(frames.marks, base)] == ["log_cleared"]
    hole = tracks.holes(tracks.sorted_logs(frames.core), base)
    assert len(hole) == 1 and "10 records (150-159) missing" in hole[0].why
    begun = tracks.late_logs(tracks.sorted_logs(frames.core), base)
    assert [s.host for s in begun] == ["ws01"] and "4999 earlier records are gone" in begun[0].why


def _sig(
    level: str,
    host: str,
    at: float,
    kind=SignalKind.DETECTION,
    account=None,
    edge=None,
    name=None,
    tags=(),
) -> Signal:
    ref = EventRef(T0 + h(at), host, SEC, 1, int(at * 100), f"{host}.evtx", int(at * 100))
    return Signal(
        kind,
        name or f"{level}-{host}-{at}",
        level,
        "why",
        (ref,),
        rule_id=name,
        tags=tags,
        host=host,
        account=account,
        timestamp=ref.timestamp,
        edge=edge,
    )


def test_a_lone_event_is_not_a_serious_incident_but_context_raises_it() -> None:
    lone = [_sig("high", "ws01", 1)]
    total, _ = score(lone, (), 1, 0, ())
    assert severity(total) == Severity.LOW
    story = [
        _sig("critical", "web01", 1, tags=("attack.credential-access",)),
        _sig("high", "dc01", 2, tags=("attack.lateral-movement",)),
        _sig("low", "dc01", 2.1, kind=SignalKind.BEHAVIOUR, tags=("attack.discovery",)),
    ]
    total, reasons = score(story, ("credential-access", "discovery", "lateral-movement"), 2, 1, ())
    assert severity(total) in (Severity.HIGH, Severity.CRITICAL) and len(reasons) >= 4


def test_edges_chain_by_account_not_by_coincidence() -> None:
    edge = LateralEdge("web01", "dc01", "CORP\\da", "rdp", None)
    attack = _sig("high", "dc01", 3, account="CORP\\da")
    move = _sig("low", "web01", 3.2, kind=SignalKind.BEHAVIOUR, account="CORP\\da", edge=edge)
    admin = _sig(
        "low",
        "ws07",
        3.1,
        kind=SignalKind.BEHAVIOUR,
        account="CORP\\bob",
        edge=LateralEdge("ws07", "dc01", "CORP\\bob", "rdp", None),
    )
    groups = chain([attack, move, admin])
    assert sorted(map(sorted, groups)) == [[0, 1], [2]]


def test_incident_orders_hosts_from_the_entry() -> None:
    sigs = [
        _sig("low", "dc01", 0.5, kind=SignalKind.BEHAVIOUR),  # routine before the intrusion
        _sig("critical", "web01", 1, account="CORP\\da"),
        _sig(
            "low",
            "dc01",
            1.2,
            kind=SignalKind.BEHAVIOUR,
            account="CORP\\da",
            edge=LateralEdge("web01", "dc01", "CORP\\da", "rdp", T0 + h(1.2)),
        ),
        _sig("high", "dc01", 1.3, account="CORP\\da"),
    ]
    incidents = build(sigs, None)
    top = incidents[0]
    assert top.hosts == ("web01", "dc01") and top.entry_host == "web01"
    assert [(e.source, e.target, e.method) for e in top.edges] == [("web01", "dc01", "rdp")]
    assert top.summary.startswith(str(top.severity).capitalize())


def test_machine_accounts_are_not_people() -> None:
    from lotlhunt.analytics.baseline import human

    got = human(
        pa.array(
            ["CORP\\alice", "CORP\\WS01$", "NT AUTHORITY\\SYSTEM", "-", "Font Driver Host\\UMFD-0"]
        )
    )
    assert got.to_pylist() == [True, False, False, False, False]
    assert pc.sum(got).as_py() == 1


def test_engine_events_frame_gives_fields_by_name_and_null_where_absent() -> None:
    from lotlhunt.engines import create_engine

    rows = [
        ev("dc01", "Security", 4624, h(1), TargetUserName="alice", LogonType="3"),
        ev("dc01", "SECURITY", 4625, h(2), TargetUserName="bob"),
        ev("dc01", "System", 7036, h(3), param1="x"),
    ]
    names = [*schema.CORE_COLUMNS, "TargetUserName", "LogonType", "param1"]
    table = Source(rows).events_frame(names, [], []).drop_columns(["rid"])
    engine = create_engine("duckdb", None, None)
    try:
        engine.ingest(table.to_batches()[0])
        frames = load_frames(engine)
        assert sorted(frames.logons.column("account").to_pylist()) == ["alice"]
        assert frames.marks.column("param1").to_pylist() == ["x"] and frames.core.num_rows == 3
    finally:
        engine.close()


def test_events_without_record_numbers_or_times_judge_nothing_and_break_nothing() -> None:
    """Exports without record numbers (Mordor's JSON) and events without a time."""
    events = _routine()
    for e in events:
        e["record_id"] = None
    events.append(
        dict(ev("dc01", SEC, 4624, h(1), TargetUserName="x", LogonType="3"), timestamp=None)
    )
    frames, base, hosts = analyse(events)
    logs = tracks.sorted_logs(frames.core)
    assert tracks.holes(logs, base) == [] and tracks.late_logs(logs, base) == []
    assert tracks.silent_channels(logs, base) == []
    assert build(logons.inbound(frames.logons, base, hosts), frames) == []


def test_incident_context_reads_many_chunk_frames_from_one_chunk_each() -> None:
    # Frames come from the engine in many chunks; taking an incident's few context rows
    # from such a table costs a pass over every chunk (a quarter of a 1 M-event hunt's
    # analytics), so the context keeps its rows in one chunk, and tells the same story.
    from dataclasses import replace

    from lotlhunt.analytics.incidents import Context

    events = [logon("dc01", h(1), "mallory", "10.9.9.9", ltype="10", lid="0x77")]
    events += [
        proc("dc01", h(1 + k / 100), f"whoami /{k}", "C:\\w.exe", lid="0x77") for k in range(9)
    ]
    frames, _, _ = analyse(events)
    processes = frames.processes
    chunked = pa.concat_tables(processes.slice(k, 1) for k in range(processes.num_rows))
    assert chunked.column(0).num_chunks > 1
    sig = replace(_sig("high", "dc01", 1), keys=(("session", "dc01|0x77"),))
    told = {}
    for name, table in (("one", processes), ("many", chunked)):
        context = Context(replace(frames, processes=table), [sig])
        assert all(c.num_chunks <= 1 for t in context.tables for c in t.columns)
        told[name] = context.signals([sig])
    assert told["one"] == told["many"] and told["one"]
    assert len(told["one"][0].events) >= 9
