"""Find the readable things under the paths a user names.

An :class:`InputUnit` is one file or one archive member (zip, tar, tar.gz, .gz; see
:mod:`.archives`). Format is decided by content first (EVTX magic, JSON's first byte),
extension second (the tiers of :mod:`.registry`), so renamed exports are read and pcaps,
READMEs and macOS resource forks (``__MACOSX/._x.json``) are skipped and listed rather
than counted as broken logs. Damaged archives are listed as far as they go. Nothing here
raises on bad input; problems become issues.
"""

from __future__ import annotations

import os
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from lotlhunt.errors import InputIssue
from lotlhunt.sources.archives import SNIFF_BYTES, archive_kind, members
from lotlhunt.sources.registry import sniff_format
from lotlhunt.sources.unit import InputUnit


@dataclass
class Discovery:
    units: list[InputUnit] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (label, reason)
    issues: list[InputIssue] = field(default_factory=list)


def sniff(head: bytes, name: str) -> tuple[str | None, str]:
    """Format of content starting with ``head`` named ``name``: (fmt, "") or (None, why)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    if base.startswith("._") or "__MACOSX/" in name or base == ".DS_Store":
        return None, "macOS metadata, not a log"
    return sniff_format(head, os.path.splitext(base)[1].lower())


def discover(paths: Sequence[str | Path]) -> Discovery:
    """Every readable unit under ``paths`` (files, folders recursively, archive members)."""
    found = Discovery()
    seen: set[tuple[str, str | None, int]] = set()
    # Links to folders are followed (a case folder of links to hosts' log folders read
    # nothing before, and said nothing); a folder reached twice, as by a link to one of
    # its parents, is read once.
    folders: set[str] = set()
    for given in paths:
        path = str(given)
        if os.path.isdir(path):
            walk = os.walk(path, onerror=lambda e: _walk_error(found, e), followlinks=True)
            for root, dirs, files in walk:
                real = os.path.realpath(root)
                if real in folders:
                    dirs.clear()
                    found.skipped.append((root, "a folder already read (through a link)"))
                    continue
                folders.add(real)
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
            head = fh.read(SNIFF_BYTES)
        size = info.st_size
    except OSError as e:
        found.issues.append(InputIssue(path, None, f"cannot read: {e.strerror or e}", "file"))
        return

    def add(unit: InputUnit) -> None:
        key = (os.path.realpath(unit.path), unit.member, unit.occurrence)
        if key not in seen:
            seen.add(key)
            found.units.append(unit)

    kind = archive_kind(head, path)
    if kind is None:
        fmt, why = sniff(head, path)
        if fmt:
            add(InputUnit(path, None, fmt, size))
        else:
            found.skipped.append((path, why))
        return
    try:
        names: dict[str, int] = {}
        for member, member_head, member_size, error in members(path, kind):
            occurrence = names[member] = names.get(member, 0) + 1
            unit = InputUnit(path, member, "json", member_size, occurrence=occurrence)
            if error:
                label = unit.label if member else path
                found.issues.append(InputIssue(label, None, error, "file"))
                continue
            fmt, why = sniff(member_head, member)
            if fmt and archive_kind(member_head, member) is None:
                add(replace(unit, fmt=fmt))
            else:
                found.skipped.append((unit.label, why or "nested archive, not read"))
    except (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError, zlib.error) as e:
        found.issues.append(InputIssue(path, None, f"damaged archive: {e}", "file"))
