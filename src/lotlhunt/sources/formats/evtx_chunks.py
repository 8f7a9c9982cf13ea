"""EVTX chunks: cutting a large file into runs of whole, sound chunks, read in place.

A file of many chunks is read in parts by several workers when every chunk is sound (its
checksums hold), since then the records each part holds, and so their positions, are
known without parsing; each part is handed to the parser as a file of its own chunks.
"""

from __future__ import annotations

import io
import zlib
from typing import Any

from lotlhunt.sources.options import DEFAULT_OPTIONS, ReaderOptions

_HEADER = 4096
_CHUNK = 65536
_CHUNK_MAGIC = b"ElfChnk\x00"
_FILE_MAGIC = b"ElfFile\x00"
#: A chunk's header: its magic, record numbers and ids, offsets and checksums.
_CHUNK_HEADER = 512
_RECORD_MAGIC = b"\x2a\x2a\x00\x00"


def chunk_spans(
    path: str, size: int, parts: int, options: ReaderOptions = DEFAULT_OPTIONS
) -> list[tuple[int, int, int]] | None:
    """``parts`` runs of whole chunks of an EVTX file, as (first byte, end byte, position
    of the first record), or None when the file is read whole (``options``: none apply).

    A record's position is its ordinal in the parser's iteration, errors included. The
    parser yields, for a sound chunk, the records its header numbers (last minus first
    record number, plus one; checked on all 277 files of evtx-attack-samples) and nothing
    for a chunk of zeros (space not written yet), so positions can be known without
    parsing. A chunk that is not sound (no magic where a chunk starts and not zeros, a
    header or records checksum that does not hold, numbers out of order) means the
    parser's count cannot be foretold (a damaged record can make it skip the rest of its
    chunk): the file is read whole, as before, and its positions stay those of one
    reader. Checking costs one pass over the file in this process (zlib's CRC-32). The
    last part also holds a chunk cut short by truncation, which its reader recovers.
    """
    whole = (size - _HEADER) // _CHUNK if size > _HEADER else 0
    if whole < 2 or parts < 2:
        return None
    counts: list[int] = []
    try:
        with open(path, "rb") as fh:
            if not fh.read(8).startswith(_FILE_MAGIC):
                return None
            fh.seek(_HEADER)
            for _ in range(whole):
                chunk = fh.read(_CHUNK)
                count = _chunk_records(chunk)
                if count is None and chunk.count(0) == _CHUNK:
                    count = 0
                if count is None:
                    return None
                counts.append(count)
    except OSError:  # the reader of the whole file says what went wrong
        return None
    per_part = -(-whole // min(parts, whole))
    spans: list[tuple[int, int, int]] = []
    position = 0
    for first in range(0, whole, per_part):
        last = min(first + per_part, whole)
        end = _HEADER + last * _CHUNK if last < whole else size
        spans.append((_HEADER + first * _CHUNK, end, position))
        position += sum(counts[first:last])
    return spans


def _chunk_records(chunk: bytes) -> int | None:
    """Records a sound chunk numbers, or None when it is not sound: its header's and its
    records' checksums must hold (a damaged record can make the parser skip others)."""
    if len(chunk) < _CHUNK or not chunk.startswith(_CHUNK_MAGIC):
        return None
    head = memoryview(chunk)[:_CHUNK_HEADER]
    if zlib.crc32(head[128:], zlib.crc32(head[:120])) != int.from_bytes(head[124:128], "little"):
        return None
    free = int.from_bytes(head[48:52], "little")
    if not _CHUNK_HEADER <= free <= _CHUNK:
        return None
    if zlib.crc32(memoryview(chunk)[_CHUNK_HEADER:free]) != int.from_bytes(head[52:56], "little"):
        return None
    first, last = int.from_bytes(head[8:16], "little"), int.from_bytes(head[16:24], "little")
    return last - first + 1 if first <= last <= first + _CHUNK else None


class _ChunkRange(io.RawIOBase):
    """The file's header followed by its whole chunks from byte ``start`` to ``end``: what
    the parser takes for a file of those chunks, so each part of a large file is parsed
    in place, without a copy."""

    def __init__(self, path: str, start: int, end: int) -> None:
        super().__init__()
        self._file = open(path, "rb")  # noqa: SIM115 - closed with this object
        self._header = self._file.read(_HEADER)
        self._start = start
        self._size = _HEADER + (end - start) // _CHUNK * _CHUNK
        self._at = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._at

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._at, io.SEEK_END: self._size}[whence]
        self._at = max(0, base + offset)
        return self._at

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        n = min(len(view), self._size - self._at)
        if n <= 0:
            return 0
        if self._at < _HEADER:
            n = min(n, _HEADER - self._at)
            view[:n] = self._header[self._at : self._at + n]
        else:
            self._file.seek(self._start + self._at - _HEADER)
            n = self._file.readinto(view[:n]) or 0
        self._at += n
        return n

    def close(self) -> None:
        self._file.close()
        super().close()
