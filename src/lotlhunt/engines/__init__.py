"""Engines run compiled rules over the events table; chosen by name from :data:`ENGINES`.

An engine package registers itself here (:func:`register`) when this package is imported:
DuckDB in-process is the default; an engine that cannot run in this installation (its
library is missing) registers *disabled*, with the reason and what to install, so the
command line can list it and say why it cannot be used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from ..rules.compile.dialect import Dialect
from .base import Engine, EngineOptions, Evaluation

#: The engine a hunt uses unless told otherwise.
DEFAULT_ENGINE = "duckdb"


@dataclass(frozen=True)
class EngineEntry:
    """A registered engine: how to make one, or why it cannot be made here."""

    name: str
    description: str
    #: The SQL dialect rules are compiled in for this engine.
    dialect: Dialect
    #: Makes an engine on a case file (None: in memory) with the given options.
    factory: Callable[[str | None, EngineOptions], Engine]
    #: Why the engine cannot be used in this installation (None: it can).
    disabled: str | None = None


ENGINES: dict[str, EngineEntry] = {}


def register(entry: EngineEntry) -> None:
    """Make ``entry`` selectable by its name."""
    ENGINES[entry.name] = entry


def create_engine(
    name: str = DEFAULT_ENGINE,
    case: str | Path | None = None,
    options: EngineOptions | None = None,
) -> Engine:
    """A new engine of the registered ``name``; a clear error if it is unknown or
    disabled (saying what to install)."""
    entry = usable_engine(name)
    return entry.factory(str(case) if case is not None else None, options or EngineOptions())


def usable_engine(name: str) -> EngineEntry:
    """The entry of engine ``name``, or a usage error saying which engines are
    registered, or why this one cannot run here and what to install."""
    entry = ENGINES.get(name)
    if entry is None:
        known = ", ".join(sorted(ENGINES))
        raise UsageError(f"unknown engine {name!r} (registered: {known})")
    if entry.disabled is not None:
        raise UsageError(f"engine {name!r} is not available: {entry.disabled}")
    return entry


def check_search(sql: str | None, patterns: Sequence[str]) -> None:
    """Refuse, before any log is read, a search the embedded engine would refuse: a
    ``--sql`` that is not one SELECT, a pattern RE2 does not accept (usage errors)."""
    from .duckdb.queries import check_regexes, check_select

    if sql is not None:
        check_select(sql)
    check_regexes(list(patterns))


# The engines that ship with lotlhunt register themselves on import.
from . import duckdb as _duckdb  # noqa: E402
from . import spark as _spark  # noqa: E402

__all__ = [
    "DEFAULT_ENGINE",
    "ENGINES",
    "Engine",
    "EngineEntry",
    "EngineOptions",
    "Evaluation",
    "create_engine",
    "register",
    "usable_engine",
]
del _duckdb, _spark
