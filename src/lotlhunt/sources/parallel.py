"""Reading units, one at a time or many at once in worker processes.

Why processes: parsing is CPU-bound Python (the GIL), so parallelism needs processes.
Why plain subprocesses (``python -c "...parallel._worker_main..."``) rather than
``multiprocessing``: a worker imports only the readers, not the caller's main module,
so it starts in a fraction of the time, and scripts need no ``__main__`` guard. Each
worker has its own stdin/stdout pipes, so a worker that dies (a parser crash on hostile
input) cannot leave a shared lock held; the parent notices, reports the unit it was
reading, and starts a replacement for the units left. Batches cross the pipe as Arrow IPC
streams in length-prefixed frames; a pipe write blocks until the parent reads, and each
worker buffers at most a few batches, so memory stays bounded however large the input.
"""

from __future__ import annotations

import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import IO, Any

import pyarrow as pa

from lotlhunt._support.gc_pause import gc_paused
from lotlhunt.sources.discover import InputUnit
from lotlhunt.sources.formats.evtx import chunk_spans, read_evtx
from lotlhunt.sources.formats.jsonl import line_spans, read_json
from lotlhunt.sources.normalise import MAX_ISSUES, UnitReport

_READERS = {"evtx": read_evtx, "json": read_json}
#: Batches a worker may have parsed ahead of the parent, per worker (batches are cut at
#: ``normalise.BATCH_BYTES`` of source text, so this bounds a worker's memory too).
WORKER_BUFFER = 2
#: Units sent to a worker ahead of time (small files would otherwise wait on round trips).
UNITS_IN_FLIGHT = 2
_BATCH, _CONTROL = b"B", b"C"  # frame tags: Arrow IPC stream, or a pickled message
_READY = "ready"
_WORKER_CODE = (
    "import sys; from lotlhunt.sources.parallel import _worker_main; _worker_main(int(sys.argv[1]))"
)


def read_unit(unit: InputUnit, batch_rows: int = 8192) -> Iterator[pa.RecordBatch | UnitReport]:
    """Record batches of one unit, then its :class:`UnitReport`. Never raises on bad data."""
    started = time.perf_counter()
    report = UnitReport(unit)
    reader = _READERS.get(unit.fmt)
    if reader is None:
        report.note(None, f"unknown input format {unit.fmt!r}", "file")
    else:
        batches = reader(unit, batch_rows, report)
        while True:
            # The rows of a batch are many small acyclic objects (see gc_pause). Paused
            # only while this reader runs, not while the caller holds the batch.
            try:
                with gc_paused():
                    batch = next(batches)
            except StopIteration:
                break
            except Exception as e:  # noqa: BLE001 - a reader bug must not end a hunt
                report.note(None, f"reader failed: {type(e).__name__}: {e}", "file")
                break
            report.records += batch.num_rows
            yield batch
    if unit.span is None:  # parts: said once, when merged
        report.say_dropped()
    report.seconds = time.perf_counter() - started
    yield report


#: Inputs smaller than this are read in-process whatever the worker count: a worker
#: process takes about half a second to start and import its readers. Measured reading
#: into the engine, six runs each: the 277 files (36 MB) of evtx-attack-samples 1.2-1.5 s
#: in-process, 1.5-2.0 s with two workers; 56 MB of simulated EVTX the same either way
#: (3.6-4.4 s).
IN_PROCESS_BYTES = 48 * 2**20


def read_all(
    units: Iterable[InputUnit], workers: int, batch_rows: int = 8192
) -> Iterator[pa.RecordBatch | UnitReport]:
    """Batches and reports of all units; each unit's report follows its last batch.

    ``workers <= 1`` reads in this process, in order, and so do inputs smaller than
    ``IN_PROCESS_BYTES`` in all (starting worker processes costs more than reading them).
    Otherwise units are read by that many worker processes, largest first, and batches
    of different units interleave.
    """
    todo = list(units)
    if workers <= 1 or sum(map(_size, todo)) < IN_PROCESS_BYTES:
        for unit in todo:
            yield from read_unit(unit, batch_rows)
        return
    parts, counts = _in_parts(todo, workers)
    parts.sort(key=_size, reverse=True)
    items = _Pool(parts, min(workers, len(parts)), batch_rows).run()
    yield from _merged_reports(items, counts)


#: Files at least this large (plain JSON lines, EVTX) are read in parts by several
#: workers: one large file would otherwise be parsed by one worker while others idle.
SPLIT_BYTES = 64 << 20
#: Smallest part worth a worker of its own.
PART_BYTES = 32 << 20


def _in_parts(units: list[InputUnit], workers: int) -> tuple[list[InputUnit], dict[InputUnit, int]]:
    """The units, with each large plain JSON lines or EVTX file (not an archive member)
    replaced by parts several workers read at once (one part per ``PART_BYTES``, up to
    two per worker), and how many parts each such file became."""
    out: list[InputUnit] = []
    counts: dict[InputUnit, int] = {}
    for unit in units:
        size = _size(unit)
        spans = None
        if unit.member is None and size >= SPLIT_BYTES:
            parts = max(2, min(2 * workers, size // PART_BYTES))
            if unit.fmt == "json":
                spans = line_spans(unit.path, size, parts)
            elif unit.fmt == "evtx":
                spans = chunk_spans(unit.path, size, parts)
        if spans is None:
            out.append(unit)
            continue
        counts[unit] = len(spans)
        out += [
            replace(unit, size=end - start, span=(start, end, line)) for start, end, line in spans
        ]
    return out, counts


def _merged_reports(
    items: Iterator[pa.RecordBatch | UnitReport], counts: dict[InputUnit, int]
) -> Iterator[pa.RecordBatch | UnitReport]:
    """``items`` with the reports of a file read in parts merged into one, yielded when
    its last part is done: a file is one input whatever the readers did with it."""
    if not counts:
        yield from items
        return
    waiting: dict[InputUnit, list[UnitReport]] = {}
    for item in items:
        if isinstance(item, pa.RecordBatch) or item.unit.span is None:
            yield item
            continue
        whole = replace(item.unit, span=None)
        got = waiting.setdefault(whole, [])
        got.append(item)
        if len(got) == counts[whole]:
            del waiting[whole]
            yield _merge(whole, got)
    for whole, got in waiting.items():  # only if the pool stopped early: every part reports
        yield _merge(whole, got)


def _merge(unit: InputUnit, reports: list[UnitReport]) -> UnitReport:
    """One report of a file from the reports of its parts, issues in file order."""
    merged = UnitReport(replace(unit, size=sum(r.unit.size for r in reports)))
    for r in sorted(reports, key=lambda r: r.unit.span or (0, 0, 0)):
        merged.records += r.records
        merged.records_failed += r.records_failed
        merged.issues_dropped += r.issues_dropped
        merged.seconds += r.seconds
        merged.issues += r.issues
    if len(merged.issues) > MAX_ISSUES:
        merged.issues_dropped += len(merged.issues) - MAX_ISSUES
        del merged.issues[MAX_ISSUES:]
    merged.say_dropped()
    return merged


def _size(unit: InputUnit) -> int:
    if unit.size >= 0:
        return unit.size
    try:
        return os.path.getsize(unit.path)
    except OSError:
        return 0


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
    """Ask Linux for a 1 MiB pipe (default 64 KiB): batches are megabytes, fewer switches."""
    try:
        import fcntl

        fcntl.fcntl(stream.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (ImportError, OSError):
        pass


class _Worker:
    def __init__(self, batch_rows: int) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)  # same imports as here
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _WORKER_CODE, str(batch_rows)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
            env=env,
        )
        self.out: IO[bytes] = self.proc.stdout  # type: ignore[assignment]
        _widen_pipe(self.out)
        self.units: deque[InputUnit] = deque()  # sent to it, in order; the first is read now
        self.rows = 0  # rows received of the first unit
        self.ready = False  # the worker started and imported the readers

    def send(self, unit: InputUnit | None) -> bool:
        try:
            _write_frame(self.proc.stdin, pickle.dumps(unit))  # type: ignore[arg-type]
        except OSError:
            return False
        return True

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()  # type: ignore[union-attr]
                self.proc.wait(timeout=1)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.out.close()


class _Pool:
    """Workers, the units they have not read yet, and one inbox for all their messages.

    A thread per worker reads its frames into the bounded inbox (portable, unlike waiting
    on pipe handles); the inbox filling up stops the threads, then the pipes, then the
    workers, which is what bounds memory.
    """

    def __init__(self, units: list[InputUnit], workers: int, batch_rows: int) -> None:
        self.pending = deque(units)
        self.n = workers
        self.batch_rows = batch_rows
        self.started: list[_Worker] = []
        self.active: list[_Worker] = []
        self.inbox: queue.Queue[tuple[_Worker, bytes | None]] = queue.Queue(2 * workers)
        self.closed = threading.Event()
        self.failed_starts = 0
        self.any_ready = False

    def _spawn(self) -> None:
        try:
            worker = _Worker(self.batch_rows)
        except OSError:
            self.failed_starts += 1
            return
        self.started.append(worker)
        threading.Thread(target=self._listen, args=(worker,), daemon=True).start()
        if self._fill(worker):
            self.active.append(worker)

    def _listen(self, worker: _Worker) -> None:
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

    def run(self) -> Iterator[pa.RecordBatch | UnitReport]:
        try:
            for _ in range(self.n):
                self._spawn()
            while self.active:
                worker, frame = self.inbox.get()
                if worker in self.active:
                    yield from self._service(worker, frame)
            if self.pending:  # workers could not start: read here rather than not at all
                warnings.warn(
                    "lotlhunt reader processes failed to start; reading in this process",
                    RuntimeWarning,
                    stacklevel=2,
                )
                while self.pending:
                    yield from read_unit(self.pending.popleft(), self.batch_rows)
        finally:
            self.closed.set()
            for worker in self.started:
                worker.stop()

    def _service(
        self, worker: _Worker, frame: bytes | None
    ) -> Iterator[pa.RecordBatch | UnitReport]:
        """Handle one message from ``worker``, or its end (``frame`` None)."""
        if frame is not None:
            item = self._decode(worker, frame)
            if item is not None:
                yield item
            if isinstance(item, UnitReport) and not self._fill(worker):
                self.active.remove(worker)
            return
        self.active.remove(worker)
        try:
            worker.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            worker.proc.kill()
        if worker.units and worker.ready:
            yield self._crash_report(worker)
        self.pending.extendleft(reversed(worker.units))  # sent but never started
        worker.units.clear()
        if not worker.ready:
            self.failed_starts += 1
            if not self.any_ready and self.failed_starts >= 2:
                return  # stop spawning; run() reads what is left in-process
        if self.pending:
            self._spawn()

    def _fill(self, worker: _Worker) -> bool:
        """Keep :data:`UNITS_IN_FLIGHT` units sent to the worker, so it never waits for the
        parent between units; tell it to stop when there is nothing left. False then."""
        while self.pending and len(worker.units) < UNITS_IN_FLIGHT:
            unit = self.pending.popleft()
            if not worker.send(unit):
                self.pending.appendleft(unit)
                break
            worker.units.append(unit)
        if worker.units:
            return True
        worker.send(None)
        return False

    def _decode(self, worker: _Worker, frame: bytes) -> pa.RecordBatch | UnitReport | None:
        tag, payload = frame[:1], memoryview(frame)[1:]
        if tag == _CONTROL:
            message = pickle.loads(payload)
            if message == _READY:
                worker.ready = self.any_ready = True
                return None
            if worker.units:
                worker.units.popleft()
            worker.rows = 0
            return message  # type: ignore[no-any-return]
        batch = pa.ipc.open_stream(pa.py_buffer(payload)).read_next_batch()
        worker.rows += batch.num_rows
        return batch

    @staticmethod
    def _crash_report(worker: _Worker) -> UnitReport:
        unit = worker.units.popleft()
        report = UnitReport(unit, records=worker.rows)
        report.note(
            None,
            f"reader process died (exit code {worker.proc.returncode}) after {worker.rows}"
            " rows; the rest of this input was not read",
            "file",
        )
        worker.rows = 0
        return report


def _worker_main(batch_rows: int) -> None:
    """Worker loop: read a unit from stdin, write its batches and report to stdout."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # anything a library prints goes to stderr, not into the frames
    inp = sys.stdin.buffer
    outbox: queue.Queue[Any] = queue.Queue(WORKER_BUFFER)
    sender = threading.Thread(target=_send_loop, args=(out, outbox), daemon=True)
    sender.start()
    outbox.put((_CONTROL, pickle.dumps(_READY)))
    pool = pa.default_memory_pool()
    while True:
        frame = _read_frame(inp)
        unit = pickle.loads(frame) if frame is not None else None
        if unit is None:
            break
        for item in read_unit(unit, batch_rows):
            if isinstance(item, pa.RecordBatch):
                outbox.put((_BATCH, _ipc_bytes(item)))
                del item
                # Arrow's allocator keeps freed pages for reuse; batches of very different
                # sizes leave them unused (a reader held 250 MB instead of 180 on Mordor).
                pool.release_unused()
            else:
                outbox.put((_CONTROL, pickle.dumps(item)))
    outbox.put(None)
    sender.join()


def _ipc_bytes(batch: pa.RecordBatch) -> pa.Buffer:
    """The batch as an Arrow IPC stream, written once into a buffer sized in advance
    (a growing buffer copies a many-megabyte batch over and over)."""
    schema = batch.schema.serialize()
    size = pa.ipc.get_record_batch_size(batch) + 2 * schema.size + 4096
    buffer = pa.allocate_buffer(size)
    sink = pa.FixedSizeBufferWriter(buffer)
    try:
        with pa.ipc.new_stream(sink, batch.schema) as writer:
            writer.write_batch(batch)
    except (pa.ArrowInvalid, OSError):  # the estimate was short: let it grow
        grown = pa.BufferOutputStream()
        with pa.ipc.new_stream(grown, batch.schema) as writer:
            writer.write_batch(batch)
        return grown.getvalue()
    return buffer.slice(0, sink.tell())


def _send_loop(out: IO[bytes], outbox: queue.Queue[Any]) -> None:
    while True:
        item = outbox.get()
        if item is None:
            return
        try:
            _write_frame(out, *item)
        except OSError:  # the parent went away
            os._exit(0)
