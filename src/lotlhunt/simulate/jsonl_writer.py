"""Write simulated records as the JSON dump of an EVTX file, one event per line.

The shape is the one the Rust ``evtx`` parser emits (``evtx_dump -o jsonl``), so the
readers treat a simulated ``.jsonl`` exactly like a dump of a real log: ``Event.System``
with ``#attributes`` for Provider/TimeCreated/Execution/Security and ``Event.EventData``
with named fields, or ``EventData.Data.#text`` for the unnamed values classic providers
(ESENT, Windows PowerShell) write, or ``Event.UserData.<wrapper>`` for the providers that
write UserData (TerminalServices 1149). Values stay strings, as :class:`EvtxRecord` holds them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

import orjson

from lotlhunt.simulate.records import EvtxRecord, UserData

_XMLNS = {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"}
#: Lines are buffered and written in blocks; a line is ~1-2 KB.
_FLUSH_EVERY = 2000


def _system_time(rec: EvtxRecord) -> str:
    # evtx always prints six fraction digits and a Z; isoformat would drop a zero fraction.
    return rec.timestamp.isoformat(timespec="microseconds")[:26] + "Z"


def record_to_json(rec: EvtxRecord) -> dict:
    """The evtx-parser JSON object of one record."""
    provider: dict[str, str] = {"Name": rec.provider}
    if rec.provider_guid:
        provider["Guid"] = rec.provider_guid
    if rec.event_source_name:
        provider["EventSourceName"] = rec.event_source_name
    system = {
        "Provider": {"#attributes": provider},
        "EventID": rec.event_id,
        "Version": rec.version,
        "Level": rec.level,
        "Task": rec.task,
        "Opcode": rec.opcode,
        "Keywords": rec.keywords,
        "TimeCreated": {"#attributes": {"SystemTime": _system_time(rec)}},
        "EventRecordID": rec.record_id,
        "Correlation": None,
        "Execution": {"#attributes": {"ProcessID": rec.process_id, "ThreadID": rec.thread_id}},
        "Channel": rec.channel,
        "Computer": rec.computer,
        "Security": {"#attributes": {"UserID": rec.user_sid}} if rec.user_sid else None,
    }
    event: dict = {"#attributes": _XMLNS, "System": system}
    if rec.user_data is not None:
        event["UserData"] = rec.user_data.as_json(rec.event_data)
    elif rec.data_values:
        data: dict = dict(rec.event_data)
        data["Data"] = {"#text": list(rec.data_values)}
        event["EventData"] = data
    elif rec.event_data:
        event["EventData"] = rec.event_data
    return {"Event": event}


def encode_head(
    provider: str,
    guid: str | None,
    source: str | None,
    event_id: int,
    version: int,
    level: int,
    task: int,
    opcode: int,
    keywords: str,
) -> str:
    """The constant start of an event's JSON line, up to the SystemTime value.

    With :func:`encode_tail` this lets the simulator write a line without building an
    :class:`EvtxRecord` and a nested dict per event; the bytes equal
    ``orjson.dumps(record_to_json(rec))``.
    """
    prov: dict[str, str] = {"Name": provider}
    if guid:
        prov["Guid"] = guid
    if source:
        prov["EventSourceName"] = source
    return (
        '{"Event":{"#attributes":'
        + orjson.dumps(_XMLNS).decode()
        + ',"System":{"Provider":{"#attributes":'
        + orjson.dumps(prov).decode()
        + f'}},"EventID":{event_id},"Version":{version},"Level":{level},"Task":{task},'
        f'"Opcode":{opcode},"Keywords":'
        + orjson.dumps(keywords).decode()
        + ',"TimeCreated":{"#attributes":{"SystemTime":"'
    )


def encode_tail(channel: str, computer: str) -> str:
    return (
        ',"Channel":'
        + orjson.dumps(channel).decode()
        + ',"Computer":'
        + orjson.dumps(computer).decode()
    )


class JsonlWriter:
    """Streaming writer: one JSON line per :meth:`write`, buffered, same API as EvtxWriter."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._fh = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        self._buf: list[bytes] = []
        self.count = 0

    def write(self, record: EvtxRecord) -> None:
        self._buf.append(orjson.dumps(record_to_json(record)))
        self.count += 1
        if len(self._buf) >= _FLUSH_EVERY:
            self._flush()

    def write_encoded(
        self,
        head: str,
        system_time: str,
        record_id: int,
        pid: int,
        tid: int,
        tail: str,
        user_sid: str | None,
        named: dict[str, str],
        values: tuple[str, ...] = (),
        user_data: UserData | None = None,
    ) -> None:
        """Write one event from :func:`encode_head`/:func:`encode_tail` parts (fast path)."""
        sec = (
            ',"Security":null}'
            if user_sid is None
            else (',"Security":{"#attributes":{"UserID":"' + user_sid + '"}}}')
        )
        line = (
            f'{head}{system_time}"}}}},"EventRecordID":{record_id},"Correlation":null,'
            f'"Execution":{{"#attributes":{{"ProcessID":{pid},"ThreadID":{tid}}}}}{tail}{sec}'
        ).encode()
        if user_data is not None:
            line += b',"UserData":' + orjson.dumps(user_data.as_json(named))
        elif values:
            line += b',"EventData":' + orjson.dumps({**named, "Data": {"#text": list(values)}})
        elif named:
            line += b',"EventData":' + orjson.dumps(named)
        self._buf.append(line + b"}}")
        self.count += 1
        if len(self._buf) >= _FLUSH_EVERY:
            self._flush()

    def _flush(self) -> None:
        if self._buf:
            self._buf.append(b"")
            self._fh.write(b"\n".join(self._buf))
            self._buf.clear()

    def close(self) -> None:
        if not self._fh.closed:
            self._flush()
            self._fh.close()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def write_jsonl(path: Path | str, records: Iterable[EvtxRecord]) -> int:
    """Write ``records`` to ``path``; returns how many were written."""
    with JsonlWriter(path) as w:
        for rec in records:
            w.write(rec)
        return w.count
