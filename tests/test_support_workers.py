"""The one worker pool: every job answered or handed back, whatever the workers do."""

from __future__ import annotations

import os
import sys
from typing import Any

import pytest

from lotlhunt._support.workers import (
    Died,
    Finished,
    Output,
    Unstarted,
    WorkerOptions,
    WorkerPool,
)
from test_sources_parallel import children

SERVICE = "worker_services:count_service"
#: A worker command that exits before it could do anything (as a broken install would).
DIES_AT_ONCE = (sys.executable, "-c", "import sys; sys.exit(3)", "--")

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc")


def run(jobs: list[tuple[str, int, bytes]], **options: Any) -> list[Any]:
    pool = WorkerPool(SERVICE, b"m", jobs, WorkerOptions(**options))
    events = [
        (type(e).__name__, e.job, bytes(e.data)) if isinstance(e, Output) else e for e in pool.run()
    ]
    assert children() == []
    return events


def test_every_job_is_answered_in_order() -> None:
    jobs = [("ok", k % 5, b"") for k in range(30)]
    events = run(jobs, processes=2)
    for job in jobs:
        mine = [e for e in events if (e[1] if isinstance(e, tuple) else e.job) is job]
        expected = [("Output", job, f"m{i}".encode()) for i in range(job[1])]
        assert mine == [*expected, Finished(job)]


def test_a_worker_that_dies_is_reported_and_its_jobs_go_on() -> None:
    jobs = [("ok", 2, b"") for _ in range(8)]
    dying = ("die", 3, b"")
    jobs.insert(2, dying)
    events = run(jobs, processes=2)
    assert [e for e in events if isinstance(e, Died)] == [Died(dying, 7)]
    finished = [e.job for e in events if isinstance(e, Finished)]
    assert sorted(map(id, finished)) == sorted(id(j) for j in jobs if j is not dying)


def test_workers_that_die_at_once_leave_every_job_to_the_caller() -> None:
    # Dying at once used to raise BrokenPipeError now and then: try many times.
    jobs = [("ok", 1, b"") for _ in range(6)]
    for _ in range(10):
        with pytest.warns(RuntimeWarning, match="failed to start"):
            events = run(jobs, processes=2, interpreter=DIES_AT_ONCE)
        assert events == [Unstarted(job) for job in jobs]


def test_large_jobs_do_not_block_a_busy_worker() -> None:
    # Jobs larger than a pipe, while the worker's answers fill the parent's inbox: the
    # worker reads its jobs on a thread, so neither side waits on the other.
    payload = os.urandom(600_000)
    jobs = [("big", 12, payload) for _ in range(4)]
    events = run(jobs, processes=1, in_flight=3, buffer=1)
    outputs = [e for e in events if isinstance(e, tuple)]
    assert len(outputs) == 48 and all(data == payload for _, _, data in outputs)
    assert sum(isinstance(e, Finished) for e in events) == 4


def test_closing_early_ends_the_workers() -> None:
    jobs = [("big", 50, b"x" * 100_000) for _ in range(6)]
    events = WorkerPool(SERVICE, b"", jobs, WorkerOptions(processes=2)).run()
    assert isinstance(next(events), Output)
    events.close()  # type: ignore[attr-defined]
    assert children() == []
