"""Temporary files and folders of a hunt, marked with their owner's pid.

DuckDB spills event data to a private folder and EVTX archive members are copied out to
be parsed. Both are removed when the hunt ends, even on SIGINT/SIGTERM; a process killed
outright (SIGKILL, a crash) cannot clean up, so its leftovers carry its pid in their name
and the next hunt removes those of processes that are gone.
"""

from __future__ import annotations

import os
import shutil
import tempfile

#: DuckDB's spill folders: ``lotlhunt-spill-<pid>-<random>``.
SPILL_PREFIX = "lotlhunt-spill-"
#: Copies of archive members: ``lotlhunt-member-<pid>-<random>.evtx``.
MEMBER_PREFIX = "lotlhunt-member-"
_PREFIXES = (SPILL_PREFIX, MEMBER_PREFIX)


def owned_prefix(kind: str) -> str:
    """The name prefix of a temporary file or folder this process owns."""
    return f"{kind}{os.getpid()}-"


def remove_stale(folder: str | None = None) -> list[str]:
    """Remove the marked files and folders whose owner process is gone; their paths."""
    folder = folder or tempfile.gettempdir()
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    removed = []
    for name in names:
        prefix = next((p for p in _PREFIXES if name.startswith(p)), None)
        if prefix is None:
            continue
        pid_text = name[len(prefix) :].split("-", 1)[0]
        if not pid_text.isdigit() or _alive(int(pid_text)):
            continue  # unmarked (an older version's) or a live hunt's: not ours to judge
        path = os.path.join(folder, name)
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        except OSError:
            continue
        removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's process
    return True
