"""A format that is not built in, for tests of the registry: ``#kv`` then one record of
``key=value`` pairs per line."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from lotlhunt.sources.archives import open_unit
from lotlhunt.sources.normalise import BatchBuilder
from lotlhunt.sources.options import ReaderOptions
from lotlhunt.sources.registry import Claim, Format, register
from lotlhunt.sources.report import UnitReport
from lotlhunt.sources.unit import InputUnit

MAGIC = b"#kv\n"


def sniff_kv(head: bytes, ext: str) -> Claim | None:
    return Claim.CONTENT if head.startswith(MAGIC) else None


def read_kv(
    unit: InputUnit, options: ReaderOptions, report: UnitReport
) -> Iterator[pa.RecordBatch]:
    builder = BatchBuilder(unit.label, options)
    with open_unit(unit) as stream:
        lines = stream.read().decode("utf-8", "replace").splitlines()[1:]
    for number, line in enumerate(lines, start=2):
        pairs = [part.split("=", 1) for part in line.split()]
        if not pairs or any(len(pair) != 2 for pair in pairs):
            report.fail(number, "not key=value pairs")
            continue
        builder.add(dict(pairs), number)
        if builder.full(options.batch_rows):
            batch = builder.flush()
            if batch is not None:
                yield batch
    batch = builder.flush()
    if batch is not None:
        yield batch


KV = register(Format("kv", sniff_kv, read_kv))
