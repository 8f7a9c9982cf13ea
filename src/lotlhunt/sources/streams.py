"""Byte streams that end, instead of raising, where compressed or archived data is damaged.

A hunt reads what an archive holds up to the damage and reports why it stopped
(:func:`stream_error`), rather than losing the readable part to an exception.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
import zlib
from typing import IO, Any


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


class CheckedMember(io.RawIOBase):
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


def stream_error(stream: IO[bytes]) -> str | None:
    """Why a stream from :func:`open_unit` ended early, if it did."""
    inner = getattr(stream, "raw", stream)
    return getattr(inner, "error", None)
