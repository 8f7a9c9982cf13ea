"""Find the readable things under the paths a user names, and open them again later.

An :class:`InputUnit` is one file or one archive member (zip, tar, tar.gz, .gz). Format is
decided by content first (EVTX magic, JSON's first byte), extension second, so renamed
exports are read and pcaps, READMEs and macOS resource forks (``__MACOSX/._x.json``) are
skipped and listed rather than counted as broken logs. Damaged archives are read as far as
they go: a zip without its central directory is walked by local headers, a truncated gzip
yields what decompresses. Nothing here raises on bad input; problems become issues.
"""

from __future__ import annotations

import io
import os
import stat
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from lotlhunt.errors import InputIssue

EVTX_MAGIC = b"ElfFile\x00"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_GZIP_MAGIC = b"\x1f\x8b"
_TAR_COMPRESSED = (b"BZh", b"\xfd7zXZ\x00")
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
_SNIFF = 4096
JSON_EXTENSIONS = frozenset({".json", ".jsonl", ".ndjson", ".jsonlines"})
#: Extensions that are never event logs even when their content starts like JSON.
NON_LOG_EXTENSIONS = frozenset(
    ".pcap .pcapng .cap .etl .md .rst .yml .yaml .py .pyc .ipynb .png .jpg .jpeg .gif .svg"
    " .html .htm .css .js .csv .tsv .xml .pdf .exe .dll .sys .toml .ini .cfg .sh .ps1 .bat"
    " .gpl .license .lock .sig .7z .rar .db .sqlite .parquet".split()
)


@dataclass(frozen=True)
class InputUnit:
    """One readable thing: a file, or a member of an archive. ``fmt`` is evtx or json."""

    path: str
    member: str | None
    fmt: str
    #: Uncompressed size in bytes when known (-1 otherwise); for scheduling and progress.
    size: int = field(default=-1, compare=False)
    #: Part of a large file read on its own: (first byte, end byte, position of its first
    #: record), cut at line ends of JSON lines (``jsonl.line_spans``; positions are line
    #: numbers) or between EVTX chunks (``evtx.chunk_spans``). None: the whole unit.
    span: tuple[int, int, int] | None = None
    #: Which member of that name (1 the first): an archive may hold several members of
    #: one name, and each is read.
    occurrence: int = 1

    @property
    def label(self) -> str:
        """What goes in the ``source`` column: ``path``, ``path!member``, or
        ``path!member#N`` for the N-th member of a name the archive holds more than once."""
        if self.member is None:
            return self.path
        extra = f"#{self.occurrence}" if self.occurrence > 1 else ""
        return f"{self.path}!{self.member}{extra}"


@dataclass
class Discovery:
    units: list[InputUnit] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (label, reason)
    issues: list[InputIssue] = field(default_factory=list)


def sniff(head: bytes, name: str) -> tuple[str | None, str]:
    """Format of content starting with ``head`` named ``name``: (fmt, "") or (None, why)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    ext = os.path.splitext(base)[1].lower()
    if base.startswith("._") or "__MACOSX/" in name or base == ".DS_Store":
        return None, "macOS metadata, not a log"
    if head.startswith(EVTX_MAGIC):
        return "evtx", ""
    if ext == ".evtx":
        return "evtx", ""  # damaged header: the reader reports it as a file issue
    if ext in NON_LOG_EXTENSIONS:
        return None, f"not a log file ({ext})"
    if not head:
        return None, "empty file"
    if looks_like_json(head):
        return "json", ""
    if ext in JSON_EXTENSIONS:
        if b"\x00" in head:
            return None, "binary content, not JSON"
        return "json", ""  # text that starts badly: its lines are counted as failed
    return None, "not a recognised log format"


def looks_like_json(head: bytes) -> bool:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 (PowerShell Out-File)
        text = head[2 : 2 + 64].decode("utf-16-le" if head[0] == 0xFF else "utf-16-be", "ignore")
        return text.lstrip()[:1] in ("{", "[")
    stripped = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    return stripped[:1] in (b"{", b"[")


def _archive_kind(head: bytes, name: str) -> str | None:
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


def discover(paths: Sequence[str | Path]) -> Discovery:
    """Every readable unit under ``paths`` (files, folders recursively, archive members)."""
    found = Discovery()
    seen: set[tuple[str, str | None, int]] = set()
    for given in paths:
        path = str(given)
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path, onerror=lambda e: _walk_error(found, e)):
                dirs.sort()
                for name in sorted(files):
                    _add_file(found, seen, os.path.join(root, name))
        elif os.path.exists(path):
            _add_file(found, seen, path)
        else:
            found.issues.append(InputIssue(path, None, "no such file or directory", "file"))
    return found


def _walk_error(found: Discovery, error: OSError) -> None:
    found.issues.append(InputIssue(str(error.filename), None, f"cannot list: {error}", "file"))


def _add_file(found: Discovery, seen: set[tuple[str, str | None, int]], path: str) -> None:
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):  # a FIFO or device would block or never end
            found.skipped.append((path, "not a regular file"))
            return
        with open(path, "rb") as fh:
            head = fh.read(_SNIFF)
        size = info.st_size
    except OSError as e:
        found.issues.append(InputIssue(path, None, f"cannot read: {e.strerror or e}", "file"))
        return

    def add(unit: InputUnit) -> None:
        key = (os.path.realpath(unit.path), unit.member, unit.occurrence)
        if key not in seen:
            seen.add(key)
            found.units.append(unit)

    kind = _archive_kind(head, path)
    if kind is None:
        fmt, why = sniff(head, path)
        if fmt:
            add(InputUnit(path, None, fmt, size))
        else:
            found.skipped.append((path, why))
        return
    names: dict[str, int] = {}
    try:
        for member, member_head, member_size, error in _members(path, kind):
            occurrence = names[member] = names.get(member, 0) + 1
            unit = InputUnit(path, member, "json", member_size, occurrence=occurrence)
            if error:
                label = unit.label if member else path
                found.issues.append(InputIssue(label, None, error, "file"))
                continue
            fmt, why = sniff(member_head, member)
            if fmt and _archive_kind(member_head, member) is None:
                add(replace(unit, fmt=fmt))
            else:
                found.skipped.append((unit.label, why or "nested archive, not read"))
    except (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError, zlib.error) as e:
        found.issues.append(InputIssue(path, None, f"damaged archive: {e}", "file"))


def _members(path: str, kind: str) -> Iterator[tuple[str, bytes, int, str]]:
    """(member, first bytes, size, error) for each file member of an archive."""
    if kind == "gz":
        name = os.path.basename(path)
        inner = name[:-3] if name.lower().endswith(".gz") else name + ".out"
        with open_unit(InputUnit(path, inner, "json")) as fh:
            yield inner, fh.read(_SNIFF), -1, ""
        return
    if kind in ("tar", "tgz", "tarx"):
        with _open_tar(path, kind) as tar:
            for info in _tar_iter(tar):
                if info.isfile():
                    extracted = tar.extractfile(info)
                    head = _CheckedMember(extracted, None).read(_SNIFF) if extracted else b""
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
                        yield entry.name, fh.read(_SNIFF), entry.size, ""
                except (OSError, NotImplementedError, zlib.error) as e:
                    yield entry.name, b"", entry.size, f"unreadable member: {e}"
        return
    with zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            if info.flag_bits & 0x1:
                yield info.filename, b"", info.file_size, "encrypted member, not read"
                continue
            try:
                with _zip_member(zf, info) as fh:
                    head = fh.read(_SNIFF)
            except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError) as e:
                yield info.filename, b"", info.file_size, f"unreadable member: {e}"
                continue
            yield info.filename, head, info.file_size, ""


def _tar_iter(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """Members of a (possibly truncated) tar; a damaged tail ends the walk quietly."""
    while True:
        try:
            info = tar.next()
        except (tarfile.ReadError, EOFError, zlib.error, OSError):
            return
        if info is None:
            return
        yield info


@contextmanager
def _open_tar(path: str, kind: str) -> Iterator[tarfile.TarFile]:
    with open(path, "rb") as raw:
        if kind == "tgz":
            source: IO[bytes] = io.BufferedReader(GunzipStream(raw), 1 << 20)  # type: ignore[arg-type]
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


class GunzipStream(io.RawIOBase):
    """Decompress gzip (also concatenated members) or raw deflate (``wbits=-15``, zip data)
    without losing what was readable before damage.

    The stdlib ``gzip`` module raises on a truncated file and drops the block it had just
    decompressed; here the stream simply ends and ``error`` says why.
    """

    def __init__(self, raw: IO[bytes], wbits: int = 47) -> None:
        self._raw, self._wbits = raw, wbits
        self._d = zlib.decompressobj(wbits)
        self._fed = False  # has the current decompressor seen input?
        self._members = 0  # gzip members completed
        self._input = b""
        self._pending = b""
        self._done = False
        self.error: str | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending and not self._done:
            self._step()
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def _step(self) -> None:
        data = self._input or self._raw.read(1 << 16)
        self._input = b""
        if not data:
            if self._fed:
                self.error = "compressed data ends early (truncated)"
            self._done = True
            return
        try:
            self._pending = self._d.decompress(data, 1 << 20)
        except zlib.error as e:
            if not (self._members and not self._fed):  # else: trailing garbage, ignored
                self.error = f"corrupt compressed data: {e}"
            self._done = True
            return
        self._fed = True
        self._input = self._d.unconsumed_tail
        if self._d.eof:
            self._members += 1
            if self._wbits == -15:
                self._done = True
            else:  # another gzip member may follow
                self._input = self._d.unused_data
                self._d = zlib.decompressobj(self._wbits)
                self._fed = False


class _CheckedMember(io.RawIOBase):
    """A zip member stream that ends, instead of raising, when its data is damaged."""

    def __init__(self, inner: IO[bytes], expected_crc: int | None) -> None:
        self._inner, self._expected = inner, expected_crc
        self._crc = 0
        self.error: str | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.error is not None:
            return 0
        try:
            data = self._inner.read(len(buffer))
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, OSError) as e:
            self.error = f"damaged member data: {e}"
            return 0
        if not data:
            if self._expected is not None and self._crc != self._expected:
                self.error = "member CRC mismatch (data may be damaged)"
            return 0
        self._crc = zlib.crc32(data, self._crc)
        buffer[: len(data)] = data
        return len(data)


@contextmanager
def open_unit(unit: InputUnit) -> Iterator[IO[bytes]]:
    """A binary stream of the unit's bytes. After reading, ``getattr(s, "error", None)``
    says whether the data ended early because it was damaged."""
    if unit.member is None:
        with open(unit.path, "rb") as fh:
            yield fh
        return
    with open(unit.path, "rb") as raw:
        kind = _archive_kind(raw.read(_SNIFF), unit.path)
        raw.seek(0)
        if kind == "gz":
            yield io.BufferedReader(GunzipStream(raw), 1 << 20)  # type: ignore[arg-type]
        elif kind in ("tar", "tgz", "tarx"):
            with _open_tar(unit.path, kind) as tar:
                seen = 0
                for info in _tar_iter(tar):
                    if info.name == unit.member and info.isfile():
                        seen += 1
                        if seen < unit.occurrence:
                            continue
                        extracted = tar.extractfile(info)
                        if extracted is not None:
                            yield io.BufferedReader(_CheckedMember(extracted, None), 1 << 20)  # type: ignore[arg-type]
                            return
                raise FileNotFoundError(f"member {unit.member!r} not found in archive")
        else:
            yield from _open_zip_member(unit, raw)


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
        yield io.BufferedReader(GunzipStream(raw, -15), 1 << 20)  # type: ignore[arg-type]
    elif entry.method == 0 and entry.csize >= 0:
        data = io.BytesIO(raw.read(entry.csize))
        yield io.BufferedReader(_CheckedMember(data, None), 1 << 20)  # type: ignore[arg-type]
    else:
        raise NotImplementedError(f"zip compression method {entry.method}")


#: Archives kept open per process, with their directory: reading each of 10,000 members
#: of a zip must not parse its central directory 10,000 times (that made many small
#: members cost quadratic time: 10,000 took 4 minutes).
_ARCHIVE_CACHE = 4
_ZIPS: dict[tuple[str, int, int], tuple[zipfile.ZipFile | None, dict[str, list[zipfile.ZipInfo]]]]
_ZIPS = {}
_LOCAL_ENTRIES: dict[tuple[str, int, int], list[_LocalEntry]] = {}


def _file_key(path: str) -> tuple[str, int, int]:
    info = os.stat(path)
    return (os.path.realpath(path), info.st_size, info.st_mtime_ns)


def _zip_file(path: str) -> tuple[zipfile.ZipFile | None, dict[str, list[zipfile.ZipInfo]]]:
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
        expected = member._expected_crc  # noqa: SLF001 - checked by _CheckedMember instead
        member._expected_crc = None  # noqa: SLF001
        yield io.BufferedReader(_CheckedMember(member, expected), 1 << 20)  # type: ignore[arg-type]


def stream_error(stream: IO[bytes]) -> str | None:
    """Why a stream from :func:`open_unit` ended early, if it did."""
    inner = getattr(stream, "raw", stream)
    return getattr(inner, "error", None)
