"""DuckDB's memory limit: set it, read it back, and raise it when a query needs more.

The limit bounds what the engine keeps (past it DuckDB spills to a private folder), but
appending to and scanning a table of hundreds of columns pins a block per column per
thread, which a wide export can need beyond it (Mordor's 552 columns could not be
appended under 600 MB). Raising the limit and saying so beats losing the hunt.
"""

from __future__ import annotations

import ctypes
import os
import re
import sys
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import TypeVar, cast

import duckdb
import pyarrow as pa

from ...rules.compile.dialect import DUCKDB

T = TypeVar("T")

#: Times a query that ran out of memory is retried with a limit 1.5x higher.
MEMORY_RETRIES = 3
#: Share of physical memory the limit is never raised beyond.
CEILING_SHARE = 0.8
#: DuckDB's limit is never lowered below this by a reservation.
MIN_LIMIT = 256 * 2**20
#: Share of the memory limit set aside once the events are stored, for what queries'
#: results hold beside DuckDB (a slice encoded in Arrow, frames, detections). Reading
#: needs DuckDB's whole limit (wide row groups compressed, a partial one committed);
#: queries need much less, and under a 1 GB limit DuckDB kept the whole events table
#: resident through the hunt (Mordor: 0.9 GB beside the hunt's own 0.6 GB of Arrow)
#: where, past the lower limit, it spills the blocks no query is reading.
QUERY_SHARE = 0.6
#: The same share when the events are Parquet parts: DuckDB keeps nothing resident then
#: (the parts are files), and what the hunt's queries hold in it is small (Mordor: 5-90
#: MB while rules are evaluated); what needs more (the analytics' sorted frame of every
#: event, 240-330 MB) spills past it rather than grow the process.
PARTS_QUERY_SHARE = 0.75


class MemoryGuard:
    """The memory limit of one DuckDB database, and what was done about it."""

    def __init__(self, con: duckdb.DuckDBPyConnection, limit: str, describe: Callable[[], str]):
        self.con = con
        con.execute(f"SET memory_limit = {DUCKDB.literal(limit)}").fetchall()
        row = con.execute("SELECT current_setting('memory_limit')").fetchone()
        self.limit = setting_bytes(str(row[0])) if row else 2**30
        #: Memory held beside DuckDB for a while; DuckDB's own limit is lowered by it.
        self.reserved = 0
        #: What the user should hear of (a raised limit, and why).
        self.notes: list[str] = []
        self._describe = describe
        self._lock = threading.Lock()

    def reserve(self, nbytes: int) -> None:
        """Lower DuckDB's limit by ``nbytes`` the process holds outside DuckDB for a while
        (0 gives it back). The limit bounds DuckDB, not the process: what else the
        process holds at the same time has to come out of it."""
        with self._lock:
            self.reserved = nbytes
            self._apply()

    def stored(self, share: float = QUERY_SHARE) -> None:
        """The events are stored, queries follow: DuckDB's limit lowered by ``share`` of
        it. If DuckDB cannot spill enough to come under it at once, the limit stays as it
        was (a lower one is only a saving)."""
        before = self.reserved
        try:
            self.reserve(int(self.limit * share))
        except duckdb.Error:
            self.reserve(before)

    def _effective(self) -> int:
        return self.limit - min(self.reserved, max(self.limit - MIN_LIMIT, 0))

    def _apply(self) -> None:
        self.con.execute(f"SET memory_limit = '{self._effective() // 2**20}MiB'").fetchall()

    def run(self, work: Callable[[], T]) -> T:
        """``work()``, retried with a higher limit if DuckDB runs out of memory."""
        for attempt in range(MEMORY_RETRIES + 1):
            seen = self.limit
            try:
                return work()
            except (duckdb.Error, OSError) as exc:  # OSError: DuckDB's, through an Arrow reader
                if attempt == MEMORY_RETRIES or not out_of_memory(exc):
                    raise
                self._raise(seen, exc)
        raise AssertionError("unreachable")

    def _raise(self, seen: int, exc: Exception) -> None:
        with self._lock:
            if self.limit != seen:  # another thread raised it meanwhile
                return
            ceiling = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * CEILING_SHARE)
            if self.limit >= ceiling:
                raise exc
            before = self._effective()
            self.limit = min(ceiling, int(self.limit * 1.5))
            self._apply()
            self.notes.append(
                f"DuckDB needed more than its memory limit of {before // 2**20} MiB "
                f"({self._describe()}); raised it to {self._effective() // 2**20} MiB"
            )


def out_of_memory(exc: Exception) -> bool:
    """Whether ``exc`` is DuckDB running out of memory (some surface as commit errors;
    while a scan is read as Arrow batches, as the reader's ``OSError``)."""
    text = str(exc)
    if isinstance(exc, OSError) and not isinstance(exc, duckdb.Error):
        return text.startswith("Out of Memory Error")
    return isinstance(exc, duckdb.OutOfMemoryException) or (
        "pin block" in text or "allocate block" in text
    )


def setting_bytes(setting: str) -> int:
    """DuckDB's spelling of a memory setting ("953.6 MiB") in bytes."""
    m = re.fullmatch(r"\s*([\d.]+)\s*([KMGT]?i?B)\s*", setting)
    if not m:
        return 2**30
    scale = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
    scale |= {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}
    return int(float(m.group(1)) * scale.get(m.group(2), 1))


def release_freed() -> None:
    """Give what the process freed back to the system: Arrow's unused pool pages, and
    the C heap's free pages (glibc's ``malloc_trim``; nothing where there is none).

    NumPy's arrays live on the C heap, and those a worker thread made (a slice's codes
    and truth arrays) sit in that thread's heap arena once freed, where the main thread
    never reuses them: Mordor's evaluation left 210 MB resident that way, under the
    analytics that follow it (20 ms to give back)."""
    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@lru_cache(maxsize=1)
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, if this process has it."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    trim = getattr(libc, "malloc_trim", None)
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return cast(Callable[[int], int], trim)
