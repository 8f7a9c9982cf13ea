"""End-to-end checks of the Volt Typhoon simulator on small networks (6 hosts, 1-2 days)."""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from lotlhunt.simulate.scenario import SimulationSummary, simulate_volt_typhoon


def _read(out: Path) -> dict[tuple[str, str], list[dict]]:
    """host/channel -> events of the JSONL files, in file order."""
    logs: dict[tuple[str, str], list[dict]] = {}
    for f in sorted(out.glob("logs/*/*.jsonl")):
        events = [json.loads(line)["Event"] for line in f.read_text(encoding="utf-8").splitlines()]
        channel = events[0]["System"]["Channel"] if events else f.stem.replace("%4", "/")
        logs[(f.parent.name, channel)] = events
    return logs


def _truth(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "truth.jsonl").read_text().splitlines()]


def _digest(out: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in out.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(out)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> SimulationSummary:
    return simulate_volt_typhoon(
        tmp_path_factory.mktemp("sim0"), hosts=6, days=1, seed=0, fmt="jsonl"
    )


@pytest.fixture(scope="module")
def logs(run) -> dict:
    return _read(run.out_dir)


def test_summary_and_layout(run):
    assert run.events > 10_000
    assert 0 < run.malicious_events < run.events
    assert set(run.attacked_hosts) <= set(run.hosts)
    assert len(run.hosts) >= 6
    names = {p.name for p in run.files}
    assert {
        "Security.jsonl",
        "System.jsonl",
        "Application.jsonl",
        "Windows PowerShell.jsonl",
        "Microsoft-Windows-PowerShell%4Operational.jsonl",
        "Microsoft-Windows-Sysmon%4Operational.jsonl",
    } <= names
    scenario = json.loads((run.out_dir / "scenario.json").read_text())
    assert scenario["seed"] == 0
    assert scenario["attacked_hosts"] == run.attacked_hosts
    roles = {h["role"] for h in scenario["network"]["hosts"]}
    assert {"domain_controller", "file_server", "web_server", "workstation"} <= roles
    assert any(p["admin_account"] for p in scenario["network"]["people"])


def test_same_seed_same_bytes(run, tmp_path):
    again = simulate_volt_typhoon(tmp_path / "again", hosts=6, days=1, seed=0, fmt="jsonl")
    assert again.events == run.events
    assert _digest(again.out_dir) == _digest(run.out_dir)


def test_worker_processes_write_the_same_bytes(run, tmp_path):
    forked = simulate_volt_typhoon(
        tmp_path / "forked", hosts=6, days=1, seed=0, fmt="jsonl", workers=2
    )
    assert _digest(forked.out_dir) == _digest(run.out_dir)


def test_different_seed_differs(run, tmp_path):
    other = simulate_volt_typhoon(tmp_path / "other", hosts=6, days=1, seed=7, fmt="jsonl")
    a = json.loads((run.out_dir / "scenario.json").read_text())
    b = json.loads((other.out_dir / "scenario.json").read_text())
    assert a["campaign"]["variants"] != b["campaign"]["variants"]
    assert _truth(run.out_dir) != _truth(other.out_dir)


def test_record_ids_and_time_increase(logs):
    for key, events in logs.items():
        rids = [e["System"]["EventRecordID"] for e in events]
        times = [e["System"]["TimeCreated"]["#attributes"]["SystemTime"] for e in events]
        assert rids == sorted(set(rids)), key
        assert times == sorted(times), key
        assert all(e["System"]["Channel"] == key[1] for e in events)


def test_truth_points_at_records(run, logs):
    index = {(h, c, e["System"]["EventRecordID"]): e for (h, c), ev in logs.items() for e in ev}
    truth = _truth(run.out_dir)
    assert truth
    assert sum(t["recorded"] for t in truth) == run.malicious_events
    for t in truth:
        assert set(t) == {
            "host",
            "channel",
            "record_id",
            "timestamp",
            "step",
            "technique",
            "recorded",
        }
        key = (t["host"], t["channel"], t["record_id"])
        if t["recorded"]:
            event = index[key]
            assert event["System"]["TimeCreated"]["#attributes"]["SystemTime"] == t["timestamp"]
        else:
            assert key not in index
        assert t["technique"].startswith("T")


def _cmdlines(logs, host=None) -> list[tuple[str, str, int]]:
    out = []
    for (h, _c), events in logs.items():
        for e in events:
            data = e.get("EventData") or {}
            if "CommandLine" in data and (host is None or h == host):
                out.append((h, data["CommandLine"], e["System"]["EventRecordID"]))
    return out


def test_benign_admins_use_the_same_tools(run, logs):
    malicious = {(t["host"], t["record_id"]) for t in _truth(run.out_dir)}
    benign = [c for h, c, rid in _cmdlines(logs) if (h, rid) not in malicious]
    low = [c.lower() for c in benign]
    assert any(c.startswith("ntdsutil") for c in low)
    assert any(c.startswith("wmic") for c in low)
    assert any(c.startswith("netsh") for c in low)
    assert any("-executionpolicy bypass" in c for c in low)  # management scripts


def test_campaign_leaves_the_sheet_indicators(run, logs):
    steps = Counter(t["step"] for t in _truth(run.out_dir))
    for step in (
        "webshell",
        "discovery_edge",
        "proxy_frp",
        "lateral_rdp",
        "credential_dump_ntds",
        "credential_dump_hives",
        "proxy_portproxy",
        "log_clearing",
    ):
        assert steps[step] > 0, step
    esent = [
        e
        for (h, c), ev in logs.items()
        if c == "Application"
        for e in ev
        if e["System"]["Provider"]["#attributes"]["Name"] == "ESENT"
        and any("ntds.dit" in v for v in e["EventData"]["Data"]["#text"])
    ]
    assert {e["System"]["EventID"] for e in esent} >= {216, 325, 326, 327}


def test_log_clearing_wipes_earlier_records(run, logs):
    scenario = json.loads((run.out_dir / "scenario.json").read_text())
    clears = scenario["campaign"]["log_clears"]
    assert clears
    truth = _truth(run.out_dir)
    for host, channels in clears.items():
        for channel, when in channels.items():
            events = logs[(host, channel)]
            assert all(
                e["System"]["TimeCreated"]["#attributes"]["SystemTime"] >= when for e in events
            )
            assert events[0]["System"]["EventRecordID"] > 1  # the gap a hunt can see
            if channel == "Security":
                assert events[0]["System"]["EventID"] == 1102
            if channel == "System":
                assert events[0]["System"]["EventID"] == 104
    wiped = [t for t in truth if not t["recorded"]]
    assert wiped and all(t["host"] in clears for t in wiped)


def test_sysmon_gap_leaves_4688(run, logs):
    scenario = json.loads((run.out_dir / "scenario.json").read_text())
    no_sysmon = {h["name"] for h in scenario["network"]["hosts"] if not h["sysmon"]}
    assert no_sysmon
    attacked_blind = no_sysmon & set(run.attacked_hosts)
    assert attacked_blind
    for host in attacked_blind:
        assert (host, "Microsoft-Windows-Sysmon/Operational") not in logs
        truth = [t for t in _truth(run.out_dir) if t["host"] == host and t["recorded"]]
        assert any(t["channel"] == "Security" for t in truth)


def test_process_creation_in_both_logs(logs):
    for (host, channel), events in logs.items():
        if channel != "Microsoft-Windows-Sysmon/Operational":
            continue
        sysmon = Counter(
            e["EventData"]["CommandLine"] for e in events if e["System"]["EventID"] == 1
        )
        security = Counter(
            e["EventData"]["CommandLine"]
            for e in logs.get((host, "Security"), [])
            if e["System"]["EventID"] == 4688
        )
        if security:  # hosts auditing process creation log every Sysmon 1 again as 4688
            common = sum((sysmon & security).values())
            assert common >= 0.9 * min(sum(sysmon.values()), sum(security.values()))


def test_events_scaling(tmp_path):
    s = simulate_volt_typhoon(tmp_path, hosts=6, days=1, seed=3, fmt="jsonl", events=40_000)
    assert 0.9 * 40_000 <= s.events <= 1.1 * 40_000
    lines = sum(len(f.read_bytes().splitlines()) for f in s.files)
    assert lines == s.events


def test_progress_and_validation(tmp_path):
    seen: list[int] = []
    s = simulate_volt_typhoon(tmp_path, hosts=5, days=1, seed=1, fmt="jsonl", progress=seen.append)
    assert seen and seen[-1] == s.events and seen == sorted(seen)
    with pytest.raises(ValueError):
        simulate_volt_typhoon(tmp_path, fmt="xml")


def test_evtx_reads_back_like_jsonl(tmp_path):
    pytest.importorskip("lotlhunt.simulate.evtx_writer")
    evtx = pytest.importorskip("evtx")
    s = simulate_volt_typhoon(tmp_path, hosts=5, days=1, seed=2, fmt="both")
    per_file: dict[str, int] = defaultdict(int)
    for f in s.files:
        if f.suffix == ".evtx":
            records = [json.loads(r["data"]) for r in evtx.PyEvtxParser(str(f)).records_json()]
            lines = [json.loads(x) for x in f.with_suffix(".jsonl").read_text().splitlines()]
            assert len(records) == len(lines), f
            for a, b in zip(records, lines, strict=True):
                assert a["Event"]["System"] == b["Event"]["System"]
                assert a["Event"].get("EventData") == b["Event"].get("EventData")
            per_file[f.name] += len(records)
    assert sum(per_file.values()) == s.events


# ---- the intrusion as an evaluator sees it: entry, edges, behaviour-only steps ------------------
SECURITY = "Security"
RCM = "Microsoft-Windows-TerminalServices-RemoteConnectionManager/Operational"
_LOGON_TYPE = {"rdp": "10", "smb": "3", "wmi": "3", "service": "3"}


def _index(logs) -> dict[tuple[str, str, int], dict]:
    return {(h, c, e["System"]["EventRecordID"]): e for (h, c), ev in logs.items() for e in ev}


def test_scenario_names_entry_host_and_edges(run):
    scenario = json.loads((run.out_dir / "scenario.json").read_text())
    assert scenario["benign_only"] is False
    web = [h["name"] for h in scenario["network"]["hosts"] if h["role"] == "web_server"]
    assert scenario["entry_host"] == web[0]
    assert scenario["entry_host"] in scenario["attacked_hosts"]
    edges = scenario["lateral_edges"]
    assert edges and all(set(e) >= {"from", "to", "account", "method", "first"} for e in edges)
    assert {e["method"] for e in edges} <= {
        "rdp",
        "smb",
        "wmi",
        "winrm",
        "service",
        "scheduled_task",
    }
    assert [e["first"] for e in edges] == sorted(e["first"] for e in edges)
    # every edge ends on an attacked host; the actor's first move leaves the entry host
    # (or arrives by RDP from outside the network)
    assert all(e["to"] in run.attacked_hosts for e in edges)
    dc = scenario["campaign"]["variants"]["domain_controller"]
    assert any(e["to"] == dc and e["method"] == "rdp" for e in edges)


def test_edges_are_the_targets_logons_in_truth(run, logs):
    scenario = json.loads((run.out_dir / "scenario.json").read_text())
    truth = _truth(run.out_dir)
    index = _index(logs)
    for edge in scenario["lateral_edges"]:
        hits = [
            t
            for t in truth
            if t["host"] == edge["to"]
            and t["channel"] == SECURITY
            and t["timestamp"] == edge["first"]
        ]
        assert hits, edge
        for t in hits:
            if not t["recorded"]:
                continue  # a later log clear wiped it; truth still says where it was
            data = index[(t["host"], t["channel"], t["record_id"])]["EventData"]
            assert data["LogonType"] == _LOGON_TYPE[edge["method"]]
            assert data["IpAddress"] == edge["from_ip"]
            assert f"{data['TargetDomainName']}\\{data['TargetUserName']}" == edge["account"]


def test_behaviour_only_steps_are_in_truth(run, logs):
    """RDP into the DC, the file server's logons and share reads, the log clears."""
    scenario = json.loads((run.out_dir / "scenario.json").read_text())
    variants = scenario["campaign"]["variants"]
    dc, fs = variants["domain_controller"], variants["file_server"]
    truth = _truth(run.out_dir)
    index = _index(logs)

    def events(host: str, step: str) -> list[dict]:
        keys = [
            (t["host"], t["channel"], t["record_id"])
            for t in truth
            if t["host"] == host and t["step"] == step and t["recorded"]
        ]
        return [index[k] for k in keys]

    rdp = events(dc, "lateral_rdp")
    ids = {e["System"]["EventID"] for e in rdp}
    assert 1149 in ids  # its log is not the one the actor clears
    accepted = [e for e in rdp if e["System"]["EventID"] == 1149]
    # As Windows writes it: UserData EventXML, Param1 the user, Param2 the domain,
    # Param3 the source address; no EventData.
    assert all("EventData" not in e for e in accepted)
    assert any(
        e["UserData"]["EventXML"]["Param1"] == variants["compromised_account"].split("\\")[1]
        for e in accepted
    )
    assert all(e["UserData"]["EventXML"]["#attributes"]["xmlns"] == "Event_NS" for e in accepted)
    smb = events(fs, "lateral_smb") + events(fs, "discovery_remote_share")
    assert {4624, 5140, 5145} <= {e["System"]["EventID"] for e in smb}
    clears = [
        e["System"]["EventID"]
        for h in scenario["campaign"]["log_clears"]
        for e in events(h, "log_clearing")
    ]
    assert 1102 in clears


def test_actor_processes_carry_its_logon_id(run, logs):
    """The actor's processes name the logon session its 4624 opened (4688 SubjectLogonId,
    Sysmon LogonId), so a hunt can chain them; checked where the Security log was not
    cleared."""
    scenario = json.loads((run.out_dir / "scenario.json").read_text())
    sam = scenario["campaign"]["variants"]["compromised_account"].split("\\")[1]
    cleared = {h for h, chans in scenario["campaign"]["log_clears"].items() if SECURITY in chans}
    index = _index(logs)
    actor = [
        index[(t["host"], t["channel"], t["record_id"])] | {"host": t["host"]}
        for t in _truth(run.out_dir)
        if t["recorded"] and t["host"] not in cleared
    ]
    sessions = {
        (e["host"], e["EventData"]["TargetLogonId"])
        for e in actor
        if e["System"]["EventID"] == 4624 and e["EventData"]["TargetUserName"] == sam
    }
    checked = 0
    for e in actor:
        d = e["EventData"]
        if e["System"]["EventID"] == 4688 and d["SubjectUserName"] == sam:
            assert (e["host"], d["SubjectLogonId"]) in sessions, d["CommandLine"]
            checked += 1
        elif e["System"]["EventID"] == 1 and d["User"].endswith("\\" + sam):
            assert (e["host"], d["LogonId"]) in sessions, d["CommandLine"]
            checked += 1
    assert checked and sessions


def test_logon_ids_do_not_repeat_on_a_host(logs):
    for (h, c), events in logs.items():
        if c != SECURITY:
            continue
        ids = [e["EventData"]["TargetLogonId"] for e in events if e["System"]["EventID"] == 4624]
        assert len(ids) == len(set(ids)), h


@pytest.fixture(scope="module")
def benign(tmp_path_factory) -> SimulationSummary:
    return simulate_volt_typhoon(
        tmp_path_factory.mktemp("benign0"), hosts=6, days=1, seed=0, fmt="jsonl", benign_only=True
    )


def test_benign_only_has_no_truth_and_says_so(benign):
    assert (benign.out_dir / "truth.jsonl").read_bytes() == b""
    assert benign.malicious_events == 0 and benign.attacked_hosts == []
    scenario = json.loads((benign.out_dir / "scenario.json").read_text())
    assert scenario["benign_only"] is True
    assert scenario["attacked_hosts"] == [] and scenario["lateral_edges"] == []
    assert scenario["entry_host"] is None and scenario["campaign"] is None
    assert benign.events > 10_000


def test_benign_only_is_the_same_network_without_the_actor(run, benign):
    a = json.loads((run.out_dir / "scenario.json").read_text())
    b = json.loads((benign.out_dir / "scenario.json").read_text())
    assert a["network"] == b["network"]
    variants = a["campaign"]["variants"]
    markers = [
        variants["frp"]["image"].rsplit("\\", 1)[1],
        variants["actor_client"],
        variants["ifm_dir"],
        variants["webshell"],
        f"listenport={variants['portproxy']['listenport']}",
    ]
    text = b"".join(f.read_bytes() for f in benign.files).decode().replace("\\\\", "\\")
    for marker in markers:
        assert marker.lower() not in text.lower(), marker
    # nor any logon of the stolen account from the entry host
    web_ip = next(h["ip"] for h in a["network"]["hosts"] if h["name"] == a["entry_host"])
    sam = variants["compromised_account"].split("\\")[1]
    for (_h, c), events in _read(benign.out_dir).items():
        for e in events:
            d = e.get("EventData") or {}
            if c == SECURITY and e["System"]["EventID"] == 4624:
                assert not (d.get("TargetUserName") == sam and d.get("IpAddress") == web_ip)


def test_benign_only_is_deterministic(benign, tmp_path):
    again = simulate_volt_typhoon(
        tmp_path / "again", hosts=6, days=1, seed=0, fmt="jsonl", benign_only=True
    )
    assert _digest(again.out_dir) == _digest(benign.out_dir)


def test_cli_benign_only(tmp_path):
    from click.testing import CliRunner

    from lotlhunt.cli import cli

    out = tmp_path / "clean"
    args = ["simulate", "volt-typhoon", "--out", str(out), "--hosts", "4", "--days", "1"]
    result = CliRunner().invoke(cli, [*args, "--format", "jsonl", "--benign-only"])
    assert result.exit_code == 0, result.output
    assert "none (benign only)" in result.output
    assert json.loads((out / "scenario.json").read_text())["benign_only"] is True
    assert (out / "truth.jsonl").read_bytes() == b""


@pytest.mark.parametrize(
    ("env", "option", "expected"),
    [(None, [], None), ("3", [], 3), ("3", ["--workers", "2"], 2), ("many", [], None)],
)
def test_cli_passes_the_simulation_workers_from_the_edge(
    tmp_path, monkeypatch, env, option, expected
):
    # The command line reads LOTLHUNT_SIM_WORKERS (its --workers first) and hands the
    # simulator a number; the simulator itself reads no environment.
    from click.testing import CliRunner

    import lotlhunt.simulate as simulate
    from lotlhunt.cli import cli

    if env is None:
        monkeypatch.delenv("LOTLHUNT_SIM_WORKERS", raising=False)
    else:
        monkeypatch.setenv("LOTLHUNT_SIM_WORKERS", env)
    seen = {}

    def fake(out_dir, **kwargs):
        seen.update(kwargs)
        return SimulationSummary(out_dir, ["h1"], [], [], 0, 0, 0.0)

    monkeypatch.setattr(simulate, "simulate_volt_typhoon", fake)
    args = ["simulate", "volt-typhoon", "--out", str(tmp_path / "o"), *option]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert seen["workers"] == expected
