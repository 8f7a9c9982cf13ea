"""Archives read in place: zip, tar (plain, gzip, bzip2, xz) and single-file gzip.

Damaged archives are read as far as they go: a zip without its central directory is walked
by local headers, a truncated gzip yields what decompresses, a member whose data is damaged
ends early and says why (:func:`stream_error`). Nothing here raises on bad data while a
member is read; listing a damaged archive raises only the errors :mod:`.discover` catches.
"""

from __future__ import annotations

import atexit
import io
import os
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

from lotlhunt.sources.streams import CheckedMember, GunzipStream, stream_error
from lotlhunt.sources.unit import InputUnit

__all__ = [
    "SNIFF_BYTES",
    "archive_kind",
    "is_streamed_archive",
    "members",
    "open_unit",
    "stream_error",
]

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_GZIP_MAGIC = b"\x1f\x8b"
_TAR_COMPRESSED = (b"BZh", b"\xfd7zXZ\x00")
#: Leading bytes of a file or member read to decide its format.
SNIFF_BYTES = 4096


def archive_kind(head: bytes, name: str) -> str | None:
    lower = name.lower()
    if head.startswith(_ZIP_MAGIC):
        return "zip"
    if head.startswith(_GZIP_MAGIC):
        inner = _gunzip_head(head)
        return "tgz" if _is_tar_header(inner) else "gz"
    if _is_tar_header(head):
        return "tar"
    if head.startswith(_TAR_COMPRESSED) and (".tar" in lower or lower.endswith((".tbz2", ".txz"))):
        return "tarx"
    if lower.endswith(".zip"):
        return "zip"  # no local header at offset 0: damaged, let the zip path report it
    return None


def _gunzip_head(head: bytes) -> bytes:
    try:
        return zlib.decompressobj(47).decompress(head, 1024)
    except zlib.error:
        return b""


def _is_tar_header(block: bytes) -> bool:
    if len(block) < 512:
        return False
    if block[257:262] == b"ustar":
        return True
    try:  # old-style tar: checksum of the header with the checksum field blank
        stored = int(block[148:156].split(b"\x00", 1)[0].strip() or b"-1", 8)
    except ValueError:
        return False
    return stored == sum(block[:148]) + 256 + sum(block[156:512])


def members(path: str, kind: str) -> Iterator[tuple[str, bytes, int, str]]:
    """(member, first bytes, size, error) for each file member of an archive."""
    if kind == "gz":
        name = os.path.basename(path)
        inner = name[:-3] if name.lower().endswith(".gz") else name + ".out"
        with open_unit(InputUnit(path, inner, "json")) as fh:
            yield inner, fh.read(SNIFF_BYTES), -1, ""
        return
    if kind in ("tar", "tgz", "tarx"):
        with _open_tar(path, kind) as tar:
            for info in _tar_iter(tar):
                if info.isfile():
                    extracted = tar.extractfile(info)
                    head = CheckedMember(extracted, None).read(SNIFF_BYTES) if extracted else b""
                    yield info.name, head or b"", info.size, ""
        return
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        entries = _local_entries(path)
        yield "", b"", 0, f"damaged zip ({e}); read {len(entries)} members by local headers"
        with open(path, "rb") as raw:
            for entry in entries:
                try:
                    with _open_local_entry(raw, entry) as fh:
                        yield entry.name, fh.read(SNIFF_BYTES), entry.size, ""
                except (OSError, NotImplementedError, zlib.error) as e:
                    yield entry.name, b"", entry.size, f"unreadable member: {e}"
        return
    with zf:
        for zinfo in zf.infolist():
            if zinfo.is_dir():
                continue
            if zinfo.flag_bits & 0x1:
                yield zinfo.filename, b"", zinfo.file_size, "encrypted member, not read"
                continue
            try:
                with _zip_member(zf, zinfo) as fh:
                    head = fh.read(SNIFF_BYTES)
            except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError) as e:
                yield zinfo.filename, b"", zinfo.file_size, f"unreadable member: {e}"
                continue
            yield zinfo.filename, head, zinfo.file_size, ""


def _tar_iter(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """Members of a (possibly truncated) tar; a damaged tail ends the walk quietly."""
    while True:
        try:
            info = tar.next()
        except (tarfile.TarError, EOFError, zlib.error, OSError):
            return
        if info is None:
            return
        yield info


@contextmanager
def _open_tar(path: str, kind: str) -> Iterator[tarfile.TarFile]:
    with open(path, "rb") as raw:
        if kind == "tgz":
            source: IO[bytes] = io.BufferedReader(GunzipStream(raw), 1 << 20)
            tar = tarfile.open(fileobj=source, mode="r|")
        else:
            tar = tarfile.open(fileobj=raw, mode="r|*")
        with tar:
            yield tar


@dataclass
class _LocalEntry:
    name: str
    offset: int  # of the member data
    method: int
    csize: int  # -1 when only a data descriptor knows it
    size: int


def _scan_local_headers(path: str) -> list[_LocalEntry]:
    """Walk a zip from the front by local file headers (its central directory is lost)."""
    entries: list[_LocalEntry] = []
    with open(path, "rb") as fh:
        data_len = os.fstat(fh.fileno()).st_size
        offset = 0
        while offset + 30 <= data_len:
            fh.seek(offset)
            header = fh.read(30)
            if header[:4] != b"PK\x03\x04":
                break
            _, flags, method, _, _, _, csize, usize, nlen, xlen = struct.unpack(
                "<4s2xHHHHIIIHH", header
            )
            name = fh.read(nlen).decode("utf-8" if flags & 0x800 else "cp437", "replace")
            start = offset + 30 + nlen + xlen
            known = not flags & 0x8
            if not name.endswith("/"):
                entries.append(_LocalEntry(name, start, method, csize if known else -1, usize))
            if known:
                offset = start + csize
            else:
                offset = _end_of_deflate(fh, start) if method == 8 else data_len
                fh.seek(offset)
                offset += 16 if fh.read(4) == b"PK\x07\x08" else 12
    return entries


def _end_of_deflate(fh: IO[bytes], start: int) -> int:
    fh.seek(start)
    d = zlib.decompressobj(-15)
    pos = start
    while not d.eof:
        chunk = fh.read(1 << 20)
        if not chunk:
            return pos
        try:
            d.decompress(chunk, 1 << 16)
            while d.unconsumed_tail and not d.eof:
                d.decompress(d.unconsumed_tail, 1 << 16)
        except zlib.error:
            return pos + len(chunk)
        pos += len(chunk)
    return pos - len(d.unused_data)


@contextmanager
def open_unit(unit: InputUnit) -> Iterator[IO[bytes]]:
    """A binary stream of the unit's bytes. After reading, ``getattr(s, "error", None)``
    says whether the data ended early because it was damaged."""
    if unit.member is None:
        with open(unit.path, "rb") as fh:
            yield fh
        return
    with open(unit.path, "rb") as raw:
        kind = archive_kind(raw.read(SNIFF_BYTES), unit.path)
        raw.seek(0)
        if kind == "gz":
            yield io.BufferedReader(GunzipStream(raw), 1 << 20)
        elif kind == "tar":
            yield from _open_plain_tar_member(unit)
        elif kind in ("tgz", "tarx"):
            yield from _open_streamed_tar_member(unit, kind)
        else:
            yield from _open_zip_member(unit, raw)


def _open_plain_tar_member(unit: InputUnit) -> Iterator[IO[bytes]]:
    tar, names = _plain_tar(unit.path)
    named = names.get(unit.member or "", [])
    if len(named) < unit.occurrence:
        raise FileNotFoundError(f"member {unit.member!r} not found in archive")
    extracted = tar.extractfile(named[unit.occurrence - 1])
    if extracted is None:
        raise FileNotFoundError(f"member {unit.member!r} is not a file")
    yield io.BufferedReader(CheckedMember(extracted, None), 1 << 20)


def _open_streamed_tar_member(unit: InputUnit, kind: str) -> Iterator[IO[bytes]]:
    key = _file_key(unit.path)
    member, occurrence = unit.member or "", unit.occurrence
    cursor = _CURSORS.pop(key, None)
    if cursor is not None and cursor.behind(member, occurrence):
        cursor.close()
        cursor = None
    if cursor is None:
        cursor = _TarCursor(unit.path, kind)
    try:
        info = cursor.advance_to(member, occurrence)
        extracted = cursor.tar.extractfile(info) if info is not None else None
        if extracted is None:
            raise FileNotFoundError(f"member {unit.member!r} not found in archive")
        # Out of the cache while its member is read: a second stream of the same archive
        # opened meanwhile gets a cursor of its own.
        yield io.BufferedReader(CheckedMember(extracted, None), 1 << 20)
    except BaseException:
        cursor.close()
        raise
    while len(_CURSORS) >= _ARCHIVE_CACHE:
        _CURSORS.pop(next(iter(_CURSORS))).close()
    _CURSORS[key] = cursor


def _open_zip_member(unit: InputUnit, raw: IO[bytes]) -> Iterator[IO[bytes]]:
    zf, names = _zip_file(unit.path)
    if zf is None:  # central directory lost: find the member by its local header
        named = [e for e in _local_entries(unit.path) if e.name == unit.member]
        if len(named) < unit.occurrence:
            raise FileNotFoundError(f"member {unit.member!r} not found in damaged zip")
        with _open_local_entry(raw, named[unit.occurrence - 1]) as member:
            yield member
        return
    named_infos = names.get(unit.member or "", [])
    if len(named_infos) < unit.occurrence:
        raise FileNotFoundError(f"member {unit.member!r} not found in archive")
    with _zip_member(zf, named_infos[unit.occurrence - 1]) as member:
        yield member


@contextmanager
def _open_local_entry(raw: IO[bytes], entry: _LocalEntry) -> Iterator[IO[bytes]]:
    raw.seek(entry.offset)
    if entry.method == 8:
        yield io.BufferedReader(GunzipStream(raw, -15), 1 << 20)
    elif entry.method == 0 and entry.csize >= 0:
        data = io.BytesIO(raw.read(entry.csize))
        yield io.BufferedReader(CheckedMember(data, None), 1 << 20)
    else:
        raise NotImplementedError(f"zip compression method {entry.method}")


#: Archives kept open per process, with their directory: reading each of 10,000 members
#: of a zip must not parse its central directory 10,000 times (that made many small
#: members cost quadratic time: 10,000 took 4 minutes).
_ARCHIVE_CACHE = 4
_ZipEntry = tuple[zipfile.ZipFile | None, dict[str, list[zipfile.ZipInfo]]]
_ZIPS: dict[tuple[str, int, int], _ZipEntry] = {}
_LOCAL_ENTRIES: dict[tuple[str, int, int], list[_LocalEntry]] = {}


#: Plain tars kept open per process, with their file members by name (read by seeking to
#: a member's data). Compressed tars cannot seek: a cursor per archive reads it forward
#: once, members taken in archive order (the order discovery lists and the reader pool
#: hands them out, see :func:`lotlhunt.sources.parallel.read_all`); only a member behind
#: the cursor starts a new pass. Re-reading a tar from its start for each member made
#: many members cost quadratic time (2,500 tiny members: 150 s plain, 270 s gzipped).
_TarEntry = tuple[tarfile.TarFile, dict[str, list[tarfile.TarInfo]]]
_TARS: dict[tuple[str, int, int], tuple[_TarEntry, IO[bytes]]] = {}


class _TarCursor:
    """A compressed tar open at some member, which knows how many members of each name it
    has passed (to find the N-th member of a name, ``InputUnit.occurrence``)."""

    def __init__(self, path: str, kind: str) -> None:
        self._context = _open_tar(path, kind)
        self.tar = self._context.__enter__()
        self._members = _tar_iter(self.tar)
        self._passed: dict[str, int] = {}

    def behind(self, member: str, occurrence: int) -> bool:
        return self._passed.get(member, 0) >= occurrence

    def advance_to(self, member: str, occurrence: int) -> tarfile.TarInfo | None:
        """That file member, the cursor after its header; None if the archive ends first."""
        for info in self._members:
            if not info.isfile():
                continue
            seen = self._passed[info.name] = self._passed.get(info.name, 0) + 1
            # Headers already passed are not needed again (a stream cannot go back).
            self.tar.members.clear()  # type: ignore[attr-defined]
            if info.name == member and seen == occurrence:
                return info
        return None

    def close(self) -> None:
        self._context.__exit__(None, None, None)


_CURSORS: dict[tuple[str, int, int], _TarCursor] = {}


def is_streamed_archive(path: str) -> bool:
    """Whether the members of the archive at ``path`` are read by streaming it from the
    start (a compressed tar): they are best read in archive order by one reader."""
    try:
        with open(path, "rb") as fh:
            return archive_kind(fh.read(SNIFF_BYTES), path) in ("tgz", "tarx")
    except OSError:
        return False


def _plain_tar(path: str) -> _TarEntry:
    """The uncompressed tar at ``path``, opened once per process for reading by seeking,
    and its file members by name, in their order (a damaged tail ends the list)."""
    key = _file_key(path)
    if key not in _TARS:
        while len(_TARS) >= _ARCHIVE_CACHE:
            (old, _), old_raw = _TARS.pop(next(iter(_TARS)))
            old.close()
            old_raw.close()
        raw = open(path, "rb")  # noqa: SIM115 - kept open in the cache, closed on eviction
        try:
            tar = tarfile.open(fileobj=raw, mode="r:")
            names: dict[str, list[tarfile.TarInfo]] = {}
            for info in _tar_iter(tar):
                if info.isfile():
                    names.setdefault(info.name, []).append(info)
        except BaseException:
            raw.close()
            raise
        _TARS[key] = ((tar, names), raw)
    return _TARS[key][0]


@atexit.register
def _close_tars() -> None:
    """Close the archives kept open (else each is reported as an unclosed file at exit)."""
    while _TARS:
        _, ((tar, _), raw) = _TARS.popitem()
        tar.close()
        raw.close()
    while _CURSORS:
        _CURSORS.popitem()[1].close()


def _file_key(path: str) -> tuple[str, int, int]:
    info = os.stat(path)
    return (os.path.realpath(path), info.st_size, info.st_mtime_ns)


def _zip_file(path: str) -> _ZipEntry:
    """The zip at ``path``, opened once per process (None when its central directory
    is lost), and its members by name, in their order."""
    key = _file_key(path)
    if key not in _ZIPS:
        if len(_ZIPS) >= _ARCHIVE_CACHE:
            old, _ = _ZIPS.pop(next(iter(_ZIPS)))
            if old is not None:
                old.close()
        try:
            zf: zipfile.ZipFile | None = zipfile.ZipFile(path)
        except zipfile.BadZipFile:
            zf = None
        names: dict[str, list[zipfile.ZipInfo]] = {}
        for info in zf.infolist() if zf is not None else ():
            names.setdefault(info.filename, []).append(info)
        _ZIPS[key] = (zf, names)
    return _ZIPS[key]


def _local_entries(path: str) -> list[_LocalEntry]:
    """:func:`_scan_local_headers`, kept per process like :func:`_zip_file`."""
    key = _file_key(path)
    if key not in _LOCAL_ENTRIES:
        if len(_LOCAL_ENTRIES) >= _ARCHIVE_CACHE:
            _LOCAL_ENTRIES.pop(next(iter(_LOCAL_ENTRIES)))
        _LOCAL_ENTRIES[key] = _scan_local_headers(path)
    return _LOCAL_ENTRIES[key]


@contextmanager
def _zip_member(zf: zipfile.ZipFile, name: str | zipfile.ZipInfo) -> Iterator[IO[bytes]]:
    """A member stream that keeps the data read before a CRC mismatch or damage."""
    with zf.open(name) as member:
        # Checked by _CheckedMember instead (a private attribute of zipfile.ZipExtFile).
        expected = member._expected_crc  # type: ignore[attr-defined]  # noqa: SLF001
        member._expected_crc = None  # type: ignore[attr-defined]  # noqa: SLF001
        yield io.BufferedReader(CheckedMember(member, expected), 1 << 20)
