"""The input formats, each registered by its reader module: what discovery and reading use.

A format says how to recognise its content (``sniff``), how to read a unit into record
batches (``read``), and, if it can, how to cut a large file into parts that workers read
at once (``spans``). Adding a format is one module in :mod:`lotlhunt.sources.formats` that
ends with ``register(Format(...))``; :func:`formats` imports that package, so every module
in it is registered before the first input is sniffed.

Sniffing is in tiers, so that formats need not know of each other: a format that is
*certain* (a binary signature, or its own binary extension whose damage the reader reports)
wins before anything else is looked at; then names that are never logs are skipped (a
``.yml`` starting with ``{`` is a rule, not an export); then the *content* of text formats
is judged, and last the *name* alone.
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

    from lotlhunt.sources.options import ReaderOptions


class Claim(enum.IntEnum):
    """How sure a format is that content is its own (higher is surer)."""

    NAME = 1  # only the name says so (text that starts badly: its records fail)
    CONTENT = 2  # the first bytes look like it
    CERTAIN = 3  # a signature, or a name whose damaged content the reader reports


#: ``sniff(head, ext)``: the first bytes of a file or member and its lower-case extension
#: (``".json"``, or ``""``) -> a claim, None (not this format), or a string: the name says
#: this format but the content refuses it, and why (``"binary content, not JSON"``).
Sniffer = Callable[[bytes, str], "Claim | str | None"]
#: ``read(unit, options, report)``: record batches of one unit; failures go to ``report``
#: and nothing raises on bad data. A reader of a format that ``gathers`` also takes
#: ``into=`` (see :attr:`Format.gathers`).
Reader = Callable[..., Iterator["pa.RecordBatch"]]
#: ``spans(path, size, parts, options)``: (first byte, end byte, position of the first
#: record) of up to ``parts`` parts that can be read on their own, or None: read it whole.
Splitter = Callable[[str, int, int, "ReaderOptions"], "list[tuple[int, int, int]] | None"]


@dataclass(frozen=True)
class Format:
    """One input format: its name (``InputUnit.fmt``) and what reads it."""

    name: str
    sniff: Sniffer
    read: Reader
    spans: Splitter | None = None
    #: The reader takes ``into=`` a batch builder shared by several small units: it adds
    #: its rows there and leaves them (no batch, no notes of the builder's own).
    gathers: bool = False


#: Extensions that are never event logs even when their content starts like one.
NON_LOG_EXTENSIONS = frozenset(
    ".pcap .pcapng .cap .etl .md .rst .yml .yaml .py .pyc .ipynb .png .jpg .jpeg .gif .svg"
    " .html .htm .css .js .csv .tsv .xml .pdf .exe .dll .sys .toml .ini .cfg .sh .ps1 .bat"
    " .gpl .license .lock .sig .7z .rar .db .sqlite .parquet".split()
)
#: Registered formats by name, in registration order.
FORMATS: dict[str, Format] = {}
_BUILT_IN = "lotlhunt.sources.formats"


def register(fmt: Format) -> Format:
    """Add a format (a second registration of a name replaces the first)."""
    FORMATS[fmt.name] = fmt
    return fmt


def formats() -> dict[str, Format]:
    """Every registered format, the built-in ones loaded first."""
    importlib.import_module(_BUILT_IN)
    return FORMATS


def sniff_format(head: bytes, ext: str) -> tuple[str | None, str]:
    """The format of content starting with ``head`` with extension ``ext``, tier by tier
    (see the module docstring): (name, "") or (None, why not)."""
    claims: dict[Claim, str] = {}
    refusal = ""
    for fmt in formats().values():
        claim = fmt.sniff(head, ext)
        if isinstance(claim, str):
            refusal = refusal or claim
        elif claim is not None:
            claims.setdefault(claim, fmt.name)
    if Claim.CERTAIN in claims:
        return claims[Claim.CERTAIN], ""
    if ext in NON_LOG_EXTENSIONS:
        return None, f"not a log file ({ext})"
    if not head:
        return None, "empty file"
    if Claim.CONTENT in claims:
        return claims[Claim.CONTENT], ""
    if refusal:
        return None, refusal
    if Claim.NAME in claims:
        return claims[Claim.NAME], ""
    return None, "not a recognised log format"
