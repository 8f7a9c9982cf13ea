"""Evaluation of compiled rules on a DuckDB events table, slice by slice.

A hunt groups rules by the slice of events their logsource covers
(:mod:`lotlhunt.engines.planning`) and scans each slice once: its fields come out
dictionary-encoded (:mod:`.encode`), the rules whose required literals occur nowhere in
it are skipped (:mod:`lotlhunt.engines.prefilter`, on the distinct values), every test
the others make of one field is evaluated once over that field's distinct values, and
each rule is boolean algebra over those results (:mod:`.units`). A rule without a
condition tree runs as its own SQL on the slice instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import TYPE_CHECKING, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...rules.compile.literals import MAX_LITERAL
from ...rules.compile.tree import Kind, Node, Op, Tree
from ...rules.logsources import Variant
from ...rules.model import CompiledRule
from ..base import Evaluation
from ..planning import (
    by_event_ids,
    covers,
    rule_groups,
)
from ..prefilter import (
    literal_index,
    plan_by_presence,
    present_literals,
)
from .encode import (
    EncodedSlice,
    by_row_id,
    encode_slice,
    held_values,
    joined,
    lower_index,
    lowered,
    lowered_bytes,
    twins,
    values_table,
)
from .fieldwords import engine_search, word_hits
from .groups import event_groups
from .kernels import FieldUnits
from .keywords import MIN_EVENTS
from .matches import distinct_matches
from .memory import release_freed
from .ownsql import NO_MATCHES, by_sql
from .rowunits import largest_first, late_row_units, locked, row_candidates, spread
from .spans import SPAN_BYTES, SliceTooLarge, Span, spans
from .units import FieldCodes, RuleMatcher, UnitKey, UnitTruth, unit_keys, units_of
from .wordsearch import WordSearch

if TYPE_CHECKING:
    from .engine import DuckDBEngine


class Evaluator:
    """Runs rules on the slices of one engine's events table.

    Tuning (``engine.options``), with the measurements behind the defaults:

    * ``units_per_query``: field tests with no string kernel evaluated by one query
      over a field's distinct values (:mod:`.kernels`).
    * ``rules_per_query`` (16): rules per query for the rules run as their own SQL
      (see :func:`.ownsql.run_rules`).
    * ``search_bytes`` (8 MiB): distinct values of a field past which DuckDB, not
      Python, finds which literals occur.
    """

    def __init__(self, engine: DuckDBEngine) -> None:
        self.engine = engine
        #: Events in the table, counted when evaluation starts.
        self._events = 0
        #: Bytes of encoded fields past which a slice is evaluated in spans of row ids.
        self.span_bytes = SPAN_BYTES

    def evaluate(
        self,
        rules: Sequence[CompiledRule],
        progress: Callable[[int], None] | None = None,
    ) -> Evaluation:
        """Run every rule on the slices its logsource covers; return all matches."""
        engine = self.engine
        engine.flush()
        engine.store.checkpoint()
        self._events = engine.count()
        present = engine.present_slices()
        # One group per slice: a rule searching the whole event's text is one more row
        # unit of the slice's one scan, not a reason for a slice of its own.
        groups, unheld = by_event_ids(
            rule_groups(rules, len(rules) + 1), rules, present, engine.has_field("EventID")
        )
        if progress and unheld:
            progress(unheld)
        parts: list[pa.Table] = []
        failed: dict[int, str] = {}
        skipped = 0
        todo = [(v, idxs) for v, idxs in groups if any(covers(v, key) for key in present)]
        if progress:
            progress(sum(len(idxs) for _, idxs in groups) - sum(len(idxs) for _, idxs in todo))
            progress = locked(progress)
        # The slices find their bounds in the table's groups (channel, event id), made
        # by one query; the same groups weigh them.
        held = engine.slices.groups = event_groups(engine.cursor(), engine.slices.scope_sql)
        try:
            todo = largest_first(held.groups, len(engine.store.field_columns()), rules, todo)
            # Slices side by side, the largest first: much of a slice's work is Python on
            # one core (encoding, kernels, boolean algebra) or one DuckDB scan waiting on
            # it, so one slice at a time left the second core idle (Mordor: two cores 1.1
            # busy). Their queries share one pool: a slice waits on its queries, never on
            # a slice.
            with (
                ThreadPoolExecutor(engine.threads) as pool,
                ThreadPoolExecutor(engine.threads) as slices,
            ):
                futures = [
                    slices.submit(self._group, pool, rules, variant, idxs, progress)
                    for variant, idxs in todo
                ]
                for future in futures:
                    found, errors, skips = future.result()
                    parts.extend(found)
                    failed.update(errors)
                    skipped += skips
        finally:
            engine.slices.groups = None
        # What the slices' threads freed is given back before the analytics (the main
        # thread's) allocate: they would not reuse it.
        release_freed()
        # A rule whose variants overlap (never in the shipped mapping) matches once.
        matches = distinct_matches(parts) if parts else NO_MATCHES
        return Evaluation(
            matches=matches, failed=sorted(failed.items()), slices=len(groups), skipped=skipped
        )

    def _group(
        self,
        pool: ThreadPoolExecutor,
        rules: Sequence[CompiledRule],
        variant: Variant,
        idxs: list[int],
        progress: Callable[[int], None] | None,
    ) -> tuple[list[pa.Table], dict[int, str], int]:
        """Matches of the rules ``idxs`` on the slice of ``variant``, the rules that
        failed, and how many the prefilter skipped."""
        trees = self.engine.options.by_field
        # Asked without decoding the trees: the prefilter skips most rules of a slice,
        # whose trees are then never read.
        by_tree = [i for i in idxs if trees and rules[i].holds("condition")]
        chosen = set(by_tree)
        own = [i for i in idxs if i not in chosen]
        found: list[pa.Table] = []
        failed: dict[int, str] = {}
        skipped = 0
        if by_tree:
            table, failed, skipped = self._by_field(pool, rules, variant, by_tree, progress)
            if table.num_rows:
                found.append(table)
        if own:
            parts, errors = by_sql(self.engine, pool, rules, variant, own, progress)
            found += parts
            failed.update(errors)
        return found, failed, skipped

    def _by_field(
        self,
        pool: ThreadPoolExecutor,
        rules: Sequence[CompiledRule],
        variant: Variant,
        idxs: list[int],
        progress: Callable[[int], None] | None,
    ) -> tuple[pa.Table, dict[int, str], int]:
        """Matches of rules with condition trees, evaluated per field (:mod:`.units`), the
        rules that failed, and how many the prefilter skipped (everywhere in the slice).
        A slice whose scan encodes more than ``span_bytes`` is evaluated in spans of row
        ids (:mod:`.spans`)."""
        table, failed, skipped = self._in_spans(pool, rules, variant, idxs, None)
        if progress:
            progress(len(idxs))
        return table, failed, len(skipped)

    def _in_spans(
        self,
        pool: ThreadPoolExecutor,
        rules: Sequence[CompiledRule],
        variant: Variant,
        idxs: list[int],
        span: Span | None,
    ) -> tuple[pa.Table, dict[int, str], set[int]]:
        """:meth:`_on_rows` on the rows of ``span`` (None: the whole slice), or, if its scan
        stops past the budget, on spans of them, one after another. A rule is skipped
        where every span skipped it; one that failed in a span has no matches."""
        try:
            return self._on_rows(pool, rules, variant, idxs, span)
        except SliceTooLarge as exc:
            # Out of the handler before going on: its traceback holds the stopped scan's
            # batches.
            big = SliceTooLarge(exc.rows, exc.nbytes)
        rids = self.engine.slices.slice_rids(variant, self.engine.cursor(), span)
        found: list[pa.Table] = []
        failed: dict[int, str] = {}
        skipped: set[int] | None = None
        for part in spans(rids, big, self.span_bytes):
            table, errors, skips = self._in_spans(pool, rules, variant, idxs, part)
            found.append(table)
            failed.update(errors)
            skipped = skips if skipped is None else skipped & skips
        # What the spans held goes back to the system, not to the allocators' free lists:
        # the next slices and the analytics would otherwise start above it.
        release_freed()
        table = pa.concat_tables(found) if found else NO_MATCHES
        if failed and table.num_rows:
            table = table.filter(pc.invert(pc.is_in(table.column("rule"), pa.array(list(failed)))))
        return table, failed, skipped or set()

    def _on_rows(
        self,
        pool: ThreadPoolExecutor,
        rules: Sequence[CompiledRule],
        variant: Variant,
        idxs: list[int],
        span: Span | None,
    ) -> tuple[pa.Table, dict[int, str], set[int]]:
        """Matches of rules with condition trees on the slice of ``variant`` (its rows of
        ``span`` if given), evaluated per field, the rules that failed, and the rules the
        prefilter skipped.

        The slice is scanned in two passes. The first reads only the fields holding the
        rules' required literals, and the prefilter decides from their distinct values
        which rules can match; the second reads only what the rules it keeps read
        besides (their other fields, their row units: keywords on the whole event's
        text). Most rules of a slice are skipped, and their fields and row units were
        most of the one scan's cost (Mordor: 39 % of the hunt phase). Nothing kept, no
        second pass."""
        spellings: dict[str, str] = {}
        for i in idxs:
            for name in sorted(rules[i].fields):
                spellings.setdefault(name.lower(), name)
        by_field = literal_index(rules, idxs)
        literal_fields = {n.lower() for n in by_field}
        first: EncodedSlice | None = None
        values: dict[str, pa.Table] = {}
        hits: dict[str, dict[str, np.ndarray]] = {}
        searches: dict[str, WordSearch] = {}
        looked: dict[str, set[str]] = {}
        if literal_fields:
            fields = {f: spellings.get(f, f) for f in literal_fields}
            first = self._encode(variant, fields, [], span=span, bounded=True)
            if first is None or not len(first.rids):
                return NO_MATCHES, {}, set()
            values = self._values(first.fields, spellings, {}, {}, lower=True)
            # The rules' ``contains`` words join the prefilter's pass on fields DuckDB
            # searches only (a search is costly to make twice); elsewhere a pass after
            # the prefilter looks for the kept rules' words, and the skipped rules'
            # trees are never decoded (the attack samples: 2,678 trees, now 759).
            large = {
                f for f, t in values.items() if lowered_bytes(t) > self.engine.options.search_bytes
            }
            units = units_of(rules, idxs, large)[0] if large else {}
            hits, searches = word_hits(self.engine, values, units, by_field, looked)
        plan = plan_by_presence(
            rules, idxs, lambda need: self._present(need, values, hits, searches), by_field
        )
        if not plan.plain:
            return NO_MATCHES, {}, set(plan.skipped)
        field_units, row_units = units_of(rules, plan.plain)
        keys = {i: unit_keys(rules[i].condition or ()) for i in plan.plain}
        late = late_row_units(rules, plan.plain, keys, row_units)
        early = [u for u in row_units if u not in late]
        held = set(first.fields) if first is not None else set()
        more = {f: spellings.get(f, f) for f in field_units if f not in held}
        encoded = first
        if encoded is None or more or early:
            second = self._encode(variant, more, early, span=span, bounded=encoded is None)
            if second is None or not len(second.rids):
                return NO_MATCHES, {}, set(plan.skipped)
            encoded = second if encoded is None else joined(encoded, second)
        new = {f: codes for f, codes in encoded.fields.items() if f in field_units}
        values = self._values(new, spellings, field_units, values)
        more_hits, more_searches = word_hits(
            self.engine, {f: t for f, t in values.items() if f not in held}, field_units, {}
        )
        hits.update(more_hits)
        searches.update(more_searches)
        kept_hits, _ = word_hits(
            self.engine, {f: values[f] for f in held if f in hits}, field_units, {}, looked
        )
        for f, extra in kept_hits.items():
            hits[f] = {**hits[f], **extra}
        wanted: dict[str, dict[UnitKey, tuple[UnitKey, Tree, int]]] = {}
        for i in plan.plain:
            tree = rules[i].condition or ()
            for at, key in keys[i].items():
                if tree[at].kind is not Kind.ROW:
                    field_name = cast(tuple[str, object], key)[0]
                    wanted.setdefault(field_name, {}).setdefault(key, (key, tree, at))
        outcomes, errors = self._field_units(pool, encoded, values, wanted, hits, searches)
        for sql, truth in encoded.rows.items():
            outcomes[(Kind.ROW, sql)] = truth
        errors.update({(Kind.ROW, sql): e for sql, e in encoded.failed.items()})
        if late:
            # Made on the rows their rules' field units allow (:mod:`.rowunits`); past
            # half the slice, on all of it.
            need = row_candidates(rules, plan.plain, keys, outcomes, len(encoded.rids), late)
            count = int(need.sum())
            only = None if count * 2 > len(encoded.rids) else encoded.rids[need]
            scan = self._encode(variant, {}, late, only, span=span) if count else None
            found, bad = spread(scan, encoded.rids, late)
            outcomes.update(found)
            errors.update(bad)
        matcher = RuleMatcher(len(encoded.rids), outcomes)
        rule_ids: list[np.ndarray] = []
        rids: list[np.ndarray] = []
        failed: dict[int, str] = {}
        for i in plan.plain:
            rows = matcher.match(rules[i].condition or (), keys[i])
            if rows is None:
                failed[i] = next(errors[k] for k in keys[i].values() if k in errors)
                continue
            if len(rows):
                rule_ids.append(np.full(len(rows), i, np.int32))
                rids.append(encoded.rids[rows])
        if not rids:
            return NO_MATCHES, failed, set(plan.skipped)
        table = pa.table(
            {
                "rule": pa.array(np.concatenate(rule_ids), pa.int32()),
                "rid": pa.array(np.concatenate(rids), pa.int64()),
            }
        )
        return table, failed, set(plan.skipped)

    def _encode(
        self,
        variant: Variant,
        spellings: dict[str, str],
        row_units: list[str],
        only: np.ndarray | None = None,
        *,
        span: Span | None = None,
        bounded: bool = False,
    ) -> EncodedSlice | None:
        """One scan of the slice of ``variant`` (:func:`.encode.encode_slice`; of its rows
        ``only`` if given, of its rows in ``span`` if given), its rows in row id order
        (:func:`.encode.by_row_id`). ``bounded``: the scan stops past ``span_bytes`` of
        encoded fields (:class:`.spans.SliceTooLarge`)."""
        engine = self.engine
        encoded = engine.memory.run(
            lambda: encode_slice(
                engine.cursor(),
                engine.slices,
                variant,
                spellings,
                row_units,
                engine.options.scan_rows,
                only,
                self._events >= MIN_EVENTS,
                span=span,
                max_bytes=self.span_bytes if bounded else None,
            )
        )
        return None if encoded is None else by_row_id(encoded)

    def _values(
        self,
        fields: dict[str, FieldCodes],
        spellings: dict[str, str],
        field_units: dict[str, dict[str, Node]],
        known: dict[str, pa.Table],
        lower: bool = False,
    ) -> dict[str, pa.Table]:
        """``known`` and the values tables (:func:`.encode.values_table`) of ``fields``
        with the twins their ``field_units`` read (lowered always if ``lower``: the
        prefilter reads it). A known table is kept where it holds every column needed
        (known tables are lowered)."""
        out = dict(known)
        for f, codes in fields.items():
            units = field_units.get(f, {})
            needed = twins(units)
            numbers = [n.column for n in units.values() if n.op is Op.NUMBER]
            if f in out and not needed.ip and not numbers:
                continue
            out[f] = values_table(
                self.engine.cursor(),
                spellings.get(f, f),
                codes,
                lower=lower or f in out or bool(needed.lower),
                ip=bool(needed.ip),
                numbers=numbers,
            )
        return out

    def _field_units(
        self,
        pool: ThreadPoolExecutor,
        encoded: EncodedSlice,
        values: dict[str, pa.Table],
        wanted: dict[str, dict[UnitKey, tuple[UnitKey, Tree, int]]],
        hits: dict[str, dict[str, np.ndarray]],
        searches: dict[str, WordSearch],
    ) -> tuple[dict[UnitKey, UnitTruth], dict[UnitKey, str]]:
        """Outcomes of the units ``wanted`` (field -> units), each field's evaluated over
        its distinct values (:class:`.kernels.FieldUnits`), fields in parallel on the
        engine's threads; and the units that failed, with why."""
        options = self.engine.options

        def run(name: str) -> tuple[dict[UnitKey, UnitTruth], dict[UnitKey, str]]:
            column = lowered(values[name])
            units = FieldUnits(
                self.engine.cursor(),
                values[name],
                encoded.fields[name],
                options.units_per_query,
                options.search_bytes,
                {column.lower(): hits[name]} if name in hits and column else None,
                {column.lower(): searches[name]} if name in searches and column else None,
            )
            return self.engine.memory.run(lambda: units.evaluate(list(wanted[name].values())))

        outcomes: dict[UnitKey, UnitTruth] = {}
        errors: dict[UnitKey, str] = {}
        for future in as_completed([pool.submit(run, name) for name in wanted]):
            done, bad = future.result()
            outcomes.update(done)
            errors.update(bad)
        return outcomes, errors

    def _present(
        self,
        by_field: dict[str, set[str]],
        values: dict[str, pa.Table],
        hits: dict[str, dict[str, np.ndarray]] | None = None,
        searches: dict[str, WordSearch] | None = None,
    ) -> set[tuple[str, str]]:
        """Which literals occur in the slice's fields, from their lowered distinct values:
        the passes already made (``hits``, ``searches``, :func:`.fieldwords.word_hits`), else
        Python's pass while they are small (:func:`present_literals`) and DuckDB's search
        past ``options.search_bytes`` (:mod:`.wordsearch`): Python's pass runs at tens
        of MB/s, and the rounds of a search cost more than that pass on small values.
        """
        found: set[tuple[str, str]] = set()
        for name, literals in by_field.items():
            held = (hits or {}).get(name.lower())
            if held is not None and all(
                lit in held or 0 < len(lit) <= MAX_LITERAL for lit in literals
            ):
                found.update((name, lit) for lit in literals if lit in held)
                continue
            search = (searches or {}).get(name.lower())
            if search is None or not search.covers(literals):
                table = values[name.lower()]
                column = table.column(lower_index(table)).combine_chunks()
                if column.nbytes <= self.engine.options.search_bytes:
                    found |= present_literals({name: literals}, held_values([column]))
                    continue
                search = engine_search(self.engine, column, literals)
            found.update((name, lit) for lit in literals if lit in search.present)
        return found
