"""Sigma semantics, construct by construct: a rule snippet, crafted events, expected hits.

Each case runs end to end (JSON lines -> reader -> DuckDB -> compiled rule), so it checks
the compiler, the slice building and the reader's normalisation together.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from lotlhunt.engines.base import EngineOptions
from lotlhunt.testing import compile_rules
from lotlhunt.testing import rule_matches as matches_with

#: Every case runs both ways the DuckDB engine evaluates rules: per field (each test of
#: a field once over its distinct values, the rule as boolean algebra on the rows), and
#: each rule as its own SQL on the rows.
SLICE_MODES = {
    "by-field": EngineOptions(),
    "rule-sql": EngineOptions(by_field=False),
}


@pytest.fixture(params=sorted(SLICE_MODES))
def slice_mode(request: pytest.FixtureRequest) -> EngineOptions:
    return SLICE_MODES[request.param]


SYSMON = {"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1, "Hostname": "ws1"}


def proc(**fields: Any) -> dict[str, Any]:
    return {**SYSMON, **fields}


def rule(detection: dict[str, Any], logsource: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "title": "case",
        "id": "00000000-0000-4000-8000-000000000001",
        "level": "high",
        "logsource": logsource or {"product": "windows", "category": "process_creation"},
        "detection": detection,
    }


def sel(**items: Any) -> dict[str, Any]:
    return {"selection": dict(items), "condition": "selection"}


# (id, detection, events, expected hits)
CASES: list[tuple[str, dict[str, Any], list[dict[str, Any]], list[bool]]] = [
    (
        "equality-is-case-insensitive",
        sel(Image="C:\\Windows\\System32\\CMD.exe"),
        [proc(Image="c:\\windows\\system32\\cmd.exe"), proc(Image="C:\\Windows\\cmd.exe")],
        [True, False],
    ),
    (
        "non-ascii-case-folding",
        sel(**{"CommandLine|contains": "ÄRGER"}),
        [proc(CommandLine="echo ärger"), proc(CommandLine="echo arger")],
        [True, False],
    ),
    (
        "contains",
        sel(**{"CommandLine|contains": "portproxy"}),
        [proc(CommandLine="netsh interface PortProxy add"), proc(CommandLine="netsh int")],
        [True, False],
    ),
    (
        "startswith-endswith",
        sel(**{"Image|endswith": "\\wmic.exe", "CommandLine|startswith": "wmic "}),
        [
            proc(Image="C:\\x\\WMIC.exe", CommandLine="WMIC process call create"),
            proc(Image="C:\\x\\wmic.exe.bak", CommandLine="wmic process"),
            proc(Image="C:\\x\\wmic.exe", CommandLine="cmd /c wmic process"),
        ],
        [True, False, False],
    ),
    (
        "wildcard-star-inside-value",
        sel(CommandLine="*ntdsutil*ifm*"),
        [proc(CommandLine='ntdsutil "ac i ntds" ifm'), proc(CommandLine="ntdsutil ifx")],
        [True, False],
    ),
    (
        "wildcard-question-mark-is-one-character",
        sel(CommandLine="a?c"),
        [
            proc(CommandLine="abc"),
            proc(CommandLine="ac"),
            proc(CommandLine="abbc"),
            proc(CommandLine="aéc"),
        ],
        [True, False, False, True],
    ),
    (
        "escaped-wildcards-are-literal",
        sel(CommandLine="a\\*b\\?c"),
        [proc(CommandLine="a*b?c"), proc(CommandLine="aXXbYc")],
        [True, False],
    ),
    (
        "sql-like-characters-are-literal",
        sel(**{"CommandLine|contains": "100%_done"}),
        [proc(CommandLine="x 100%_done y"), proc(CommandLine="x 100xxdone y")],
        [True, False],
    ),
    (
        "trailing-backslash",
        sel(**{"CurrentDirectory|endswith": "\\Temp\\"}),
        [proc(CurrentDirectory="C:\\Temp\\"), proc(CurrentDirectory="C:\\Temp")],
        [True, False],
    ),
    (
        "quotes-in-values",
        sel(**{"CommandLine|contains": 'it\'s "quoted"'}),
        [proc(CommandLine='say it\'s "quoted" ok'), proc(CommandLine="its quoted")],
        [True, False],
    ),
    (
        "all-with-several-values",
        sel(**{"CommandLine|contains|all": ["create", "shadow"]}),
        [proc(CommandLine="vssadmin create shadow /for=C:"), proc(CommandLine="vssadmin create")],
        [True, False],
    ),
    (
        "all-with-one-value",
        sel(**{"CommandLine|contains|all": ["shadow"]}),
        [proc(CommandLine="shadow"), proc(CommandLine="none")],
        [True, False],
    ),
    (
        "list-is-or",
        sel(**{"Image|endswith": ["\\rar.exe", "\\7z.exe"]}),
        [proc(Image="C:\\7z.exe"), proc(Image="C:\\rar.exe"), proc(Image="C:\\zip.exe")],
        [True, True, False],
    ),
    (
        "windash-all-dashes",
        sel(**{"CommandLine|windash|contains": " -enc "}),
        [
            proc(CommandLine="powershell -enc AAA"),
            proc(CommandLine="powershell /enc AAA"),
            proc(CommandLine="powershell \u2013enc AAA"),
            proc(CommandLine="powershell \u2014enc AAA"),
            proc(CommandLine="powershell \u2015enc AAA"),
            proc(CommandLine="powershell enc AAA"),
        ],
        [True, True, True, True, True, False],
    ),
    (
        "field-missing-does-not-match",
        sel(ParentCommandLine="x"),
        [proc(CommandLine="x")],
        [False],
    ),
    (
        "not-of-missing-field-matches",
        {
            "selection": {"Image|endswith": "\\cmd.exe"},
            "filter": {"ParentImage|endswith": "\\explorer.exe"},
            "condition": "selection and not filter",
        },
        [proc(Image="C:\\cmd.exe"), proc(Image="C:\\cmd.exe", ParentImage="C:\\explorer.exe")],
        [True, False],
    ),
    (
        "nested-not",
        {
            "a": {"Image|endswith": "\\cmd.exe"},
            "b": {"User": "root"},
            "c": {"CommandLine": "x"},
            "condition": "a and not (b and not c)",
        },
        [
            proc(Image="\\cmd.exe", User="root", CommandLine="x"),
            proc(Image="\\cmd.exe", User="root", CommandLine="y"),
            proc(Image="\\cmd.exe"),
        ],
        [True, False, True],
    ),
    (
        "one-of-selection-pattern",
        {
            "selection_a": {"CommandLine|contains": "aaa"},
            "selection_b": {"CommandLine|contains": "bbb"},
            "condition": "1 of selection_*",
        },
        [proc(CommandLine="aaa"), proc(CommandLine="bbb"), proc(CommandLine="ccc")],
        [True, True, False],
    ),
    (
        "all-of-them",
        {
            "selection_a": {"CommandLine|contains": "aaa"},
            "selection_b": {"CommandLine|contains": "bbb"},
            "condition": "all of them",
        },
        [proc(CommandLine="aaa bbb"), proc(CommandLine="aaa")],
        [True, False],
    ),
    (
        "null-value-means-missing",
        {
            "selection": {"Image|endswith": "\\a.exe"},
            "empty": {"ParentImage": None},
            "condition": "selection and empty",
        },
        [proc(Image="\\a.exe"), proc(Image="\\a.exe", ParentImage="C:\\b.exe")],
        [True, False],
    ),
    (
        "empty-string-is-not-null",
        sel(Description=""),
        [proc(Description=""), proc(Image="x")],
        [True, False],
    ),
    (
        "exists",
        sel(**{"ParentImage|exists": True}),
        [proc(ParentImage="x"), proc(Image="y")],
        [True, False],
    ),
    (
        "not-exists",
        {
            "selection": {"Image": "y"},
            "f": {"ParentImage|exists": False},
            "condition": "selection and f",
        },
        [proc(Image="y"), proc(Image="y", ParentImage="x")],
        [True, False],
    ),
    (
        "numbers-match-text-fields",
        sel(LogonType=3),
        [proc(LogonType="3"), proc(LogonType="10")],
        [True, False],
    ),
    (
        "gt-lte-compare-numerically",
        sel(**{"ProcessId|gt": 100, "TerminalSessionId|lte": 1}),
        [
            proc(ProcessId="1000", TerminalSessionId="1"),
            proc(ProcessId="99", TerminalSessionId="0"),
            proc(ProcessId="abc", TerminalSessionId="0"),
        ],
        [True, False, False],
    ),
    (
        "cased",
        sel(**{"CommandLine|cased|contains": "Invoke-"}),
        [proc(CommandLine="Invoke-Mimikatz"), proc(CommandLine="invoke-mimikatz")],
        [True, False],
    ),
    (
        "regex-is-a-search",
        sel(**{"CommandLine|re": "port=(80|443)\\b"}),
        [
            proc(CommandLine="listen port=443 x"),
            proc(CommandLine="port=4433"),
            proc(CommandLine="PORT=443"),
        ],
        [True, False, False],
    ),
    (
        "regex-flag-i",
        sel(**{"CommandLine|re|i": "^invoke-"}),
        [proc(CommandLine="INVOKE-x"), proc(CommandLine="x invoke-")],
        [True, False],
    ),
    (
        "regex-flag-m",
        sel(**{"ScriptBlockText|re|m": "^second$"}),
        [proc(ScriptBlockText="first\nsecond\nthird"), proc(ScriptBlockText="first second")],
        [True, False],
    ),
    (
        "regex-flag-s",
        sel(**{"ScriptBlockText|re|s": "first.second"}),
        [proc(ScriptBlockText="first\nsecond"), proc(ScriptBlockText="first\n\nsecond")],
        [True, False],
    ),
    (
        "fieldref",
        sel(**{"ParentImage|fieldref": "Image"}),
        [
            proc(Image="C:\\A.exe", ParentImage="c:\\a.exe"),
            proc(Image="a", ParentImage="b"),
            proc(Image="a"),
        ],
        [True, False, False],
    ),
    (
        "base64",
        sel(**{"CommandLine|base64|contains": "whoami"}),
        [proc(CommandLine="x " + base64.b64encode(b"whoami").decode()), proc(CommandLine="whoami")],
        [True, False],
    ),
    (
        "base64offset-three-alignments",
        sel(**{"CommandLine|base64offset|contains": "Invoke"}),
        [
            proc(CommandLine=base64.b64encode(b"Invoke-Expression").decode()),
            proc(CommandLine=base64.b64encode(b"xInvoke-Expression").decode()),
            proc(CommandLine=base64.b64encode(b"xyInvoke-Expression").decode()),
            proc(CommandLine=base64.b64encode(b"Invalid").decode()),
        ],
        [True, True, True, False],
    ),
    (
        "utf16le-base64",
        sel(**{"CommandLine|wide|base64offset|contains": "IEX"}),
        [
            proc(CommandLine=base64.b64encode("IEX (New-Object)".encode("utf-16-le")).decode()),
            proc(CommandLine=base64.b64encode(b"IEX").decode()),
        ],
        [True, False],
    ),
]

CASES += [
    (
        "neq-compares-numerically",
        sel(**{"Image|endswith": "\\a.exe", "TerminalSessionId|neq": 0}),
        [
            proc(Image="\\a.exe", TerminalSessionId="1"),
            proc(Image="\\a.exe", TerminalSessionId="0"),
        ],
        [True, False],
    ),
    (
        "utf16be-base64",
        sel(**{"CommandLine|utf16be|base64offset|contains": "IEX"}),
        [
            proc(CommandLine=base64.b64encode("IEX x".encode("utf-16-be")).decode()),
            proc(CommandLine=base64.b64encode("IEX x".encode("utf-16-le")).decode()),
        ],
        [True, False],
    ),
    (
        "utf16-with-bom-base64",
        sel(**{"CommandLine|utf16|base64offset|contains": "IEX"}),
        [
            proc(CommandLine=base64.b64encode("IEX x".encode("utf-16")).decode()),
            proc(CommandLine=base64.b64encode(b"IEX x").decode()),
        ],
        [True, False],
    ),
]

NETWORK = {"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 3, "Hostname": "ws1"}
CIDR_CASES: list[tuple[str, str, list[str], list[bool]]] = [
    (
        "ipv4-boundaries",
        "10.0.0.0/8",
        ["10.0.0.0", "10.255.255.255", "11.0.0.0", "9.255.255.255", "not-an-ip"],
        [True, True, False, False, False],
    ),
    (
        "ipv4-odd-prefix",
        "192.168.4.0/22",
        ["192.168.4.1", "192.168.7.255", "192.168.8.0", "192.168.3.255"],
        [True, True, False, False],
    ),
    (
        "ipv6-shorthand",
        "fe80::/10",
        [
            "fe80::1",
            "FE80:0000:0000:0000:0000:0000:0000:0001",
            "febf:ffff::1",
            "fec0::1",
            "fe80::1%12",
        ],
        [True, True, True, False, True],
    ),
    (
        "ipv4-mapped",
        "127.0.0.0/8",
        ["::ffff:127.0.0.1", "127.1.2.3", "128.0.0.1"],
        [True, True, False],
    ),
]


@pytest.mark.parametrize(
    ("detection", "events", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_construct(
    detection: dict[str, Any],
    events: list[dict[str, Any]],
    expected: list[bool],
    slice_mode: EngineOptions,
) -> None:
    assert matches_with(rule(detection), events, options=slice_mode) == expected


@pytest.mark.parametrize(
    ("cidr", "addresses", "expected"), [c[1:] for c in CIDR_CASES], ids=[c[0] for c in CIDR_CASES]
)
def test_cidr(
    cidr: str, addresses: list[str], expected: list[bool], slice_mode: EngineOptions
) -> None:
    events = [{**NETWORK, "DestinationIp": a} for a in addresses]
    detection = sel(**{"DestinationIp|cidr": cidr})
    logsource = {"product": "windows", "category": "network_connection"}
    assert matches_with(rule(detection, logsource), events, options=slice_mode) == expected


def test_keywords_search_the_whole_event(slice_mode: EngineOptions) -> None:
    detection = {"keywords": ["mimikatz", "sekurlsa::*"], "condition": "keywords"}
    logsource = {"product": "windows", "service": "system"}
    events = [
        {"Channel": "System", "EventID": 7045, "ImagePath": "C:\\MimiKatz.exe"},
        {"Channel": "System", "EventID": 7045, "ServiceName": "sekurlsa::logonpasswords"},
        {"Channel": "System", "EventID": 7045, "ServiceName": "spooler"},
        {"Channel": "Security", "EventID": 4688, "CommandLine": "mimikatz"},
    ]
    assert matches_with(rule(detection, logsource), events, options=slice_mode) == [
        True,
        True,
        False,
        False,
    ]


def test_long_keyword_lists_keep_their_meaning(slice_mode: EngineOptions) -> None:
    # Many keywords fold into one alternation over the event's text, like contains lists:
    # metacharacters literal, case ignored, wildcards at the ends only; a keyword with a
    # wildcard inside, or a case form Python and the engine might fold differently, keeps
    # its own comparison.
    keywords = [f"kw{i}.(x)|[y]" for i in range(9)] + [
        "*sekurlsa::*",
        "lsadump::",
        "a*b",
        "\u24c2z",
    ]
    detection = {"keywords": keywords, "condition": "keywords"}
    logsource = {"product": "windows", "service": "system"}
    sql = compile_rules(rule(detection, logsource)).rules[0].sql
    assert sql.count("regexp_matches") == 1 and sql.count("contains(") == 1  # circled M
    system = {"Channel": "System", "EventID": 7045}
    events = [
        {**system, "ImagePath": "run KW3.(X)|[Y] now"},
        {**system, "ImagePath": "run kw3x(x)|[y]"},
        {**system, "ServiceName": "SEKURLSA::logonpasswords"},
        {**system, "ServiceName": "x lsadump::sam"},
        {**system, "ServiceName": "aXXb"},
        {**system, "ServiceName": "\u24c2Z"},
        {**system, "ServiceName": "spooler", "ImagePath": "kw1.(x)"},
    ]
    assert matches_with(rule(detection, logsource), events, options=slice_mode) == [
        True,
        False,
        True,
        True,
        True,
        True,
        False,
    ]


def test_process_creation_runs_on_security_4688_with_renames(slice_mode: EngineOptions) -> None:
    detection = sel(
        **{
            "Image|endswith": "\\ntdsutil.exe",
            "ParentImage|endswith": "\\wmiprvse.exe",
            "User|contains": "CORP\\",
        }
    )
    events = [
        proc(Image="C:\\W\\ntdsutil.exe", ParentImage="C:\\W\\WmiPrvSE.exe", User="CORP\\adm"),
        {
            "Channel": "Security",
            "EventID": 4688,
            "Hostname": "dc1",
            "NewProcessName": "C:\\W\\ntdsutil.exe",
            "ParentProcessName": "C:\\W\\WmiPrvSE.exe",
            "SubjectUserName": "adm",
            "SubjectDomainName": "CORP",
        },
        {
            "Channel": "security",
            "EventID": 4688,
            "Hostname": "dc1",
            "NewProcessName": "C:\\W\\ntdsutil.exe",
            "ParentProcessName": "C:\\W\\cmd.exe",
            "SubjectUserName": "adm",
            "SubjectDomainName": "CORP",
        },
        {"Channel": "Security", "EventID": 4624, "NewProcessName": "C:\\W\\ntdsutil.exe"},
    ]
    assert matches_with(rule(detection), events, options=slice_mode) == [True, True, False, False]


def test_logsource_keeps_rules_on_their_channel(slice_mode: EngineOptions) -> None:
    detection = sel(ServiceName="evil")
    logsource = {"product": "windows", "service": "system"}
    events = [
        {"Channel": "System", "EventID": 7045, "ServiceName": "evil"},
        {"Channel": "Application", "EventID": 7045, "ServiceName": "evil"},
        {"Channel": "SYSTEM", "EventID": 7045, "ServiceName": "EVIL"},
    ]
    assert matches_with(rule(detection, logsource), events, options=slice_mode) == [
        True,
        False,
        True,
    ]


def test_builtin_fields_map_to_core_columns(slice_mode: EngineOptions) -> None:
    detection = sel(EventID=1102, Provider_Name="Microsoft-Windows-Eventlog")
    logsource = {"product": "windows", "service": "security"}
    events = [
        {"Channel": "Security", "EventID": 1102, "SourceName": "Microsoft-Windows-Eventlog"},
        {"Channel": "Security", "EventID": 1100, "SourceName": "Microsoft-Windows-Eventlog"},
    ]
    assert matches_with(rule(detection, logsource), events, options=slice_mode) == [True, False]


@pytest.mark.parametrize(
    ("detection", "reason"),
    [
        (sel(**{"CommandLine|re": "(?<=a)b"}), "egular expression"),
        (sel(**{"CommandLine|re": "(a)\\1"}), "egular expression"),
    ],
)
def test_unsupported_constructs_are_reported(detection: dict[str, Any], reason: str) -> None:
    ruleset = compile_rules(rule(detection))
    assert not ruleset.rules
    assert reason in ruleset.failed[0].message


def test_unknown_modifier_is_reported_not_dropped() -> None:
    ruleset = compile_rules(rule(sel(**{"CommandLine|nosuchmodifier": "x"})))
    assert not ruleset.rules and ruleset.failed


def test_field_names_with_spaces_match_their_spaceless_sigma_spelling(
    slice_mode: EngineOptions,
) -> None:
    detection = sel(ThreatName="Virus:DOS/EICAR_Test_File")
    logsource = {"product": "windows", "service": "windefend"}
    channel = "Microsoft-Windows-Windows Defender/Operational"
    events = [
        {"Channel": channel, "EventID": 1116, "Threat Name": "Virus:DOS/EICAR_Test_File"},
        {"Channel": channel, "EventID": 1116, "Threat Name": "Other"},
    ]
    assert matches_with(rule(detection, logsource), events, options=slice_mode) == [True, False]


def test_long_contains_lists_keep_their_meaning(slice_mode: EngineOptions) -> None:
    # Many values on one field are folded into one alternation: metacharacters stay literal.
    values = [f"v{i}.(x)|[y]*" for i in range(12)] + ["C:\\Temp\\Evil"]
    detection = sel(**{"CommandLine|contains": values})
    events = [
        proc(CommandLine="run V3.(X)|[Y]* now"),
        proc(CommandLine="run v3x(x)|[y]* now"),
        proc(CommandLine="copy c:\\temp\\evil.exe"),
        proc(CommandLine="nothing"),
    ]
    assert matches_with(rule(detection), events, options=slice_mode) == [True, False, True, False]


def test_long_contains_list_folds_around_a_value_with_case_forms(slice_mode: EngineOptions) -> None:
    # One value whose case forms Python and the engine might fold differently (circled
    # M has a lower-case form) keeps its own comparison; the rest still fold.
    values = [f"emoji{i}" for i in range(10)] + ["\u24c2x"]
    compiled = compile_rules(rule(sel(**{"CommandLine|contains": values})))
    sql = compiled.rules[0].sql
    assert sql.count("regexp_matches") == 1 and "contains(" in sql
    events = [proc(CommandLine="a EMOJI7 b"), proc(CommandLine="\u24c2X"), proc(CommandLine="z")]
    assert matches_with(
        rule(sel(**{"CommandLine|contains": values})), events, options=slice_mode
    ) == [
        True,
        True,
        False,
    ]


def test_values_are_lowered_at_compile_time_only_when_python_folds_as_the_engine(
    slice_mode: EngineOptions,
) -> None:
    # ASCII values reach the engine already lower-cased (no lower() to plan per value);
    # a value with case forms outside ASCII keeps the engine's own lower().
    detection = sel(
        **{"Image|endswith": "\\WMIC.exe", "CommandLine|contains": ["ÄRGER", "Portproxy"]}
    )
    sql = compile_rules(rule(detection)).rules[0].sql
    assert "'\\wmic.exe'" in sql and "'portproxy'" in sql
    assert sql.count("lower(") == 1 and "lower('ÄRGER')" in sql
    events = [
        proc(Image="C:\\x\\wmic.EXE", CommandLine="echo ärger"),
        proc(Image="C:\\x\\wmic.exe", CommandLine="netsh PORTPROXY"),
        proc(Image="C:\\x\\wmic.exe", CommandLine="arger"),
    ]
    assert matches_with(rule(detection), events, options=slice_mode) == [True, True, False]
