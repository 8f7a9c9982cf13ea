"""JSON flavours: one parsed document (EVTX dump, Winlogbeat, flattened export) as a row.

The flavour is sniffed per document, since one export can mix them; a flattened
NXLog/Logstash document needs no mapping (its core values are found by key alias when
the batch is built).
"""

from __future__ import annotations

from typing import Any

from lotlhunt.sources.formats.evtx_events import map_evtx_event
from lotlhunt.sources.normalise import (
    CHANNEL,
    EVENT_ID,
    HOST,
    PROVIDER,
    RECORD_ID,
    TS,
)
from lotlhunt.sources.values import flatten_into, leaves_into

# Winlogbeat keys that are System values, renamed to the EVTX field names Sigma uses.
_WINLOG_SYSTEM = {
    "provider_guid": "Provider_Guid",
    "provider_name": "Provider_Name",
    "task": "Task",
    "opcode": "Opcode",
    "keywords": "Keywords",
    "version": "Version",
    "activity_id": "Correlation_ActivityID",
    "level": "Level",
    "process_id": "Execution_ProcessID",
    "thread_id": "Execution_ThreadID",
}
_WINLOG_CORE = {
    "channel": CHANNEL,
    "log_name": CHANNEL,
    "provider_name": PROVIDER,
    "source_name": PROVIDER,
    "event_id": EVENT_ID,
    "record_id": RECORD_ID,
    "record_number": RECORD_ID,
    "computer_name": HOST,
}


def map_winlogbeat(doc: dict[str, Any]) -> dict[Any, Any]:
    """Winlogbeat 7+/ECS (``winlog.*``) or legacy 6.x (top-level ``event_data``) as a row."""
    winlog = doc.get("winlog")
    legacy = type(winlog) is not dict
    wl: dict[str, Any] = doc if legacy else winlog  # type: ignore[assignment]
    row: dict[Any, Any] = {}
    for section in ("event_data", "user_data"):
        if section in wl:
            leaves_into(row, wl[section], section)
    for key, role in _WINLOG_CORE.items():
        if key in wl and row.get(role) is None:
            row[role] = wl[key]
    for key, name in _WINLOG_SYSTEM.items():
        if key in wl and name not in row:
            row[name] = wl[key]
    process = wl.get("process") if not legacy else None
    if type(process) is dict:
        row.setdefault("Execution_ProcessID", process.get("pid"))
        thread = process.get("thread")
        row.setdefault("Execution_ThreadID", thread.get("id") if type(thread) is dict else None)
    user = wl.get("user")
    if type(user) is dict and "identifier" in user:
        row.setdefault("Security_UserID", user["identifier"])
    host = doc.get("host")
    if row.get(HOST) is None and type(host) is dict:
        row[HOST] = host.get("name") or host.get("hostname")
    if row.get(EVENT_ID) is None and type(doc.get("event")) is dict:
        row[EVENT_ID] = doc["event"].get("code")
    row[TS] = doc.get("@timestamp")
    skip = {"event_data", "user_data", "@timestamp", *_WINLOG_CORE, *_WINLOG_SYSTEM}
    for key, value in wl.items():
        if key not in skip and key != "winlog":
            flatten_into(row, key if legacy else f"winlog.{key}", value)
    if not legacy:
        for key, value in doc.items():
            if key not in ("winlog", "@timestamp"):
                flatten_into(row, key, value)
    return row


def map_document(doc: dict[str, Any]) -> dict[Any, Any]:
    """Sniff one JSON document's flavour and return its row (the doc itself when flat)."""
    if "Event" in doc:
        row = map_evtx_event(doc)
        if row is not None:
            return row
    if "winlog" in doc or "event_data" in doc or ("log_name" in doc and "event_id" in doc):
        return map_winlogbeat(doc)
    return doc
