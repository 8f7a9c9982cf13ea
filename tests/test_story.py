"""The story a hunt tells of simulated intrusions: incidents against the truth.

Per network (seed, size, length, format): every attacked host is in an incident of
severity medium or more; the entry host is the first host of the top incident; every
campaign step whose events the logs hold (behaviour-only ones included) is cited by a
signal of an incident; the campaign's lateral moves are listed as edges; no clean host is
in an incident of severity medium or more. Networks without an intruder build no incident
of severity medium or more.
"""

from __future__ import annotations

import inspect
import json
from collections import defaultdict
from pathlib import Path

import pytest

from lotlhunt.hunt import HuntConfig, run_hunt
from lotlhunt.model import HuntResult
from lotlhunt.simulate import LOGS_DIR, simulate_volt_typhoon

#: (seed, hosts, days, format): small networks, both formats, 3-4 days of logs.
NETWORKS = ((7, 14, 3, "jsonl"), (11, 10, 3, "evtx"), (3, 18, 4, "jsonl"))
SERIOUS = ("medium", "high", "critical")


def _short(host: str | None) -> str:
    return (host or "").split(".")[0].lower()


@pytest.fixture(scope="session")
def hunted(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple, tuple[Path, HuntResult]]:
    out = {}
    for seed, hosts, days, fmt in NETWORKS:
        where = tmp_path_factory.mktemp(f"story{seed}")
        simulate_volt_typhoon(where, hosts=hosts, days=days, seed=seed, fmt=fmt)
        out[(seed, hosts, days, fmt)] = (where, run_hunt(HuntConfig(paths=[where / LOGS_DIR], workers=1)))
    return out


def _serious_hosts(result: HuntResult) -> set[str]:
    return {_short(h) for inc in result.incidents if inc.severity in SERIOUS for h in inc.hosts}


@pytest.mark.parametrize("network", NETWORKS, ids=lambda n: f"seed{n[0]}-{n[1]}h-{n[2]}d-{n[3]}")
def test_incidents_tell_the_campaign(network: tuple, hunted: dict) -> None:
    where, result = hunted[network]
    scenario = json.loads((where / "scenario.json").read_text())
    attacked = {h.lower() for h in scenario["attacked_hosts"]}
    serious = _serious_hosts(result)
    assert attacked <= serious, f"attacked hosts in no serious incident: {attacked - serious}"
    assert serious <= attacked, f"clean hosts in serious incidents: {serious - attacked}"
    top = result.incidents[0]
    entry = scenario["campaign"]["variants"].get("entry_host") or scenario["network"]["hosts"][0]["name"]
    web = [h["name"] for h in scenario["network"]["hosts"] if h["role"] == "web_server"]
    entry = scenario.get("entry_host") or (web[0] if web else entry)
    assert _short(top.hosts[0]) == entry.lower()
    assert _short(top.entry_host) == entry.lower()

    cited = {
        (_short(e.host), (e.channel or "").lower(), e.record_id)
        for inc in result.incidents
        for s in inc.signals
        for e in s.events
    }
    steps: dict[tuple[str, str], bool] = defaultdict(bool)
    for line in (where / "truth.jsonl").read_text().splitlines():
        t = json.loads(line)
        if t["recorded"]:
            key = (_short(t["host"]), t["channel"].lower(), t["record_id"])
            steps[(t["step"], _short(t["host"]))] |= key in cited
    missed = sorted(k for k, seen in steps.items() if not seen)
    assert not missed, f"recorded steps no incident cites: {missed}"

    pairs = {(_short(e.source), _short(e.target)) for e in top.edges}
    moves = _campaign_moves(scenario)
    assert moves <= pairs, f"lateral moves not listed: {moves - pairs}"


def _campaign_moves(scenario: dict) -> set[tuple[str, str]]:
    """The campaign's moves between hosts: the scenario's edges where it lists them, else
    each attacked host reached from the edge server or the domain controller."""
    edges = scenario.get("edges") or scenario["campaign"].get("edges")
    if edges:
        return {(_short(e["from"]), _short(e["to"])) for e in edges if "." not in e["from"] or True}
    v = scenario["campaign"]["variants"]
    web = [h["name"] for h in scenario["network"]["hosts"] if h["role"] == "web_server"][0]
    dc = v["domain_controller"]
    moves = {(web, dc), (dc, v["portproxy"]["host"]), (dc, v["file_server"])}
    if v["recon_workstation"] not in (web, dc):
        moves.add((web, v["recon_workstation"]))
    return {(a.lower(), b.lower()) for a, b in moves if a != b}


_BENIGN = "benign_only" in inspect.signature(simulate_volt_typhoon).parameters


@pytest.mark.skipif(not _BENIGN, reason="the simulator cannot write a network without intruder")
@pytest.mark.parametrize("network", NETWORKS, ids=lambda n: f"seed{n[0]}-{n[1]}h-{n[2]}d-{n[3]}")
def test_benign_networks_build_no_serious_incident(network: tuple, tmp_path: Path) -> None:
    seed, hosts, days, fmt = network
    simulate_volt_typhoon(tmp_path, hosts=hosts, days=days, seed=seed, fmt=fmt, benign_only=True)  # type: ignore[call-arg]
    result = run_hunt(HuntConfig(paths=[tmp_path / LOGS_DIR], workers=1))
    serious = [(i.severity, i.summary) for i in result.incidents if i.severity in SERIOUS]
    assert not serious
