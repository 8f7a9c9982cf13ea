"""Threat intelligence files in: STIX 2.1 bundles and MISP events become rules.

The two files under ``tests/intel`` are written for these tests in the published formats
(a STIX 2.1 bundle with a report and indicators using the patterning grammar; a MISP
event export with attributes and a ``process`` object). Each indicator kind must fire on
the event it names and stay quiet on a near miss, and everything the files hold that
cannot become a rule must be listed and counted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lotlhunt.errors import UsageError
from lotlhunt.hunt import HuntConfig, run_hunt
from lotlhunt.rules.intel import Kind, feed_rules, like_to_sigma, read_feed
from lotlhunt.rules.loader import load_rules
from lotlhunt.testing import rules_fired

INTEL = Path(__file__).parent / "intel"
STIX = INTEL / "advisory.stix.json"
MISP = INTEL / "event.misp.json"
SYSMON = "Microsoft-Windows-Sysmon/Operational"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOTLHUNT_CACHE_DIR", str(tmp_path / "cache"))


def ev(channel: str, eid: int, **fields: Any) -> dict[str, Any]:
    return {"Channel": channel, "EventID": eid, "Hostname": "srv1", **fields}


def fired(path: Path, events: list[dict[str, Any]]) -> list[bool]:
    ruleset = load_rules([], extra_dicts=feed_rules(read_feed(path)), cache=False)
    assert ruleset.failed == [], [str(i) for i in ruleset.failed]
    return [bool(hits) for hits in rules_fired(ruleset.rules, events)]


def test_stix_indicators_are_read_per_kind() -> None:
    feed = read_feed(STIX)
    assert feed.name == "Test Advisory TA-0001" and feed.date == "2024-02-07"
    assert feed.references == ["https://example.org/advisories/ta-0001"]
    kinds = {(i.kind, i.value) for i in feed.indicators}
    assert (Kind.SHA256, "1" * 64) in kinds and (Kind.MD5, "2" * 32) in kinds
    assert (Kind.SHA1, "3" * 40) in kinds  # from an AND with a file name
    assert (Kind.CIDR, "198.51.100.0/24") in kinds
    assert (Kind.COMMAND_LINE_REGEX, r"(?i)netsh\s+interface\s+portproxy\s+add") in kinds
    # STIX string escapes are undone, then the LIKE pattern is written for Sigma.
    assert (Kind.COMMAND_LINE_LIKE, r"*ntdsutil*ifm*C:\\Windows\\Temp\\*") in kinds
    assert len(feed.sigma_rules) == 1


def test_stix_unsupported_patterns_are_listed_never_dropped() -> None:
    messages = [i.message for i in read_feed(STIX).issues]
    assert any("pattern_type 'yara'" in m for m in messages)
    assert any("FOLLOWEDBY" in m for m in messages)
    assert any("url:value" in m for m in messages)
    assert any("AND of conditions; its hash is used" in m for m in messages)
    assert all(i.kind == "indicator" for i in read_feed(STIX).issues)


def test_stix_rules_fire_on_what_they_name() -> None:
    events = [
        ev(SYSMON, 1, Image=r"C:\x\a.exe", Hashes="MD5=22222222222222222222222222222222,SHA256=AA"),
        ev(SYSMON, 1, Image=r"C:\x\a.exe", Hashes="MD5=22222222222222222222222222222223"),
        ev(SYSMON, 1, Image=r"C:\ProgramData\ssvchost.exe"),
        ev(SYSMON, 1, Image=r"C:\Windows\System32\svchost.exe"),
        ev(SYSMON, 3, DestinationIp="198.51.100.200", SourceIp="10.0.0.5"),
        ev(SYSMON, 3, DestinationIp="198.51.101.1", SourceIp="10.0.0.5"),
        ev("Security", 4624, IpAddress="203.0.113.7", LogonType=10),
        ev("Security", 4624, IpAddress="203.0.113.8", LogonType=10),
        ev(SYSMON, 22, QueryName="update.example-cdn.net"),
        ev(SYSMON, 22, QueryName="example-cdn.net"),
        ev(SYSMON, 1, CommandLine=r'ntdsutil "ac i ntds" "ifm" "create full C:\Windows\Temp\x" q'),
        ev(SYSMON, 1, CommandLine=r'ntdsutil "ac i ntds" "ifm" "create full D:\backup" q'),
        ev(SYSMON, 1, CommandLine="netsh  Interface portproxy add v4tov4 listenport=9999"),
        ev(SYSMON, 1, CommandLine="netsh interface portproxy show all"),
        ev(SYSMON, 1, CommandLine="vssadmin create shadow /for=C:"),
    ]
    assert fired(STIX, events) == [True, False] * 7 + [True]


def test_misp_attributes_are_read_per_type() -> None:
    feed = read_feed(MISP)
    assert feed.name.startswith("Test campaign") and feed.date == "2024-03-01"
    kinds = {(i.kind, i.value) for i in feed.indicators}
    assert (Kind.FILE_NAME, "fwdagent.exe") in kinds and (Kind.MD5, "5" * 32) in kinds
    assert (Kind.FILE_PATH, r"C:\Users\Public\Music\rtkdrv.dll") in kinds
    assert (Kind.IP, "192.0.2.55") in kinds  # the port is dropped
    assert (Kind.DOMAIN, "relay.example-vps.org") in kinds and (Kind.IP, "192.0.2.77") in kinds
    assert (Kind.COMMAND_LINE, "wevtutil qe Security /q:*[System[(EventID=4624)]] /f:text") in kinds
    messages = [i.message for i in feed.issues]
    assert sum("is not supported" in m for m in messages) == 2  # url, regkey
    assert any("not a hexadecimal hash" in m for m in messages)
    assert any("2 attributes not flagged for detection" in m for m in messages)


def test_misp_rules_fire_on_what_they_name() -> None:
    events = [
        ev(SYSMON, 1, Image=r"C:\Users\bob\fwdagent.exe"),
        ev(SYSMON, 1, Image=r"C:\Users\bob\fwdagent2.exe"),
        ev(SYSMON, 11, TargetFilename=r"D:\Users\Public\Music\rtkdrv.dll"),
        ev(SYSMON, 11, TargetFilename=r"C:\Users\Public\Videos\rtkdrv.dll"),
        ev(SYSMON, 3, DestinationIp="10.0.0.9", SourceIp="192.0.2.66"),
        ev(SYSMON, 3, DestinationIp="10.0.0.9", SourceIp="192.0.2.67"),
        ev(SYSMON, 3, DestinationHostname="C2.example-vps.org", DestinationIp="10.0.0.1"),
        ev(SYSMON, 3, DestinationHostname="c3.example-vps.org", DestinationIp="10.0.0.1"),
        # The asterisk of the published command line is literal, not a wildcard.
        ev(SYSMON, 1, CommandLine="wevtutil qe Security /q:*[System[(EventID=4624)]] /f:text"),
        ev(SYSMON, 1, CommandLine="wevtutil qe Security /q:X[System[(EventID=4624)]] /f:text"),
    ]
    assert fired(MISP, events) == [True, False] * 5


def test_hunt_reports_unsupported_indicators_as_rule_issues(tmp_path: Path) -> None:
    logs = tmp_path / "logs.jsonl"
    logs.write_text(json.dumps(ev(SYSMON, 22, QueryName="c2.example-vps.org")) + "\n", "utf-8")
    result = run_hunt(HuntConfig(paths=[logs], default_rules=False, indicators=[STIX, MISP]))
    assert [d.rule_title for d in result.detections] == [
        "Test campaign: edge device exploitation and proxy tooling: DNS Query For A Listed Domain"
    ]
    indicator_issues = [i for i in result.rule_issues if i.kind == "indicator"]
    assert len(indicator_issues) == 8
    assert result.stats.rules_failed == len(result.rule_issues)


def test_rule_ids_are_stable_and_name_their_source() -> None:
    first = feed_rules(read_feed(STIX))
    second = feed_rules(read_feed(STIX))
    assert [r["id"] for r in first] == [r["id"] for r in second]
    assert len({r["id"] for r in first}) == len(first)
    hashes = first[0]
    assert hashes["lotlhunt_source"] == "advisory.stix.json (advisory.stix.json)"
    assert hashes["references"] == ["https://example.org/advisories/ta-0001"]
    assert {i["note"].split(" from ")[1] for i in hashes["lotlhunt_indicators"]} == {
        "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "indicator--0f6c8a2a-4d89-4a16-9f55-6c1b0e1e7a11",
    }


@pytest.mark.parametrize(
    "content",
    [b"not json", b'{"type": "report"}', b"[1, 2]"],
)
def test_files_in_neither_format_are_usage_errors(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.json"
    path.write_bytes(content)
    with pytest.raises(UsageError):
        read_feed(path)


def test_invalid_stix_objects_are_listed(tmp_path: Path) -> None:
    bundle = json.loads(STIX.read_text("utf-8"))
    bundle["objects"].append({"type": "indicator", "id": "indicator--bad", "pattern": "["})
    bundle["objects"].append("junk")
    path = tmp_path / "b.json"
    path.write_text(json.dumps(bundle), "utf-8")
    messages = [i.message for i in read_feed(path).issues]
    assert any(m.startswith("indicator--bad: invalid STIX indicator") for m in messages)
    assert any("not a JSON object" in m for m in messages)


@pytest.mark.parametrize(
    ("pattern", "sigma"),
    [
        ("%a_b%", "*a?b*"),
        ("C:\\%", "C:\\\\*"),
        ("x*y?", "x\\*y\\?"),
    ],
)
def test_like_patterns_become_sigma_wildcards(pattern: str, sigma: str) -> None:
    assert like_to_sigma(pattern) == sigma
