"""The rule files as they are on disk, as one key: a warm load's shortcut.

Finding each rule file's cache entry means reading and hashing the file (the SigmaHQ
folders: 3,848 files, 0.08-0.13 s read at load 5). A load stores the entry key of each
of its files under a key of the files' paths, sizes, inodes, devices and times
(:func:`listing_key`), in the cache (:meth:`.cache.RuleCache.put_listing`); the next
load of the same files, unchanged, stats them and reads none.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence

#: Seconds within which a file's last change makes its listing untrusted: a file
#: written again in the same clock tick as before would keep its size and times (a
#: coarse file system's tick is up to 2 s), so such a load reads every file.
RACY_SECONDS = 2.0
#: Listings kept (one per set of rule paths and placeholders hunted with lately).
KEEP_LISTINGS = 8


def listing_key(env: str, extra: str, names: Sequence[str]) -> str | None:
    """A key for the rule files ``names`` as they are on disk (path, size, inode, change
    and modification times), under which a load stores each file's entry key
    (:meth:`.cache.RuleCache.put_listing`): a warm load of unchanged files then reads and
    hashes none of them (the SigmaHQ folders: 3,848 files, 0.08-0.13 s read at load
    5). None (no listing) if a file cannot be examined or changed within
    :data:`RACY_SECONDS`; the per-file cache is then used as before."""
    h = hashlib.sha256()
    for part in (env, extra):
        h.update(part.encode())
        h.update(b"\0")
    recent = (time.time() - RACY_SECONDS) * 1e9
    for name in names:
        try:
            st = os.stat(name)
        except OSError:
            return None
        if st.st_mtime_ns >= recent or st.st_ctime_ns >= recent:
            return None
        h.update(name.encode("utf-8", "surrogateescape"))
        h.update(
            f"\0{st.st_size}:{st.st_ino}:{st.st_dev}:{st.st_mtime_ns}:{st.st_ctime_ns}\0".encode()
        )
    return h.hexdigest()
