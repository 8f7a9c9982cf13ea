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


def test_worker_processes_write_the_same_bytes(run, tmp_path, monkeypatch):
    monkeypatch.setenv("LOTLHUNT_SIM_WORKERS", "2")
    forked = simulate_volt_typhoon(tmp_path / "forked", hosts=6, days=1, seed=0, fmt="jsonl")
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
