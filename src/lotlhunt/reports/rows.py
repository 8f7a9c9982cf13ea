"""Rows of events or of a query, streamed to JSON lines, CSV and the terminal.

A search can keep millions of events, so rows are written batch by batch as the engine
produces them, never gathered first. Everything from a log is hostile: CSV cells that a
spreadsheet would run as a formula get a leading ``'``
(:func:`~lotlhunt._support.text.spreadsheet_safe`); text for the terminal goes through
:func:`~lotlhunt._support.text.terminal_safe`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Protocol

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from .._support.text import spreadsheet_safe
from ..events import schema
from ..model import iso

#: Keys of an event row besides its fields (which go under ``fields``).
EVENT_KEYS = tuple(c for c in schema.CORE_COLUMNS)


def plain(value: object) -> str:
    """A cell value as text: times in ISO 8601 UTC, nested values as JSON."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return iso(value) or ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, default=_json_default, ensure_ascii=False, sort_keys=True)
    return str(value)


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date | time | timedelta | Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def event_rows(batch: pa.RecordBatch) -> list[dict[str, Any]]:
    """One dict per event of a batch of the events table: its core values, and under
    ``fields`` only the fields it has (a wide table is mostly NULL: each column's
    non-null cells are taken at once, not looked at one by one)."""
    n = batch.num_rows
    rows: list[dict[str, Any]] = [{} for _ in range(n)]
    names = batch.schema.names
    for key in EVENT_KEYS:
        if key in names:
            column = batch.column(key)
            values = schema.utc_datetimes(column) if key == schema.TIMESTAMP else column.to_pylist()
            for row, value in zip(rows, values, strict=True):
                row[key] = iso(value) if key == schema.TIMESTAMP else value
        else:
            for row in rows:
                row[key] = None
    fields: list[dict[str, str]] = [{} for _ in range(n)]
    for name, column in zip(names, batch.columns, strict=True):
        if name in EVENT_KEYS or column.null_count == n:
            continue
        if column.null_count == 0:
            for f, value in zip(fields, column.to_pylist(), strict=True):
                f[name] = value
            continue
        where = pc.indices_nonzero(pc.is_valid(column))
        for i, value in zip(where.to_pylist(), column.take(where).to_pylist(), strict=True):
            fields[i][name] = value
    for row, f in zip(rows, fields, strict=True):
        row["fields"] = f
    return rows


def table_rows(batch: pa.RecordBatch) -> list[dict[str, Any]]:
    """One dict per row of any query's batch, column names as keys."""
    return batch.to_pylist()


class RowSink(Protocol):
    """Where rows go as they come."""

    def write(self, rows: Sequence[dict[str, Any]]) -> None: ...
    def close(self) -> None: ...


class JsonlRows:
    """One JSON object per row, keys sorted, UTF-8 (text that is not Unicode escaped)."""

    def __init__(self, path: Path) -> None:
        self._out: IO[bytes] = path.open("wb")

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        for row in rows:
            try:
                line = orjson.dumps(
                    row,
                    default=_json_default,
                    option=orjson.OPT_SORT_KEYS
                    | orjson.OPT_APPEND_NEWLINE
                    | orjson.OPT_NON_STR_KEYS,
                )
            except TypeError:  # a lone surrogate, an integer past 64 bits
                line = (
                    json.dumps(row, default=_json_default, sort_keys=True, ensure_ascii=True) + "\n"
                ).encode("ascii")
            self._out.write(line)

    def close(self) -> None:
        self._out.close()


class CsvRows:
    """A CSV file: a header of ``columns`` then one line per row, every cell made safe
    for spreadsheets. For events, ``fields`` is one JSON cell (a wide table would be
    hundreds of mostly empty columns)."""

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        self._out = path.open("w", encoding="utf-8", errors="backslashreplace", newline="")
        self._writer = csv.writer(self._out)
        self._columns = list(columns)
        self._writer.writerow([spreadsheet_safe(c) for c in self._columns])

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        for row in rows:
            self._writer.writerow([spreadsheet_safe(plain(row.get(c))) for c in self._columns])

    def close(self) -> None:
        self._out.close()


EVENT_CSV_COLUMNS = (*EVENT_KEYS, "fields")


def close_all(sinks: Iterable[RowSink]) -> None:
    for sink in sinks:
        sink.close()
