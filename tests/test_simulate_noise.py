"""The network's own life: administrators' habits that look like the actor's tradecraft.

Behaviour analytics are only tested if the noise holds what real administrators do: RDP
from their PCs and a jump server into servers (and now and then a DC), wmic and PsExec
against servers, firewall queries, their own PuTTY sessions, a log cleared in Event
Viewer, night work, service accounts on a schedule. Each habit is checked in a clean
network and in one with the intruder, at a few a day per admin, not thousands.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from lotlhunt.simulate.scenario import SimulationSummary, simulate_volt_typhoon

HOSTS, DAYS, SEED = 14, 2, 3


def _habits(out: Path) -> Counter:
    """Counts of each benign habit's tell-tale events (records not in truth.jsonl)."""
    scenario = json.loads((out / "scenario.json").read_text())
    net = scenario["network"]
    admins = {p["admin_account"].split("\\")[1] for p in net["people"] if p["admin_account"]}
    role = {h["name"]: h["role"] for h in net["hosts"]}
    by_ip = {h["ip"]: h["name"] for h in net["hosts"]}
    truth = {
        (t["host"], t["channel"], t["record_id"])
        for t in map(json.loads, (out / "truth.jsonl").read_text().splitlines())
    }
    seen: Counter = Counter()
    for f in sorted(out.glob("logs/*/*.jsonl")):
        host = f.parent.name
        for line in f.read_text(encoding="utf-8").splitlines():
            e = json.loads(line)["Event"]
            s, d = e["System"], e.get("EventData") or {}
            if (host, s["Channel"], s["EventRecordID"]) in truth:
                continue
            eid, user = s["EventID"], d.get("TargetUserName", "")
            if eid == 4624 and user in admins and d["LogonType"] == "10":
                src = role.get(by_ip.get(d["IpAddress"], ""), "outside")
                seen[f"rdp {src} -> {role[host]}"] += 1
                local = (int(s["TimeCreated"]["#attributes"]["SystemTime"][11:13])
                         + net["utc_offset_hours"]) % 24  # fmt: skip
                seen["night rdp"] += local >= 22 or local < 5
            elif eid == 4624 and user in admins and d["LogonType"] == "3":
                seen["admin network logon"] += 1
            elif eid == 4624 and user.startswith("svc_"):
                seen[f"service {user} from {by_ip.get(d['IpAddress'], '?')}"] += 1
            elif eid == 7045 and d["ServiceName"] == "PSEXESVC":
                seen["psexec service"] += 1
            elif (
                eid == 5145
                and d["ShareName"] == "\\\\*\\IPC$"
                and "PSEXESVC" in d["RelativeTargetName"]
            ):
                seen["psexec pipe"] += 1
            elif eid == 5140 and d["ShareName"] == "\\\\*\\ADMIN$":
                seen["admin$"] += 1
            elif eid in (1102, 104, 1149, 4778, 4779):
                seen[str(eid)] += 1
            elif eid in (1, 4688):
                cmd = d["CommandLine"].lower()
                seen["netsh advfirewall show"] += "netsh advfirewall show" in cmd
                seen["putty sessions"] += cmd.startswith("reg query") and "putty\\sessions" in cmd
                seen["wmic /node"] += cmd.startswith("wmic /node:")
                seen["psexec"] += "psexec.exe" in cmd
    return seen


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> SimulationSummary:
    out = tmp_path_factory.mktemp("clean")
    return simulate_volt_typhoon(
        out, hosts=HOSTS, days=DAYS, seed=SEED, fmt="jsonl", benign_only=True
    )


@pytest.fixture(scope="module")
def attacked(tmp_path_factory) -> SimulationSummary:
    out = tmp_path_factory.mktemp("attacked")
    return simulate_volt_typhoon(out, hosts=HOSTS, days=DAYS, seed=SEED, fmt="jsonl")


@pytest.mark.parametrize("which", ["clean", "attacked"])
def test_noise_holds_every_admin_habit(which, request):
    run: SimulationSummary = request.getfixturevalue(which)
    seen = _habits(run.out_dir)
    print(which, dict(sorted(seen.items())))
    # RDP from PCs and from the jump server into servers, and now and then into a DC
    assert seen["rdp workstation -> jump_host"] > 0
    assert sum(v for k, v in seen.items() if k.startswith("rdp jump_host -> ")) > 0
    assert (
        seen["rdp workstation -> domain_controller"] + seen["rdp jump_host -> domain_controller"]
        > 0
    )
    # wmic and PsExec against servers: network logons, ADMIN$/IPC$, PSEXESVC
    assert seen["wmic /node"] > 0 and seen["admin network logon"] > 0
    assert seen["psexec"] > 0 and seen["psexec service"] > 0 and seen["psexec pipe"] > 0
    assert seen["admin$"] > 0
    # firewall queries, their own PuTTY sessions, RDP sessions left and picked up again
    assert seen["netsh advfirewall show"] > 0 and seen["putty sessions"] > 0
    assert seen["1149"] > 0 and seen["4778"] > 0 and seen["4779"] > 0
    # a log cleared once in a while, work at night now and then
    assert seen["1102"] >= 1 and seen["104"] >= 1
    assert seen["night rdp"] > 0
    # service accounts with steady habits: the web app binds to the DCs from the web server
    scenario = json.loads((run.out_dir / "scenario.json").read_text())
    web = next(h["name"] for h in scenario["network"]["hosts"] if h["role"] == "web_server")
    svc = scenario["network"]["service_accounts"]["web"].split("\\")[1]
    assert seen[f"service {svc} from {web}"] >= 10 * DAYS


@pytest.mark.parametrize("which", ["clean", "attacked"])
def test_habits_come_at_human_rates(which, request):
    run: SimulationSummary = request.getfixturevalue(which)
    scenario = json.loads((run.out_dir / "scenario.json").read_text())
    admins = sum(1 for p in scenario["network"]["people"] if p["admin_account"])
    seen = _habits(run.out_dir)
    per_admin_day = admins * DAYS
    rdp = sum(v for k, v in seen.items() if k.startswith("rdp "))
    assert 1 <= rdp / per_admin_day <= 8
    assert seen["psexec service"] / per_admin_day <= 2
    assert seen["1102"] + seen["104"] <= 1 + DAYS


def test_benign_clears_are_declared_and_wipe_only_their_log(clean):
    scenario = json.loads((clean.out_dir / "scenario.json").read_text())
    clears = [n for n in scenario["benign_lookalikes"] if "cleared" in n]
    assert {n["channel"] for n in clears} == {"Security", "Application"}
    hosts = {h["name"]: h for h in scenario["network"]["hosts"]}
    for n in clears:
        assert hosts[n["host"]]["role"] != "domain_controller"
        log = clean.out_dir / "logs" / n["host"] / f"{n['channel']}.jsonl"
        first = json.loads(log.read_text().splitlines()[0])["Event"]["System"]
        assert first["TimeCreated"]["#attributes"]["SystemTime"] >= n["cleared"]


def test_habits_are_the_same_with_and_without_the_intruder(clean, attacked):
    """The people and their plans are the seed's, whether or not the actor came."""
    a = json.loads((clean.out_dir / "scenario.json").read_text())
    b = json.loads((attacked.out_dir / "scenario.json").read_text())
    assert a["network"] == b["network"]
    assert a["benign_lookalikes"] == b["benign_lookalikes"]
