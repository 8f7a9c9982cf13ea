"""Evaluation of compiled rules on a DuckDB events table, slice by slice.

A hunt groups rules by the slice of events their logsource covers
(:mod:`lotlhunt.engines.planning`), builds each slice once with exactly the columns its
rules read (:mod:`.slices`), skips the rules whose required literals occur nowhere in it
(:mod:`lotlhunt.engines.prefilter`), and runs the others as one small query each,
several at a time on the engine's threads.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from ...rules.compile.dialect import ALL_TEXT_FIELD, DUCKDB, LOWER_SUFFIX
from ...rules.logsources import Variant
from ...rules.model import CompiledRule
from ..base import Evaluation
from ..planning import (
    batched,
    by_event_ids,
    covers,
    fields_read,
    rule_groups,
    slice_columns,
)
from ..prefilter import (
    BITS_KEY,
    RulePlan,
    alternation,
    literal_index,
    plan_by_presence,
    plan_rules,
    present_by_search,
    present_literals,
    word_column,
)
from .arrow_view import arrow_view
from .memory import out_of_memory
from .slices import GROUPED_IDS, SLICE, WORK_DB
from .store import ROW_ID

if TYPE_CHECKING:
    from .engine import DuckDBEngine

#: Candidate bits of the slice's rows, for the rules that run on their candidates only.
SLICE_BITS = f"{WORK_DB}.slice_bits"


def distinct_query(name: str, table: str) -> str:
    """The distinct lower-cased values of field ``name`` in ``table``."""
    col = DUCKDB.ident(name + LOWER_SUFFIX)
    return f"SELECT DISTINCT {col} AS v FROM {table} WHERE {col} IS NOT NULL"


def candidate_test(word: int, bit: int) -> str:
    """SQL true on the rows where a rule's candidate bit is set (NULL: no bit set)."""
    return f"({word_column(word)} & {1 << bit}::UBIGINT) <> 0"


NO_MATCHES = pa.table({"rule": pa.array([], pa.int32()), "rid": pa.array([], pa.int64())})


class Evaluator:
    """Runs rules on the slices of one engine's events table.

    Tuning (``engine.options``), with the measurements behind the defaults:

    * ``rules_per_query`` (16): rules per evaluation query (see :meth:`run_rules`).
    * ``distinct_min_rules`` (64): rules in a group from which its slice is built
      distinct: grouping costs one hash pass over every column the rules read and pays
      back when many rules read the result (process creation: 3x fewer rows on the
      simulated corpus, 1,226 rules).
    * ``candidate_min_rules`` (512): rules in a distinct slice from which candidate rows
      are worked out (which rows hold a literal each rule needs, so a rule runs on those
      rows only). That is a pass over every distinct row's values: it saves time per rule
      and costs it per row, so it pays where very many rules share a slice (process
      creation, 1,458 SigmaHQ rules), not on slices of a few hundred (on 1 M events: 171
      Security rules, 47 of them left by the presence prefilter, ran in less time than
      the pass took; evaluation 19.8, 20.3 -> 16.8-18.6 s; unchanged on Mordor and the
      samples).
    * ``search_bytes`` (8 MiB): distinct values of a field past which DuckDB, not
      Python, finds which literals occur.
    """

    def __init__(self, engine: DuckDBEngine) -> None:
        self.engine = engine

    def evaluate(
        self,
        rules: Sequence[CompiledRule],
        progress: Callable[[int], None] | None = None,
    ) -> Evaluation:
        """Run every rule on the slices its logsource covers; return all matches."""
        engine = self.engine
        engine.flush()
        engine.store.checkpoint()
        present = engine.present_slices()
        groups, unheld = by_event_ids(
            rule_groups(rules, engine.options.distinct_min_rules),
            rules,
            present,
            engine.has_field("EventID"),
        )
        if progress and unheld:
            progress(unheld)
        parts: list[pa.Table] = []
        failed: dict[int, str] = {}
        skipped = 0
        with ThreadPoolExecutor(engine.threads) as pool:
            for variant, idxs in groups:
                if not any(covers(variant, key) for key in present):
                    if progress:
                        progress(len(idxs))
                    continue
                found, errors, skips = self._group(pool, rules, variant, idxs, progress)
                parts.extend(found)
                failed.update(errors)
                skipped += skips
        engine.store.one(f"DROP TABLE IF EXISTS {SLICE}")
        engine.store.one(f"DROP TABLE IF EXISTS {SLICE_BITS}")
        if parts:
            # A rule whose variants overlap (never in the shipped mapping) matches once.
            with arrow_view(engine.con, "__parts", pa.concat_tables(parts)):
                matches = engine.con.sql("SELECT DISTINCT rule, rid FROM __parts").to_arrow_table()
        else:
            matches = NO_MATCHES
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
        fields = fields_read(rules, idxs)
        # Fields the literal prefilter scans are read lowered, rule or no rule.
        needs = slice_columns(rules, idxs, lower=literal_index(rules, idxs))
        slices = self.engine.slices
        if len(idxs) == 1 and ALL_TEXT_FIELD in fields:
            # One rule on the whole event's text: that column is most of the cost
            # of a slice, and this rule its only reader. Matching it as the text
            # is made, in one pass, costs 25-45% less than making the slice and
            # then scanning it (and a literal prefilter would scan it too).
            query = slices.slice_query(variant, sorted(fields), needs)
            found: list[pa.Table] = []
            errors: dict[int, str] = {}
            if query is not None:
                table, errors, _ = self.run_rules(rules, idxs, source=f"({query})")
                if table.num_rows:
                    found.append(table)
            if progress:
                progress(1)
            return found, errors, 0
        distinct = (
            ALL_TEXT_FIELD not in fields and len(idxs) >= self.engine.options.distinct_min_rules
        )
        if slices.build_slice(variant, sorted(fields), SLICE, needs, distinct) == 0:
            if progress:
                progress(len(idxs))
            return [], {}, 0
        plan = self.plan(rules, idxs, distinct)
        if progress:
            progress(len(plan.skipped))
        runnable = plan.plain + list(plan.masked)
        size = self.engine.options.rules_per_query
        futures = [pool.submit(self.run_rules, rules, b, plan) for b in batched(runnable, size)]
        found = []
        failed: dict[int, str] = {}
        for future in as_completed(futures):
            table, errors, done = future.result()
            failed.update(errors)
            if table.num_rows:
                found.append(table)
            if progress:
                progress(done)
        if distinct and found:
            found = [self._expand(pa.concat_tables(found))]
        return found, failed, len(plan.skipped)

    def _expand(self, found: pa.Table) -> pa.Table:
        """Matches on the rows of a distinct slice, as matches on the events they stand for."""
        with arrow_view(self.engine.con, "__found", found):
            return self.engine.con.sql(
                f"SELECT f.rule, unnest(s.{GROUPED_IDS}) AS rid FROM __found f "
                f"JOIN {SLICE} s ON s.{ROW_ID} = f.rid"
            ).to_arrow_table()

    def plan(self, rules: Sequence[CompiledRule], idxs: list[int], distinct: bool) -> RulePlan:
        """Which rules among ``idxs`` can match the current slice (:mod:`.prefilter`);
        on a distinct slice, also on which rows (their bits go to ``SLICE_BITS``)."""
        if not distinct or len(idxs) < self.engine.options.candidate_min_rules:
            return plan_by_presence(rules, idxs, self._present_literals)

        def batches(names: list[str]) -> Iterable[pa.RecordBatch]:
            cols = "".join(f", {DUCKDB.ident(n + LOWER_SUFFIX)}" for n in names)
            yield from self.engine.con.sql(f"SELECT {ROW_ID}{cols} FROM {SLICE}").to_arrow_reader(
                self.engine.options.scan_rows
            )

        plan = plan_rules(rules, idxs, batches)
        if plan.words is not None:
            with arrow_view(self.engine.con, "__words", plan.words):
                self.engine.store.one(
                    f"CREATE OR REPLACE TABLE {SLICE_BITS} AS SELECT * FROM __words"
                )
        return plan

    def _present_literals(self, by_field: dict[str, set[str]]) -> set[tuple[str, str]]:
        """Which literals occur in the slice's fields.

        A field's distinct values are scanned in Python (:func:`present_literals`) while
        they are small; past ``options.search_bytes`` DuckDB searches them instead
        (:func:`present_by_search`): Python's pass runs at tens of MB/s, and the rounds of
        a search cost more than that pass on small values.
        """
        found: set[tuple[str, str]] = set()
        for name, literals in by_field.items():
            chunks = self._small_distinct_values(name)
            if chunks is None:
                found |= self._search_literals(name, literals)
            else:
                found |= present_literals({name: literals}, _held(chunks))
        return found

    def _small_distinct_values(self, name: str) -> list[pa.Array] | None:
        """The distinct values of field ``name`` if they fit in ``options.search_bytes``, else
        None (the reading stops there)."""
        chunks: list[pa.Array] = []
        size = 0
        values = self._distinct_values(name)
        for chunk in values:
            chunks.append(chunk)
            size += chunk.nbytes
            if size > self.engine.options.search_bytes:
                values.close()  # the query's result, before the next query runs
                return None
        return chunks

    def _distinct_values(self, name: str) -> Generator[pa.Array, None, None]:
        """The slice's distinct lower-cased values of field ``name``, in chunks."""
        reader = self.engine.con.sql(distinct_query(name, SLICE)).to_arrow_reader(
            self.engine.options.scan_rows
        )
        try:
            for batch in reader:
                yield batch.column(0)
        finally:
            reader.close()

    def _search_literals(self, name: str, literals: set[str]) -> set[tuple[str, str]]:
        """Which ``literals`` occur in field ``name`` of the slice, by DuckDB's search
        (or Python's pass if DuckDB cannot compile the search)."""

        def search(field: str, ordered: list[str]) -> set[str]:
            pattern = DUCKDB.literal(alternation(ordered))
            rows = self.engine.con.execute(
                f"SELECT DISTINCT unnest(regexp_extract_all(v, {pattern})) "
                f"FROM ({distinct_query(field, SLICE)})"
            ).fetchall()
            return {row[0] for row in rows}

        try:
            return self.engine.memory.run(lambda: present_by_search({name: literals}, search))
        except duckdb.Error as exc:
            if out_of_memory(exc):
                raise
        return present_literals({name: literals}, self._distinct_values)

    def run_rules(
        self,
        rules: Sequence[CompiledRule],
        idxs: list[int],
        plan: RulePlan | None = None,
        source: str = SLICE,
    ) -> tuple[pa.Table, dict[int, str], int]:
        """Matches of rules ``idxs`` on the slice (or on ``source``, a relation with its
        columns), the rules whose query failed, and how many rules were run.

        A few rules per query (a UNION ALL of one filter each), several queries at once on
        the engine's threads: a slice of a hundred thousand rows is one row group, which
        DuckDB scans on one thread, so concurrency between queries is what uses the
        cores; and on small slices the fixed cost per query dominates, which the union
        shares. (One pass evaluating many rules per row was measured slower: every row
        then pays for a list of results.) A failing query is retried rule by rule so one
        broken rule does not hide the others' matches. A rule with candidate rows runs on
        those only: the CASE tests its bit before the rule's own conditions (a plain AND
        may be reordered to scan every row's strings first).
        """
        masked = plan.masked if plan else {}

        def select(i: int) -> str:
            head = f"SELECT {i}::INTEGER AS rule"
            if i not in masked:
                return f"{head}, {ROW_ID} AS rid FROM {source} WHERE {rules[i].sql}"
            test = candidate_test(*masked[i])
            # The bit test alone is pushed into the scan of the (small) bits table; the
            # CASE keeps the rule's conditions off every row that is not a candidate.
            return (
                f"{head}, s.{ROW_ID} AS rid FROM {SLICE} s "
                f"JOIN {SLICE_BITS} b ON b.{BITS_KEY} = s.{ROW_ID} WHERE {test} "
                f"AND CASE WHEN {test} THEN ({rules[i].sql}) ELSE false END"
            )

        query = " UNION ALL ".join(select(i) for i in idxs)
        try:
            table = self.engine.memory.run(lambda: self.engine.cursor().sql(query).to_arrow_table())
            return table, {}, len(idxs)
        except duckdb.Error as exc:
            if out_of_memory(exc):
                raise
            if len(idxs) == 1:
                return NO_MATCHES, {idxs[0]: f"query failed: {exc}"}, 1
        parts, errors = [], {}
        for i in idxs:
            table, error, _ = self.run_rules(rules, [i], plan, source)
            parts.append(table)
            errors.update(error)
        return pa.concat_tables(parts), errors, len(idxs)


def _held(chunks: list[pa.Array]) -> Callable[[str], Iterable[pa.Array]]:
    """A source of distinct values that gives ``chunks``, whatever the field."""

    def values(_name: str) -> Iterable[pa.Array]:
        return chunks

    return values
