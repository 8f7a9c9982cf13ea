"""SQL for Sigma's string values: plain, wildcards, escapes, and long ORs folded.

Part of :class:`~.backend.SqlBackend`, kept apart because choosing the SQL for a string
(an equality, ``contains``, ``LIKE``, a regular expression, an ``IN`` list or one
alternation for thousands of values) is a job of its own, and the one most rules use.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, cast

from sigma.conditions import ConditionFieldEqualsValueExpression, ConditionOR
from sigma.conversion.state import ConversionState
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.types import SigmaString, SpecialChars

from .dialect import ALL_TEXT_FIELD, Dialect, re2_escape
from .literals import caseless_safe
from .values import ALTERNATION_MIN, _keyword_text, _plain, _simple_kind

if TYPE_CHECKING:
    from .facts import ConversionFacts


class StringConversions:
    """String matching for a backend that has a dialect and records facts."""

    dialect: Dialect

    if TYPE_CHECKING:

        def facts(self, state: ConversionState) -> ConversionFacts: ...
        def lfield(self, name: str, state: ConversionState) -> str: ...
        def convert_condition(self, cond: object, state: ConversionState) -> str: ...

    def _merge_in_lists(self, cond: ConditionOR, state: ConversionState) -> list[str]:
        """Fold long ORs on one field into one expression (same meaning, far less planning).

        Plain equalities become an ``IN`` list; many plain ``contains`` values (SigmaHQ's
        hash and driver lists hold thousands) or keywords become one RE2 alternation, which
        the engine compiles once into an automaton instead of planning thousands of
        comparisons and scanning the text once per value.
        """
        plain: dict[str, list[str]] = {}
        contains: dict[str, list[str]] = {}
        out: list[str] = []
        for arg in cond.args:
            keyword = _keyword_text(arg)
            if keyword is not None:
                # Keywords search the whole event's text: the same fold, on that column
                # (Mimikatz's 20 keywords: one scan of every event's text instead of 20).
                self.facts(state).keywords = True
                contains.setdefault(ALL_TEXT_FIELD, []).append(keyword)
                continue
            kind = _simple_kind(arg)
            if kind is not None:
                item = cast(ConditionFieldEqualsValueExpression, arg)
                by_kind = plain if kind == "eq" else contains
                by_kind.setdefault(item.field, []).append(_plain(cast(SigmaString, item.value)))
            else:
                out.append(self.convert_condition(arg, state))
        for name, values in contains.items():
            # Values whose lower-casing Python might not share with the engine keep their
            # own comparison; the rest fold (one odd value must not unfold a long list).
            safe = [v for v in values if caseless_safe(v)]
            if len(safe) < ALTERNATION_MIN:
                safe = []
            out.extend(
                self.dialect.contains.format(col=self.lfield(name, state), lit=self._lowered(v))
                for v in values
                if not safe or not caseless_safe(v)
            )
            if not safe:
                continue
            pattern = "|".join(sorted({re2_escape(v.lower()) for v in safe}))
            out.insert(
                0,
                self.dialect.regex.format(
                    col=self.lfield(name, state), lit=self.dialect.literal("(?s)" + pattern)
                ),
            )
        for name, values in plain.items():
            if len(values) == 1:
                out.insert(0, self._str_eq(name, values[0], state))
            else:
                lits = ", ".join(self._lowered(v) for v in values)
                out.insert(0, f"{self.lfield(name, state)} IN ({lits})")
        return out

    def _str_eq(self, name: str, value: str, state: ConversionState) -> str:
        return f"{self.lfield(name, state)} = {self._lowered(value)}"

    def _lowered(self, text: str) -> str:
        """``text`` lower-cased as the engine lower-cases: folded here when Python's
        folding is surely the engine's (:func:`caseless_safe`), else by the engine's
        ``lower()``. The engine binds and folds each ``lower()`` of a constant when it
        plans the query: on 8 k events, a third of the planning of 16 rules."""
        if caseless_safe(text):
            return self.dialect.literal(text.lower())
        return f"lower({self.dialect.literal(text)})"

    def _string_match(self, col: str, s: SigmaString, lower: bool) -> str:
        """SQL for ``col`` matching Sigma string ``s`` (wildcards, escapes) exactly."""
        if s.contains_placeholder():
            raise SigmaFeatureNotSupportedByBackendError(
                "value has a placeholder that no placeholder file resolved"
            )
        parts = list(s.s)
        d = self.dialect

        def lit(text: str) -> str:
            return self._lowered(text) if lower else d.literal(text)

        if not s.contains_special():
            return f"{col} = {lit(_plain(s))}"
        literal_parts = [p for p in parts if isinstance(p, str)]
        specials = [p for p in parts if not isinstance(p, str)]
        multi = SpecialChars.WILDCARD_MULTI
        if all(p is multi for p in specials) and len(literal_parts) <= 1:
            text = literal_parts[0] if literal_parts else ""
            starts = parts[0] is multi
            ends = parts[-1] is multi
            if not text:
                return f"{col} IS NOT NULL"
            if starts and ends and len(parts) == 3:
                return d.contains.format(col=col, lit=lit(text))
            if ends and len(parts) == 2:
                return d.startswith.format(col=col, lit=lit(text))
            if starts and len(parts) == 2:
                return d.endswith.format(col=col, lit=lit(text))
        if SpecialChars.WILDCARD_SINGLE in specials:
            # '?' is one character; RE2 '.' (with s) is one code point, LIKE '_' may be a byte.
            rx = "".join(
                re.escape(p.lower() if lower else p)
                if isinstance(p, str)
                else (".*" if p is multi else ".")
                for p in parts
            )
            return d.regex.format(col=col, lit=d.literal("(?s)^" + rx + "$"))
        pattern = "".join(
            p.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            if isinstance(p, str)
            else "%"
            for p in parts
        )
        return d.like_escape.format(col=col, lit=lit(pattern))
