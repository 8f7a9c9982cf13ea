"""Local copies of EVTX archive members: the Rust parser needs a file it can seek in.

A member is spooled to a temporary file, bounded in size (an archive bomb must not fill
the disk) and sparse where the member is zeros (unwritten chunks).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from lotlhunt.sources.archives import open_unit, stream_error
from lotlhunt.sources.formats.evtx_chunks import _CHUNK
from lotlhunt.sources.report import UnitReport
from lotlhunt.sources.unit import InputUnit
from lotlhunt.tempfiles import MEMBER_PREFIX, owned_prefix

#: Largest EVTX archive member copied out to be parsed (the temporary folder holds one
#: such copy per reader at a time; a larger member is read up to this, and an issue
#: says so). Zero-filled stretches (unwritten chunks, the stuff of archive bombs) are
#: not written but skipped, leaving a sparse file.
MAX_SPOOL_BYTES = 2 << 30


@contextmanager
def _local_path(unit: InputUnit, report: UnitReport) -> Iterator[str | None]:
    """A path the Rust parser can open: the file itself, or an archive member spooled to a
    temporary file (the parser needs random access, archive streams do not seek cheaply)."""
    if unit.member is None:
        yield unit.path
        return
    with tempfile.NamedTemporaryFile(prefix=owned_prefix(MEMBER_PREFIX), suffix=".evtx") as tmp:
        try:
            with open_unit(unit) as src:
                error = _copy(src, tmp, MAX_SPOOL_BYTES) or stream_error(src)
        except (OSError, NotImplementedError) as e:
            report.note(None, f"cannot extract member: {e}", "file")
            yield None
            return
        if error:
            report.note(None, error, "file")
        tmp.flush()
        yield tmp.name


def _copy(src: Any, dst: Any, limit: int) -> str | None:
    """Copy at most ``limit`` bytes (an archive bomb must not fill the disk); runs of
    zeros are skipped, not written (see :data:`MAX_SPOOL_BYTES`)."""
    copied = 0
    while chunk := src.read(_CHUNK):
        copied += len(chunk)
        if copied > limit:
            dst.write(chunk[: len(chunk) - (copied - limit)])
            return f"member larger than {limit} bytes; only the first {limit} were read"
        if chunk.count(0) == len(chunk):
            dst.seek(len(chunk), os.SEEK_CUR)
        else:
            dst.write(chunk)
    dst.truncate(copied)  # a file ending in zeros keeps its length
    return None
