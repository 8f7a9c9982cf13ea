"""Text from logs and rules made safe for a terminal and for a spreadsheet cell.

Logs are attacker-controlled. A host name can carry ``ESC[2J`` (clear the screen), an
OSC sequence (set the window title, write a hyperlink), a carriage return that hides
what came before, or bidirectional overrides that reorder what is shown. Rich reads
``[...]`` as markup. Every string that came from a log or a rule goes through
:func:`terminal_safe` before it reaches a terminal, and through :func:`spreadsheet_safe`
before it becomes a CSV cell.
"""

from __future__ import annotations

import re

from rich.markup import escape as _markup_escape

#: C0 controls (newline and tab included: a value must not fake a line or a column),
#: DEL, C1 controls (0x9b is a one-byte CSI on some terminals), and the Unicode format
#: characters that reorder or hide text (bidi embeddings, overrides and isolates, zero
#: width marks, line and paragraph separators).
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\e"}


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def control_free(text: object) -> str:
    """``text`` with every control or invisible format character shown as an escape
    (``\\e``, ``\\n``, ``\\x07``, ``\\u202e``), so nothing in it acts on a terminal."""
    value = "" if text is None else str(text)
    return _UNSAFE.sub(_visible, value)


def terminal_safe(text: object, width: int | None = None) -> str:
    """``text`` for a rich console: controls made visible, clipped to ``width``
    characters (the last one an ellipsis) when given, and rich markup escaped.

    Clipping comes after the controls are made visible and before markup is escaped,
    so it can neither cut an escape in half nor leave an unclosed ``[``."""
    value = control_free(text)
    if width is not None and len(value) > width:
        value = value[: width - 1] + "…"
    return _markup_escape(value)


#: What a spreadsheet reads as the start of a formula (or of DDE): ``=``, ``+``, ``-``,
#: ``@``, a tab or a carriage return. Full-width forms are read as formulas by some.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def spreadsheet_safe(text: object) -> str:
    """A CSV cell no spreadsheet runs: a leading ``'`` before anything that starts a
    formula (OWASP's advice), the text otherwise unchanged."""
    value = "" if text is None else str(text)
    if value.startswith(_FORMULA_START):
        return "'" + value
    return value
