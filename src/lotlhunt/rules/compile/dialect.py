"""The SQL vocabulary compiled rules and the engines share, without pySigma.

Compiled rules are SQL text; running them needs only the names the compiler gives to
twin columns, the dialect's quoting and the address normalisation the engine registers.
Those live here so that a hunt whose rules all come from the cache never imports
pySigma (a third of a second of a warm start); :mod:`.sigma_sql` compiles with them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ...events import schema
from .java_regex import java_pattern

#: How a negated condition is written: NULL (a missing field) counts as not matching.
NEGATION = "(NOT coalesce({}, false))"
#: Suffix of the lower-cased twin of a field column in an evaluation slice.
LOWER_SUFFIX = "__lc"
#: Pseudo-field holding the text of every field of an event, for keyword rules.
ALL_TEXT_FIELD = "__text"
#: Name of the SQL function (a UDF the engine registers) that normalises an IP address
#: string to 32 hex digits (IPv4 as IPv4-mapped IPv6), or NULL when it is no address.
IP_HEX_FUNCTION = "lotl_ip_hex"
#: Suffix of the address twin of a field column (the field through ``IP_HEX_FUNCTION``),
#: projected once per slice row for fields that CIDR conditions read, so a rule with
#: twenty networks compares text twenty times instead of parsing the address twenty times.
IP_SUFFIX = "__ip"


def re2_pattern(pattern: str) -> str:
    """The pattern as it is: rules are written for RE2."""
    return pattern


@dataclass(frozen=True)
class Dialect:
    """The few things that differ between SQL engines: data, as pySigma's backends
    keep theirs, so one compiler writes every engine's SQL."""

    name: str
    contains: str  # format with {col} {lit}
    startswith: str
    endswith: str
    regex: str  # unanchored search
    like_escape: str  # LIKE with escape character '\'
    quote_backslash: bool  # whether string literals treat backslash as an escape
    #: The character quoting identifiers (a double quote in standard SQL; a back-tick in
    #: Spark SQL, where a double-quoted name is a string literal).
    ident_quote: str = '"'
    #: Named field transforms (see ``data/logsources.yaml``): name -> SQL template over
    #: its arguments ``{0}``, ``{1}``... (column expressions, NULL where absent).
    transforms: tuple[tuple[str, str], ...] = ()
    #: A Sigma (RE2) regular expression as this engine's library must be given it to
    #: match the same text. Out of the repr, which keys the rule cache: a function's repr
    #: holds its address, new in every process (its code is in the cache key anyway).
    regex_pattern: Callable[[str], str] = field(default=re2_pattern, repr=False)

    def literal(self, s: str) -> str:
        """A string literal. Logs and rules are hostile: every quote is escaped."""
        if self.quote_backslash:
            s = s.replace("\\", "\\\\")
        return "'" + s.replace("'", "''") + "'"

    def ident(self, name: str) -> str:
        """A quoted identifier; the quote character inside it is doubled."""
        q = self.ident_quote
        return q + name.replace(q, q + q) + q

    def transform(self, name: str, args: Sequence[str]) -> str:
        """SQL applying the named field transform to ``args`` (SQL expressions)."""
        for known, template in self.transforms:
            if known == name:
                return template.format(*args)
        raise KeyError(f"dialect {self.name} has no transform {name!r}")

    def transform_names(self) -> frozenset[str]:
        return frozenset(name for name, _ in self.transforms)


#: Security 4688's MandatoryLabel SIDs as Sysmon's IntegrityLevel names.
_INTEGRITY = (
    ("S-1-16-0", "Untrusted"),
    ("S-1-16-4096", "Low"),
    ("S-1-16-8192", "Medium"),
    ("S-1-16-8448", "Medium"),
    ("S-1-16-12288", "High"),
    ("S-1-16-16384", "System"),
)
_INTEGRITY_CASE = (
    "CASE {0} "
    + " ".join(f"WHEN '{sid}' THEN '{name}'" for sid, name in _INTEGRITY)
    + " ELSE {0} END"
)


DUCKDB = Dialect(
    name="duckdb",
    contains="contains({col}, {lit})",
    startswith="starts_with({col}, {lit})",
    endswith="ends_with({col}, {lit})",
    regex="regexp_matches({col}, {lit})",
    like_escape="{col} LIKE {lit} ESCAPE '\\'",
    quote_backslash=False,
    transforms=(
        # The field itself, under another name.
        ("same", "{0}"),
        # DOMAIN\user from a domain and a user name (the user alone without a domain).
        ("domain_user", "CASE WHEN {0} IS NULL THEN {1} ELSE {0} || '\\' || {1} END"),
        # A process id as decimal text, whether logged as hex (0x1a2c) or decimal.
        ("decimal_id", "CAST(try_cast({0} AS UBIGINT) AS VARCHAR)"),
        ("integrity_level", _INTEGRITY_CASE),
        # The event's own System channel and event id (core columns), as text.
        ("system_channel", schema.CHANNEL),
        ("system_event_id", f"CAST({schema.EVENT_ID} AS VARCHAR)"),
    ),
)

SPARK = Dialect(
    name="spark",
    contains="contains({col}, {lit})",
    startswith="startswith({col}, {lit})",
    endswith="endswith({col}, {lit})",
    regex="{col} RLIKE {lit}",
    like_escape="{col} LIKE {lit} ESCAPE '\\\\'",
    quote_backslash=True,
    ident_quote="`",
    regex_pattern=java_pattern,
    transforms=(
        ("same", "{0}"),
        ("domain_user", "CASE WHEN {0} IS NULL THEN {1} ELSE concat({0}, '\\\\', {1}) END"),
        (
            "decimal_id",
            "CASE WHEN lower({0}) LIKE '0x%' THEN conv(substr({0}, 3), 16, 10) "
            "ELSE CAST(try_cast({0} AS DECIMAL(20, 0)) AS STRING) END",
        ),
        ("integrity_level", _INTEGRITY_CASE),
        ("system_channel", schema.CHANNEL),
        ("system_event_id", f"CAST({schema.EVENT_ID} AS STRING)"),
    ),
)

#: Every dialect rules compile to, by name.
DIALECTS = {d.name: d for d in (DUCKDB, SPARK)}


#: Characters RE2 reads as syntax, escaped to match themselves.
_RE2_SPECIAL = frozenset("\\.+*?()|[]{}^$")


def re2_escape(text: str) -> str:
    """``text`` as an RE2 pattern matching exactly it."""
    return "".join("\\" + c if c in _RE2_SPECIAL else c for c in text)


@lru_cache(maxsize=1 << 16)
def ip_hex(value: str | None) -> str | None:
    """Normalise an address to 32 lowercase hex digits; IPv4 as IPv4-mapped IPv6.

    Accepts the spellings logs use: plain, IPv6 shorthand, bracketed, with zone index
    (``fe80::1%eth0``) or IPv4-mapped (``::ffff:10.0.0.1``). Anything else is None.
    Cached: logs repeat few distinct addresses, and every CIDR rule asks again.
    """
    if value is None:
        return None
    text = value.strip().strip("[]")
    if "%" in text:
        text = text.split("%", 1)[0]
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv4Address):
        return f"{0xFFFF00000000 | int(addr):032x}"
    mapped = addr.ipv4_mapped
    if mapped is not None:
        return f"{0xFFFF00000000 | int(mapped):032x}"
    return f"{int(addr):032x}"


def cidr_hex_range(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[str, str]:
    """First and last address of a network in :func:`ip_hex` form (compare as text)."""
    lo = ip_hex(str(network.network_address))
    hi = ip_hex(str(network.broadcast_address))
    assert lo is not None and hi is not None
    return lo, hi


def ip_hex_vectorised(values: Any) -> Any:
    """Arrow-vectorised :func:`ip_hex` for registration as an engine UDF."""
    import pyarrow as pa

    return pa.array([ip_hex(v) for v in values.to_pylist()], type=pa.string())
