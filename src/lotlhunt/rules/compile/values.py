"""Reading pySigma values: which string items are plain, what a keyword searches for.

Small pure functions over pySigma's condition items and strings that the backend uses to
choose the SQL for a value (an ``IN`` list, one alternation, a ``LIKE``), kept apart from
the backend class so the choice can be read on its own.
"""

from __future__ import annotations

import re
from typing import Any

from sigma.conditions import (
    ConditionFieldEqualsValueExpression,
    ConditionValueExpression,
)
from sigma.types import (
    SigmaString,
    SpecialChars,
)

# Regular-expression constructs RE2 (DuckDB) does not implement; rules using them are
# reported as unsupported instead of silently mismatching.
_RE2_UNSUPPORTED = re.compile(r"\(\?<?[=!]|\\[1-9]|\(\?>|\\[GZ]|\(\?P=|[*+?}]\+")


#: Number of ``contains`` values on one field from which an OR becomes one alternation.
ALTERNATION_MIN = 8


def _simple_kind(arg: Any) -> str | None:
    """ "eq" or "contains" for plain string items on a field, else None."""
    if not (
        isinstance(arg, ConditionFieldEqualsValueExpression)
        and arg.field is not None
        and type(arg.value) is SigmaString
        and not arg.value.contains_placeholder()
    ):
        return None
    value: SigmaString = arg.value
    if not value.contains_special():
        return "eq"
    parts = value.s
    multi = SpecialChars.WILDCARD_MULTI
    if len(parts) == 3 and parts[0] is multi and parts[2] is multi and isinstance(parts[1], str):
        return "contains"
    return None


def _keyword_text(arg: Any) -> str | None:
    """The text a plain, case-insensitive keyword searches for (``mimikatz``,
    ``*mimikatz*``), else None."""
    if not (
        isinstance(arg, ConditionValueExpression)
        and type(arg.value) is SigmaString
        and not arg.value.contains_placeholder()
    ):
        return None
    parts = list(arg.value.s)
    multi = SpecialChars.WILDCARD_MULTI
    while parts and parts[0] is multi:
        parts.pop(0)
    while parts and parts[-1] is multi:
        parts.pop()
    if len(parts) == 1 and isinstance(parts[0], str) and parts[0]:
        return parts[0]
    return None


def _plain(s: SigmaString) -> str:
    """The literal text of a string without wildcards (``to_plain`` would re-escape it)."""
    return "".join(p for p in s.s if isinstance(p, str))
