"""Unit checks of the simulator's parts: network, campaign plan, JSON encoding, time format."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
from hypothesis import given
from hypothesis import strategies as st

from lotlhunt.simulate.campaigns.volt_typhoon import plan_campaign
from lotlhunt.simulate.campaigns.volt_typhoon_sheet import FRP_PORTS, IFM_DIRS, IFM_VARIANTS
from lotlhunt.simulate.effects import run_and_effect
from lotlhunt.simulate.host import EPOCH, SEC, fmt_second
from lotlhunt.simulate.inventory import TOOLS
from lotlhunt.simulate.jsonl_writer import JsonlWriter, encode_head, encode_tail, record_to_json
from lotlhunt.simulate.network import DC, FILE, WEB, WS, build_network
from lotlhunt.simulate.records import EvtxRecord
from lotlhunt.simulate.remote import wmic_inner
from lotlhunt.simulate.state import HostState, split_image
from lotlhunt.simulate.templates import CHANNELS


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


def test_campaign_marks_rdp_sessions_and_share_browsing_behaviour_only():
    """A domain admin's RDP session on the DC and its share reads on the file server have
    no sheet artefact; the FRP leg and the DC's own commands do."""
    seen_vpn = seen_frp = False
    for seed in range(12):
        net = build_network(seed, 10, 3)
        plan = plan_campaign(net, seed)
        marked = {(s["step"], s["host"]) for s in plan.steps if s.get("detectable_by")}
        dc, fs = plan.variants["domain_controller"], plan.variants["file_server"]
        assert marked == {
            ("lateral_rdp", dc),
            ("discovery_remote_share", fs),
            ("lateral_smb", fs),
        }
        assert all(s["detectable_by"] == "behaviour" for s in plan.steps if "detectable_by" in s)
        rdp_hosts = {s["host"] for s in plan.steps if s["step"] == "lateral_rdp"}
        web = net.by_role(WEB)[0].name
        if plan.variants["rdp_via"] == "frp":  # the FRP client's connection to 3389
            seen_frp = True
            assert rdp_hosts == {dc, web}
        else:
            seen_vpn = True
            assert rdp_hosts == {dc}
        smb = {(e["from"], e["to"]) for e in plan.edges if e["method"] == "smb"}
        assert (dc, fs) in smb  # the share reads are lateral edges all the same
    assert seen_vpn and seen_frp


def test_iis_web_shell_write_is_the_webshell_step():
    for seed in range(12):
        net = build_network(seed, 10, 3)
        plan = plan_campaign(net, seed)
        steps = {s["step"] for s in plan.steps}
        assert "webshell" in steps
        if plan.variants["web_stack"] == "iis":
            assert "initial_access" not in steps  # the exploit is only in web-server logs
            script = [op for op in plan.ops if op.host == net.by_role(WEB)[0].name][0]
            first = script.kw["script"][0]
            assert first.label == ("webshell", "T1505.003")
            assert first.kw["paths"] == ["C:\\inetpub\\wwwroot\\iisstart.aspx"]


def test_split_image_keeps_quoted_paths_with_spaces():
    assert split_image('"C:\\Program Files\\7-Zip\\7z.exe" a -p1 x.7z y') == (
        "C:\\Program Files\\7-Zip\\7z.exe",
        "a -p1 x.7z y",
    )
    assert split_image("netsh interface portproxy show all") == (
        "netsh",
        "interface portproxy show all",
    )
    assert split_image('"cmd.exe" /c whoami') == ("cmd.exe", "/c whoami")


def test_quoted_program_path_runs_that_program():
    net = build_network(0, 6, 1)
    dc = net.by_role(DC)[0]
    st = HostState(net, dc, 0)
    ts = (net.start - EPOCH) // timedelta(microseconds=1) + 3600 * SEC
    shell = st.spawn(ts, st.services, TOOLS["cmd"], "cmd.exe")
    cmd = f'"{TOOLS["7z"]}" a -pX -v100m c:\\windows\\temp\\a.7z C:\\Windows\\Temp\\Pro\\*'
    run_and_effect(st, ts + SEC, shell, cmd)
    proc = [d.data for d in st.out if d.tpl.event_id == 1][-1]
    assert proc["Image"] == TOOLS["7z"] and proc["OriginalFileName"] == "7z.exe"
    written = [d.data["TargetFilename"] for d in st.out if d.tpl.event_id == 11]
    assert written == ["c:\\windows\\temp\\a.7z.001"]  # multi-volume archive part
    run_and_effect(
        st,
        ts + 9 * SEC,
        shell,
        "C:\\Windows\\Temp\\ronf.exe a -hpX c:\\Windows\\temp\\DMBC2C61.tmp "
        "C:\\Windows\\Temp\\Pro\\*",
        pe_as="rar.exe",
    )
    written = [d.data["TargetFilename"] for d in st.out if d.tpl.event_id == 11]
    assert written[-1] == "c:\\Windows\\temp\\DMBC2C61.tmp"  # renamed rar still writes


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


def test_psexec_pipes_name_one_client_process():
    from lotlhunt.simulate.remote import psexec_target

    net = build_network(0, 6, 1)
    st = HostState(net, net.by_role(FILE)[0], 0)
    admin = net.admins[0].admin_account
    ts = (net.start - EPOCH) // timedelta(microseconds=1) + 3600 * SEC
    psexec_target(st, ts, admin, "10.0.0.9", "WS01", 'cmd /c "ipconfig"', ["ipconfig"])
    pipes = [
        d.data["RelativeTargetName"]
        for d in st.out
        if d.tpl.event_id == 5145 and d.data["ShareName"] == "\\\\*\\IPC$"
    ]
    assert [p.rsplit("-", 1)[1] for p in pipes] == ["stdin", "stdout", "stderr"]
    assert len({p.rsplit("-", 1)[0] for p in pipes}) == 1  # PSEXESVC-WS01-<client pid>
    services = [d.data["ServiceName"] for d in st.out if d.tpl.event_id == 7045]
    logons = [d.data for d in st.out if d.tpl.event_id == 4624]
    assert services == ["PSEXESVC"] and logons[0]["LogonType"] == "3"
    shares = {d.data["SubjectLogonId"] for d in st.out if d.tpl.event_id in (5140, 5145)}
    assert shares == {logons[0]["TargetLogonId"]}
