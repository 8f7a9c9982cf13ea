"""Ending a command-line process without tearing its interpreter down.

When a hunt is done, the interpreter's own shutdown still frees every object it made one
by one, clears every module and joins idle threads: about 0.2 s of a one-second hunt,
for nothing anyone waits on. A command that has closed everything it opened (engines,
output files) arms the quick exit; the entry point then runs the exit handlers (temporary
folders, archives kept open), flushes standard output and error, and ends the process
with the command's status. A command that fails on an exception never armed it and exits
as usual.
"""

from __future__ import annotations

import atexit
import os
import sys

_armed = False


def arm() -> None:
    """Allow :func:`finish` to end the process: nothing left open needs a teardown."""
    global _armed
    _armed = True


def disarm() -> None:
    """Forget an earlier :func:`arm` (a process running several commands, as tests do)."""
    global _armed
    _armed = False


def finish(code: object) -> None:
    """End the process now with the status of ``SystemExit(code)`` if a command armed
    the quick exit and the status is a number (a message is left to Python to print);
    else return, and the caller exits as usual."""
    global _armed
    if not _armed or not (code is None or isinstance(code, int)):
        return
    _armed = False
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    os._exit(code or 0)
