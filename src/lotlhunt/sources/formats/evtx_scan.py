"""What the chunks of an EVTX file declare and hold, read without the parser.

The parser (the Rust ``evtx`` package) gives up on a chunk whose header is damaged, on the
rest of a chunk after a record it cannot walk past, and on records beyond a header's last
record number; what it skips it does not count. A hunt must account for every record, so
each chunk is checked here on its own:

* A chunk whose header and records checksums hold is *sound*: it holds exactly the
  records its header numbers (first to last record number).
* Any other chunk (a checksum fails, no magic, cut short by truncation) is *walked*:
  records are self-delimiting (magic ``**\\0\\0``, size, record id, ..., the size again
  in their last four bytes), so they are found by their magic and checked by their sizes,
  from the end of the header to the end of the chunk. Its header's count is believed
  only while its own checksum holds.

:func:`repaired_chunk` then rebuilds such a chunk's header from the records found, and
fills each damaged stretch between them with a filler record of its size, so that the
parser reads every record that can still be read.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

FILE_HEADER = 4096
CHUNK = 65536
CHUNK_HEADER = 512
CHUNK_MAGIC = b"ElfChnk\x00"
_ZEROS = bytes(CHUNK)
FILE_MAGIC = b"ElfFile\x00"
RECORD_MAGIC = b"\x2a\x2a\x00\x00"
#: Smallest record: magic, size, id, time (24 bytes), then the size again.
MIN_RECORD = 28
#: Most records one chunk can hold; a header claiming more is not believed.
MAX_RECORDS = (CHUNK - CHUNK_HEADER) // MIN_RECORD


@dataclass
class ChunkScan:
    """One chunk slot of a file: what its header declares and what it holds."""

    index: int
    offset: int
    size: int
    #: The chunk's magic is there and its header checksum holds.
    header_ok: bool = False
    #: Header and records checksums hold: it holds exactly ``first..last``.
    sound: bool = False
    #: Record numbers its header declares (when ``header_ok``).
    first: int = 0
    last: int = -1
    #: All zeros: space the log has not written yet.
    empty: bool = False
    #: Records found by walking (offset in the chunk, size, record id); walked chunks only.
    records: list[tuple[int, int, int]] = field(default_factory=list)
    #: For a chunk whose header is lost: the record numbers it must have held, from its
    #: neighbours' (see :func:`infer_bounds`), when they tell.
    bounds: tuple[int, int] | None = None

    @property
    def declared(self) -> int:
        """Records the header declares, or 0 when it is not believed."""
        if not self.header_ok:
            return 0
        count = self.last - self.first + 1
        return count if 0 <= count <= MAX_RECORDS else 0

    @property
    def ids(self) -> set[int]:
        """Record ids this chunk holds: the range its header declares when that is
        believed (records the walk cannot find are lost, not absent; a record found
        under a number outside it has a damaged number), else the range its neighbours
        leave for it, else the ids of the records found."""
        if self.sound:
            return set(range(self.first, self.last + 1))
        if self.declared:
            return set(range(self.first, self.last + 1))
        if self.bounds is not None:
            return set(range(self.bounds[0], self.bounds[1] + 1))
        return {rid for _, _, rid in self.records}

    @property
    def count_known(self) -> bool:
        """Whether the records it held are known in number (else: those found)."""
        return self.sound or self.empty or bool(self.declared) or self.bounds is not None

    @property
    def expected(self) -> int:
        """How many records this chunk stands for."""
        return len(self.ids)


def file_header_chunks(header: bytes) -> int | None:
    """Chunks the file header declares, when its checksum holds."""
    if len(header) < 128 or not header.startswith(FILE_MAGIC):
        return None
    if zlib.crc32(header[:120]) != int.from_bytes(header[124:128], "little"):
        return None
    return int.from_bytes(header[42:44], "little")


def file_next_record(header: bytes) -> int | None:
    """The number the file header says the next record would get (checksum holding)."""
    if file_header_chunks(header) is None:
        return None
    return int.from_bytes(header[24:32], "little")


def infer_bounds(scans: list[ChunkScan], next_record: int | None) -> None:
    """Give each chunk whose header is lost the numbers between its neighbours': a log
    numbers its records one after another, chunk after chunk. Only where that is
    consistent (the records found inside, a plausible count); a log that wrapped
    around (its oldest chunk in the middle) tells nothing there."""
    for i, scan in enumerate(scans):
        if scan.empty or scan.sound or scan.declared:
            continue
        before = next((s for s in reversed(scans[:i]) if not s.empty), None)
        after = next((s for s in scans[i + 1 :] if not s.empty), None)
        if before is None or not before.declared:
            continue
        low = before.last + 1
        if after is not None and after.declared:
            high = after.first - 1
        elif after is None and next_record is not None:
            high = next_record - 1
        else:
            continue
        found = [rid for _, _, rid in scan.records]
        if not 0 <= high - low + 1 <= MAX_RECORDS:
            continue
        if found and (min(found) < low or max(found) > high):
            continue
        scan.bounds = (low, high)


def scan_chunks(fh: IO[bytes], size: int) -> Iterator[tuple[ChunkScan, bytes]]:
    """Every chunk slot of the file after its header (the last may be short), with its
    bytes; one chunk in memory at a time."""
    index = 0
    offset = FILE_HEADER
    fh.seek(offset)
    while offset < size:
        data = fh.read(CHUNK)
        if not data:
            return
        yield scan_chunk(data, index, offset), data
        index += 1
        offset += len(data)


def scan_chunk(data: bytes, index: int, offset: int) -> ChunkScan:
    """What one chunk slot declares and holds (see the module doc)."""
    scan = ChunkScan(index, offset, len(data))
    # All zeros: a slot the log never wrote. A chunk's magic is not zeros, so a chunk
    # needs no look at its other bytes; others are compared with zeros at memcmp speed
    # (counting the zero bytes of every chunk was a tenth of reading the attack samples).
    if not data.startswith(CHUNK_MAGIC) and _all_zeros(data):
        scan.empty = True
        return scan
    head = memoryview(data)[:CHUNK_HEADER]
    if len(data) >= CHUNK_HEADER and data.startswith(CHUNK_MAGIC):
        crc = zlib.crc32(head[128:], zlib.crc32(head[:120]))
        scan.header_ok = crc == int.from_bytes(head[124:128], "little")
        scan.first = int.from_bytes(head[8:16], "little")
        scan.last = int.from_bytes(head[16:24], "little")
        free = int.from_bytes(head[48:52], "little")
        if (
            scan.header_ok
            and len(data) == CHUNK
            and CHUNK_HEADER <= free <= CHUNK
            and scan.declared
            and zlib.crc32(memoryview(data)[CHUNK_HEADER:free])
            == int.from_bytes(head[52:56], "little")
        ):
            scan.sound = True
            return scan
    scan.records = walk_records(data)
    return scan


def _all_zeros(data: bytes) -> bool:
    if len(data) <= CHUNK:
        return data == _ZEROS[: len(data)]
    return data.count(0) == len(data)


def walk_records(data: bytes) -> list[tuple[int, int, int]]:
    """Records of a chunk found by magic and checked by size (offset, size, record id)."""
    found: list[tuple[int, int, int]] = []
    at = CHUNK_HEADER
    end = len(data)
    while at + MIN_RECORD <= end:
        if data[at : at + 4] == RECORD_MAGIC:
            size = int.from_bytes(data[at + 4 : at + 8], "little")
            if (
                MIN_RECORD <= size <= end - at
                and int.from_bytes(data[at + size - 4 : at + size], "little") == size
            ):
                found.append((at, size, int.from_bytes(data[at + 8 : at + 16], "little")))
                at += size
                continue
        nxt = data.find(RECORD_MAGIC, at + 1)
        if nxt < 0:
            break
        at = nxt
    return found


def repaired_chunk(data: bytes, scan: ChunkScan) -> bytes | None:
    """A 64 KiB chunk holding the records of ``scan`` where they were, under a header
    rebuilt from them (numbers, offsets, checksums), with every damaged stretch between
    two records made a filler record the parser fails on alone, and zeros after the last
    record. None when no record was found.

    Records keep their offsets: their templates and names point into the chunk by
    offset. The header's tables of common strings and templates are kept (they are hints
    to the same offsets) when its checksum held, and zeroed otherwise.
    """
    records = scan.records
    if not records:
        return None
    out = bytearray(CHUNK)
    if scan.header_ok:
        out[:CHUNK_HEADER] = data[:CHUNK_HEADER]
    out[:8] = CHUNK_MAGIC
    at = CHUNK_HEADER
    previous = records[0][2] - 1
    ids = []
    for offset, size, rid in records:
        if offset - at >= MIN_RECORD:
            # In sequence: the number the damaged record most likely had (the parser
            # reads numbers in order and stops at the header's last one).
            _filler(out, at, offset - at, previous + 1)
            ids.append(previous + 1)
        out[offset : offset + size] = data[offset : offset + size]
        at = offset + size
        previous = rid
        ids.append(rid)
    first, last = min(ids), max(ids)
    free = records[-1][0] + records[-1][1]
    out[8:16] = first.to_bytes(8, "little")
    out[16:24] = last.to_bytes(8, "little")
    out[24:32] = first.to_bytes(8, "little")
    out[32:40] = last.to_bytes(8, "little")
    out[40:44] = (128).to_bytes(4, "little")
    out[44:48] = records[-1][0].to_bytes(4, "little")
    out[48:52] = free.to_bytes(4, "little")
    out[52:56] = zlib.crc32(out[CHUNK_HEADER:free]).to_bytes(4, "little")
    out[120:124] = b"\x00\x00\x00\x00"
    crc = zlib.crc32(out[128:CHUNK_HEADER], zlib.crc32(out[:120]))
    out[124:128] = crc.to_bytes(4, "little")
    return bytes(out)


def _filler(out: bytearray, at: int, size: int, rid: int) -> None:
    """A record of ``size`` bytes at ``at`` whose event data is nothing the parser reads."""
    out[at : at + size] = bytes(size)
    out[at : at + 4] = RECORD_MAGIC
    out[at + 4 : at + 8] = size.to_bytes(4, "little")
    out[at + 8 : at + 16] = rid.to_bytes(8, "little")
    out[at + size - 4 : at + size] = size.to_bytes(4, "little")


def mini_file(file_header: bytes, chunk: bytes) -> bytes:
    """A one-chunk EVTX file: the file's header (its chunk count made 1, its checksum
    made to hold) and ``chunk``."""
    head = bytearray(file_header[:FILE_HEADER].ljust(FILE_HEADER, b"\x00"))
    head[:8] = FILE_MAGIC
    head[8:16] = (0).to_bytes(8, "little")
    head[16:24] = (0).to_bytes(8, "little")
    head[32:36] = (128).to_bytes(4, "little")
    head[36:38] = (1).to_bytes(2, "little")
    head[38:40] = (3).to_bytes(2, "little")
    head[40:42] = (FILE_HEADER).to_bytes(2, "little")
    head[42:44] = (1).to_bytes(2, "little")
    head[120:124] = b"\x00\x00\x00\x00"  # flags: clean, not full
    head[124:128] = zlib.crc32(head[:120]).to_bytes(4, "little")
    return bytes(head) + chunk
