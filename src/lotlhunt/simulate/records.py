"""The record the simulator produces and the EVTX and JSON writers consume.

It mirrors what an EVTX record holds (the System element plus EventData, or UserData
for the events whose manifest says so), so a simulated event can be written as a real
``.evtx`` file or as the JSON dump of one, and reads back as the same row of the events
table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class UserData:
    """Where an event's values go when its provider writes UserData, not EventData:
    one wrapper ``element`` (with its namespace ``attributes``) holding one child
    element per value, named after it. TerminalServices' 1149 is
    ``<UserData><EventXML xmlns="Event_NS"><Param1>..</Param1>..</EventXML></UserData>``.
    """

    element: str
    attributes: tuple[tuple[str, str], ...] = ()

    def as_json(self, values: dict[str, str]) -> dict[str, object]:
        """The ``UserData`` object as the ``evtx`` parser renders it."""
        inner: dict[str, object] = {"#attributes": dict(self.attributes)} if self.attributes else {}
        inner.update(values)
        return {self.element: inner}


@dataclass(frozen=True, slots=True)
class EvtxRecord:
    """One Windows event as its log stores it."""

    provider: str
    event_id: int
    channel: str
    computer: str
    timestamp: datetime  # timezone-aware, UTC
    record_id: int
    event_data: dict[str, str] = field(default_factory=dict)
    #: Unnamed ``<Data>`` values, as classic providers (Windows PowerShell 400/800,
    #: Application events) write them; written after the named ones.
    data_values: tuple[str, ...] = ()
    provider_guid: str | None = None
    #: Classic providers record an EventSourceName; ``None`` for manifest providers.
    event_source_name: str | None = None
    version: int = 0
    level: int = 4
    task: int = 0
    opcode: int = 0
    keywords: str = "0x8000000000000000"
    process_id: int = 0
    thread_id: int = 0
    user_sid: str | None = None
    #: When set, ``event_data`` is written as this UserData shape instead of EventData
    #: (``data_values`` must then be empty: UserData values are always named).
    user_data: UserData | None = None
