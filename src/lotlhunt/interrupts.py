"""Signals that stop a hunt: SIGINT (Ctrl-C) and SIGTERM end it cleanly.

Python's default for SIGTERM is to die on the spot, leaving DuckDB's spill folder (event
data) behind; and a Ctrl-C during a query surfaces as DuckDB's "Query interrupted"
error, not as :class:`KeyboardInterrupt`. Here both signals raise :class:`Interrupted`
from the handler, which DuckDB also honours in the middle of a query (it checks for
pending signals while it runs and stops), so ``finally`` blocks close the engine and
remove its spill folder. :func:`interrupted_by` finds the signal behind an exception,
whatever wrapped it.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

#: Signals a hunt stops on.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """A stop signal arrived (a BaseException, like KeyboardInterrupt: not swallowed by
    the handlers that keep a hunt going past bad input)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """The shell's convention: 128 + the signal's number (130 for Ctrl-C)."""
        return 128 + self.signum


_received: list[int] = []


def _handler(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    raise Interrupted(signum)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise :class:`Interrupted` (main thread
    only; elsewhere the block runs with the handlers it had)."""
    try:
        previous = {s: signal.signal(s, _handler) for s in STOP_SIGNALS}
    except ValueError:  # not the main thread
        yield
        return
    _received.clear()
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def interrupted_by(exc: BaseException) -> Interrupted | None:
    """The :class:`Interrupted` behind ``exc`` (itself, a cause or a context), or one
    for a signal received while the block ran (DuckDB may report only "interrupted")."""
    seen: set[int] = set()
    node: BaseException | None = exc
    while node is not None and id(node) not in seen:
        if isinstance(node, Interrupted):
            return node
        if isinstance(node, KeyboardInterrupt):
            return Interrupted(signal.SIGINT)
        seen.add(id(node))
        node = node.__cause__ or node.__context__
    if _received:
        return Interrupted(_received[-1])
    return None
