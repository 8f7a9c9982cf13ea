"""One rendered EVTX record (``{"Event": {"System": .., ...}}``) as a row of the events table.

The same JSON comes from the ``evtx`` parser and from EVTX dumps in JSON exports, so both
readers map it here.
"""

from __future__ import annotations

from typing import Any

from lotlhunt.sources.normalise import (
    CHANNEL,
    EVENT_ID,
    HOST,
    PROVIDER,
    RECORD_ID,
    TS,
    PackedRow,
    PackedShape,
)
from lotlhunt.sources.values import leaves_into


def map_evtx_event(doc: dict[str, Any]) -> dict[Any, Any] | None:
    """An ``{"Event": {"System": .., "EventData" | "UserData": ..}}`` document as a row.

    This is the JSON that the ``evtx`` package renders and that EVTX dumps contain.
    EventData items keep their names (unnamed ``<Data>`` become ``Data``); UserData is
    flattened to leaf names; the System values Sigma rules use become fields too.
    Returns None when the document is not of that shape (then unchanged); otherwise the
    document's EventData object becomes the row, so a caller must not use it again.
    Runs once per record: kept flat.
    """
    ev = doc.get("Event")
    if type(ev) is not dict:
        return None
    system = ev.get("System")
    if type(system) is not dict:
        return None
    data = ev.get("EventData")
    if type(data) is dict:
        row: dict[Any, Any] = data  # the parsed document is ours: no copy
        if "#attributes" in row:
            del row["#attributes"]
        if "#text" in row:
            row.setdefault("Data", row.pop("#text"))
    else:
        row = {} if data is None else {"EventData": data}
    if "UserData" in ev:
        leaves_into(row, ev["UserData"], "UserData")
    if "ProcessingErrorData" in ev:
        leaves_into(row, ev["ProcessingErrorData"], "ProcessingErrorData")
    get = system.get
    provider = _attrs(get("Provider"))
    execution = _attrs(get("Execution"))
    source_name = provider.get("EventSourceName")
    if _SYSTEM_FIELDS.isdisjoint(row):  # the usual case: no name clashes
        row["Provider_Name"] = provider.get("Name")
        row["Provider_Guid"] = provider.get("Guid")
        row["Level"] = get("Level")
        row["Task"] = get("Task")
        row["Opcode"] = get("Opcode")
        row["Keywords"] = get("Keywords")
        row["Version"] = get("Version")
        row["Execution_ProcessID"] = execution.get("ProcessID")
        row["Execution_ThreadID"] = execution.get("ThreadID")
        row["Security_UserID"] = _attrs(get("Security")).get("UserID")
        row["Correlation_ActivityID"] = _attrs(get("Correlation")).get("ActivityID")
        if source_name is not None:
            row["EventSourceName"] = source_name
    else:  # EventData already has some of these names: it wins
        extras = {
            "Provider_Name": provider.get("Name"),
            "Provider_Guid": provider.get("Guid"),
            "Level": get("Level"),
            "Task": get("Task"),
            "Opcode": get("Opcode"),
            "Keywords": get("Keywords"),
            "Version": get("Version"),
            "Execution_ProcessID": execution.get("ProcessID"),
            "Execution_ThreadID": execution.get("ThreadID"),
            "Security_UserID": _attrs(get("Security")).get("UserID"),
            "Correlation_ActivityID": _attrs(get("Correlation")).get("ActivityID"),
        }
        if source_name is not None:
            extras["EventSourceName"] = source_name
        for key, value in extras.items():
            row.setdefault(key, value)
    time_created = get("TimeCreated")
    row[TS] = _attrs(time_created).get("SystemTime") if time_created else None
    row[HOST] = get("Computer")
    row[CHANNEL] = get("Channel")
    row[PROVIDER] = provider.get("Name") or source_name
    row[EVENT_ID] = get("EventID")
    row[RECORD_ID] = get("EventRecordID")
    return row


_SYSTEM_FIELDS = frozenset(
    "Provider_Name Provider_Guid Level Task Opcode Keywords Version Execution_ProcessID"
    " Execution_ThreadID Security_UserID Correlation_ActivityID EventSourceName".split()
)


#: The keys :func:`map_evtx_event` appends after EventData's when no name clashes (the
#: System fields, then the core keys), without and with ``EventSourceName``.
_SYSTEM_TAIL = (
    "Provider_Name Provider_Guid Level Task Opcode Keywords Version Execution_ProcessID"
    " Execution_ThreadID Security_UserID Correlation_ActivityID".split()
)
_CORE_TAIL = (TS, HOST, CHANNEL, PROVIDER, EVENT_ID, RECORD_ID)
_TAILS = (
    (*_SYSTEM_TAIL, *_CORE_TAIL),
    (*_SYSTEM_TAIL, "EventSourceName", *_CORE_TAIL),
)
#: EventData names (in order) -> the packed shape of rows with them, per tail; False
#: when such rows take :func:`map_evtx_event`'s way (a name clash, ``#text`` ...).
_PACKED: tuple[dict[tuple[str, ...], PackedShape | bool], ...] = ({}, {})
_PACKED_LIMIT = 4096


def pack_evtx_event(doc: dict[str, Any]) -> PackedRow | None:
    """The row :func:`map_evtx_event` makes of ``doc``, as ``(shape, values)`` (see
    :class:`~lotlhunt.sources.shapes.PackedShape`), for the usual record: EventData an
    object (or absent) of plain names none of which is a System field's, no UserData or
    ProcessingErrorData, a time. None otherwise (``doc`` then unchanged, for
    :func:`map_evtx_event`). Runs once per record: kept flat, no dict is filled."""
    ev = doc.get("Event")
    if type(ev) is not dict:
        return None
    system = ev.get("System")
    if type(system) is not dict or "UserData" in ev or "ProcessingErrorData" in ev:
        return None
    data = ev.get("EventData")
    if type(data) is dict:
        names = tuple(data)
    elif data is None:
        names = ()
    else:
        return None
    get = system.get
    node = get("TimeCreated")
    if type(node) is not dict:
        return None
    attrs = node.get("#attributes")
    ts = (attrs if type(attrs) is dict else node).get("SystemTime")
    if ts is None:  # the record header's time is taken: map_evtx_event's way
        return None
    provider = _attrs(get("Provider"))
    execution = _attrs(get("Execution"))
    source_name = provider.get("EventSourceName")
    shapes = _PACKED[source_name is not None]
    shape = shapes.get(names)
    if shape is None:
        shape = shapes[names] = _packed_shape(names, _TAILS[source_name is not None])
    if shape is False:
        return None
    name = provider.get("Name")
    tail: tuple[Any, ...] = (
        name,
        provider.get("Guid"),
        get("Level"),
        get("Task"),
        get("Opcode"),
        get("Keywords"),
        get("Version"),
        execution.get("ProcessID"),
        execution.get("ThreadID"),
        _attrs(get("Security")).get("UserID"),
        _attrs(get("Correlation")).get("ActivityID"),
    )
    if source_name is not None:
        tail += (source_name,)
    core = (
        ts,
        get("Computer"),
        get("Channel"),
        name or source_name,
        get("EventID"),
        get("EventRecordID"),
    )
    values = (*data.values(), *tail, *core) if data else tail + core
    return shape, values  # type: ignore[return-value]


def _packed_shape(names: tuple[str, ...], tail: tuple[Any, ...]) -> PackedShape | bool:
    if len(_PACKED[0]) + len(_PACKED[1]) >= _PACKED_LIMIT:
        _PACKED[0].clear()
        _PACKED[1].clear()
    if "#attributes" in names or "#text" in names or not _SYSTEM_FIELDS.isdisjoint(names):
        return False
    return PackedShape(names + tail)


_EMPTY: dict[str, Any] = {}


def _attrs(node: Any) -> dict[str, Any]:
    """A System node's attributes (its ``#attributes``, else the node itself), read only:
    an absent node gives the one shared empty dict."""
    if type(node) is dict:
        attrs = node.get("#attributes")
        return attrs if type(attrs) is dict else node
    return _EMPTY
