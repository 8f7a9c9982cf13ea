"""The events of a Parquet case store as Spark relations: slices with the columns rules read.

Every slice reads only the partitions of its channels (the store is partitioned by
channel, :mod:`lotlhunt.events.parquet_store`), with schema merging: a file holds only
the fields its rows fill, and a field no file of those partitions holds is NULL, as
Sigma means a missing field. Field names resolve without case, as in the DuckDB engine;
renames of a logsource are the dialect's named transforms (Spark SQL).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from ...events import schema
from ...events.parquet_store import (
    EVENTS_DIR,
    PARTITION,
    ROW_ID,
    PartitionInfo,
    Store,
    partition_key,
)
from ...rules.compile.dialect import (
    ALL_TEXT_FIELD,
    IP_HEX_FUNCTION,
    IP_SUFFIX,
    LOWER_SUFFIX,
    SPARK,
)
from ...rules.logsources import Variant
from ...scope import EventScope

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

NULL_TEXT = "CAST(NULL AS STRING)"
#: The event's own id in a slice, under a name no Sigma field takes.
EVENT_ID = "__event_id"
#: Sigma field names that refer to core columns, as the event's own System values.
_CORE_ALIASES: dict[str, str] = {
    "eventid": f"CAST({schema.EVENT_ID} AS STRING)",
    "channel": schema.CHANNEL,
    "computer": schema.HOST,
    "eventrecordid": f"CAST({schema.RECORD_ID} AS STRING)",
}


class StoreTables:
    """Relations over one store: which files a variant reads and how fields resolve."""

    def __init__(self, spark: SparkSession, store: Store) -> None:
        self.spark = spark
        self.store = store
        manifest = store.manifest
        self._all: DataFrame | None = None
        self._scope_sql: str | None = None
        self._spellings: dict[str, list[str]] = {}
        for info in manifest.partitions.values():
            for c in info.channels:
                spelled = self._spellings.setdefault(c.lower(), [])
                if c not in spelled:
                    spelled.append(c)

    # -- which rows -------------------------------------------------------------------

    def channels_of(self, variant: Variant) -> list[str] | None:
        """The channel spellings the store holds for ``variant`` (None: every channel)."""
        if not variant.channels:
            return None
        return [s for c in variant.channels for s in self._spellings.get(c.lower(), ())]

    def columns_of(self, channels: Sequence[str] | None) -> dict[str, str]:
        """Field columns of the partitions holding ``channels``, by lower-cased name."""
        infos = self._partitions(channels)
        out: dict[str, str] = {}
        for info in infos:
            for c in info.columns:
                out.setdefault(c.lower(), c)
        return out

    def _partitions(self, channels: Sequence[str] | None) -> list[PartitionInfo]:
        parts = self.store.manifest.partitions
        if channels is None:
            return list(parts.values())
        keys = {partition_key(c) for c in channels}
        return [p for k, p in parts.items() if k in keys]

    def all_events(self) -> DataFrame | None:
        """Every event of the store, read once: one schema merge over all files, with
        the partition column ``p`` that filters prune on (None: an empty store)."""
        if self._all is None and self.store.manifest.partitions:
            self._all = self.spark.read.option("mergeSchema", "true").parquet(
                str(self.store.root / EVENTS_DIR)
            )
        return self._all

    def rows_of(self, variant: Variant) -> tuple[list[str] | None, DataFrame] | None:
        """The channel spellings the store holds for ``variant`` (None: every channel) and
        the events of their partitions; None when no partition holds them."""
        channels = self.channels_of(variant)
        df = self.events(channels)
        return None if df is None else (channels, df)

    def events(self, channels: Sequence[str] | None) -> DataFrame | None:
        """The events of the partitions holding ``channels`` (None: all); None if empty."""
        df = self.all_events()
        if df is None:
            return None
        if channels is None:
            return df
        keys = sorted({partition_key(c) for c in channels} & set(self.store.manifest.partitions))
        if not keys:
            return None
        return df.where(f"{PARTITION} IN ({', '.join(map(SPARK.literal, keys))})")

    def restrict(self, scope: EventScope) -> None:
        """Keep only the events in ``scope`` (the same test as ``EventScope.mask``)."""
        conds = []
        if scope.since:
            conds.append(
                f"{schema.TIMESTAMP} >= TIMESTAMP {SPARK.literal(scope.since.isoformat())}"
            )
        if scope.until:
            conds.append(f"{schema.TIMESTAMP} < TIMESTAMP {SPARK.literal(scope.until.isoformat())}")
        pattern = scope.host_regex()
        if pattern is not None:
            conds.append(f"{schema.HOST} RLIKE {SPARK.literal(pattern)}")
        if scope.event_ids:
            conds.append(f"{schema.EVENT_ID} IN ({', '.join(map(str, sorted(scope.event_ids)))})")
        self._scope_sql = "coalesce(" + " AND ".join(conds) + ", false)" if conds else None

    def row_filter(self, variant: Variant, channels: Sequence[str] | None) -> str:
        conds = [self._scope_sql] if self._scope_sql else []
        if channels is not None:
            conds.append(f"{schema.CHANNEL} IN ({', '.join(map(SPARK.literal, channels))})")
        if variant.event_ids:
            conds.append(f"{schema.EVENT_ID} IN ({', '.join(str(i) for i in variant.event_ids)})")
        return " AND ".join(conds) or "true"

    # -- which columns ----------------------------------------------------------------

    @staticmethod
    def _column(columns: dict[str, str], name: str) -> str | None:
        key = schema.field_column(name).lower()
        col = columns.get(key)
        if col is None:
            spaceless = {k.replace(" ", ""): v for k, v in columns.items()}
            col = spaceless.get(key.replace(" ", ""))
        return col

    def field_expression(self, name: str, variant: Variant, columns: dict[str, str]) -> str:
        """Spark SQL giving Sigma field ``name`` on rows of ``variant`` (NULL when absent)."""
        lower = name.lower()
        for target, rename in variant.renames:
            if target.lower() == lower:
                args = []
                for f in rename.fields:
                    col = self._column(columns, f)
                    args.append(SPARK.ident(col) if col else NULL_TEXT)
                return SPARK.transform(rename.transform, args)
        if lower == ALL_TEXT_FIELD:
            cols = [SPARK.ident(c) for c in columns.values()]
            return f"concat_ws(char(10), {', '.join(cols)})" if cols else "''"
        if lower == "provider_name":
            col = self._column(columns, name)
            return f"coalesce({SPARK.ident(col)}, {schema.PROVIDER})" if col else schema.PROVIDER
        col = self._column(columns, name)
        if col is not None:
            return SPARK.ident(col)
        if lower in _CORE_ALIASES:
            return _CORE_ALIASES[lower]
        return NULL_TEXT

    def slice_columns(
        self,
        variant: Variant,
        columns: dict[str, str],
        fields: Iterable[str],
        ip_fields: Iterable[str] = (),
        used: str | None = None,
    ) -> list[str]:
        """Each field, its lowered twin and (for ``ip_fields``) its address twin; with
        ``used``, only the columns that SQL names."""
        seen: dict[str, str] = {}
        for f in fields:
            seen.setdefault(f.lower(), f)
        want_ip = {f.lower() for f in ip_fields}
        used = used.lower() if used is not None else None
        exprs: list[str] = []
        for f in seen.values():
            e = self.field_expression(f, variant, columns)
            wanted = [
                (e, f),
                (f"lower({e})", f + LOWER_SUFFIX),
                *([(f"{IP_HEX_FUNCTION}({e})", f + IP_SUFFIX)] if f.lower() in want_ip else []),
            ]
            exprs.extend(
                f"{expr} AS {SPARK.ident(n)}"
                for expr, n in wanted
                if used is None or SPARK.ident(n).lower() in used
            )
        return exprs

    def slice(
        self,
        variant: Variant,
        fields: Iterable[str],
        ip_fields: Iterable[str] = (),
        used: str | None = None,
        rids: DataFrame | None = None,
        event_id: bool = False,
    ) -> DataFrame | None:
        """The rows of ``variant`` with the columns its rules read, keyed by ``__rid``;
        with ``rids`` (a relation of one ``rid`` column), only those events; with
        ``event_id``, the event's own id too, as :data:`EVENT_ID` (the guards of a pass
        of several slices test it)."""
        found = self.rows_of(variant)
        if found is None:
            return None
        channels, df = found
        columns = self.columns_of(channels)
        exprs = [ROW_ID, *self.slice_columns(variant, columns, fields, ip_fields, used)]
        if event_id:
            exprs.append(f"{schema.EVENT_ID} AS {EVENT_ID}")
        df = df.where(self.row_filter(variant, channels))
        if rids is not None:
            df = df.join(rids.withColumnRenamed("rid", ROW_ID), on=ROW_ID, how="left_semi")
        return df.selectExpr(*exprs)
