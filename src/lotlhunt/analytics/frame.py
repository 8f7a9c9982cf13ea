"""The events analytics read, loaded once per hunt as normalised Arrow tables.

Each table keeps the identity of every row (row id, time, host, channel, record id,
source, position) so a signal can cite its events, plus a few normalised columns: host
keys without the domain (``dc01.corp.local`` and the machine account ``DC01$`` are the
same host), accounts as ``DOMAIN\\user``, lower-cased images and their base names, logon
ids and process GUIDs as the keys incidents chain through. Sysmon and Security process
creation land in one table; so do the logon events of every channel that records one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..engines.base import RID, FrameRequest
from ..events import schema
from ..model import EventRef

SYSMON = "microsoft-windows-sysmon/operational"
SECURITY = "security"
SYSTEM = "system"
RCM = "microsoft-windows-terminalservices-remoteconnectionmanager/operational"
ROW = "__rid"
TS = "ts"
HK = "hk"


class FrameSource(Protocol):
    """What analytics need from an engine (:meth:`lotlhunt.engines.base.Engine.events_frames`):
    for each request, ``rid`` and the ``columns`` asked for (core columns or event fields,
    NULL where no event holds the field) of the events with one of ``event_ids`` on one of
    ``channels`` (either empty: any), in row-id order. All frames are asked for at once, so
    the engine may read them side by side."""

    def events_frames(self, requests: Sequence[FrameRequest]) -> list[pa.Table]: ...


def request(
    fields: Sequence[str], event_ids: Sequence[int], channels: Sequence[str]
) -> FrameRequest:
    """The request of the core columns and ``fields`` of those events."""
    return FrameRequest((*schema.CORE_COLUMNS, *fields), tuple(event_ids), tuple(channels))


def named(table: pa.Table) -> pa.Table:
    """An engine's frame with its row id named ``ROW``."""
    return table.rename_columns([ROW if n == RID else n for n in table.column_names])


@dataclass
class Frames:
    """The normalised tables every analytic reads (see the module docstring)."""

    processes: pa.Table
    logons: pa.Table
    shares: pa.Table
    network: pa.Table
    marks: pa.Table
    #: Identity of every event (no fields): for holes, silences and late logs.
    core: pa.Table


# -- column helpers ----------------------------------------------------------------------


def text(table: pa.Table, name: str) -> pa.ChunkedArray:
    """Column ``name`` as strings, empty where NULL."""
    return pc.fill_null(table.column(name).cast(pa.string()), "")


def lower(table: pa.Table, name: str) -> pa.ChunkedArray:
    return pc.utf8_lower(text(table, name))


def coalesce(table: pa.Table, *names: str) -> pa.ChunkedArray:
    """The first of ``names`` that is neither NULL nor empty, per row ("" if none is)."""
    out = text(table, names[-1])
    for name in reversed(names[:-1]):
        value = text(table, name)
        out = pc.if_else(pc.not_equal(value, ""), value, out)
    return out


def basename(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    """What follows the last backslash or slash, lower-cased (worked out per distinct
    value)."""
    return per_value(
        values, lambda v: pc.utf8_lower(pc.replace_substring_regex(v, r"^.*[\\/]", ""))
    )


def host_key(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Host names without domain, lower-cased; a machine account's trailing ``$`` goes."""
    short = pc.replace_substring_regex(pc.utf8_lower(values), r"\..*$", "")
    return pc.replace_substring_regex(short, r"\$$", "")


def address(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Network addresses as logs write them, without the IPv4-mapped IPv6 prefix."""
    return pc.replace_substring_regex(pc.utf8_lower(values), r"^::ffff:", "")


def account(table: pa.Table, domain: str, user: str) -> pa.Array:
    """``DOMAIN\\user`` (or the user alone when there is no domain)."""
    d, u = text(table, domain), text(table, user)
    joined = pc.binary_join_element_wise(d, u, "\\")
    return pc.if_else(pc.equal(d, ""), u, joined)


def key_ids(*arrays: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """One integer per distinct combination of the arrays' values, per row: the rank of
    the combination among those present, in the order of the arrays' dictionaries.

    Each array is dictionary-encoded and the codes combined: no string is built per row.
    The combined codes are compacted only where the next product could overflow and once
    at the end, by counting when they are small (no sort of a million codes per array).
    """
    combined: np.ndarray | None = None
    top = 0  # the largest combined code so far
    for a in arrays:
        if isinstance(a, pa.ChunkedArray):
            a = a.combine_chunks() if a.num_chunks != 1 else a.chunk(0)
        if not pa.types.is_dictionary(a.type):
            a = pc.dictionary_encode(pc.fill_null(a, "") if pa.types.is_string(a.type) else a)
        codes = np.asarray(pc.fill_null(a.indices, -1).to_numpy(zero_copy_only=False), np.int64) + 1
        size = len(a.dictionary) + 1
        if combined is None:
            combined, top = codes, size - 1
            continue
        if (top + 1) * size >= _COMPACT_ABOVE:
            combined = _ranks(combined, top)
            top = int(combined.max()) if combined.size else 0
        combined = combined * size + codes
        top = top * size + size - 1
    if combined is None:
        return np.zeros(0, np.int64)
    return _ranks(combined, top)


#: Combined codes past this are compacted before the next array multiplies them.
_COMPACT_ABOVE = 1 << 62


def _ranks(codes: np.ndarray, top: int) -> np.ndarray:
    """Each code's rank among the distinct codes present (``np.unique``'s inverse),
    counted in one pass when the codes are no larger than a few times their number."""
    if codes.size == 0:
        return codes.astype(np.int64)
    if top < 4 * codes.size + 1024:
        present = np.zeros(top + 1, np.int64)
        present[codes] = 1
        return (np.cumsum(present) - 1)[codes]
    return np.unique(codes, return_inverse=True)[1].astype(np.int64).reshape(-1)


def np_col(table: pa.Table, name: str) -> np.ndarray:
    """A column as a numpy array (strings as objects)."""
    return table.column(name).to_numpy()


def event_ref(table: pa.Table, i: int) -> EventRef:
    """The identity of row ``i``: enough to find the event in the logs again."""
    row = {name: table.column(name)[i].as_py() for name in schema.EVENT_REF_COLUMNS}
    return EventRef(
        timestamp=row[schema.TIMESTAMP],
        host=row[schema.HOST],
        channel=row[schema.CHANNEL],
        event_id=row[schema.EVENT_ID],
        record_id=row[schema.RECORD_ID],
        source=row[schema.SOURCE],
        position=row[schema.POSITION],
    )


def event_identities(table: pa.Table) -> list[tuple[Any, ...]]:
    """The identity of every row of ``table`` (:data:`schema.EVENT_REF_COLUMNS`), in
    :class:`EventRef` order, read column by column."""
    cols: list[list[Any]] = [schema.utc_datetimes(table.column(schema.TIMESTAMP))]
    cols += [table.column(c).to_pylist() for c in schema.EVENT_REF_COLUMNS[1:]]
    return list(zip(*cols, strict=True))


def event_refs(table: pa.Table) -> list[EventRef]:
    """Every row of ``table`` as an :class:`EventRef`."""
    return [EventRef(*row) for row in event_identities(table)]


# -- loading -------------------------------------------------------------------------------


def _base(table: pa.Table) -> pa.Table:
    """Adds ``ts`` (microseconds since the epoch, 0 where unknown) and the host key."""
    ts = pc.fill_null(table.column(schema.TIMESTAMP).cast(pa.int64()), 0)
    table = table.append_column(TS, ts)
    return table.append_column(HK, per_value(text(table, schema.HOST), host_key))


def _framed(table: pa.Table, columns: dict[str, pa.Array | pa.ChunkedArray]) -> pa.Table:
    """A frame: the row id, core columns, time and host key of ``table``, then
    ``columns`` (the frame's own, derived from the fields read), in order."""
    table = table.select([ROW, *schema.CORE_COLUMNS, TS, HK])
    for name, col in columns.items():
        table = table.append_column(name, col)
    return table


def per_value(
    values: pa.ChunkedArray | pa.Array, fn: Callable[[pa.Array], pa.Array]
) -> pa.ChunkedArray | pa.Array:
    """``fn`` applied to each distinct value once, spread back to every row: a handful of
    host names over a million events cost a handful of regex runs."""
    if isinstance(values, pa.ChunkedArray):
        return pa.chunked_array([_per_value(c, fn) for c in values.chunks], _result(values, fn))
    return _per_value(values, fn)


def _per_value(values: pa.Array, fn: Callable[[pa.Array], pa.Array]) -> pa.Array:
    # One hash pass (the dictionary) where finding the distinct values and then each
    # row's among them took two.
    encoded = pc.dictionary_encode(values)
    return pc.take(fn(encoded.dictionary), encoded.indices)


def _result(values: pa.ChunkedArray, fn: Callable[[pa.Array], pa.Array]) -> pa.DataType:
    return fn(pa.array([], values.type)).type


PROCESS_FIELDS = (
    "Image",
    "ParentImage",
    "CommandLine",
    "User",
    "LogonId",
    "ProcessGuid",
    "ParentProcessGuid",
    "ProcessId",
    "NewProcessName",
    "ParentProcessName",
    "NewProcessId",
    "SubjectUserName",
    "SubjectDomainName",
    "SubjectLogonId",
    "TargetUserName",
    "TargetDomainName",
    "TargetLogonId",
)


def _processes(sysmon: pa.Table, security: pa.Table) -> pa.Table:
    """Sysmon 1 and Security 4688 in one shape, each part's columns worked out from its
    own fields only (a Sysmon start has no Security account to choose, and the reverse)."""
    return pa.concat_tables([_process_part(sysmon, True), _process_part(security, False)])


def _process_part(table: pa.Table, sysmon: bool) -> pa.Table:
    table = _base(table)
    image = coalesce(table, "Image", "NewProcessName")
    parent = coalesce(table, "ParentImage", "ParentProcessName")
    out = {
        "image": pc.utf8_lower(image),
        "image_base": basename(image),
        "parent_base": basename(parent),
        "cmd": text(table, "CommandLine"),
    }
    if sysmon:
        out["account"] = text(table, "User")
        out["session"] = lower(table, "LogonId")
        out["guid"] = lower(table, "ProcessGuid")
        out["pguid"] = lower(table, "ParentProcessGuid")
        return _framed(table, out)
    target = account(table, "TargetDomainName", "TargetUserName")
    subject = account(table, "SubjectDomainName", "SubjectUserName")
    target_user = text(table, "TargetUserName")
    target_ok = pc.and_(pc.not_equal(target_user, ""), pc.not_equal(target_user, "-"))
    tlogon = lower(table, "TargetLogonId")
    out["account"] = pc.if_else(target_ok, target, subject)
    out["session"] = pc.if_else(
        pc.or_(pc.equal(tlogon, ""), pc.equal(tlogon, "0x0")),
        lower(table, "SubjectLogonId"),
        tlogon,
    )
    out["guid"] = lower(table, "NewProcessId")
    out["pguid"] = lower(table, "ProcessId")
    return _framed(table, out)


LOGON_FIELDS = (
    "TargetUserName",
    "TargetDomainName",
    "TargetLogonId",
    "LogonType",
    "IpAddress",
    "WorkstationName",
    "SubjectUserName",
    "SubjectDomainName",
    "SubjectLogonId",
    "TargetServerName",
    "AccountName",
    "AccountDomain",
    "ClientName",
    "ClientAddress",
    "LogonID",
    "Param1",
    "Param2",
    "Param3",
)


def _logons(sec: pa.Table, rcm: pa.Table) -> pa.Table:
    """4624 / 4634 / 4647 / 4648 / 4778 (Security) and 1149 (RDP accepted), one shape:
    ``account``, ``ltype`` (logon type, ``explicit`` for 4648, ``10`` for RDP events),
    ``src`` (the other end's address), ``src_name`` (its name, when given),
    ``session`` and, for 4648, ``target`` (the server the credentials were used for)."""
    table = _base(pa.concat_tables([sec, rcm]))
    eid = table.column(schema.EVENT_ID)
    is_4648 = pc.equal(eid, 4648)
    is_4778 = pc.equal(eid, 4778)
    is_1149 = pc.equal(eid, 1149)
    acct = account(table, "TargetDomainName", "TargetUserName")
    acct = pc.if_else(is_4778, account(table, "AccountDomain", "AccountName"), acct)
    acct = pc.if_else(is_1149, account(table, "Param2", "Param1"), acct)
    ltype = text(table, "LogonType")
    ltype = pc.if_else(is_4648, "explicit", ltype)
    ltype = pc.if_else(pc.or_(is_4778, is_1149), "10", ltype)
    src = address(text(table, "IpAddress"))
    src = pc.if_else(is_4778, address(text(table, "ClientAddress")), src)
    src = pc.if_else(is_1149, address(text(table, "Param3")), src)
    src_name = pc.if_else(is_4778, text(table, "ClientName"), text(table, "WorkstationName"))
    session = pc.if_else(is_4648, lower(table, "SubjectLogonId"), lower(table, "TargetLogonId"))
    session = pc.if_else(is_4778, lower(table, "LogonID"), session)
    subject = account(table, "SubjectDomainName", "SubjectUserName")
    out = {
        "account": acct,
        "ltype": ltype,
        "src": src,
        "src_name": host_key(src_name),
        "session": session,
        "target": host_key(text(table, "TargetServerName")),
        "subject": subject,
    }
    return _framed(table, out)


SHARE_FIELDS = (
    "SubjectUserName",
    "SubjectDomainName",
    "SubjectLogonId",
    "IpAddress",
    "ShareName",
    "RelativeTargetName",
)


def _shares(table: pa.Table) -> pa.Table:
    table = _base(table)
    share = pc.utf8_lower(pc.replace_substring_regex(text(table, "ShareName"), r"^.*\\", ""))
    out = {
        "account": account(table, "SubjectDomainName", "SubjectUserName"),
        "session": lower(table, "SubjectLogonId"),
        "src": address(text(table, "IpAddress")),
        "share": share,
        "target_name": pc.utf8_lower(text(table, "RelativeTargetName")),
    }
    return _framed(table, out)


NETWORK_FIELDS = (
    "Image",
    "User",
    "ProcessGuid",
    "SourceIp",
    "DestinationIp",
    "DestinationPort",
    "Initiated",
)


def _network(table: pa.Table) -> pa.Table:
    table = _base(table)
    out = {
        "image_base": basename(text(table, "Image")),
        "account": text(table, "User"),
        "guid": lower(table, "ProcessGuid"),
        "src": address(text(table, "SourceIp")),
        "dst": address(text(table, "DestinationIp")),
        "port": text(table, "DestinationPort"),
        "initiated": pc.utf8_lower(text(table, "Initiated")),
    }
    return _framed(table, out)


MARK_FIELDS = (
    "SubjectUserName",
    "SubjectDomainName",
    "SubjectLogonId",
    "param1",
    "param2",
    "param3",
    "field_Channel",
)


def _marks(sec: pa.Table, sys: pa.Table) -> pa.Table:
    """Events that say a log was cleared or silenced, or auditing changed."""
    table = _base(pa.concat_tables([sec, sys]))
    table = table.append_column("account", account(table, "SubjectDomainName", "SubjectUserName"))
    table = table.append_column("session", lower(table, "SubjectLogonId"))
    return table


def load_frames(source: FrameSource) -> Frames:
    """Every table the analytics read, each loaded once, all asked for in one call.

    The core columns are read once, with the core table of every event; the other frames
    ask for their fields only and take their core columns from it by row id (reading
    them again with each frame cost more than the taking)."""
    requests = {
        "core": request((), [], []),
        "sysmon processes": FrameRequest(PROCESS_FIELDS, (1,), (SYSMON,)),
        "security processes": FrameRequest(PROCESS_FIELDS, (4688,), (SECURITY,)),
        "security logons": FrameRequest(LOGON_FIELDS, (4624, 4634, 4647, 4648, 4778), (SECURITY,)),
        "rdp logons": FrameRequest(LOGON_FIELDS, (1149,), (RCM,)),
        "shares": FrameRequest(SHARE_FIELDS, (5140, 5145), (SECURITY,)),
        "network": FrameRequest(NETWORK_FIELDS, (3,), (SYSMON,)),
        "security marks": FrameRequest(MARK_FIELDS, (1102, 4719), (SECURITY,)),
        "system marks": FrameRequest(MARK_FIELDS, (104, 7036, 7040), (SYSTEM,)),
    }
    read = source.events_frames(list(requests.values()))
    core = named(read[0])
    t = {name: with_core(named(table), core) for name, table in zip(requests, read, strict=True)}
    return Frames(
        processes=_processes(t["sysmon processes"], t["security processes"]),
        logons=_logons(t["security logons"], t["rdp logons"]),
        shares=_shares(t["shares"]),
        network=_network(t["network"]),
        marks=_marks(t["security marks"], t["system marks"]),
        core=_base(core),
    )


def with_core(fields: pa.Table, core: pa.Table) -> pa.Table:
    """``fields`` (``ROW`` and event fields, in row-id order) with the core columns of the
    same events taken from ``core`` (every event, in row-id order), as a request of the
    core columns and the fields gives them: ``ROW``, the core columns, the fields."""
    if schema.CORE_COLUMNS[0] in fields.column_names:
        return fields
    rid = fields.column(ROW).to_numpy()
    every = core.column(ROW).to_numpy()
    pos = np.searchsorted(every, rid)
    if pos.size and (int(pos.max()) >= every.size or not np.array_equal(every[pos], rid)):
        raise ValueError("a frame holds events the core table does not")
    columns = {ROW: fields.column(ROW)}
    columns.update({name: take_sorted(core.column(name), pos) for name in schema.CORE_COLUMNS})
    columns.update({name: fields.column(name) for name in fields.column_names[1:]})
    return pa.table(columns)


def take_sorted(column: pa.ChunkedArray, pos: np.ndarray) -> pa.ChunkedArray:
    """The rows of ``column`` at the ascending positions ``pos``, taken chunk by chunk
    (a take over a chunked column of a million strings cost several times as much)."""
    lengths = [len(c) for c in column.chunks]
    bounds = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
    cuts = np.searchsorted(pos, bounds)
    pieces = [
        chunk.take(pa.array(pos[cuts[k] : cuts[k + 1]] - bounds[k], pa.int64()))
        for k, chunk in enumerate(column.chunks)
        if cuts[k + 1] > cuts[k]
    ]
    return pa.chunked_array(pieces, column.type)
