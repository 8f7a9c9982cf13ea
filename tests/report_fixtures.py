"""A realistic hunt result with incidents, built by hand for report tests.

``hostile`` puts the same text into every place a log or rule can put text (host names,
rule titles, tags, file names, event fields, matched selections, issue messages,
incident summaries), so a test can check that it shows as text everywhere.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lotlhunt.errors import InputIssue
from lotlhunt.model import (
    Detection,
    EventRef,
    HuntResult,
    HuntStats,
    Incident,
    LateralEdge,
    PlaybookMatch,
    ScoreReason,
    Severity,
    Signal,
    SignalKind,
)

T0 = datetime(2026, 2, 23, 1, 0, tzinfo=UTC)

RULES = (
    (
        "r-portproxy",
        "Netsh Portproxy Added",
        "high",
        ("attack.command-and-control", "attack.t1090.001"),
    ),
    (
        "r-ntds",
        "NTDS Install-From-Media Created",
        "critical",
        ("attack.credential-access", "attack.t1003.003"),
    ),
    (
        "r-wmiexec",
        "Impacket Wmiexec Output On ADMIN$",
        "high",
        ("attack.lateral-movement", "attack.t1021.002", "attack.execution", "attack.t1047"),
    ),
    ("r-discovery", "Account And Group Discovery", "low", ("attack.discovery", "attack.t1087.002")),
    ("r-logclear", "Event Log Cleared", "medium", ("attack.defense-evasion", "attack.t1070.001")),
)
HOSTS = ("adssp01.harbor.local", "dc01.harbor.local", "fs02.harbor.local", "ws03.harbor.local")


def _detection(
    k: int, host: str, rule: int, text: str = "", when: datetime | None = None
) -> Detection:
    rid, title, level, tags = RULES[rule]
    cmd = f"netsh interface portproxy add v4tov4 listenport={9000 + k} {text}".strip()
    return Detection(
        rule_id=rid,
        rule_title=title + (f" {text}" if text else ""),
        level=level,
        tags=tags + ((f"custom.{text}",) if text else ()),
        timestamp=when or T0 + timedelta(minutes=7 * k),
        host=host,
        channel="Security",
        event_id=4688,
        record_id=1000 + k,
        source=f"/cases/{host.split('.')[0]}/Security{text}.evtx",
        position=1000 + k,
        fields={"CommandLine": cmd, "Image": "C:\\Windows\\System32\\netsh.exe"},
        matched=("selection",) + ((text,) if text else ()),
        details={
            "NewProcessName": "C:\\Windows\\System32\\netsh.exe",
            "CommandLine": cmd,
            "SubjectUserName": f"svc_backup{text}",
            "SubjectDomainName": "HARBOR",
        },
        provider="Microsoft-Windows-Security-Auditing",
    )


def _ref(d: Detection) -> EventRef:
    return EventRef(d.timestamp, d.host, d.channel, d.event_id, d.record_id, d.source, d.position)


def fake_result(detections: int = 24, hostile: str = "") -> HuntResult:
    """Detections over four hosts and two incidents: the first crosses three hosts."""
    hosts = tuple(h.replace(".harbor", hostile + ".harbor") if hostile else h for h in HOSTS)
    dets = [
        _detection(k, hosts[k % len(hosts)], k % len(RULES), hostile) for k in range(detections)
    ]
    chain = [d for d in dets if d.host in hosts[:3]][:9]
    signals = tuple(
        Signal(
            kind=SignalKind.DETECTION,
            name=d.rule_title,
            level=d.level,
            why=f"rule {d.rule_title} matched {d.fields['CommandLine']}",
            events=(_ref(d),),
            rule_id=d.rule_id,
            tags=d.tags,
            host=d.host,
            account="HARBOR\\svc_backup" + hostile,
            timestamp=d.timestamp,
        )
        for d in chain
    ) + (
        Signal(
            kind=SignalKind.BEHAVIOUR,
            name="first logon to host" + hostile,
            level="medium",
            why=f"first logon of HARBOR\\svc_backup to {hosts[1]} from 10.10.50.14 in 3 days",
            events=(EventRef(T0 + timedelta(minutes=9), hosts[1], "Security", 4624, 77, "x", 77),),
            host=hosts[1],
            account="HARBOR\\svc_backup",
            timestamp=T0 + timedelta(minutes=9),
        ),
    )
    first = Incident(
        id="INC-0001",
        score=87.5,
        severity=Severity.CRITICAL,
        summary=f"svc_backup{hostile} moved from {hosts[0]} to {hosts[1]} and {hosts[2]}, "
        "dumped NTDS and opened a port proxy",
        hosts=hosts[:3],
        entry_host=hosts[0],
        accounts=("HARBOR\\svc_backup" + hostile,),
        first=chain[0].timestamp,
        last=chain[-1].timestamp,
        tactics=("credential-access", "lateral-movement", "command-and-control"),
        techniques=("T1003.003", "T1021.002", "T1090.001"),
        edges=(
            LateralEdge(
                hosts[0], hosts[1], "HARBOR\\svc_backup" + hostile, "wmi", T0 + timedelta(minutes=8)
            ),
            LateralEdge(
                hosts[1], hosts[2], "HARBOR\\svc_backup", "smb", T0 + timedelta(minutes=30)
            ),
        ),
        playbooks=(PlaybookMatch("Volt Typhoon", ("T1003.003", "T1090.001"), 0.5),),
        signals=signals,
        reasons=(
            ScoreReason(40.0, "NTDS copied (critical)" + hostile),
            ScoreReason(30.0, "3 hosts reached through wmi and smb"),
            ScoreReason(17.5, "port proxy opened on the entry host"),
        ),
    )
    lone = [d for d in dets if d.host == hosts[3]][:2]
    second = Incident(
        id="INC-0002",
        score=12.0,
        severity=Severity.LOW,
        summary=f"discovery commands on {hosts[3]}",
        hosts=(hosts[3],),
        entry_host=hosts[3],
        accounts=(),
        first=lone[0].timestamp if lone else None,
        last=lone[-1].timestamp if lone else None,
        tactics=("discovery",),
        techniques=("T1087.002",),
        edges=(),
        playbooks=(),
        signals=tuple(
            Signal(
                SignalKind.DETECTION,
                d.rule_title,
                d.level,
                "matched",
                (_ref(d),),
                d.rule_id,
                d.tags,
                d.host,
            )
            for d in lone
        ),
        reasons=(ScoreReason(12.0, "discovery on one host"),),
    )
    stats = HuntStats(
        files=5,
        records=215_384,
        records_failed=3,
        rules_loaded=80,
        rules_failed=1,
        detections=len(dets),
        seconds=1.5,
        notes=["memory limit raised to 4 GB" + hostile],
    )
    return HuntResult(
        stats=stats,
        detections=dets,
        incidents=[first, second],
        input_issues=[
            InputIssue(f"/cases/broken{hostile}.evtx", 3, "chunk 2 is damaged" + hostile, "record")
        ],
        rule_issues=[
            InputIssue(f"rules/bad{hostile}.yml", None, "unknown modifier" + hostile, "rule")
        ],
        skipped=[(f"/cases/notes{hostile}.txt", "not a log")],
    )
