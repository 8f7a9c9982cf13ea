"""Compiling rule files in worker processes (:mod:`lotlhunt._support.workers`).

Compiling is CPU-bound Python (pySigma), so a cold load of thousands of rules is shared
among processes. A worker gets the compile configuration once, then jobs of a few files
each, and answers each file with a cache entry (the same bytes the cache stores). Whatever
no worker answers (it failed to start, it died, an entry would not serialise) is compiled
by the caller in its own process, which reports what went wrong.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._support.workers import Output, WorkerOptions, WorkerPool

#: (index of the file in the load, path, content)
Job = tuple[int, str, bytes | None]
_SERVICE = "lotlhunt.rules.parallel:_serve"


@dataclass(frozen=True)
class CompileOptions:
    """When rule files are compiled in worker processes, and how."""

    #: Below this many files to compile per worker, starting workers costs more than
    #: it saves.
    min_files_per_worker: int = 150
    #: Most worker processes, whatever the CPU count.
    max_workers: int = 8
    #: Files sent to a worker in one job: one round trip per job (a frame each way, about
    #: 0.1 ms) against milliseconds of pySigma per file, while jobs stay small enough that
    #: a worker that finishes early takes more.
    files_per_job: int = 16
    #: The command that starts a worker process's Python.
    interpreter: tuple[str, ...] = field(default_factory=lambda: (sys.executable,))


DEFAULT_OPTIONS = CompileOptions()


def worker_count(requested: int | None, files: int, options: CompileOptions) -> int:
    """Processes to compile ``files`` with: as asked, else the CPUs other work leaves idle
    (on a busy machine, processes fighting for the same cores only add start-up cost)."""
    if requested is None:
        if hasattr(os, "sched_getaffinity"):
            cpus = len(os.sched_getaffinity(0))
        else:
            cpus = os.cpu_count() or 1
        try:
            busy = int(os.getloadavg()[0])
        except (AttributeError, OSError):
            busy = 0
        requested = min(cpus - busy, options.max_workers)
    return max(1, min(requested, files // options.min_files_per_worker))


def compile_in_workers(
    jobs: Sequence[Job], config: tuple[Any, ...], n: int, options: CompileOptions
) -> Iterator[tuple[int, bytes]]:
    """(index, cache entry) for each file a worker compiled, as they complete.

    ``config`` is (dialect, placeholders, filter files), what every worker compiles with.
    """
    size = options.files_per_job
    chunks = [list(jobs[k : k + size]) for k in range(0, len(jobs), size)]
    pool = WorkerOptions(processes=n, interpreter=options.interpreter, quiet=True)
    for event in WorkerPool(_SERVICE, config, chunks, pool).run():
        if isinstance(event, Output):
            yield int.from_bytes(event.data[:8], "little"), event.data[8:].tobytes()
        # A job no worker finished (Died, Unstarted) is compiled by the caller.


def _serve(config: tuple[Any, ...]) -> Callable[[list[Job]], Iterator[tuple[bytes, bytes]]]:
    """A compile worker's handler: each file of a job answered with its cache entry."""
    from . import cache as rule_cache
    from .cache_entries import _applicable_key, _entry
    from .compiling import CompileContext, _new_backend
    from .rule_files import _compile_file, _load_filters

    dialect, placeholders, filter_files = config
    filters, _ = _load_filters(filter_files, placeholders)
    ctx = CompileContext(_new_backend(dialect), placeholders, filters)

    def compile_job(job: list[Job]) -> Iterator[tuple[bytes, bytes]]:
        for i, path, content in job:
            assert content is not None
            result = _compile_file(Path(path), content, ctx)
            try:
                data = rule_cache.dumps(_entry(result, _applicable_key(result.known, filters)))
            except TypeError:
                continue  # not answered: the parent compiles it and reports
            yield i.to_bytes(8, "little"), data

    return compile_job
