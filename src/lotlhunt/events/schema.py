"""The normalised events table: core columns every reader fills, plus one column per field.

Every reader (EVTX, JSON exports, archives) produces Arrow record batches with this shape,
so the engines and rules never care where an event came from. Core columns are typed;
every event field (EventData, UserData, flattened JSON keys) becomes a nullable string
column under its Windows name. A field that a file lacks is simply absent from that
file's batches and NULL in the table, which is exactly Sigma's "field missing, no match".

Field names are compared without regard to case (exporters disagree on `Security` vs
`security`, `CommandLine` vs `commandline`); the first spelling seen is kept.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyarrow as pa

SCHEMA_VERSION = 1

#: UTC time the event was written (EVTX TimeCreated, JSON @timestamp / EventTime).
TIMESTAMP = "timestamp"
#: Computer name as the event records it.
HOST = "host"
#: Event log channel, e.g. ``Security`` or ``Microsoft-Windows-Sysmon/Operational``.
CHANNEL = "channel"
#: Provider (event source) name, e.g. ``Microsoft-Windows-Security-Auditing``.
PROVIDER = "provider"
#: Numeric event id.
EVENT_ID = "event_id"
#: EventRecordID inside its log (not unique across files).
RECORD_ID = "record_id"
#: Where the event was read: the file path, plus ``!member`` for archive members.
SOURCE = "source"
#: Position inside the source: record index for EVTX, line number for JSON lines.
POSITION = "position"
#: An event's identity, enough to find it in the logs again, in the order of
#: :class:`lotlhunt.model.EventRef`'s fields.
EVENT_REF_COLUMNS = (TIMESTAMP, HOST, CHANNEL, EVENT_ID, RECORD_ID, SOURCE, POSITION)

CORE_FIELDS: tuple[pa.Field, ...] = (
    pa.field(TIMESTAMP, pa.timestamp("us", tz="UTC")),
    pa.field(HOST, pa.string()),
    pa.field(CHANNEL, pa.string()),
    pa.field(PROVIDER, pa.string()),
    pa.field(EVENT_ID, pa.int32()),
    pa.field(RECORD_ID, pa.int64()),
    pa.field(SOURCE, pa.string()),
    pa.field(POSITION, pa.int64()),
)
CORE_SCHEMA = pa.schema(list(CORE_FIELDS))
CORE_COLUMNS: tuple[str, ...] = tuple(f.name for f in CORE_FIELDS)
_CORE_LOWER = frozenset(c.lower() for c in CORE_COLUMNS)

#: Prefix given to an event field whose name collides with a core column (for example the
#: ``host`` key that Logstash adds to every Mordor event names the collector, not the host).
COLLISION_PREFIX = "field_"

FIELD_TYPE = pa.string()

#: Column holding, as one JSON object per event, the fields beyond the column caps (the
#: rarest ones of a batch with too many distinct fields, and new fields once the events
#: table is at its cap): kept, and seen by keyword rules, without a column each.
EXTRA_FIELDS = "lotlhunt_extra_fields"

#: Names starting with this are the engine's own (row ids, lowered twins, work columns);
#: an event field never gets one, whatever its case.
INTERNAL_PREFIX = "__"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def field_column(name: str) -> str:
    """The column name that stores event field ``name``.

    Core column names and names starting with :data:`INTERNAL_PREFIX` are reserved; a
    field that collides with one case-insensitively is stored under ``field_<name>`` so
    the event keeps it without corrupting a core or internal column. Control characters
    (a NUL ends an SQL identifier; an escape sequence must not reach a terminal) are
    written as ``\\uXXXX`` text: the name stays readable and distinct.
    """
    if _CONTROL.search(name):
        name = _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", name)
    if name.lower() in _CORE_LOWER or name.startswith(INTERNAL_PREFIX):
        return COLLISION_PREFIX + name
    return name


def bad_field_name(name: str) -> str | None:
    """Why a rule may not name field ``name`` (None when it may): control characters and
    the engine's internal names would break or confuse the queries built from it (a
    rule's fields name the columns of its slice, beside ``__rid`` and twins such as
    ``<field>__lc``)."""
    if _CONTROL.search(name):
        return f"field name {name!r} has a control character"
    if INTERNAL_PREFIX in name:
        return f"field name {name!r} is reserved (the engine's names hold {INTERNAL_PREFIX!r})"
    return None


def is_core(name: str) -> bool:
    return name.lower() in _CORE_LOWER


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utc_datetimes(column: pa.Array | pa.ChunkedArray) -> list[datetime | None]:
    """Python datetimes (UTC) of a ``TIMESTAMP`` column.

    The same values as ``to_pylist``, five times faster: pyarrow resolves the time zone
    once per value, which costs more than the rest of building a detection.
    """
    micros = column.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_pylist()
    return [None if m is None else _EPOCH + timedelta(microseconds=m) for m in micros]
