"""Rows for the terminal and for files, as the hunting commands print and write them.

Every cell from a log is made safe for the terminal
(:func:`~lotlhunt._support.text.terminal_safe`) and, in a CSV file, for a spreadsheet.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from rich.console import Console
from rich.table import Table

from .._support.text import terminal_safe
from ..model import HuntStats
from ..reports.rows import CsvRows, JsonlRows, plain

#: Fields every EVTX event carries from its System part: noise in a search's terminal
#: table (the files keep them).
SYSTEM_FIELDS = frozenset(
    "provider_name provider_guid level task opcode keywords version execution_processid"
    " execution_threadid security_userid correlation_activityid eventsourcename".split()
)

#: Integer columns that name things, printed without thousands separators.
IDENTIFIERS = frozenset({"event_id", "record_id", "position"})


def cell(value: object, width: int | None = 80) -> str:
    """A value as a terminal cell: times to the second in UTC, nested values as JSON,
    clipped to ``width`` characters."""
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return terminal_safe(plain(value), width)


def fields_text(fields: dict[str, Any], first: Sequence[str]) -> str:
    """An event's fields as ``name: value`` pairs, those asked about first, without the
    System fields every event has."""
    order = {name: i for i, name in enumerate(first)}
    names = sorted(
        (n for n in fields if n.lower() not in SYSTEM_FIELDS or n.lower() in order),
        key=lambda n: order.get(n.lower(), len(order)),
    )
    return "; ".join(f"{n}: {fields[n]}" for n in names)


def print_table(
    console: Console, title: str, table: pa.Table, limit: int | None = None, width: int = 80
) -> None:
    """An Arrow table as a rich table (the first ``limit`` rows)."""
    rows = table.slice(0, limit).to_pylist() if limit is not None else table.to_pylist()
    shown = Table(
        title=terminal_safe(title)
        + (f" (first {limit} of {table.num_rows:,})" if limit and table.num_rows > limit else "")
    )
    for name in table.column_names:
        numeric = pa.types.is_integer(table.schema.field(name).type) or pa.types.is_floating(
            table.schema.field(name).type
        )
        shown.add_column(
            terminal_safe(name), justify="right" if numeric else "left", overflow="fold"
        )
    for row in rows:
        shown.add_row(
            *[
                f"{v:,}"
                if isinstance(v, int) and not isinstance(v, bool) and k not in IDENTIFIERS
                else cell(v, width)
                for k, v in row.items()
            ]
        )
    console.print(shown)


def shortened(table: pa.Table, column: str = "source") -> pa.Table:
    """``table`` with the paths in ``column`` shown from the folder they all share."""
    paths = [p for p in table.column(column).to_pylist() if p]
    if len(paths) < 2:
        return table
    try:
        common = os.path.commonpath(paths)
    except ValueError:  # absolute and relative paths mixed
        return table
    if not common or common == os.sep:
        return table
    cut = len(common.rstrip(os.sep)) + 1
    short = [None if p is None else p[cut:] or p for p in table.column(column).to_pylist()]
    index = table.column_names.index(column)
    return table.set_column(index, f"{column} in {common}{os.sep}", pa.array(short, pa.string()))


def write_table(table: pa.Table, jsonl: Path | None, csv_path: Path | None) -> None:
    """All rows of ``table`` to the files asked for."""
    rows = table.to_pylist()
    if jsonl:
        sink = JsonlRows(jsonl)
        sink.write(rows)
        sink.close()
    if csv_path:
        csv_sink = CsvRows(csv_path, table.column_names)
        csv_sink.write(rows)
        csv_sink.close()


def read_summary(
    stats: HuntStats, skipped: Sequence[tuple[str, str]], issues: Sequence[Any]
) -> str:
    """One line on what reading met, for commands that read logs."""
    text = f"Read {stats.files} files, {stats.records:,} records ({stats.records_failed:,} failed"
    if stats.records_out_of_scope:
        text += f", {stats.records_out_of_scope:,} outside --from/--to/--host/--event-id"
    text += ")"
    if skipped:
        names = ", ".join(label for label, _ in skipped[:3])
        more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
        text += f"; skipped (not logs): {names}{more}"
    if issues:
        text += f"; {len(issues)} input problems"
    return text + "."
