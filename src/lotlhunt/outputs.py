"""Output files of a hunt: checked before the hunt, written so one failure loses no other.

A hunt can take an hour; an output that cannot be written (a missing folder, a folder in
its place, no permission) is told before it starts. What only fails while writing (a full
disk, ``/dev/full``) fails that output alone: the others, and the summary, still come.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Output:
    """One file the hunt writes: the option that named it, where, and how."""

    option: str
    path: Path
    write: Callable[[Path], None]


def output_problem(path: Path) -> str | None:
    """Why ``path`` cannot be written, or None when it looks writable (it may still fail
    while writing, e.g. on a full disk)."""
    if path.is_dir():
        return "is a directory"
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        return f"folder {parent} does not exist"
    if not parent.is_dir():
        return f"{parent} is not a folder"
    if path.exists():
        if not os.access(path, os.W_OK):
            return "no permission to write it"
    elif not os.access(parent, os.W_OK | os.X_OK):
        return f"no permission to create files in {parent}"
    return None


def check_outputs(outputs: Sequence[tuple[str, Path | None]]) -> list[str]:
    """A message per output that cannot be written (``--jsonl out.json: is a directory``)."""
    out = []
    for option, path in outputs:
        if path is not None:
            why = output_problem(path)
            if why:
                out.append(f"{option} {path}: {why}")
    return out


def write_outputs(outputs: Sequence[Output]) -> list[str]:
    """Write every output; a message per output that failed (the others are written)."""
    failed = []
    for output in outputs:
        try:
            output.write(output.path)
        except (OSError, ValueError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            failed.append(f"{output.option} {output.path}: {why}")
    return failed
