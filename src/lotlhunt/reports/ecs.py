"""Detections as Elastic Common Schema alerts, ready for the bulk API.

The file is a bulk request body: for each detection a ``create`` action (with an id
derived from the rule and the event, so loading it twice adds nothing) and the
document, one JSON object per line::

    curl -H 'Content-Type: application/x-ndjson' -XPOST \\
        'localhost:9200/lotlhunt-alerts/_bulk' --data-binary @alerts.ndjson

No ingest pipeline is needed: every ECS field is written with its ECS type (``ip``
fields only when the value is an address, ``long`` fields as integers), and event
fields go under ``winlog.event_data`` with dots in names replaced, as Winlogbeat does.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from functools import lru_cache
from pathlib import Path

import orjson

from .._support.text import control_free
from ..model import Detection, HuntResult, iso
from .attack import attack_table, tactic_names, techniques_of
from .common import IncidentIndex, in_time_order

ECS_VERSION = "8.11.0"
#: Elastic's risk score bands per Sigma level, as its detection rules map them.
SEVERITY = {"informational": 21, "low": 21, "medium": 47, "high": 73, "critical": 99}
ATTACK_URL = "https://attack.mitre.org"
#: ``@timestamp`` of an event that carried no time.
NO_TIME = "1970-01-01T00:00:00.000000Z"

#: ECS categorisation of the event a detection matched, by (channel, event id).
_CATEGORY: dict[tuple[str, int], tuple[list[str], list[str]]] = {
    ("security", 4688): (["process"], ["start"]),
    ("microsoft-windows-sysmon/operational", 1): (["process"], ["start"]),
    ("microsoft-windows-sysmon/operational", 3): (["network"], ["connection"]),
    ("microsoft-windows-sysmon/operational", 11): (["file"], ["creation"]),
    ("microsoft-windows-sysmon/operational", 22): (["network"], ["protocol"]),
    ("microsoft-windows-sysmon/operational", 13): (["registry"], ["change"]),
    ("security", 4624): (["authentication"], ["start"]),
    ("security", 4625): (["authentication"], ["start"]),
    ("security", 5145): (["file"], ["access"]),
    ("security", 1102): (["iam"], ["deletion"]),
    ("system", 7045): (["configuration"], ["creation"]),
}

#: Event fields that fill ECS fields, in order of preference.
_EXECUTABLE = ("Image", "NewProcessName", "ProcessName")
_COMMAND_LINE = ("CommandLine",)
_PID = ("ProcessId", "NewProcessId")
_PARENT_EXECUTABLE = ("ParentImage", "ParentProcessName")
_PARENT_COMMAND_LINE = ("ParentCommandLine",)
_PARENT_PID = ("ParentProcessId",)
_USER = ("User", "TargetUserName", "SubjectUserName", "AccountName")
_DOMAIN = ("TargetDomainName", "SubjectDomainName", "AccountDomain")
_SOURCE_IP = ("SourceIp", "IpAddress", "ClientAddress")
_SOURCE_PORT = ("SourcePort", "IpPort")
_DEST_IP = ("DestinationIp", "DestAddress")
_DEST_PORT = ("DestinationPort", "DestPort")
_FILE_PATH = ("TargetFilename",)


def ecs_document(d: Detection, incident: str | None) -> dict[str, object]:
    """The ECS document of one detection."""
    values = {**d.fields, **d.details}

    def first(names: tuple[str, ...]) -> str | None:
        for name in names:
            v = values.get(name)
            if v not in (None, "", "-"):
                return v
        return None

    event: dict[str, object] = {
        "kind": "alert",
        "module": "lotlhunt",
        "dataset": "lotlhunt.detection",
        "severity": SEVERITY.get(d.level, 21),
        "risk_score": float(SEVERITY.get(d.level, 21)),
    }
    if d.event_id is not None:
        event["code"] = str(d.event_id)
    if d.provider:
        event["provider"] = d.provider
    category = _CATEGORY.get(((d.channel or "").lower(), d.event_id or -1))
    if category:
        event["category"], event["type"] = category
    # An event without a time still gets a document: at the epoch, and said so.
    doc: dict[str, object] = {
        "@timestamp": iso(d.timestamp) or NO_TIME,
        "ecs": {"version": ECS_VERSION},
    }
    doc["event"] = event
    doc["message"] = control_free(f"{d.rule_title} on {d.host or '?'}")
    if d.host:
        doc["host"] = {"name": d.host, "hostname": d.host.split(".")[0]}
    process = _process(first(_EXECUTABLE), first(_COMMAND_LINE), _integer(first(_PID)))
    parent = _process(
        first(_PARENT_EXECUTABLE), first(_PARENT_COMMAND_LINE), _integer(first(_PARENT_PID))
    )
    if parent:
        process["parent"] = parent
    if process:
        doc["process"] = process
    user = _user(first(_USER), first(_DOMAIN))
    if user:
        doc["user"] = user
    for side, ip_names, port_names in (
        ("source", _SOURCE_IP, _SOURCE_PORT),
        ("destination", _DEST_IP, _DEST_PORT),
    ):
        ip = _address(first(ip_names))
        if ip:
            end: dict[str, object] = {"ip": ip}
            port = _integer(first(port_names))
            if port is not None and 0 <= port <= 65535:
                end["port"] = port
            doc[side] = end
    path = first(_FILE_PATH)
    if path:
        doc["file"] = {"path": path, "name": path.replace("/", "\\").rsplit("\\", 1)[-1]}
    doc["rule"] = {
        "id": d.rule_id,
        "uuid": d.rule_id,
        "name": d.rule_title,
        "ruleset": "sigma",
    }
    if d.source:
        doc["log"] = {"file": {"path": d.source}}
    winlog: dict[str, object] = {
        "channel": d.channel,
        "event_id": None if d.event_id is None else str(d.event_id),
        "record_id": None if d.record_id is None else str(d.record_id),
        "computer_name": d.host,
        "event_data": {_data_name(k): v for k, v in values.items() if v is not None},
    }
    doc["tags"] = list(d.tags)
    doc["lotlhunt"] = {"incident_id": incident, "level": d.level, "matched": list(d.matched)}
    doc = _without_nulls(doc)
    # Added after: both hold no null already (and the threat object is shared).
    threat = _threat(d.tags)
    if threat:
        doc["threat"] = threat
    doc["winlog"] = {k: v for k, v in winlog.items() if v}
    return doc


def _process(
    executable: str | None, command_line: str | None, pid: int | None
) -> dict[str, object]:
    out: dict[str, object] = {}
    if executable:
        out["executable"] = executable
        out["name"] = executable.replace("/", "\\").rsplit("\\", 1)[-1]
    if command_line:
        out["command_line"] = command_line
    if pid is not None and 0 <= pid < 2**63:
        out["pid"] = pid
    return out


def _user(name: str | None, domain: str | None) -> dict[str, object]:
    if not name:
        return {}
    if "\\" in name:
        domain, name = name.split("\\", 1)
    out: dict[str, object] = {"name": name}
    if domain and domain != "-":
        out["domain"] = domain
    return out


@lru_cache(maxsize=4096)
def _threat(tags: tuple[str, ...]) -> dict[str, object]:
    """The ``threat`` object of a rule's tags: built once per rule, shared, never changed."""
    techniques = techniques_of(tags)
    table = attack_table()
    tactics = list(tactic_names(tags))
    for t in techniques:
        tactics.extend(x for x in t.tactics if x not in tactics)
    if not techniques and not tactics:
        return {}
    threat: dict[str, object] = {"framework": "MITRE ATT&CK"}
    parents = list(dict.fromkeys(t.parent for t in techniques))
    if parents:
        named = [table.technique(p) for p in parents]
        threat["technique"] = {
            "id": parents,
            "name": [t.name for t in named],
            "reference": [f"{ATTACK_URL}/techniques/{p}/" for p in parents],
        }
        subs = [t for t in techniques if "." in t.id]
        if subs:
            threat["technique"]["subtechnique"] = {  # type: ignore[index]
                "id": [t.id for t in subs],
                "name": [t.name for t in subs],
                "reference": [f"{ATTACK_URL}/techniques/{t.id.replace('.', '/')}/" for t in subs],
            }
    known = [table.tactic(t) for t in tactics]
    found = [t for t in known if t is not None]
    if found:
        threat["tactic"] = {
            "id": [t.id for t in found],
            "name": [t.name for t in found],
            "reference": [f"{ATTACK_URL}/tactics/{t.id}/" for t in found],
        }
    return threat


def _integer(text: str | None) -> int | None:
    """Decimal or ``0x`` hexadecimal (Security 4688 writes process ids in hex)."""
    if not text:
        return None
    try:
        return int(text, 16) if text.lower().startswith("0x") else int(text)
    except ValueError:
        return None


def _address(text: str | None) -> str | None:
    """An IP address as the ``ip`` type takes it, or None (``-``, a host name, ``::ffff:``
    forms are normalised by :mod:`ipaddress`)."""
    if not text:
        return None
    try:
        return str(ipaddress.ip_address(text.strip().strip("[]")))
    except ValueError:
        return None


def _data_name(name: str) -> str:
    safe = name.replace(".", "_").strip() or "field"
    return "field" + safe if safe.startswith("_") else safe


def _without_nulls(obj: dict[str, object]) -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in obj.items():
        if isinstance(v, dict):
            v = _without_nulls(v)
            if not v:
                continue
        if v is None:
            continue
        out[k] = v
    return out


def document_id(d: Detection) -> str:
    """A stable id: the same rule on the same event is the same alert."""
    key = "\x1f".join(
        str(x) for x in (d.rule_id, d.source, d.host, d.channel, d.record_id, d.position)
    )
    return hashlib.sha1(key.encode("utf-8", "backslashreplace")).hexdigest()


def write_ecs(result: HuntResult, path: Path) -> None:
    """The bulk body: an action line and a document line per detection, in time order."""
    index = IncidentIndex.of_result(result)
    with path.open("wb") as out:
        for d in in_time_order(result.detections):
            action = {"create": {"_id": document_id(d)}}
            out.write(orjson.dumps(action, option=orjson.OPT_APPEND_NEWLINE))
            doc = ecs_document(d, index.of(d))
            try:
                out.write(orjson.dumps(doc, option=orjson.OPT_APPEND_NEWLINE))
            except TypeError:  # a lone surrogate: written escaped, never lost
                out.write((json.dumps(doc, ensure_ascii=True) + "\n").encode("ascii"))
