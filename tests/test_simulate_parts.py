"""Unit checks of the simulator's parts: network, campaign plan, JSON encoding, time format."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
from hypothesis import given
from hypothesis import strategies as st

from lotlhunt.simulate.campaign import FRP_PORTS, IFM_DIRS, IFM_VARIANTS, plan_campaign, wmic_inner
from lotlhunt.simulate.events import CHANNELS, EPOCH, fmt_second
from lotlhunt.simulate.jsonl_writer import JsonlWriter, encode_head, encode_tail, record_to_json
from lotlhunt.simulate.network import DC, FILE, WEB, WS, build_network
from lotlhunt.simulate.records import EvtxRecord


def test_network_is_deterministic_and_sized():
    a, b = build_network(5, 20, 3), build_network(5, 20, 3)
    assert a.to_json() == b.to_json()
    assert len(a.hosts) == 20
    assert len({h.name for h in a.hosts}) == 20 and len({h.ip for h in a.hosts}) == 20
    roles = [h.role for h in a.hosts]
    assert roles.count(DC) == 2 and roles.count(FILE) == 2 and roles.count(WEB) == 1
    assert any(not h.sysmon for h in a.hosts) and any(h.sysmon for h in a.hosts)
    assert all(h.sysmon or h.audit_process for h in a.hosts)
    admins = a.admins
    assert {p.role for p in admins} == {"dc_admin", "server_admin", "network_admin", "helpdesk"}
    assert len({(p.start_hour, p.end_hour) for p in admins}) > 1
    assert all(p.workstation in {h.name for h in a.hosts if h.role == WS} for p in a.people)
    assert build_network(6, 20, 3).to_json() != a.to_json()


def test_small_network_still_has_every_role():
    net = build_network(0, 4, 1)
    assert {h.role for h in net.hosts} >= {DC, FILE, WEB, WS}
    assert net.admins


def test_campaign_plans_every_step_and_varies():
    seen_cred, seen_ports, seen_frp, seen_pp = set(), set(), set(), set()
    for seed in range(16):
        net = build_network(seed, 12, 3)
        plan = plan_campaign(net, seed)
        steps = {s["step"] for s in plan.steps}
        assert {
            "webshell",
            "discovery_edge",
            "proxy_frp",
            "lateral_rdp",
            "credential_dump_ntds",
            "credential_dump_hives",
            "proxy_portproxy",
            "proxy_portproxy_delete",
            "cleanup",
            "log_clearing",
        } <= steps
        assert plan.attacked and set(plan.attacked) <= {h.name for h in net.hosts}
        v = plan.variants
        assert v["frp"]["port"] in FRP_PORTS
        seen_cred.update(v["credential_dump"])
        seen_ports.add(v["frp"]["port"])
        seen_frp.add(v["frp"]["image"])
        seen_pp.add(v["portproxy"]["host"])
        for host, chans in plan.clears.items():
            assert host in plan.attacked
            assert set(chans) <= set(range(len(CHANNELS)))
        # the actor works in China Standard Time office hours
        for op in plan.ops:
            hour = (EPOCH + timedelta(microseconds=op.ts)).hour
            assert 0 <= hour <= 12
    assert seen_cred == {"wmic_local", "wmic_remote", "wmiexec", "vssadmin"}
    assert len(seen_ports) >= 3 and len(seen_frp) >= 4 and len(seen_pp) >= 2


def test_wmic_inner_unescapes_the_sheet_shapes():
    assert wmic_inner(IFM_VARIANTS["tmp"]) == (
        "cmd.exe /c mkdir C:\\Windows\\Temp\\tmp & "
        'ntdsutil "ac i ntds" ifm "create full C:\\Windows\\Temp\\tmp"'
    )
    assert wmic_inner(IFM_VARIANTS["Pro"]).endswith('ifm "create full C:\\Windows\\Temp\\Pro"')
    assert wmic_inner(IFM_VARIANTS["Appfile"]).endswith('Appfile" q q')
    for key, cmd in IFM_VARIANTS.items():
        assert IFM_DIRS[key].lower() in cmd.lower()
        assert wmic_inner(cmd).count('"') % 2 == 0


def _record(**kw) -> EvtxRecord:
    base = dict(
        provider="Microsoft-Windows-Sysmon",
        event_id=1,
        channel=CHANNELS[3],
        computer="dc01.corp.local",
        timestamp=datetime(2026, 3, 1, 8, 0, 0, 123456, tzinfo=UTC),
        record_id=17,
        event_data={"CommandLine": 'cmd.exe /c "x"', "Image": "C:\\Windows\\cmd.exe"},
        provider_guid="5770385F-C22A-43E0-BF4C-06F5698FFBD9",
        version=5,
        task=1,
        process_id=2480,
        thread_id=2500,
        user_sid="S-1-5-18",
    )
    base.update(kw)
    return EvtxRecord(**base)


def _fast(rec: EvtxRecord, tmp_path) -> bytes:
    path = tmp_path / "f.jsonl"
    with JsonlWriter(path) as w:
        ts = rec.timestamp
        w.write_encoded(
            encode_head(
                rec.provider,
                rec.provider_guid,
                rec.event_source_name,
                rec.event_id,
                rec.version,
                rec.level,
                rec.task,
                rec.opcode,
                rec.keywords,
            ),
            ts.isoformat(timespec="microseconds")[:26] + "Z",
            rec.record_id,
            rec.process_id,
            rec.thread_id,
            encode_tail(rec.channel, rec.computer),
            rec.user_sid,
            rec.event_data,
            rec.data_values,
        )
    return path.read_bytes()


def test_fast_json_path_matches_record_to_json(tmp_path):
    for rec in (
        _record(),
        _record(
            user_sid=None,
            event_data={},
            data_values=("NTDS", "3392", "", "1", "C:\\x\\ntds.dit"),
            provider="ESENT",
            provider_guid=None,
            channel="Application",
            event_id=326,
        ),
        _record(event_source_name="Service Control Manager", event_data={"param1": 'ü\n\t"q"'}),
        _record(event_data={}, timestamp=datetime(2026, 3, 1, tzinfo=UTC)),
    ):
        assert _fast(rec, tmp_path) == orjson.dumps(record_to_json(rec)) + b"\n"
    line = orjson.loads(_fast(_record(), tmp_path))
    system = line["Event"]["System"]
    assert system["TimeCreated"]["#attributes"]["SystemTime"] == "2026-03-01T08:00:00.123456Z"
    assert system["Security"]["#attributes"]["UserID"] == "S-1-5-18"


@given(st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=40), max_size=5))
def test_fast_json_path_escapes_anything(tmp_path_factory, data):
    tmp = tmp_path_factory.mktemp("j")
    rec = _record(event_data=data)
    assert _fast(rec, tmp) == orjson.dumps(record_to_json(rec)) + b"\n"


@given(st.integers(min_value=0, max_value=4_102_444_800))
def test_fmt_second_matches_datetime(sec):
    dt = EPOCH + timedelta(seconds=sec)
    assert fmt_second(sec) == dt.strftime("%Y-%m-%d %H:%M:%S")
    assert fmt_second(sec, "T") == dt.strftime("%Y-%m-%dT%H:%M:%S")
