"""What every engine does for a hunt, as a Protocol, and the objects that cross it.

An engine owns the events table: it ingests Arrow batches, evaluates compiled rules, and
answers the questions the analytics ask after evaluation (the matched events, why each
matched, which correlations fired, what the case holds). Everything outside
:mod:`lotlhunt.engines` speaks to an engine through :class:`Engine` only; no module
there writes SQL against an engine's tables, so a second engine (Spark) is one package,
not ten edited files.

The objects here are engine-neutral: results (:class:`Evaluation`,
:class:`CorrelationRun`), requests (:class:`ExplainRequest`, :class:`CorrelationPlan`),
case bookkeeping (:class:`InputCounts`) and tuning (:class:`EngineOptions`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import pyarrow as pa

from ..rules.compile.dialect import Dialect
from ..rules.logsources import Variant
from ..rules.model import CompiledRule

if TYPE_CHECKING:  # pySigma is imported when a correlation is evaluated, not before
    from sigma.correlations import SigmaCorrelationRule

    from ..scope import EventScope
    from ..sources import InputUnit, UnitReport

#: Column of match tables naming the rule (its index in the rule list).
RULE = "rule"
#: Column of match and event tables holding the engine's row id of an event.
RID = "rid"
#: Values of a ``LOTLHUNT_*`` switch that turn it off.
_NO = ("0", "false", "no")


@dataclass(frozen=True)
class EngineOptions:
    """How an engine tunes its work. Every default carries the measurement behind it
    where the engine uses it (:mod:`lotlhunt.engines.duckdb.engine`); tests pass other
    values to force a path (each rule as its own SQL, tiny scan chunks)."""

    #: Threads of the engine (None: the engine's default, one per core).
    threads: int | None = None
    #: Memory the engine may hold before it spills (DuckDB's syntax: "1GB", "512MB").
    memory_limit: str = "1GB"
    #: Rules in a group from which its slice is built distinct (one row per distinct
    #: combination of the fields the rules read; the Spark engine).
    distinct_min_rules: int = 64
    #: Rows per chunk when slices are scanned into Python (their fields encoded): bounds
    #: the memory of a chunk on large slices.
    scan_rows: int = 65_536
    #: Rows inserted at once: DuckDB's row group. Appending to a partly filled one of a
    #: wide table is several times slower (755 k simulated events of 155 columns: 34 s
    #: in inserts of 65,536 rows, 7.5 s in inserts of 122,880).
    row_group_rows: int = 122_880
    #: Rules per evaluation query (rules run as their own SQL).
    rules_per_query: int = 16
    #: Tests of one field without a string kernel evaluated by one query over its
    #: distinct values.
    units_per_query: int = 64
    #: Whether rules are evaluated per field (every test of a field once over its
    #: distinct values, then each rule as boolean algebra) or each as its own SQL.
    by_field: bool = True
    #: Whether a new hunt's events (no case file) are Parquet parts that reader
    #: processes write themselves, scanned in place, or rows inserted into DuckDB's own
    #: table by the main process. None (the default) decides by the inputs' size: parts
    #: from :attr:`parts_min_bytes` on. Parts take storing off the main process
    #: (Mordor, 1.6 GB: read phase 1.85x faster with two workers than one, the whole hunt
    #: 72.6 s against 93.0 s on the table), but many small inputs make many parts and
    #: every query reads each part's footer (the attack samples, 36 MB: hunt phase 2.7 s
    #: against 2.0 s; ``bench/README.md``, "Latest figures"). ``LOTLHUNT_EVENT_PARTS=1``
    #: or ``0`` forces either way.
    parts: bool | None = None
    #: Inputs (bytes as read: an archive's members unpacked) from which a new hunt's
    #: events are Parquet parts when :attr:`parts` is None. With two workers parts won
    #: from 128 MB on (one 128 MB EVTX file 0.92x the table's whole hunt, 143 MB of 3
    #: hosts' logs 0.81x, one 245 MB file 0.90x); the 36 MB of attack samples lose.
    parts_min_bytes: int = 64 << 20
    #: Fired rules of one slice explained by one query.
    explain_per_query: int = 32
    #: Distinct values of a field past which the engine, not Python, finds which
    #: literals occur.
    search_bytes: int = 8 * 2**20
    #: The Spark engine's session settings (a :class:`~lotlhunt.engines.spark.SparkOptions`:
    #: master, ``--spark-conf`` pairs, or a caller's own session); other engines ignore it.
    spark: Any = field(default=None, compare=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EngineOptions:
        """Defaults, with the memory limit of ``LOTLHUNT_MEMORY_LIMIT`` if set, and events
        as Parquet parts if ``LOTLHUNT_EVENT_PARTS`` is ``1`` (or ``true``, ``yes``), as
        DuckDB's table if it is ``0`` (``false``, ``no``), by the inputs' size if unset.

        Read once, where a hunt is configured (the CLI, :class:`~lotlhunt.hunt.HuntConfig`),
        never deep inside an engine.
        """
        env = os.environ if environ is None else environ
        limit = env.get("LOTLHUNT_MEMORY_LIMIT", "").strip()
        said = env.get("LOTLHUNT_EVENT_PARTS", "").strip().lower()
        parts = True if said in ("1", "true", "yes") else False if said in _NO else None
        return cls(memory_limit=limit, parts=parts) if limit else cls(parts=parts)


@dataclass
class Evaluation:
    """Matches of a hunt: ``(rule index, row id)`` pairs, plus rules that failed to run."""

    matches: pa.Table  # columns: rule (int32), rid (int64)
    failed: list[tuple[int, str]] = field(default_factory=list)
    slices: int = 0
    #: Rule runs the literal prefilter proved unnecessary (no required literal present).
    skipped: int = 0


@dataclass(frozen=True)
class InputCounts:
    """What one input gave: kept in a case so that a re-hunt reports what it holds."""

    label: str
    records: int
    records_failed: int
    issues: tuple[str, ...] = ()


@dataclass(frozen=True)
class CaseTotals:
    """The inputs a case was made from, summed."""

    files: int
    records: int
    records_failed: int


@dataclass(frozen=True)
class ExplainRequest:
    """What to tell about the matches of one fired rule.

    ``shown`` are the fields whose values an explanation shows; ``implied`` says, per
    selection of the rule, whether it holds on every match (True), on none (False) or
    must be evaluated on each matched event (None).
    """

    shown: tuple[str, ...]
    implied: tuple[bool | None, ...]


#: The field name of a search pattern that tests the whole event's text.
ANY_FIELD = "*"


@dataclass(frozen=True)
class FrameRequest:
    """One frame analytics read (:meth:`Engine.events_frames`): ``columns`` (core columns
    or event fields) of the events with one of ``event_ids`` on one of ``channels``
    (either empty: any)."""

    columns: tuple[str, ...]
    event_ids: tuple[int, ...] = ()
    channels: tuple[str, ...] = ()


@dataclass(frozen=True)
class SearchTerms:
    """What a search keeps: any (or all) of ``keywords`` anywhere in the event, and for
    each field named in ``fields`` one of its values (case-insensitive, exact), and for
    each field named in ``regexes`` one of its patterns (RE2)."""

    keywords: tuple[str, ...] = ()
    all_keywords: bool = False
    fields: tuple[tuple[str, str], ...] = ()
    regexes: tuple[tuple[str, str], ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.keywords or self.fields or self.regexes)


@runtime_checkable
class Searchable(Protocol):
    """An engine that answers a hunter's questions besides rules: searches, the
    analyst's own SELECT, counts for metrics, the events of one kind (the embedded
    engine does; ``lotlhunt search``, ``stats`` and ``logons`` use it)."""

    def count_events(self, scope: EventScope | None = None) -> int: ...
    def can_search(self, name: str) -> bool: ...
    def search(self, terms: SearchTerms, scope: EventScope) -> pa.RecordBatchReader: ...
    def select(self, sql: str, terms: SearchTerms, scope: EventScope) -> pa.RecordBatchReader: ...
    def event_counts(self, scope: EventScope | None = None) -> pa.Table: ...
    def events_of(
        self,
        channel: str,
        event_ids: Sequence[int],
        fields: Sequence[str],
        scope: EventScope | None = None,
    ) -> pa.Table: ...


class CannotRun(Exception):
    """A correlation rule an engine cannot evaluate; the message says why."""


@dataclass
class CorrelationSource:
    """One rule a correlation refers to: a base rule or another correlation."""

    ref: str
    base: int | None = None
    corr: int | None = None
    group_fields: list[str] = field(default_factory=list)
    value_fields: list[str] = field(default_factory=list)


@dataclass
class CorrelationPlan:
    """A correlation resolved against the loaded rules, ready for an engine to run."""

    index: int
    rule: SigmaCorrelationRule
    path: str
    rule_id: str
    kind: str
    sources: list[CorrelationSource]
    group_by: list[str]
    seconds: int
    level: str = "informational"
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Episode:
    """One group and episode of a correlation that fired, as the engine found it."""

    correlation: int
    group_values: tuple[str | None, ...]
    value: float
    first: datetime
    last: datetime
    rids: tuple[int, ...]


@dataclass
class CorrelationRun:
    """What an engine made of the correlation plans it was given."""

    ran: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    #: Episodes of every correlation that ran, in time order.
    episodes: list[Episode] = field(default_factory=list)


class EventSink(Protocol):
    """Where read events go: an engine, or a case store being written."""

    def ingest(self, batch: pa.RecordBatch) -> None: ...
    def flush(self) -> None: ...
    def record_inputs(self, inputs: Sequence[InputCounts]) -> None: ...


@runtime_checkable
class ReadsFiles(Protocol):
    """An engine that reads input files itself, where its data lives (Spark reads them on
    its executors). It yields the :class:`~lotlhunt.sources.UnitReport` of every unit
    (and batches, if any pass through the caller); the events go straight to its store."""

    @property
    def reads_files(self) -> bool: ...

    def read_units(self, units: Sequence[InputUnit]) -> Iterable[pa.RecordBatch | UnitReport]: ...


@runtime_checkable
class Engine(Protocol):
    """The events table of a hunt and everything asked of it.

    Row ids are the engine's own (int64, unique per event of the case); every table it
    returns is Arrow.
    """

    name: str
    #: The SQL dialect rules are compiled in for this engine.
    dialect: Dialect
    options: EngineOptions

    # -- storage ----------------------------------------------------------------------

    def ingest(self, batch: pa.RecordBatch) -> None:
        """Append one batch of events (see :mod:`lotlhunt.events.schema`)."""
        ...

    def flush(self) -> None:
        """Store whatever is buffered: every event ingested becomes visible."""
        ...

    def count(self) -> int:
        """Events held."""
        ...

    def close(self) -> None:
        """Release everything the engine holds (a case file stays)."""
        ...

    @property
    def notes(self) -> list[str]:
        """What the engine had to do that a user should know (memory raised...)."""
        ...

    # -- inventory --------------------------------------------------------------------

    def restrict(self, scope: EventScope) -> None:
        """Evaluate rules only on the events in ``scope`` (a re-hunt of a case read
        earlier, with ``--from``/``--to``/``--host``/``--event-id``)."""
        ...

    def has_field(self, name: str) -> bool:
        """Whether the events hold a field of this name (ignoring case)."""
        ...

    def slice_size(self, variant: Variant) -> int:
        """Events in the slice of ``variant`` (channels and event ids)."""
        ...

    # -- evaluation -------------------------------------------------------------------

    def evaluate(
        self, rules: Sequence[CompiledRule], progress: Callable[[int], None] | None = None
    ) -> Evaluation:
        """Run every rule on the events its logsource covers; return all matches."""
        ...

    # -- after evaluation -------------------------------------------------------------

    def matched_events(self, matches: pa.Table) -> pa.Table:
        """The core columns of each match's event, with ``rule`` and ``rid``, ordered by
        time, rule, row id."""
        ...

    def event_rows(self, rids: Sequence[int], columns: Sequence[str]) -> pa.Table:
        """``rid`` and the core ``columns`` of the events with these row ids, ordered by
        time then row id."""
        ...

    def event_fields(self, rids: Sequence[int], fields: Sequence[str]) -> pa.Table:
        """``rid``, channel, event id and the ``fields`` (named as asked, text, NULL where
        the event has no such field) of the events with these row ids."""
        ...

    def events_frame(
        self, columns: Sequence[str], event_ids: Sequence[int], channels: Sequence[str]
    ) -> pa.Table:
        """Fields ``columns`` (named as asked; NULL where no event holds the field) and
        ``rid`` of the events with one of ``event_ids`` on one of ``channels`` (either
        empty: any), in row-id order."""
        ...

    def events_frames(self, requests: Sequence[FrameRequest]) -> list[pa.Table]:
        """:meth:`events_frame` of each request, in order (an engine may run them at
        once: the analytics ask for all their frames together)."""
        ...

    def explain(
        self,
        rules: Sequence[CompiledRule],
        matches: pa.Table,
        requests: Mapping[int, ExplainRequest],
    ) -> list[pa.Table]:
        """For each match of a rule in ``requests``: ``rule``, ``rid``, ``vals`` (the
        values of its shown fields, in order) and ``held`` (per selection, whether it
        holds)."""
        ...

    def correlate(
        self,
        rules: Sequence[CompiledRule],
        plans: Mapping[int, CorrelationPlan],
        order: Sequence[int],
        matches: pa.Table,
        case_sensitive: bool = False,
    ) -> CorrelationRun:
        """Run the correlation ``plans`` in ``order`` over the base rules' ``matches``."""
        ...

    # -- the case ---------------------------------------------------------------------

    def record_inputs(self, inputs: Sequence[InputCounts]) -> None:
        """Keep per-input counts with the events, so a re-hunt reports what was read."""
        ...

    def case_totals(self) -> CaseTotals | None:
        """The inputs recorded with the events, summed (None: nothing recorded)."""
        ...
