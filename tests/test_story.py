"""The story a hunt tells of simulated intrusions: incidents against the truth.

Per network (seed, size, length, format): every attacked host is in an incident of
severity medium or more; the entry host is the first host of the top incident; every
campaign step whose events the logs hold (behaviour-only ones included) is cited by a
signal of an incident; the campaign's lateral moves are listed as edges; no clean host is
in an incident of severity medium or more. Networks without an intruder build no incident
of severity medium or more.
"""

from __future__ import annotations

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
        out[(seed, hosts, days, fmt)] = (
            where,
            run_hunt(HuntConfig(paths=[where / LOGS_DIR], workers=1)),
        )
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
    entry = scenario["entry_host"].lower()
    assert _short(top.hosts[0]) == entry
    assert _short(top.entry_host) == entry

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

    listed = {(_short(e.source), _short(e.target), e.method) for e in top.edges}
    moves = {(_short(e["from"]), _short(e["to"]), e["method"]) for e in scenario["lateral_edges"]}
    assert moves <= listed, f"lateral moves not listed: {moves - listed}"


@pytest.mark.parametrize("network", NETWORKS, ids=lambda n: f"seed{n[0]}-{n[1]}h-{n[2]}d-{n[3]}")
def test_benign_networks_build_no_serious_incident(network: tuple, tmp_path: Path) -> None:
    seed, hosts, days, fmt = network
    simulate_volt_typhoon(tmp_path, hosts=hosts, days=days, seed=seed, fmt=fmt, benign_only=True)
    result = run_hunt(HuntConfig(paths=[tmp_path / LOGS_DIR], workers=1))
    serious = [(i.severity, i.summary) for i in result.incidents if i.severity in SERIOUS]
    assert not serious


INCIDENT_KEYS = {
    "id",
    "score",
    "severity",
    "summary",
    "hosts",
    "entry_host",
    "accounts",
    "first",
    "last",
    "tactics",
    "techniques",
    "edges",
    "playbooks",
    "signals",
}
SIGNAL_KEYS = {"kind", "name", "rule_id", "level", "why", "events"}
EVENT_KEYS = {"host", "channel", "record_id", "timestamp", "source", "position"}


def test_cli_writes_incidents_and_behaviours_and_a_case_rehunt_gives_the_same(
    hunted: dict, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from lotlhunt.cli import cli

    where, _ = hunted[NETWORKS[0]]
    case, first, again, jsonl = (
        tmp_path / n for n in ("c.duckdb", "a.jsonl", "b.jsonl", "d.jsonl")
    )
    run = CliRunner().invoke
    args = ["--workers", "1", "--case", str(case)]
    done = run(
        cli,
        ["hunt", str(where / LOGS_DIR), *args, "--incidents", str(first), "--jsonl", str(jsonl)],
    )
    assert done.exit_code == 0, done.output
    done = run(cli, ["hunt", *args, "--incidents", str(again)])
    assert done.exit_code == 0, done.output
    lines = [json.loads(x) for x in first.read_text().splitlines()]
    assert lines and lines == [json.loads(x) for x in again.read_text().splitlines()]
    assert all(INCIDENT_KEYS <= set(inc) for inc in lines)
    assert [x["score"] for x in lines] == sorted((x["score"] for x in lines), reverse=True)
    for sig in lines[0]["signals"]:
        assert SIGNAL_KEYS <= set(sig) and sig["kind"] in ("detection", "behaviour")
        assert all(EVENT_KEYS <= set(e) for e in sig["events"])
    behaviours = [json.loads(x) for x in jsonl.read_text().splitlines() if '"behaviour"' in x]
    assert any(b.get("type") == "behaviour" and b["why"] for b in behaviours)
