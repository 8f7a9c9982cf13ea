"""A case as a Parquet dataset: the events table written once, hunted by any engine.

Layout of a store folder::

    DIR/manifest.json             what the store holds (see :class:`Manifest`)
    DIR/events/p=<key>/<part>.parquet
    DIR/inputs.parquet            one row per input read: counts and issues

Events are partitioned by channel: a rule's logsource names channels, so an engine reads
only the partitions its rules need. The partition key is a digest of the lower-cased
channel, never the channel itself: channel names come from logs, and a log must not be
able to name a folder (``../``, NUL, a thousand characters). The channel stays a column
in every file; the manifest maps keys back to the spellings seen.

Wide, sparse inputs (Mordor's flattened exports hold 552 distinct fields, each event a
few dozen) are written without their empty columns: each file holds the core columns
and only the fields its rows fill, and the union of the files is the events table
(engines read with schema merging). Field names are unified case-insensitively across
the whole store (the first spelling wins, as in :mod:`lotlhunt.events.schema`):
engines compare names without case, and two spellings of one field would be two
columns that a case-insensitive reader refuses.

Row ids (``__rid``) are unique in the store: a part written by one reader holds ids
``unit << UNIT_BITS | n``, so readers on other processes or machines never coordinate.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import schema

#: Bump when the layout changes; a store of another version is refused, not misread.
STORE_VERSION = 1
MANIFEST = "manifest.json"
EVENTS_DIR = "events"
INPUTS_FILE = "inputs.parquet"
PARTITION = "p"
ROW_ID = "__rid"
#: Low bits of a row id that number the rows of one input unit (2**40: a trillion).
UNIT_BITS = 40
#: Rows buffered per partition before a file is written. Parquet row groups of this size
#: keep the per-file overhead (footer, schema of a few hundred columns) small beside
#: the data, and a partition's buffer bounded.
FILE_ROWS = 256 * 1024
#: Bytes of buffered Arrow data past which every partition's buffer is written out, so
#: a writer's memory stays bounded whatever the mix of channels.
BUFFER_BYTES = 256 * 2**20


class StoreError(Exception):
    """A folder that is not a store of this version, or a damaged one."""


def partition_key(channel: str | None) -> str:
    """The folder key of a channel: a digest of its lower-cased name (logs name no folder)."""
    text = (channel or "").lower().encode("utf-8", "surrogatepass")
    # A letter first: readers that infer partition value types would read an all-digit
    # digest as a number.
    return "c" + hashlib.sha256(text).hexdigest()[:16]


@dataclass
class PartitionInfo:
    """One channel's partition: the spellings of its channel, rows, event ids, columns."""

    key: str
    channels: list[str] = field(default_factory=list)
    rows: int = 0
    event_ids: list[int] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


@dataclass
class InputCounts:
    """What one input (file or archive member) gave: the same totals a hunt reports."""

    label: str
    records: int
    records_failed: int
    issues: list[str]


@dataclass
class Manifest:
    """Everything an engine needs to plan a hunt without scanning the data."""

    version: int = STORE_VERSION
    rows: int = 0
    #: Field columns of the store, first spelling seen, in order of appearance.
    columns: list[str] = field(default_factory=list)
    partitions: dict[str, PartitionInfo] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        try:
            raw = json.loads(data)
            if raw.get("version") != STORE_VERSION:
                raise StoreError(f"store version {raw.get('version')!r}, expected {STORE_VERSION}")
            parts = {k: PartitionInfo(**v) for k, v in raw["partitions"].items()}
            return cls(
                version=raw["version"],
                rows=int(raw["rows"]),
                columns=list(raw["columns"]),
                partitions=parts,
            )
        except StoreError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"damaged manifest: {exc}") from exc

    def inventory(self) -> list[tuple[str, int]]:
        """(channel spelling, event id) pairs the store holds."""
        return [(c, e) for p in self.partitions.values() for c in p.channels for e in p.event_ids]

    def merge_part(self, part: PartWritten) -> None:
        """Account one written file (from this process or a remote reader)."""
        info = self.partitions.setdefault(part.key, PartitionInfo(part.key))
        for c in part.channels:
            if c not in info.channels:
                info.channels.append(c)
        info.rows += part.rows
        info.event_ids = sorted(set(info.event_ids) | set(part.event_ids))
        known = {c.lower() for c in info.columns}
        info.columns.extend(c for c in part.columns if c.lower() not in known)
        info.files.append(part.path)
        self.rows += part.rows
        have = {c.lower() for c in self.columns}
        self.columns.extend(c for c in part.columns if c.lower() not in have)


@dataclass
class PartWritten:
    """One Parquet file written: where, for which partition, holding what."""

    path: str  # relative to the store root
    key: str
    channels: list[str]
    rows: int
    event_ids: list[int]
    columns: list[str]


def nonempty_fields(table: pa.Table) -> pa.Table:
    """The table without field columns that no row fills (core columns and row ids
    always stay): a part or a table's INSERT BY NAME fills them, where kept they would
    cost a null run each (Mordor: 70-110 MB of its 470-590 MB per row group)."""
    keep = [
        name
        for name in table.column_names
        if schema.is_core(name) or name == ROW_ID or table.column(name).null_count < len(table)
    ]
    return table.select(keep) if len(keep) != table.num_columns else table


class PartWriter:
    """Writes batches of the events table as partitioned Parquet files under ``root``.

    Used by the driver when it reads, and by each remote reader for its own units: it
    knows nothing of the manifest, it only says what it wrote (:class:`PartWritten`).
    """

    def __init__(self, root: Path, prefix: str | None = None) -> None:
        self.root = root
        self.prefix = prefix or uuid.uuid4().hex[:12]
        self._buffers: dict[str, list[pa.Table]] = {}
        self._rows: dict[str, int] = {}
        self._bytes = 0
        self._seq = 0
        self.written: list[PartWritten] = []

    def write(self, table: pa.Table) -> None:
        """Buffer ``table`` (core columns, fields, ``__rid``) split by channel partition."""
        if table.num_rows == 0:
            return
        keys = pa.array(
            [partition_key(c) for c in table.column(schema.CHANNEL).to_pylist()], pa.string()
        )
        for key in pc.unique(keys).to_pylist():
            part = table.filter(pc.equal(keys, key))
            self._buffers.setdefault(key, []).append(part)
            self._rows[key] = self._rows.get(key, 0) + part.num_rows
            self._bytes += part.nbytes
            if self._rows[key] >= FILE_ROWS:
                self._write_out(key)
        if self._bytes >= BUFFER_BYTES:
            self.flush()

    def flush(self) -> None:
        for key in list(self._buffers):
            self._write_out(key)
        self._bytes = 0

    def _write_out(self, key: str) -> None:
        pieces = self._buffers.pop(key, [])
        self._rows.pop(key, None)
        if not pieces:
            return
        table = nonempty_fields(pa.concat_tables(pieces, promote_options="default"))
        self._bytes -= sum(p.nbytes for p in pieces)
        rel = f"{EVENTS_DIR}/{PARTITION}={key}/{self.prefix}-{self._seq:05d}.parquet"
        self._seq += 1
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        pq.write_table(table, tmp, compression="zstd", row_group_size=FILE_ROWS)
        os.replace(tmp, path)
        channels = [c for c in pc.unique(table.column(schema.CHANNEL)).to_pylist() if c]
        # An event without an id is the slice key -1, as engines count it.
        ids = [-1 if i is None else i for i in pc.unique(table.column(schema.EVENT_ID)).to_pylist()]
        self.written.append(
            PartWritten(
                path=rel,
                key=key,
                channels=sorted(channels),
                rows=table.num_rows,
                event_ids=sorted(ids),
                columns=[c for c in table.column_names if not schema.is_core(c) and c != ROW_ID],
            )
        )


class FieldSpellings:
    """The first spelling of every field name, so one field is one column store-wide."""

    def __init__(self, known: Iterable[str] = ()) -> None:
        self._first: dict[str, str] = {}
        for name in known:
            self._first.setdefault(name.lower(), name)

    def spell(self, name: str) -> str:
        """The store's spelling of field ``name`` (``name`` itself, if it is the first)."""
        return self._first.setdefault(name.lower(), name)

    def unify(self, batch: pa.RecordBatch | pa.Table) -> pa.Table:
        table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
        names = [self.spell(n) for n in table.column_names]
        if len(set(n.lower() for n in names)) != len(names):
            # Two spellings of one field in the same batch: keep the first non-null value.
            table = _merge_duplicate_columns(table, names)
        elif names != table.column_names:
            table = table.rename_columns(names)
        return table


def _merge_duplicate_columns(table: pa.Table, names: list[str]) -> pa.Table:
    columns: dict[str, pa.ChunkedArray] = {}
    order: list[str] = []
    for name, column in zip(names, table.columns, strict=True):
        if name in columns:
            held = columns[name]
            if pa.types.is_null(held.type):  # a column of no value takes the other's type
                held = held.cast(column.type)
            elif pa.types.is_null(column.type):
                column = column.cast(held.type)
            columns[name] = pc.coalesce(held, column)
        else:
            columns[name] = column
            order.append(name)
    return pa.table({n: columns[n] for n in order})


class InputRecord(Protocol):
    """What an engine or a reader says one input gave (engines' ``InputCounts``)."""

    @property
    def label(self) -> str: ...
    @property
    def records(self) -> int: ...
    @property
    def records_failed(self) -> int: ...
    @property
    def issues(self) -> Sequence[object]: ...


class StoreWriter:
    """Reads into a new store: assigns row ids, writes parts, keeps the manifest.

    ``close`` writes the manifest last: a store whose writing was interrupted has no
    manifest and is refused, never hunted half-written.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        if (self.root / MANIFEST).exists():
            raise StoreError(
                f"{self.root} already holds a case store: hunt it with --case, or choose "
                "a new folder (a store is written once, so its counts stay true)"
            )
        if self.root.exists() and any(self.root.iterdir()):
            raise StoreError(f"{self.root} is not empty: a case store needs a new folder")
        self.root.mkdir(parents=True, exist_ok=True)
        self.manifest = Manifest()
        self.spellings = FieldSpellings()
        self._parts = PartWriter(self.root)
        self._next_rid = 0
        self._inputs: list[InputCounts] = []

    def ingest(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        table = self.spellings.unify(batch)
        rids = pa.array(range(self._next_rid, self._next_rid + table.num_rows), pa.int64())
        self._next_rid += table.num_rows
        self._parts.write(table.append_column(ROW_ID, rids))

    def add_parts(self, parts: Sequence[PartWritten]) -> None:
        """Account parts that remote readers wrote straight into the store."""
        for part in parts:
            self.manifest.merge_part(part)

    def add_inputs(self, inputs: Iterable[InputCounts]) -> None:
        self._inputs.extend(inputs)

    def flush(self) -> None:
        """Write whatever is buffered (the manifest is written by :meth:`close`)."""
        self._parts.flush()

    def record_inputs(self, inputs: Iterable[InputRecord]) -> None:
        """Keep what each input gave (objects with ``label``, ``records``,
        ``records_failed``, ``issues``), and seal the store."""
        self.add_inputs(
            InputCounts(
                str(i.label),
                int(i.records),
                int(i.records_failed),
                [str(x) for x in i.issues],
            )
            for i in inputs
        )
        self.close()

    def close(self) -> Manifest:
        self._parts.flush()
        self.add_parts(self._parts.written)
        self._parts.written = []
        write_inputs(self.root, self._inputs)
        tmp = self.root / (MANIFEST + ".tmp")
        tmp.write_bytes(self.manifest.to_json())
        os.replace(tmp, self.root / MANIFEST)
        return self.manifest


def write_inputs(root: Path, inputs: Sequence[InputCounts]) -> None:
    table = pa.table(
        {
            "label": pa.array([i.label for i in inputs], pa.string()),
            "records": pa.array([i.records for i in inputs], pa.int64()),
            "records_failed": pa.array([i.records_failed for i in inputs], pa.int64()),
            "issues": pa.array([json.dumps(i.issues) for i in inputs], pa.string()),
        }
    )
    pq.write_table(table, root / INPUTS_FILE)


def is_store(path: Path) -> bool:
    return (Path(path) / MANIFEST).is_file()


@dataclass
class Store:
    """An opened store: its manifest and the per-input counts."""

    root: Path
    manifest: Manifest
    inputs: list[InputCounts]

    @classmethod
    def open(cls, root: Path) -> Store:
        root = Path(root)
        try:
            manifest = Manifest.from_json((root / MANIFEST).read_bytes())
        except OSError as exc:
            raise StoreError(f"{root} is not a case store: {exc.strerror}") from exc
        missing = [
            f for p in manifest.partitions.values() for f in p.files if not (root / f).is_file()
        ]
        if missing:
            raise StoreError(f"damaged case store: {len(missing)} files missing, e.g. {missing[0]}")
        try:
            table = pq.read_table(root / INPUTS_FILE)
        except (OSError, pa.ArrowException) as exc:
            raise StoreError(f"damaged case store: {INPUTS_FILE}: {exc}") from exc
        inputs = [
            InputCounts(
                row["label"], row["records"], row["records_failed"], json.loads(row["issues"])
            )
            for row in table.to_pylist()
        ]
        return cls(root, manifest, inputs)

    def files(self, channels: Iterable[str] | None = None) -> list[Path]:
        """The files of the partitions holding ``channels`` (all files with None)."""
        if channels is None:
            parts = list(self.manifest.partitions.values())
        else:
            keys = {partition_key(c) for c in channels}
            parts = [p for k, p in self.manifest.partitions.items() if k in keys]
        return [self.root / f for p in parts for f in p.files]

    def partition_dirs(self, channels: Iterable[str] | None = None) -> list[Path]:
        if channels is None:
            keys = list(self.manifest.partitions)
        else:
            keys = [
                k for k in {partition_key(c) for c in channels} if k in self.manifest.partitions
            ]
        return [self.root / EVENTS_DIR / f"{PARTITION}={k}" for k in sorted(keys)]
