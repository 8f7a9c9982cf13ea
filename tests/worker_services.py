"""A service for tests of the worker pool, in a module that imports nothing heavy (every
worker imports it)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any


def count_service(setup: bytes) -> Callable[[tuple[str, int, bytes]], Iterator[tuple[Any, ...]]]:
    """Worker side: job (kind, n, payload) answers n messages ``setup + i``; a job of
    kind "die" ends the worker after them; "big" answers with n copies of its payload."""

    def handle(job: tuple[str, int, bytes]) -> Iterator[tuple[Any, ...]]:
        kind, n, payload = job
        for i in range(n):
            yield (payload,) if kind == "big" else (setup, str(i).encode())
        if kind == "die":
            os._exit(7)

    return handle
