"""Write simulated events as real ``.evtx`` files.

The scenario simulator produces :class:`~lotlhunt.simulate.records.EvtxRecord` values;
this module stores them the way the Windows event log service does, so the files read
back through the same parsers (the Rust ``evtx`` package, ``python-evtx``) as logs
collected from real hosts, and exercise the same ingestion code.

File layout: a 4 KiB file header, then 64 KiB chunks. Each chunk has a 512-byte header
(record numbers, offsets, CRC32s, the common-string and template hash tables) followed
by event records. A record holds its id, a FILETIME and BinXml: a template instance
whose definition is written once per chunk per event shape (provider, event id and
EventData names) and referenced by later records in that chunk.

The writer streams: it keeps only the chunk being filled, writes each full chunk and
patches the file header on close.

Rules a caller can rely on:

* Record ids must strictly increase (readers stop a chunk at its last record id).
* A record that does not fit an empty chunk (about 64 KB of encoded values, e.g. a
  command line longer than ~31,000 characters) raises :class:`ValueError`; nothing is
  truncated and the file stays valid with the records written before it.
* Empty strings are stored as NullType values, as Windows stores them: readers show an
  empty ``<Data Name="X"></Data>`` (``""`` in the ``evtx`` package's JSON; an empty
  Channel or Computer shows as ``null`` there).
* ``event_id`` above 65535 is a classic full event id: its high 16 bits are written as
  the ``Qualifiers`` attribute and the low 16 bits as EventID; otherwise ``Qualifiers``
  is omitted.
* Strings may not contain U+0000 (Windows strings end there) and must be encodable as
  UTF-16 (no lone surrogates); both raise :class:`ValueError`.
* A naive ``timestamp`` is taken as UTC.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Self

from lotlhunt.simulate.binxml import (
    FILETIME,
    GUID,
    HEX64,
    SID,
    STRING,
    TOKEN_TEMPLATE_INSTANCE,
    UINT8,
    UINT16,
    UINT32,
    UINT64,
    ChunkNames,
    Template,
    event_template,
    filetime,
    guid_bytes,
    sid_bytes,
)
from lotlhunt.simulate.records import EvtxRecord, UserData

__all__ = ["EvtxWriter", "write_evtx", "MAX_RECORD_SIZE"]

FILE_HEADER_SIZE = 4096
CHUNK_SIZE = 65536
CHUNK_HEADER_SIZE = 512
#: The largest event record (header, BinXml, size copy) a chunk can hold.
MAX_RECORD_SIZE = CHUNK_SIZE - CHUNK_HEADER_SIZE
MAX_CHUNKS = 0xFFFF  # the file header counts chunks in 16 bits

_RECORD_MAGIC = 0x00002A2A
_FILE_FLAG_DIRTY = 0x1

# Value descriptors are (size u16, type u8, 0); packed as one little-endian u32 each.
_STRING_DESCRIPTOR = STRING << 16
_SID_DESCRIPTOR = SID << 16
_GUID_DESCRIPTOR = (GUID << 16) | 16


def _fixed_descriptors(with_qualifiers: bool) -> bytes:
    """Descriptors of slots 0-11, whose sizes never vary (ActivityID is always NULL)."""
    sizes = [
        (UINT8, 1),  # Level
        (UINT8, 1),  # Opcode
        (UINT16, 2),  # Task
        (UINT16, 2),  # EventID
        (UINT16, 2) if with_qualifiers else (0, 0),  # Qualifiers
        (HEX64, 8),  # Keywords
        (FILETIME, 8),  # TimeCreated
        (0, 0),  # ActivityID
        (UINT32, 4),  # ProcessID
        (UINT32, 4),  # ThreadID
        (UINT64, 8),  # EventRecordID
        (UINT8, 1),  # Version
    ]
    return struct.pack("<12I", *[(kind << 16) | size for kind, size in sizes])


_FIXED_DESCRIPTORS = _fixed_descriptors(False)
_FIXED_DESCRIPTORS_QUALIFIED = _fixed_descriptors(True)
_pack_head = struct.Struct("<BBHH").pack  # Level, Opcode, Task, EventID
_pack_tail = struct.Struct("<QQIIQB").pack  # Keywords .. Version
_pack_u16 = struct.Struct("<H").pack
_pack_u32 = struct.Struct("<I").pack
_pack_record_header = struct.Struct("<IIQQ").pack
_pack_instance = struct.Struct("<4sBBII").pack  # fragment header + template instance
_FRAGMENT = b"\x0f\x01\x01\x00"


class _Chunk:
    """The chunk being filled: its bytes, name and template tables, record range."""

    __slots__ = (
        "buf",
        "pos",
        "names",
        "templates",
        "template_tails",
        "template_heads",
        "first_id",
        "last_id",
        "last_offset",
    )

    def __init__(self) -> None:
        self.buf = bytearray(CHUNK_SIZE)
        self.pos = CHUNK_HEADER_SIZE
        self.names = ChunkNames()
        self.templates: dict[Template, int] = {}  # template -> definition offset
        self.template_heads = [0] * 32
        self.template_tails = [0] * 32
        self.first_id = -1
        self.last_id = -1
        self.last_offset = 0

    @property
    def empty(self) -> bool:
        return self.first_id < 0

    def add_template(self, template: Template, offset: int) -> None:
        """Enter a definition in the 32-bucket template table (chains grow forward)."""
        self.templates[template] = offset
        bucket = template.template_id % 32
        tail = self.template_tails[bucket]
        if tail:
            struct.pack_into("<I", self.buf, tail, offset)
        else:
            self.template_heads[bucket] = offset
        self.template_tails[bucket] = offset

    def finish(self) -> bytes:
        """Fill in the chunk header and both CRC32s; return the 64 KiB chunk."""
        buf = self.buf
        free = self.pos
        struct.pack_into(
            "<8sQQQQIIII",
            buf,
            0,
            b"ElfChnk\x00",
            self.first_id,  # first/last event record number: Windows keeps them equal
            self.last_id,  # to the record ids in a log that was never cleared
            self.first_id,
            self.last_id,
            128,  # header size
            self.last_offset,
            free,
            zlib.crc32(memoryview(buf)[CHUNK_HEADER_SIZE:free]),
        )
        struct.pack_into("<64I", buf, 128, *self.names.heads)
        struct.pack_into("<32I", buf, 384, *self.template_heads)
        header_crc = zlib.crc32(memoryview(buf)[128:CHUNK_HEADER_SIZE], zlib.crc32(buf[:120]))
        struct.pack_into("<I", buf, 124, header_crc)
        return bytes(buf)


class EvtxWriter:
    """Stream :class:`EvtxRecord` values into an ``.evtx`` file.

    Use as a context manager (or call :meth:`close`): the file header, which records
    the chunk count and next record id, is only final once the writer is closed. Until
    then it is marked dirty, as Windows marks a log that is open for writing.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file: BinaryIO = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        self._chunk = _Chunk()
        self._chunks_written = 0
        self._records_written = 0
        self._last_record_id = -1
        self._closed = False
        self._templates: dict[tuple[str, int, tuple[str, ...], int, UserData | None], Template] = {}
        self._system: dict[
            tuple[str, str | None, str | None, str, str, str | None], tuple[bytes, bytes]
        ] = {}
        self._keywords: dict[str, int] = {}
        self._file.write(self._file_header(dirty=True))
        self._file.flush()  # a crash before close() leaves a file marked dirty

    # -- context manager -------------------------------------------------------------
    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def records_written(self) -> int:
        return self._records_written

    def close(self) -> None:
        """Write the last chunk and the final file header; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            if not self._chunk.empty:
                self._flush_chunk()
            self._file.seek(0)
            self._file.write(self._file_header(dirty=False))
        finally:
            self._file.close()

    # -- records ---------------------------------------------------------------------
    def write(self, record: EvtxRecord) -> None:
        """Append one record; raises ValueError if it cannot be stored faithfully."""
        if self._closed:
            raise ValueError("EvtxWriter is closed")
        record_id = record.record_id
        if record_id <= self._last_record_id:
            raise ValueError(
                f"record ids must strictly increase: {record_id} after {self._last_record_id}"
            )
        event_data = record.event_data
        key = (
            record.provider,
            record.event_id,
            tuple(event_data),
            len(record.data_values),
            record.user_data,
        )
        template = self._templates.get(key)
        if template is None:
            template = event_template(*key)
            self._templates[key] = template
        time_created = filetime(record.timestamp)
        values = self._encode_values(record, template, time_created)
        chunk = self._chunk
        if not self._append(chunk, record_id, time_created, template, values):
            if chunk.empty:
                raise ValueError(self._too_big(record, len(values)))
            if self._chunks_written + 1 >= MAX_CHUNKS:
                raise ValueError(f"the file is full: an EVTX file holds {MAX_CHUNKS} chunks")
            self._flush_chunk()
            if not self._append(self._chunk, record_id, time_created, template, values):
                raise ValueError(self._too_big(record, len(values)))
        self._last_record_id = record_id
        self._records_written += 1

    def _encode_values(self, record: EvtxRecord, template: Template, time_created: int) -> bytes:
        """The template instance data: value count, descriptors, then the values."""
        event_id = record.event_id
        qualifiers = b""
        if event_id > 0xFFFF:
            if event_id > 0xFFFFFFFF:
                raise ValueError(f"record {record.record_id}: event_id {event_id} too large")
            qualifiers = _pack_u16(event_id >> 16)
            event_id &= 0xFFFF
        keywords = self._keywords.get(record.keywords)
        if keywords is None:
            keywords = self._parse_keywords(record.keywords)
        try:
            fixed = (
                _pack_head(record.level, record.opcode, record.task, event_id)
                + qualifiers
                + _pack_tail(
                    keywords,
                    time_created,
                    record.process_id,
                    record.thread_id,
                    record.record_id,
                    record.version,
                )
            )
        except struct.error as exc:
            raise ValueError(f"record {record.record_id}: value out of range: {exc}") from exc

        system_key = (
            record.provider,
            record.provider_guid,
            record.event_source_name,
            record.channel,
            record.computer,
            record.user_sid,
        )
        system = self._system.get(system_key)
        if system is None:
            system = self._encode_system(*system_key)
        values = list(record.event_data.values())
        if record.data_values:
            values.extend(record.data_values)
        try:
            joined = "".join(values)
        except TypeError as exc:
            raise TypeError(f"record {record.record_id}: EventData values must be str") from exc
        if "\x00" in joined:
            raise ValueError(f"record {record.record_id}: a value contains U+0000")
        try:
            data = joined.encode("utf-16-le")  # all values back to back, as stored
        except UnicodeEncodeError as exc:
            raise ValueError(f"record {record.record_id}: value is not UTF-16 text: {exc}") from exc
        if len(data) == 2 * len(joined):  # no surrogate pairs: 2 bytes per character
            descriptors = [(2 * len(v)) | _STRING_DESCRIPTOR if v else 0 for v in values]
        else:
            descriptors = [
                len(v.encode("utf-16-le")) | _STRING_DESCRIPTOR if v else 0 for v in values
            ]
        system_descriptors, system_values = system
        if len(data) + len(system_values) > MAX_RECORD_SIZE:
            raise ValueError(self._too_big(record, len(data) + len(system_values)))
        return b"".join(
            [
                _pack_u32(template.substitution_count),
                _FIXED_DESCRIPTORS_QUALIFIED if qualifiers else _FIXED_DESCRIPTORS,
                system_descriptors,
                struct.pack(f"<{len(descriptors)}I", *descriptors),
                fixed,
                system_values,
                data,
                b"\x00",  # end of stream
            ]
        )

    def _encode_system(
        self,
        provider: str,
        provider_guid: str | None,
        event_source_name: str | None,
        channel: str,
        computer: str,
        user_sid: str | None,
    ) -> tuple[bytes, bytes]:
        """Descriptors and values of slots 12-18 (UserID .. Computer), cached per host.

        These rarely change between records of one log, so they are encoded once.
        """
        sid = sid_bytes(user_sid) if user_sid else b""
        guid = guid_bytes(provider_guid) if provider_guid else b""
        texts = []
        for text in (provider, event_source_name or "", channel, computer):
            if "\x00" in text:
                raise ValueError(f"string contains U+0000: {text!r}")
            texts.append(text.encode("utf-16-le"))
        name, source, channel_raw, computer_raw = texts
        descriptors = struct.pack(
            "<7I",
            (len(sid) | _SID_DESCRIPTOR) if sid else 0,
            0,  # RelatedActivityID
            (len(name) | _STRING_DESCRIPTOR) if name else 0,
            _GUID_DESCRIPTOR if guid else 0,
            (len(source) | _STRING_DESCRIPTOR) if source else 0,
            (len(channel_raw) | _STRING_DESCRIPTOR) if channel_raw else 0,
            (len(computer_raw) | _STRING_DESCRIPTOR) if computer_raw else 0,
        )
        encoded = (descriptors, sid + name + guid + source + channel_raw + computer_raw)
        if len(self._system) < 4096:
            self._system[
                provider, provider_guid, event_source_name, channel, computer, user_sid
            ] = encoded
        return encoded

    def _append(
        self, chunk: _Chunk, record_id: int, time_created: int, template: Template, values: bytes
    ) -> bool:
        """Write the record into ``chunk`` if it fits; False (chunk untouched) if not."""
        pos = chunk.pos
        definition_offset = chunk.templates.get(template)
        if definition_offset is None:
            definition_offset = pos + 38  # right after record header, fragment, instance
            definition, new_names = template.definition(definition_offset, chunk.names)
        else:
            definition, new_names = b"", {}
        size = 38 + len(definition) + len(values) + 4
        if pos + size > CHUNK_SIZE:
            return False
        chunk.buf[pos : pos + size] = b"".join(
            [
                _pack_record_header(_RECORD_MAGIC, size, record_id, time_created),
                _pack_instance(
                    _FRAGMENT, TOKEN_TEMPLATE_INSTANCE, 1, template.template_id, definition_offset
                ),
                definition,
                values,
                _pack_u32(size),
            ]
        )
        if definition:
            chunk.names.commit(new_names, chunk.buf)
            chunk.add_template(template, definition_offset)
        if chunk.first_id < 0:
            chunk.first_id = record_id
        chunk.last_id = record_id
        chunk.last_offset = pos
        chunk.pos = pos + size
        return True

    def _flush_chunk(self) -> None:
        self._file.write(self._chunk.finish())
        self._chunks_written += 1
        self._chunk = _Chunk()

    def _file_header(self, *, dirty: bool) -> bytes:
        chunks = self._chunks_written
        head = struct.pack(
            "<8sQQQIHHHH76xI",
            b"ElfFile\x00",
            0,  # first chunk number
            max(chunks - 1, 0),  # last chunk number
            self._last_record_id + 1 if self._last_record_id >= 0 else 1,  # next record id
            128,  # header size
            1,  # minor version
            3,  # major version
            FILE_HEADER_SIZE,
            chunks,
            _FILE_FLAG_DIRTY if dirty else 0,
        )
        return head + _pack_u32(zlib.crc32(head[:120])) + bytes(FILE_HEADER_SIZE - 128)

    # -- cached conversions ----------------------------------------------------------
    def _parse_keywords(self, text: str) -> int:
        try:
            value = int(text, 16)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"keywords must be a hex string like 0x8000000000000000: {text!r}"
            ) from exc
        if not 0 <= value <= 0xFFFFFFFFFFFFFFFF:
            raise ValueError(f"keywords out of 64-bit range: {text!r}")
        self._keywords[text] = value
        return value

    @staticmethod
    def _too_big(record: EvtxRecord, size: int) -> str:
        return (
            f"record {record.record_id} ({record.provider} {record.event_id}) needs about "
            f"{size} bytes of values; an EVTX record must fit in one 64 KiB chunk "
            f"({MAX_RECORD_SIZE} bytes with its template), so shorten its longest value"
        )


def write_evtx(path: str | Path, records: Iterable[EvtxRecord]) -> int:
    """Write ``records`` (any iterable, consumed lazily) to ``path``; return the count."""
    with EvtxWriter(path) as writer:
        for record in records:
            writer.write(record)
        return writer.records_written
