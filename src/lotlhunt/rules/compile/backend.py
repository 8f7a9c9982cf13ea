"""Sigma detection logic compiled to SQL boolean expressions, exactly as Sigma defines it.

Built on pySigma's :class:`~sigma.conversion.base.Backend`: pySigma parses rules, applies
modifiers (windash, base64offset, utf16, all, ...) and hands us the condition tree; this
module turns each node into SQL for a :class:`Dialect`. The dialect is data (function
names and literal quoting), so DuckDB and Spark SQL share every line of rule logic.

Semantics kept to the letter:

- string values match case-insensitively (both sides lower-cased the engine's way: a
  value Python could fold differently is left to the engine's ``lower()``), ``*`` and ``?`` are
  wildcards, ``\\*`` ``\\?`` ``\\\\`` are literals; ``|cased`` compares as written;
- a field the data lacks is NULL, and NULL never matches; ``not`` of a NULL comparison is
  true (``not selection`` where the selection's field is missing matches), which SQL's
  three-valued logic would get wrong without the explicit ``coalesce`` we add under NOT;
- ``|re`` is a search (unanchored) with the rule's i/m/s flags inline;
- ``|cidr`` is address arithmetic on normalised addresses, IPv4 and IPv6 alike;
- ``|gt`` and friends compare numerically; keywords (values without a field) search the
  text of the whole event.

Field references are emitted through :meth:`SqlBackend.field` and
:meth:`SqlBackend.lfield`; the engine provides, for each referenced field ``F``, a column
``F`` and a lower-cased twin ``F__lc`` in the slice it evaluates the rule on, so lowering
happens once per slice and not once per rule.

What a conversion learns besides its SQL is :mod:`.facts`; the reading of plain values that
chooses the SQL for them, :mod:`.values`.
"""

from __future__ import annotations

from typing import Any, ClassVar, cast

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.conversion.base import Backend
from sigma.conversion.state import ConversionState
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.processing.pipeline import ProcessingPipeline
from sigma.rule import SigmaRule
from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaFieldReference,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SpecialChars,
)

from .dialect import (
    ALL_TEXT_FIELD,
    DUCKDB,
    IP_SUFFIX,
    LOWER_SUFFIX,
    NEGATION,
    Dialect,
    cidr_hex_range,
)
from .facts import AND, NOT, OR, CompiledCondition, ConversionFacts
from .literals import (
    regex_pattern,
    required_event_ids,
    required_literals,
    union_event_ids,
    union_needs,
)
from .strings import StringConversions
from .tree import any_of_true, condition_tree
from .values import _RE2_UNSUPPORTED


def _correlation_elsewhere(self: Backend, *args: Any, **kwargs: Any) -> Any:
    raise SigmaFeatureNotSupportedByBackendError(
        "correlation rules are evaluated over detections, not compiled to one condition"
    )


class SqlBackend(StringConversions, Backend):
    """pySigma backend producing one SQL boolean expression per rule condition.

    What a conversion learns (fields read, keyword use, boolean structure) goes into a
    :class:`ConversionFacts` per pySigma ``ConversionState``, held only while that
    conversion runs, so one backend converts any number of rules.
    """

    # Correlation rules are evaluated over detections by the engines, never compiled
    # into one rule's condition: pySigma's correlation hooks all say so.
    convert_correlation_event_count_rule = _correlation_elsewhere
    convert_correlation_value_count_rule = _correlation_elsewhere
    convert_correlation_temporal_rule = _correlation_elsewhere
    convert_correlation_temporal_ordered_rule = _correlation_elsewhere
    convert_correlation_extended_temporal_rule = _correlation_elsewhere
    convert_correlation_extended_temporal_ordered_rule = _correlation_elsewhere
    convert_correlation_value_sum_rule = _correlation_elsewhere
    convert_correlation_value_avg_rule = _correlation_elsewhere
    convert_correlation_value_percentile_rule = _correlation_elsewhere
    convert_correlation_value_median_rule = _correlation_elsewhere

    name: ClassVar[str] = "lotlhunt SQL"
    formats: ClassVar[dict[str, str]] = {"default": "SQL boolean expression"}
    requires_pipeline: ClassVar[bool] = False

    def __init__(self, dialect: Dialect = DUCKDB, collect_errors: bool = False) -> None:
        super().__init__(processing_pipeline=ProcessingPipeline(), collect_errors=collect_errors)
        self.dialect = dialect
        #: Facts of the conversions running, by the identity of their pySigma state
        #: (pySigma makes the states; they live until their rule's finalize_query).
        self._facts: dict[int, ConversionFacts] = {}

    def facts(self, state: ConversionState) -> ConversionFacts:
        """The facts of the conversion ``state`` belongs to."""
        facts = self._facts.get(id(state))
        if facts is None:
            facts = self._facts[id(state)] = ConversionFacts()
        return facts

    # -- field references -------------------------------------------------------------

    def field(self, name: str, state: ConversionState) -> str:
        self.facts(state).plain_fields.add(name)
        return self.dialect.ident(name)

    def lfield(self, name: str, state: ConversionState) -> str:
        self.facts(state).lower_fields.add(name)
        return self.dialect.ident(name + LOWER_SUFFIX)

    # -- boolean structure -------------------------------------------------------------

    def _node(self, state: ConversionState, kind: str, parts: list[str], sql: str) -> str:
        self.facts(state).operands[sql] = (kind, tuple(parts))
        return sql

    def convert_condition_or(self, cond: ConditionOR, state: ConversionState) -> str:
        parts = self._merge_in_lists(cond, state)
        if len(parts) == 1:
            return parts[0]
        return self._node(state, OR, parts, "(" + " OR ".join(parts) + ")")

    def convert_condition_and(self, cond: ConditionAND, state: ConversionState) -> str:
        parts = [self.convert_condition(a, state) for a in cond.args]
        if len(parts) == 1:
            return parts[0]
        return self._node(state, AND, parts, "(" + " AND ".join(parts) + ")")

    def convert_condition_not(self, cond: ConditionNOT, state: ConversionState) -> str:
        # NULL (field missing) must make the inner selection false, so its negation true.
        inner = self.convert_condition(cond.args[0], state)
        return self._node(state, NOT, [inner], NEGATION.format(inner))

    def convert_condition_as_in_expression(self, cond: Any, state: ConversionState) -> str:
        raise NotImplementedError  # never chosen: decide_... below returns False

    def decide_convert_condition_as_in_expression(self, cond: Any, state: ConversionState) -> bool:
        return False

    def convert_condition_field_eq_val_str(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        value = cast(SigmaString, cond.value)
        return self._string_match(self.lfield(cond.field, state), value, lower=True)

    def convert_condition_field_eq_val_str_case_sensitive(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        value = cast(SigmaCasedString, cond.value)
        return self._string_match(self.field(cond.field, state), value, lower=False)

    def convert_condition_val_str(
        self, cond: ConditionValueExpression, state: ConversionState
    ) -> str:
        self.facts(state).keywords = True
        value = cast(SigmaString, cond.value)
        # A keyword is searched anywhere in the event's text.
        if not value.startswith(SpecialChars.WILDCARD_MULTI):
            value = SpecialChars.WILDCARD_MULTI + value
        if not value.endswith(SpecialChars.WILDCARD_MULTI):
            value = value + SpecialChars.WILDCARD_MULTI
        cased = isinstance(cond.value, SigmaCasedString)
        col = self.field(ALL_TEXT_FIELD, state) if cased else self.lfield(ALL_TEXT_FIELD, state)
        return self._string_match(col, value, lower=not cased)

    def convert_condition_val_num(
        self, cond: ConditionValueExpression, state: ConversionState
    ) -> str:
        self.facts(state).keywords = True
        text = self.dialect.literal(str(cast(SigmaNumber, cond.value).number))
        return self.dialect.contains.format(col=self.lfield(ALL_TEXT_FIELD, state), lit=text)

    # -- numbers, booleans, null, exists ------------------------------------------------

    def convert_condition_field_eq_val_num(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        number = cast(SigmaNumber, cond.value)
        col = self.lfield(cond.field, state)
        # Fields are text; a number matches its decimal spelling or, numerically, any
        # other spelling of the same value ("0x10" excluded: Sigma numbers are decimal).
        text = self.dialect.literal(str(number.number))
        return f"({col} = {text} OR try_cast({col} AS DOUBLE) = {float(number.number)!r})"

    def convert_condition_field_eq_val_bool(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        value = cast(SigmaBool, cond.value)
        return (
            f"{self.lfield(cond.field, state)} = {self.dialect.literal(str(value.boolean).lower())}"
        )

    def convert_condition_field_eq_val_null(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        return f"{self.field(cond.field, state)} IS NULL"

    def convert_condition_field_exists(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        return f"{self.field(cond.field, state)} IS NOT NULL"

    def convert_condition_field_not_exists(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        return f"{self.field(cond.field, state)} IS NULL"

    def convert_condition_field_compare_op_val(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        value = cast(SigmaCompareExpression, cond.value)
        ops = {
            CompareOperators.LT: "<",
            CompareOperators.LTE: "<=",
            CompareOperators.GT: ">",
            CompareOperators.GTE: ">=",
        }
        neq = getattr(CompareOperators, "NEQ", None)
        if neq is not None:
            ops[neq] = "<>"
        col = f"try_cast({self.field(cond.field, state)} AS DOUBLE)"
        return f"{col} {ops[value.op]} {float(value.number.number)!r}"

    def convert_condition_field_eq_field(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        ref = cast(SigmaFieldReference, cond.value)
        a = self.lfield(cond.field, state)
        b = self.lfield(ref.field, state)
        if ref.starts_with and ref.ends_with:
            return self.dialect.contains.format(col=a, lit=b)
        if ref.starts_with:
            return self.dialect.startswith.format(col=a, lit=b)
        if ref.ends_with:
            return self.dialect.endswith.format(col=a, lit=b)
        return f"{a} = {b}"

    # -- regular expressions and CIDR ---------------------------------------------------

    def _regex(self, col: str, rx: SigmaRegularExpression) -> str:
        pattern = regex_pattern(rx)
        if _RE2_UNSUPPORTED.search(pattern):
            raise SigmaFeatureNotSupportedByBackendError(
                "regular expression uses a construct RE2 lacks (look-around, "
                f"back-reference, atomic group or possessive quantifier): {pattern!r}"
            )
        flags = "".join(
            sorted(
                {
                    SigmaRegularExpressionFlag.IGNORECASE: "i",
                    SigmaRegularExpressionFlag.MULTILINE: "m",
                    SigmaRegularExpressionFlag.DOTALL: "s",
                }[f]
                for f in rx.flags
            )
        )
        if flags:
            pattern = f"(?{flags})" + pattern
        pattern = self.dialect.regex_pattern(pattern)
        return self.dialect.regex.format(col=col, lit=self.dialect.literal(pattern))

    def convert_condition_field_eq_val_re(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        return self._regex(self.field(cond.field, state), cast(SigmaRegularExpression, cond.value))

    def convert_condition_val_re(
        self, cond: ConditionValueExpression, state: ConversionState
    ) -> str:
        self.facts(state).keywords = True
        return self._regex(
            self.field(ALL_TEXT_FIELD, state), cast(SigmaRegularExpression, cond.value)
        )

    def convert_condition_field_eq_val_cidr(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        cidr = cast(SigmaCIDRExpression, cond.value)
        lo, hi = cidr_hex_range(cidr.network)
        self.facts(state).ip_fields.add(cond.field)
        col = self.dialect.ident(cond.field + IP_SUFFIX)
        d = self.dialect
        return f"({col} BETWEEN {d.literal(lo)} AND {d.literal(hi)})"

    # -- unsupported ---------------------------------------------------------------------

    def convert_condition_field_eq_val_timestamp_part(
        self, cond: Any, state: ConversionState
    ) -> str:
        raise SigmaFeatureNotSupportedByBackendError("timestamp part modifiers are not supported")

    def convert_condition_field_eq_query_expr(self, cond: Any, state: ConversionState) -> str:
        raise SigmaFeatureNotSupportedByBackendError("query expressions are not supported")

    def convert_condition_query_expr(self, cond: Any, state: ConversionState) -> str:
        raise SigmaFeatureNotSupportedByBackendError("query expressions are not supported")

    # -- rule level ---------------------------------------------------------------------

    def finish_query(
        self, rule: SigmaRule | SigmaCorrelationRule, query: Any, state: ConversionState
    ) -> Any:
        return query

    def finalize_query(
        self,
        rule: SigmaRule | SigmaCorrelationRule,
        query: Any,
        index: int,
        state: ConversionState,
        output_format: str,
    ) -> Any:
        assert isinstance(rule, SigmaRule), "correlation rules are not compiled"
        parsed = rule.detection.parsed_condition[index].parsed
        facts = self._facts.pop(id(state), ConversionFacts())
        return CompiledCondition(
            sql=query,
            facts=facts,
            tree=condition_tree(query, facts.operands),
            needs=required_literals(parsed),
            event_ids=required_event_ids(parsed),
        )

    def finalize_output_default(self, queries: list[Any]) -> Any:
        return queries

    def compile_rule(self, rule: SigmaRule) -> CompiledCondition:
        """Compile a whole rule: its conditions OR-ed, the fields they read united."""
        try:
            parts: list[CompiledCondition] = self.convert_rule(rule)
        finally:
            self._facts.clear()  # a conversion that failed leaves no facts behind
        if not parts:
            raise SigmaFeatureNotSupportedByBackendError("rule produced no query")
        if len(parts) == 1:
            return parts[0]
        facts = ConversionFacts()
        for p in parts:
            facts.merge(p.facts)
        return CompiledCondition(
            sql="(" + " OR ".join(f"coalesce({p.sql}, false)" for p in parts) + ")",
            facts=facts,
            tree=any_of_true([p.tree for p in parts]),
            needs=union_needs([p.needs for p in parts]),
            event_ids=union_event_ids([p.event_ids for p in parts]),
        )

    def compile_selections(self, rule: SigmaRule) -> tuple[tuple[str, str, ConversionFacts], ...]:
        """SQL and facts of each named detection (selection) on its own, to explain a
        match.

        Call after :meth:`compile_rule`, so the rule's detections carry the processing
        the whole rule went through. A selection that cannot be compiled alone is left out.
        """
        out: list[tuple[str, str, ConversionFacts]] = []
        for name, detection in rule.detection.detections.items():
            state = ConversionState(processing_state={})
            try:
                cond = detection.postprocess(rule.detection)
                sql = self.convert_condition(cond, state)
            except Exception:  # noqa: BLE001 - explanation is best effort, never fatal
                continue
            finally:
                facts = self._facts.pop(id(state), ConversionFacts())
            out.append((name, sql, facts))
        return tuple(out)
