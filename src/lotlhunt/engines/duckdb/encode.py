"""A slice as codes: each field's distinct values, each row's code, row units evaluated.

The SQL side of per-field evaluation (:mod:`.units`): a scan of a slice gives its row
ids, the fields asked for dictionary-encoded batch by batch (pyarrow's hash, then one
dictionary per field), and the outcome of the *row units* asked for (tests reading
several fields or the whole event's text, evaluated on the rows in the same scan). A
slice is scanned in two passes (:mod:`.evaluate`), their rows matched by row id
(:func:`by_row_id`, :func:`joined`). Then each field's distinct
values get the twins its units read (lower-cased, as an address: the same SQL the slice
would apply, on a fraction of the rows), and the units of a field are evaluated over
them, many per query, each returning where it is true and where NULL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...rules.compile.dialect import DUCKDB, IP_SUFFIX, LOWER_SUFFIX, ip_hex_vectorised
from ...rules.compile.tree import column_field, identifiers
from ...rules.logsources import Variant
from ..planning import SliceColumns
from .arrow_view import arrow_view
from .keywords import cheaper
from .slices import Slices
from .spans import PROBE_ROWS, SliceTooLarge, Span
from .store import ROW_ID
from .textsearch import Keywords, candidates, keywords, per_value, searched, spread_rows
from .units import FieldCodes, UnitTruth

#: Column of a field's values table numbering its distinct values.
INDEX = "__i"
#: The row ids a scan is restricted to, as its query reads them.
ONLY = "__only"
#: Suffix of a column's DOUBLE cast in a values table.
NUMBER_SUFFIX = "__num"


@dataclass
class EncodedSlice:
    """A slice's rows as codes: their ids, each field's codes, each row unit's outcome,
    and the row units that failed (SQL -> error)."""

    rids: np.ndarray
    fields: dict[str, FieldCodes] = field(default_factory=dict)
    rows: dict[str, UnitTruth] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


@lru_cache(maxsize=1 << 16)
def _columns(sql: str) -> tuple[str, ...]:
    """The columns ``sql`` reads (the same tests come back slice after slice)."""
    return tuple(identifiers(sql))


def twins(sqls: Iterable[str]) -> SliceColumns:
    """Which columns (as it is, lowered, address) of which fields ``sqls`` read."""
    plain: set[str] = set()
    lower: set[str] = set()
    ip: set[str] = set()
    for sql in sqls:
        for col in _columns(sql):
            name = column_field(col)
            if col.endswith(LOWER_SUFFIX) and col != LOWER_SUFFIX:
                lower.add(name)
            elif col.endswith(IP_SUFFIX) and col != IP_SUFFIX:
                ip.add(name)
            else:
                plain.add(name)
    return SliceColumns(frozenset(plain), frozenset(lower), frozenset(ip))


def encode_slice(
    con: duckdb.DuckDBPyConnection,
    slices: Slices,
    variant: Variant,
    spellings: dict[str, str],
    row_units: Sequence[str],
    scan_rows: int,
    only: np.ndarray | None = None,
    prefilter: bool = False,
    *,
    span: Span | None = None,
    max_bytes: int | None = None,
) -> EncodedSlice | None:
    """The slice of ``variant`` with fields ``spellings`` (lower-cased name -> name)
    encoded and ``row_units`` evaluated; None when no row is in it. A row unit that
    fails is left out and reported in ``failed``. ``only``: the row ids to scan (sorted),
    when not the whole slice: its rows are kept by a join in the scan, so the row units'
    text is made for them alone. ``prefilter``: keywords on the whole event's text of a
    slice with no channel (every column) searched on the text as it is first
    (:func:`.keywords.cheaper`). ``span``: the first and last row id of the part of the
    slice to scan. ``max_bytes``: past this many bytes of encoded fields, and more than
    one row read, the scan stops and raises :class:`.spans.SliceTooLarge`; it is then
    read in batches of at most :data:`.spans.PROBE_ROWS` rows."""
    if max_bytes is not None:
        scan_rows = min(scan_rows, PROBE_ROWS)
    if only is not None:
        # The scan reads no row outside the first and last of ``only``.
        if not len(only):
            return None
        first, last = int(only.min()), int(only.max())
        span = (first, last) if span is None else (max(span[0], first), min(span[1], last))
    args = (con, slices, variant, spellings, row_units, scan_rows)
    if only is not None:
        with arrow_view(con, ONLY, pa.table({ROW_ID: pa.array(only, pa.int64())})):
            return _encode_slice(*args, ONLY, prefilter, span, max_bytes)
    return _encode_slice(*args, None, prefilter, span, max_bytes)


def _encode_slice(
    con: duckdb.DuckDBPyConnection,
    slices: Slices,
    variant: Variant,
    spellings: dict[str, str],
    row_units: Sequence[str],
    scan_rows: int,
    only: str | None,
    prefilter: bool,
    span: Span | None,
    max_bytes: int | None,
    search: bool = True,
) -> EncodedSlice | None:
    """:func:`encode_slice`, the rows of ``only`` (a relation of row ids) if given.
    ``search``: keyword units of a slice of every event are found column by column
    (:mod:`.textsearch`), not in the scan, where they can be."""
    units = list(row_units)
    failed: dict[str, str] = {}
    words = None
    if prefilter and search and not variant.channels and only is None:
        words = keywords(con, units)
    later = searched(units, words)
    units = [u for u in units if u not in later]
    # The whole event's text of every column (no channel to narrow it) is the costly
    # one: lower-cased only where a search of it as it is says a keyword may be.
    written = {u: cheaper(u, con) if prefilter and not variant.channels else u for u in units}
    while True:
        needs = twins(written[u] for u in units) | SliceColumns(plain=frozenset(spellings))
        names = [spellings.get(f, f) for f in sorted(needs.plain | needs.lower | needs.ip)]
        inner = slices.slice_query(variant, names, needs, con, only, span)
        if inner is None:
            return None
        cols = [ROW_ID, *(DUCKDB.ident(spellings[f]) for f in sorted(spellings))]
        cols += [f"({written[u]}) AS {DUCKDB.ident(f'__r{k}')}" for k, u in enumerate(units)]
        query = f"SELECT {', '.join(cols)} FROM ({inner})"
        try:
            reader = con.sql(query).to_arrow_reader(scan_rows)
            break
        except duckdb.Error:
            if not units:
                raise
            bad = _failing(con, inner, units, written)
            if not bad:
                raise
            failed.update(bad)
            units = [u for u in units if u not in bad]
    rid_parts: list[np.ndarray] = []
    chunks: dict[str, list[pa.Array]] = {f: [] for f in spellings}
    row_parts: dict[str, list[pa.Array]] = {u: [] for u in units}
    names = sorted(spellings)
    rows = held = 0
    for batch in reader:
        rid_parts.append(batch.column(0).to_numpy())
        for k, f in enumerate(names, start=1):
            chunks[f].append(pc.dictionary_encode(batch.column(k)))
            held += chunks[f][-1].nbytes
        for k, u in enumerate(units, start=1 + len(names)):
            row_parts[u].append(batch.column(k))
        rows += batch.num_rows
        if max_bytes is not None and held > max_bytes and rows > 1:
            reader.close()
            raise SliceTooLarge(rows, held)
    out = EncodedSlice(np.concatenate(rid_parts) if rid_parts else np.empty(0, np.int64))
    out.failed = failed
    if not len(out.rids):
        return out
    for f, parts in chunks.items():
        out.fields[f] = _codes(parts)
    for u, row_chunks in row_parts.items():
        values = pa.chunked_array(row_chunks, pa.bool_())
        out.rows[u] = UnitTruth(
            true=values.fill_null(False).to_numpy(),
            null=values.is_null().to_numpy(),
        )
    if later and words is not None:
        _by_search(con, slices, variant, later, words, scan_rows, span, out)
    return out


def _by_search(
    con: duckdb.DuckDBPyConnection,
    slices: Slices,
    variant: Variant,
    units: list[str],
    words: Keywords,
    scan_rows: int,
    span: Span | None,
    out: EncodedSlice,
) -> None:
    """The keyword ``units`` on ``out``'s rows: false but on the rows a search of each
    column finds (:func:`.textsearch.candidates`), and there as written: a test of one
    value at a time on the values found where that is the same (a literal), else on
    the rows' joined text; past the search's share of rows, as :func:`.keywords.cheaper`
    writes them on every row."""
    found = candidates(con, slices, variant, words, len(out.rids), span)
    sub: EncodedSlice | None = None
    rows = [u for u in units if found is None or u not in words.per_value]
    if found is not None:
        keep = np.isin(found.rids, out.rids)
        sub = EncodedSlice(found.rids[keep])
        try:
            tested = per_value(con, [u for u in units if u not in rows], found)
        except duckdb.Error:  # the test as written on the rows then says why
            tested = {}
            rows = list(units)
        for u, true in tested.items():
            sub.rows[u] = UnitTruth(true=true[keep], null=np.zeros(int(keep.sum()), bool))
        if rows and len(sub.rids):
            scan = encode_slice(con, slices, variant, {}, rows, scan_rows, sub.rids, span=span)
            if scan is not None:
                where = spread_rows(sub.rids, scan.rids)
                for u, got in scan.rows.items():
                    true = np.zeros(len(sub.rids), bool)
                    null = np.zeros(len(sub.rids), bool)
                    true[where], null[where] = got.true, got.null
                    sub.rows[u] = UnitTruth(true=true, null=null)
                sub.failed.update(scan.failed)
    elif rows:
        sub = _encode_slice(
            con, slices, variant, {}, rows, scan_rows, None, True, span, None, search=False
        )
    n = len(out.rids)
    at = spread_rows(out.rids, sub.rids) if sub is not None else None
    for u in units:
        if sub is not None and u in sub.failed:
            out.failed[u] = sub.failed[u]
            continue
        true = np.zeros(n, bool)
        null = np.zeros(n, bool)
        truth = sub.rows.get(u) if sub is not None else None
        if truth is not None and at is not None:
            true[at] = truth.true
            null[at] = truth.null
        out.rows[u] = UnitTruth(true=true, null=null)


def by_row_id(encoded: EncodedSlice) -> EncodedSlice:
    """``encoded`` with its rows in row id order.

    A slice is scanned twice (the prefilter's fields, then what the rules it keeps
    read), and the two scans' rows are matched by position: DuckDB keeps a plain scan's
    order only while ``preserve_insertion_order`` is set, so each scan is put in row id
    order here rather than trusted to be. A scan already in order (the usual case) costs
    one comparison pass.
    """
    rids = encoded.rids
    if len(rids) < 2 or bool(np.all(rids[1:] > rids[:-1])):
        return encoded
    order = np.argsort(rids, kind="stable")
    out = EncodedSlice(rids[order], failed=dict(encoded.failed))
    out.fields = {f: FieldCodes(c.values, c.codes[order]) for f, c in encoded.fields.items()}
    out.rows = {u: UnitTruth(t.true[order], t.null[order]) for u, t in encoded.rows.items()}
    return out


def joined(first: EncodedSlice, second: EncodedSlice) -> EncodedSlice:
    """The fields and row units of two scans of one slice, both in row id order
    (:func:`by_row_id`), as one. The scans filter the same table the same way, so they
    hold the same rows; if they do not, the slice changed between them and matching
    rows by position would be wrong: an error, never a guess."""
    if not np.array_equal(first.rids, second.rids):
        raise RuntimeError(
            f"two scans of one slice disagree: {len(first.rids)} and {len(second.rids)} rows"
        )
    return EncodedSlice(
        first.rids,
        fields={**first.fields, **second.fields},
        rows={**first.rows, **second.rows},
        failed={**first.failed, **second.failed},
    )


def _failing(
    con: duckdb.DuckDBPyConnection, inner: str, units: Sequence[str], written: dict[str, str]
) -> dict[str, str]:
    """The row units that do not compile on the slice (as ``written``), each with its
    error."""
    bad: dict[str, str] = {}
    for sql in units:
        try:
            con.sql(f"SELECT ({written[sql]}) FROM ({inner}) LIMIT 0").fetchall()
        except duckdb.Error as exc:
            bad[sql] = f"query failed: {exc}"
    return bad


def _codes(parts: list[pa.Array]) -> FieldCodes:
    """One field's distinct values and row codes from its batches' dictionary arrays;
    NULL, where a row lacks the field, is the last value."""
    unified = pa.chunked_array(parts).unify_dictionaries()
    dictionary = unified.chunk(0).dictionary if unified.num_chunks else pa.array([], pa.string())
    null = len(dictionary)
    codes = np.concatenate(
        [c.indices.fill_null(null).to_numpy(zero_copy_only=False) for c in unified.chunks]
    ).astype(np.int64, copy=False)
    values = pa.concat_arrays([dictionary, pa.nulls(1, dictionary.type)])
    return FieldCodes(values=values, codes=codes)


def number_column(column: str) -> str:
    """The name of the engine's ``try_cast(column AS DOUBLE)`` in a values table."""
    return column + NUMBER_SUFFIX


def values_table(
    con: duckdb.DuckDBPyConnection,
    name: str,
    codes: FieldCodes,
    lower: bool,
    ip: bool,
    numbers: Iterable[str] = (),
) -> pa.Table:
    """The distinct values of field ``name`` numbered, with the twins asked for (the
    slice's own projections, :meth:`Slices.slice_columns`, on distinct values only)
    and the engine's DOUBLE cast of the columns ``numbers``.

    Lower-casing ASCII text is the same everywhere, so pyarrow's kernel does it when
    every value is ASCII; the address twin is the very function the engine registers.
    The rest is DuckDB's own SQL.
    """
    values = codes.values
    table = pa.table({INDEX: pa.array(np.arange(len(values))), name: values})
    ascii_only = pc.all(pc.string_is_ascii(values)).as_py() is not False
    if lower and ascii_only:
        table = table.append_column(name + LOWER_SUFFIX, pc.ascii_lower(values))
    if ip:
        table = table.append_column(name + IP_SUFFIX, ip_hex_vectorised(values))
    exprs = []
    if lower and not ascii_only:
        exprs.append(f"lower({DUCKDB.ident(name)}) AS {DUCKDB.ident(name + LOWER_SUFFIX)}")
    casts = [
        f"try_cast({DUCKDB.ident(c)} AS DOUBLE) AS {DUCKDB.ident(number_column(c))}"
        for c in sorted(set(numbers))
    ]
    if not exprs and not casts:
        return table
    # A relation on the table, not a view registered in the catalog: registering and
    # unregistering took each slice's threads in turn (a warm hunt makes hundreds).
    relation = con.from_arrow(table)
    if exprs:
        relation = relation.project(", ".join(["*", *exprs]))
    if casts:
        relation = relation.project(", ".join(["*", *casts]))
    return relation.to_arrow_table()


def lowered(table: pa.Table) -> str | None:
    """The name of the lowered twin in a field's values table, if it has one."""
    for name in table.column_names:
        if name.endswith(LOWER_SUFFIX):
            return name
    return None


def lowered_bytes(table: pa.Table) -> int:
    """The bytes of the lowered twin in a field's values table (0 without one): past
    ``options.search_bytes`` its words are searched by DuckDB, not by a pass in Python."""
    name = lowered(table)
    return 0 if name is None else table.column(name).combine_chunks().nbytes


def lower_index(table: pa.Table) -> int:
    """The position of the lowered twin in a field's values table."""
    name = lowered(table)
    if name is None:
        raise KeyError("no lowered values")
    return table.column_names.index(name)


def held_values(chunks: list[pa.Array]) -> Callable[[str], Iterable[pa.Array]]:
    """A source of distinct values that gives ``chunks``, whatever the field."""

    def values(_name: str) -> Iterable[pa.Array]:
        return chunks

    return values
