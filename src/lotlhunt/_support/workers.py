"""One pool of worker processes for CPU-bound jobs: reading logs, compiling rules.

Why processes: parsing and compiling are CPU-bound Python (the GIL), so parallelism needs
processes. Why plain subprocesses (``python -c``) rather than ``multiprocessing``: a worker
imports only the module that serves its jobs, not the caller's main module, so it starts in
a fraction of the time and scripts need no ``__main__`` guard. Each worker has its own stdin
and stdout pipes, so a worker that dies (a parser crash on hostile input) cannot leave a
shared lock held; the pool notices, says which job it was doing, and starts a replacement
for the jobs left. Workers that cannot start at all leave their jobs to the caller.

The pool knows nothing of what a job is. The caller names a *service*, ``"module:function"``:
in each worker, ``function(setup)`` is called once with the caller's ``setup`` object and
returns a handler; ``handler(job)`` yields the job's messages, each a tuple of bytes-like
parts sent as one frame (so a multi-megabyte buffer is never copied to be tagged). Jobs and
the setup travel pickled, messages as bytes in length-prefixed frames. Memory stays bounded
however much a job produces: a pipe write blocks until the parent reads, a worker buffers
at most :attr:`WorkerOptions.buffer` messages, and the parent's inbox is bounded too.
"""

from __future__ import annotations

import importlib
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Generic, TypeVar

J = TypeVar("J")

#: Frame tags of the pool's own protocol (the first byte of every frame a worker sends).
_READY, _PART, _END = b"R", b"P", b"E"
_WORKER_CODE = (
    "import sys; from lotlhunt._support.workers import _worker_main; _worker_main(sys.argv[1])"
)
#: Failed starts, with no worker ever ready, after which the pool stops trying.
_MAX_FAILED_STARTS = 2


@dataclass(frozen=True)
class WorkerOptions:
    """How many workers, and how far each may run ahead of the parent."""

    processes: int
    #: Jobs sent to a worker ahead of time (small jobs would otherwise wait on round trips).
    in_flight: int = 2
    #: Messages a worker may have produced ahead of the parent (bounds its memory).
    buffer: int = 2
    #: The command that starts a worker's Python; the worker code and service follow it.
    interpreter: tuple[str, ...] = field(default_factory=lambda: (sys.executable,))
    #: Discard what workers write to stderr (library warnings the caller reports itself).
    quiet: bool = False


@dataclass(frozen=True)
class Output(Generic[J]):
    """One message a worker sent for ``job``: the bytes of its parts, joined."""

    job: J
    data: memoryview


@dataclass(frozen=True)
class Finished(Generic[J]):
    """The worker's handler returned: every message of ``job`` came before this."""

    job: J


@dataclass(frozen=True)
class Died(Generic[J]):
    """The worker died while doing ``job``; the messages it sent for it came before."""

    job: J
    exit_code: int | None


@dataclass(frozen=True)
class Unstarted(Generic[J]):
    """No worker could be started for ``job``: the caller does it in its own process."""

    job: J


Event = Output[J] | Finished[J] | Died[J] | Unstarted[J]


def _read_exactly(stream: IO[bytes], n: int) -> bytes | None:
    """n bytes from an unbuffered pipe, or None at end of stream."""
    parts: list[bytes] = []
    while n:
        part = stream.read(n)
        if not part:
            return None
        parts.append(part)
        n -= len(part)
    return b"".join(parts)


def _write_frame(stream: IO[bytes], *parts: Any) -> None:
    views = [memoryview(p).cast("B") for p in parts]
    for view in (memoryview(sum(map(len, views)).to_bytes(8, "little")), *views):
        while view:  # an unbuffered pipe may take less than it is given
            written = stream.write(view)
            view = view[written or 0 :]
    stream.flush()


def _read_frame(stream: IO[bytes]) -> bytes | None:
    header = _read_exactly(stream, 8)
    return None if header is None else _read_exactly(stream, int.from_bytes(header, "little"))


def _widen_pipe(stream: IO[bytes]) -> None:
    """Ask Linux for a 1 MiB pipe (default 64 KiB): messages are megabytes, fewer switches."""
    try:
        import fcntl

        fcntl.fcntl(stream.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (ImportError, OSError):
        pass


class _Worker(Generic[J]):
    def __init__(self, service: str, options: WorkerOptions) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)  # same imports as here
        self.proc = subprocess.Popen(
            [*options.interpreter, "-c", _WORKER_CODE, service],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL if options.quiet else None,
            bufsize=0,
            env=env,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.inp: IO[bytes] = self.proc.stdin
        self.out: IO[bytes] = self.proc.stdout
        _widen_pipe(self.out)
        self.jobs: deque[J] = deque()  # sent to it, in order; the first is being done
        self.ready = False  # the worker started and built its handler

    def send(self, message: object) -> bool:
        """Send a pickled object; False when the worker is gone (its pipe is closed)."""
        try:
            _write_frame(self.inp, pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))
        except OSError:
            return False
        return True

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.inp.close()
                self.proc.wait(timeout=1)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(timeout=5)
        for stream in (self.inp, self.out):
            try:
                stream.close()
            except OSError:  # an unflushed write to a dead worker: nothing left to say
                pass


class WorkerPool(Generic[J]):
    """Workers, the jobs they have not done yet, and one inbox for all their messages.

    A thread per worker reads its frames into the bounded inbox (portable, unlike waiting
    on pipe handles); the inbox filling up stops the threads, then the pipes, then the
    workers, which is what bounds memory. Jobs are handed out in the order given, a few
    at a time, so a worker that finishes early takes more.
    """

    def __init__(self, service: str, setup: object, jobs: Iterable[J], options: WorkerOptions):
        self.service = service
        self.setup = setup
        self.options = options
        self.pending: deque[J] = deque(jobs)
        self.started: list[_Worker[J]] = []
        self.active: list[_Worker[J]] = []
        self.inbox: queue.Queue[tuple[_Worker[J], bytes | None]] = queue.Queue(
            2 * options.processes
        )
        self.closed = threading.Event()
        self.failed_starts = 0
        self.any_ready = False

    def run(self) -> Iterator[Event[J]]:
        """Events of every job, as workers send them; closing the iterator ends the workers."""
        try:
            for _ in range(self.options.processes):
                if self.pending:
                    self._spawn()
            while self.active:
                worker, frame = self.inbox.get()
                if worker in self.active:
                    yield from self._service(worker, frame)
            if self.pending:  # workers could not start: the caller does the rest
                warnings.warn(
                    "lotlhunt worker processes failed to start; working in this process",
                    RuntimeWarning,
                    stacklevel=2,
                )
                while self.pending:
                    yield Unstarted(self.pending.popleft())
        finally:
            self.closed.set()
            for worker in self.started:
                worker.stop()

    def _spawn(self) -> None:
        try:
            worker: _Worker[J] = _Worker(self.service, self.options)
        except OSError:
            self.failed_starts += 1
            return
        self.started.append(worker)
        threading.Thread(target=self._listen, args=(worker,), daemon=True).start()
        if worker.send((self.options.buffer, self.setup)) and self._fill(worker):
            self.active.append(worker)

    def _listen(self, worker: _Worker[J]) -> None:
        while True:
            try:
                frame = _read_frame(worker.out)
            except (OSError, ValueError):  # closed under us at shutdown
                frame = None
            while True:
                try:
                    self.inbox.put((worker, frame), timeout=0.2)
                    break
                except queue.Full:
                    if self.closed.is_set():
                        return
            if frame is None:
                return

    def _service(self, worker: _Worker[J], frame: bytes | None) -> Iterator[Event[J]]:
        """Handle one frame from ``worker``, or its end (``frame`` None)."""
        if frame is not None:
            tag = frame[:1]
            if tag == _PART and worker.jobs:
                yield Output(worker.jobs[0], memoryview(frame)[1:])
            elif tag == _END and worker.jobs:
                yield Finished(worker.jobs.popleft())
                if not self._fill(worker):
                    self.active.remove(worker)
            elif tag == _READY:
                worker.ready = self.any_ready = True
            return
        self.active.remove(worker)
        try:
            worker.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            worker.proc.kill()
            worker.proc.wait(timeout=5)
        if worker.jobs and worker.ready:
            yield Died(worker.jobs.popleft(), worker.proc.returncode)
        self.pending.extendleft(reversed(worker.jobs))  # sent but never started
        worker.jobs.clear()
        if not worker.ready:
            self.failed_starts += 1
            if not self.any_ready and self.failed_starts >= _MAX_FAILED_STARTS:
                return  # stop spawning; run() hands what is left to the caller
        if self.pending:
            self._spawn()

    def _fill(self, worker: _Worker[J]) -> bool:
        """Keep ``in_flight`` jobs sent to the worker, so it never waits for the parent
        between jobs; tell it to stop when there is nothing left. False then."""
        while self.pending and len(worker.jobs) < self.options.in_flight:
            job = self.pending.popleft()
            if not worker.send(job):
                self.pending.appendleft(job)
                break
            worker.jobs.append(job)
        if worker.jobs:
            return True
        worker.send(None)
        return False


Handler = Callable[[Any], Iterable[Sequence[Any]]]


def _worker_main(service: str) -> None:
    """Worker loop: build the service's handler, then answer each job sent on stdin."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # anything a library prints goes to stderr, not into the frames
    jobs: queue.Queue[Any] = queue.Queue()
    # Jobs are read as they come, so the parent never blocks writing one while this
    # process is busy (it would then stop reading what this process sends).
    inp = os.fdopen(os.dup(0), "rb", buffering=0)  # unbuffered: no lock held at exit
    threading.Thread(target=_receive_loop, args=(inp, jobs), daemon=True).start()
    setup = jobs.get()
    if setup is None:
        return
    buffer, config = setup
    from .no_pandas import keep_pandas_out

    keep_pandas_out()  # the services hand pyarrow lists, never pandas objects
    module, name = service.split(":")
    handler: Handler = getattr(importlib.import_module(module), name)(config)
    outbox: queue.Queue[tuple[Any, ...] | None] = queue.Queue(buffer)
    sender = threading.Thread(target=_send_loop, args=(out, outbox), daemon=True)
    sender.start()
    outbox.put((_READY,))
    while (job := jobs.get()) is not None:
        for message in handler(job):
            outbox.put((_PART, *message))
        outbox.put((_END,))
    outbox.put(None)
    sender.join()


def _receive_loop(inp: IO[bytes], jobs: queue.Queue[Any]) -> None:
    """Jobs from the parent until it says stop (None) or goes away."""
    while True:
        frame = _read_frame(inp)
        job = pickle.loads(frame) if frame is not None else None
        jobs.put(job)
        if job is None:
            return


def _send_loop(out: IO[bytes], outbox: queue.Queue[tuple[Any, ...] | None]) -> None:
    while True:
        item = outbox.get()
        if item is None:
            return
        try:
            _write_frame(out, *item)
        except OSError:  # the parent went away
            os._exit(0)
