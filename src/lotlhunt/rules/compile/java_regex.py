"""RE2 patterns as Java patterns that match the same text (Spark's ``RLIKE``).

Sigma's regular expressions are compiled for RE2 (the embedded engine's library);
Spark runs them with ``java.util.regex``. Most RE2 syntax means the same in Java, but
a few escapes are wider there, so the same rule would match other events on Spark:

* ``\\b`` and ``\\B``: Java 17 counts every Unicode letter and digit as a word
  character for word boundaries, RE2 only ``[0-9A-Za-z_]``. A command line with a
  mis-decoded quote (``â€œifmâ€``) has a boundary before ``ifm`` for RE2, not for
  Java. Written as the ASCII boundary RE2 means, by look-around (which Java has).
* ``\\s`` and ``\\S``: Java's include the vertical tab, RE2's do not.
* ``(?i)``: case-insensitive matching folds Unicode case in RE2, ASCII only in Java
  unless ``u`` (UNICODE_CASE) is set too.

Patterns Java refuses outright (``x{,3}``) are left as they are: such a rule fails on
its own, reported.
"""

from __future__ import annotations

_WORD = "[0-9A-Za-z_]"
#: RE2's ``\b``: a word character on exactly one side.
_BOUNDARY = f"(?:(?<={_WORD})(?!{_WORD})|(?<!{_WORD})(?={_WORD}))"
#: RE2's ``\B``: word characters on both sides or on neither.
_NOT_BOUNDARY = f"(?:(?<={_WORD})(?={_WORD})|(?<!{_WORD})(?!{_WORD}))"
_SPACE = "\\t\\n\\f\\r "

#: Escapes outside a character class, rewritten.
_OUTSIDE = {
    "b": _BOUNDARY,
    "B": _NOT_BOUNDARY,
    "s": f"[{_SPACE}]",
    "S": f"[^{_SPACE}]",
}


def java_pattern(pattern: str) -> str:
    """``pattern`` (RE2 syntax) as a Java pattern matching the same text."""
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    while i < n:
        c = pattern[i]
        if pattern.startswith("\\Q", i):
            # Quoted text (both engines): copied as it is, up to and with its \E.
            end = pattern.find("\\E", i + 2)
            end = n if end < 0 else end + 2
            out.append(pattern[i:end])
            i = end
            continue
        if c == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if in_class:
                out.append(_SPACE if nxt == "s" else c + nxt)
            else:
                out.append(_OUTSIDE.get(nxt, c + nxt))
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
            out.append(c)
            i += 1
            continue
        if c == "[":
            in_class = True
            out.append(c)
            i += 1
            # A ']' first in a class (after an optional '^') is a literal.
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            if i < n and pattern[i] == "]":
                out.append("]")
                i += 1
            continue
        if c == "(" and pattern.startswith("(?", i):
            j = i + 2
            while j < n and pattern[j].isalpha():
                j += 1
            flags = pattern[i + 2 : j]
            if "i" in flags and "u" not in flags and j < n and pattern[j] in ":)-":
                out.append("(?" + flags + "u")
                i = j
                continue
        out.append(c)
        i += 1
    return "".join(out)
