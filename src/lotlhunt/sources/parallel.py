"""Reading units, one at a time or many at once in worker processes.

Why processes and pipes: parsing is CPU-bound Python (the GIL), so parallelism needs
processes. Each worker owns one pipe that only it writes to, so a worker that dies (a
parser crash on hostile input) cannot leave a shared lock held; the parent notices the
death, reports the unit it was reading, and starts a replacement for the remaining units.
Batches cross the pipe as Arrow IPC streams; a pipe write blocks until the parent reads,
and each worker buffers at most a few batches, so memory stays bounded however large
the input is.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import pickle
import queue
import signal
import threading
import time
import warnings
from collections import deque
from collections.abc import Iterable, Iterator
from multiprocessing.connection import Connection, wait
from typing import Any

import pyarrow as pa

from lotlhunt.errors import InputIssue
from lotlhunt.sources.discover import InputUnit
from lotlhunt.sources.evtx import read_evtx
from lotlhunt.sources.jsonl import read_json
from lotlhunt.sources.normalise import UnitReport

_READERS = {"evtx": read_evtx, "json": read_json}
#: Batches a worker may have parsed ahead of the parent, per worker.
WORKER_BUFFER = 4
_CONTROL_TAG = b"\x00"  # Arrow IPC streams start with 0xFFFFFFFF, never with this
_READY = "ready"


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
            # The rows of a batch are many small acyclic objects: the cyclic GC would scan
            # them again and again for nothing. Paused only while this reader runs.
            collecting = gc.isenabled()
            gc.disable()
            try:
                batch = next(batches)
            except StopIteration:
                break
            except Exception as e:  # noqa: BLE001 - a reader bug must not end a hunt
                report.note(None, f"reader failed: {type(e).__name__}: {e}", "file")
                break
            finally:
                if collecting:
                    gc.enable()
            report.records += batch.num_rows
            yield batch
    if report.issues_dropped:
        report.issues.append(
            InputIssue(unit.label, None, f"{report.issues_dropped} more issues not listed")
        )
    report.seconds = time.perf_counter() - started
    yield report


def read_all(
    units: Iterable[InputUnit], workers: int, batch_rows: int = 8192
) -> Iterator[pa.RecordBatch | UnitReport]:
    """Batches and reports of all units; each unit's report follows its last batch.

    ``workers <= 1`` reads in this process, in order. Otherwise units are read by that
    many worker processes, largest first, and batches of different units interleave.
    """
    todo = list(units)
    if workers <= 1:
        for unit in todo:
            yield from read_unit(unit, batch_rows)
        return
    todo.sort(key=_size, reverse=True)
    yield from _Pool(todo, min(workers, len(todo)), batch_rows).run()


def _size(unit: InputUnit) -> int:
    if unit.size >= 0:
        return unit.size
    try:
        return os.path.getsize(unit.path)
    except OSError:
        return 0


class _Worker:
    def __init__(self, ctx: Any, batch_rows: int) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, batch_rows), daemon=True)
        self.proc.start()
        child.close()
        self.unit: InputUnit | None = None
        self.rows = 0
        self.ready = False  # the worker process started and imported lotlhunt


class _Pool:
    def __init__(self, units: list[InputUnit], workers: int, batch_rows: int) -> None:
        self.pending = deque(units)
        self.n = workers
        self.batch_rows = batch_rows
        self.ctx = mp.get_context("spawn")  # no fork: pyarrow and the parser hold threads
        self.started: list[_Worker] = []
        self.active: list[_Worker] = []
        self.failed_starts = 0
        self.any_ready = False

    def _spawn(self) -> None:
        worker = _Worker(self.ctx, self.batch_rows)
        self.started.append(worker)
        if self._assign(worker):
            self.active.append(worker)

    def run(self) -> Iterator[pa.RecordBatch | UnitReport]:
        try:
            for _ in range(self.n):
                self._spawn()
            while self.active:
                by_handle: dict[Any, _Worker] = {}
                for w in self.active:
                    by_handle[w.conn] = w
                    by_handle[w.proc.sentinel] = w
                for handle in wait(list(by_handle)):
                    worker = by_handle[handle]
                    if worker in self.active:
                        yield from self._service(worker, handle is worker.conn)
            if self.pending:  # workers could not start (e.g. a script without a main guard)
                warnings.warn(
                    "lotlhunt reader processes failed to start; reading in this process",
                    RuntimeWarning,
                    stacklevel=2,
                )
                while self.pending:
                    yield from read_unit(self.pending.popleft(), self.batch_rows)
        finally:
            for w in self.started:
                if w.proc.is_alive():
                    try:
                        w.conn.send(None)
                    except OSError:
                        pass
                    w.proc.join(timeout=1)
                if w.proc.is_alive():
                    w.proc.terminate()
                    w.proc.join(timeout=5)
                w.conn.close()

    def _service(self, worker: _Worker, readable: bool) -> Iterator[pa.RecordBatch | UnitReport]:
        """Handle one wake-up of ``worker``: a message, or its process having exited."""
        if readable:
            try:
                data = worker.conn.recv_bytes()
            except (EOFError, OSError):
                readable = False
            else:
                item = self._decode(worker, data)
                if item is not None:
                    yield item
                if worker.unit is None and not self._assign(worker):
                    self.active.remove(worker)
                return
        for data in self._drain(worker):
            item = self._decode(worker, data)
            if item is not None:
                yield item
        self.active.remove(worker)
        worker.proc.join(timeout=5)
        if not worker.ready:
            self.failed_starts += 1
            if worker.unit is not None:
                self.pending.appendleft(worker.unit)
            if not self.any_ready and self.failed_starts >= 2:
                return  # stop spawning; run() reads what is left in-process
        elif worker.unit is not None:
            yield self._crash_report(worker)
        if self.pending:
            self._spawn()

    def _assign(self, worker: _Worker) -> bool:
        """Give the worker its next unit; False when there is none (the worker then exits)."""
        unit = self.pending.popleft() if self.pending else None
        worker.unit, worker.rows = unit, 0
        try:
            worker.conn.send(unit)
        except OSError:
            if unit is not None:
                self.pending.appendleft(unit)
            worker.unit = None
            return False
        return unit is not None

    @staticmethod
    def _drain(worker: _Worker) -> list[bytes]:
        """Messages a worker sent before it exited."""
        out: list[bytes] = []
        try:
            while worker.conn.poll():
                out.append(worker.conn.recv_bytes())
        except (EOFError, OSError):
            pass
        return out

    def _decode(self, worker: _Worker, data: bytes) -> pa.RecordBatch | UnitReport | None:
        if data[:1] == _CONTROL_TAG:
            message = pickle.loads(data[1:])
            if message == _READY:
                worker.ready = self.any_ready = True
                return None
            worker.unit = None
            return message  # type: ignore[no-any-return]
        batch = pa.ipc.open_stream(pa.py_buffer(data)).read_next_batch()
        worker.rows += batch.num_rows
        return batch

    @staticmethod
    def _crash_report(worker: _Worker) -> UnitReport:
        assert worker.unit is not None
        report = UnitReport(worker.unit, records=worker.rows)
        report.note(
            None,
            f"reader process died (exit code {worker.proc.exitcode}) after {worker.rows} rows;"
            " the rest of this input was not read",
            "file",
        )
        worker.unit = None
        return report


def _worker_main(conn: Connection, batch_rows: int) -> None:
    """Worker loop: receive a unit, send its batches and report, until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    outbox: queue.Queue[Any] = queue.Queue(WORKER_BUFFER)
    sender = threading.Thread(target=_send_loop, args=(conn, outbox), daemon=True)
    sender.start()
    outbox.put(_CONTROL_TAG + pickle.dumps(_READY))
    while True:
        try:
            unit = conn.recv()
        except (EOFError, OSError):
            break
        if unit is None:
            break
        for item in read_unit(unit, batch_rows):
            if isinstance(item, pa.RecordBatch):
                sink = pa.BufferOutputStream()
                with pa.ipc.new_stream(sink, item.schema) as writer:
                    writer.write_batch(item)
                outbox.put(sink.getvalue())
            else:
                outbox.put(_CONTROL_TAG + pickle.dumps(item))
        outbox.join()  # the report is out before the next unit is asked for
    outbox.put(None)
    sender.join()
    conn.close()


def _send_loop(conn: Connection, outbox: queue.Queue[Any]) -> None:
    while True:
        data = outbox.get()
        try:
            if data is None:
                return
            conn.send_bytes(data)
        except OSError:
            return
        finally:
            outbox.task_done()
