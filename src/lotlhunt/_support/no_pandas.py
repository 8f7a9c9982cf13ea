"""Keeping pandas out of processes that never use it.

pyarrow and DuckDB import pandas whenever they are handed anything that could be a
pandas object, only to check that it is not one: ``pa.array`` of a list does (once),
``DuckDBPyConnection.register`` of an Arrow table does, and DuckDB tries again on every
query with parameters. lotlhunt never hands them pandas objects, and importing pandas
costs about 0.35 s, a third of a warm hunt's wall time.

The command line's processes (and the worker processes reading logs for them) therefore
refuse to import pandas: the libraries' checks then find no pandas and move on. Only
what needs pandas lets it in again (:func:`let_pandas_in`, e.g. the Spark engine, whose
Arrow conversions go through it); pyarrow's ``to_pandas`` and DuckDB's DataFrame scans
import it for real once it is let in. The library API never refuses anything: a notebook
importing lotlhunt keeps its pandas.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType


class _NoPandas:
    """A meta path finder refusing pandas (and its submodules) while it is installed."""

    def find_spec(
        self,
        name: str,
        path: Sequence[str] | None = None,
        target: ModuleType | None = None,
    ) -> ModuleSpec | None:
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError("pandas is kept out of this process", name=name)
        return None


def keep_pandas_out() -> None:
    """Refuse imports of pandas in this process from now on (see the module's docstring).
    A no-op when pandas is already imported: the cost is paid and its checks are right."""
    if "pandas" in sys.modules or _blocker() is not None:
        return
    sys.meta_path.insert(0, _NoPandas())


def let_pandas_in() -> None:
    """Undo :func:`keep_pandas_out`: the next import of pandas happens."""
    blocker = _blocker()
    if blocker is not None:
        sys.meta_path.remove(blocker)


def _blocker() -> _NoPandas | None:
    return next((f for f in sys.meta_path if isinstance(f, _NoPandas)), None)
