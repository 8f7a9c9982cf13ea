"""Threat intelligence files as Sigma rules: STIX 2.1 bundles and MISP events.

Joint advisories publish their indicators as STIX 2.1 bundles (and ISACs share MISP
events). ``--indicators FILE`` reads either (:mod:`.stix`, :mod:`.misp`) into a
:class:`Feed` of :class:`Indicator` values, and :func:`feed_rules` turns the feed into
ordinary Sigma rule dicts the way the bundled Volt Typhoon list is turned
(:mod:`.indicators`): many values share one rule per log source, ids are uuid5 of the
values, and every rule names the file and the objects its values came from.

What a file holds that cannot become a rule (a YARA pattern, a registry key, an AND of
conditions, a URL) is never dropped silently: each is an :class:`~.errors.InputIssue`
of kind ``indicator``, reported and counted with the rules that failed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson

from ..errors import InputIssue, UsageError
from .indicators import (
    _HASH_LOGSOURCES,
    INDICATOR_NAMESPACE,
    _Builder,
    path_suffix,
    sigma_literal,
)

#: ``InputIssue.kind`` of an indicator that did not become (part of) a rule.
ISSUE_KIND = "indicator"
#: Largest indicator file read (published advisory bundles are well under 1 MB).
MAX_FILE_BYTES = 64 * 2**20


class Kind(StrEnum):
    """What an indicator value is, which decides the fields it is matched on."""

    SHA256 = "sha256"
    SHA1 = "sha1"
    MD5 = "md5"
    FILE_NAME = "file name"
    FILE_PATH = "file path"
    IP = "ip address"
    CIDR = "ip range"
    DOMAIN = "domain"
    COMMAND_LINE = "command line"
    #: A Sigma wildcard pattern (from STIX ``LIKE``).
    COMMAND_LINE_LIKE = "command line pattern"
    #: A regular expression (from STIX ``MATCHES``).
    COMMAND_LINE_REGEX = "command line regex"


HASH_PREFIX = {Kind.SHA256: "SHA256=", Kind.SHA1: "SHA1=", Kind.MD5: "MD5="}


@dataclass(frozen=True)
class Indicator:
    kind: Kind
    value: str
    #: The object it came from (a STIX indicator id, a MISP attribute uuid), for reports.
    origin: str


@dataclass
class Feed:
    """The indicators of one file, and what in it could not be used."""

    path: str
    name: str
    date: str = ""
    references: list[str] = field(default_factory=list)
    indicators: list[Indicator] = field(default_factory=list)
    #: Sigma rules shipped inside the file (STIX indicators with ``pattern_type: sigma``).
    sigma_rules: list[dict[str, Any]] = field(default_factory=list)
    issues: list[InputIssue] = field(default_factory=list)

    def unsupported(self, where: str, what: str) -> None:
        self.issues.append(InputIssue(self.path, None, f"{where}: {what}", ISSUE_KIND))

    def add(self, kind: Kind, value: str, origin: str) -> None:
        value = value.strip()
        if value:
            self.indicators.append(Indicator(kind, value, origin))


def read_feed(path: str | Path) -> Feed:
    """The indicators of a STIX 2.1 bundle or MISP event file (told apart by content).

    A file that cannot be read, is not JSON, or is neither format is a usage error: the
    hunt does not start with indicators the analyst believes are in effect but are not.
    """
    name = str(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"cannot read indicator file {name}: {exc}") from exc
    if len(raw) > MAX_FILE_BYTES:
        raise UsageError(f"indicator file {name} is larger than {MAX_FILE_BYTES:,} bytes")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise UsageError(f"indicator file {name} is not JSON: {exc}") from exc
    if isinstance(doc, dict) and doc.get("type") == "bundle":
        from .stix import read_bundle

        return read_bundle(doc, name)
    from .misp import is_misp, read_events

    if is_misp(doc):
        return read_events(doc, name)
    raise UsageError(
        f"indicator file {name} is neither a STIX 2.1 bundle nor a MISP event (JSON export)"
    )


# -- rules ------------------------------------------------------------------------------


class _FeedBuilder(_Builder):
    """The bundled list's rule skeleton, filled from a feed."""

    def __init__(self, feed: Feed) -> None:
        self.tag = Path(feed.path).name
        super().__init__(
            {
                "actor": feed.name,
                "date": feed.date,
                "sources": {self.tag: {"title": feed.name, "references": feed.references}},
            }
        )
        self.origin = self.tag
        self.feed = feed

    def of(self, *kinds: Kind) -> list[Indicator]:
        return [i for i in self.feed.indicators if i.kind in kinds]

    def records(self, used: Sequence[Indicator]) -> list[dict[str, str]]:
        return [
            {"value": i.value, "source": self.tag, "note": f"{i.kind} from {i.origin}"}
            for i in used
        ]

    def make(
        self,
        key: str,
        used: Sequence[Indicator],
        title: str,
        what: str,
        logsource: dict[str, str],
        detection: dict[str, Any],
        level: str,
        tags: list[str],
    ) -> dict[str, Any]:
        return self._rule(
            key=f"feed:{key}",
            values=[f"{i.kind}:{i.value}" for i in used],
            title=f"{self.actor}: {title}",
            description=(
                f"Detects {what} that {self.tag} lists as an indicator ({self.actor}). "
                "Generated by lotlhunt from the indicator file."
            ),
            indicators=self.records(used),  # type: ignore[arg-type]
            section="",
            tags=tags,
            logsource=logsource,
            detection=detection,
            falsepositives=["An indicator that is stale, shared or reassigned"],
            level=level,
        )

    def rules(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any] | None] = []
        hashes = self.of(Kind.SHA256, Kind.SHA1, Kind.MD5)
        if hashes:
            needles = sorted({HASH_PREFIX[i.kind] + i.value.upper() for i in hashes})
            for category, label in _HASH_LOGSOURCES:
                out.append(
                    self.make(
                        f"hashes:{category}",
                        hashes,
                        f"File Hash In {label}",
                        "a file whose hash (in the Sysmon Hashes field)",
                        {"category": category},
                        {"selection": {"Hashes|contains": needles}, "condition": "selection"},
                        "critical",
                        ["attack.execution"],
                    )
                )
        out.append(self.file_rule(executed=True))
        out.append(self.file_rule(executed=False))
        out.extend(self.address_rules())
        out.extend(self.domain_rules())
        out.extend(self.command_line_rules())
        return [r for r in out if r is not None]

    def file_rule(self, executed: bool) -> dict[str, Any] | None:
        names, paths = self.of(Kind.FILE_NAME), self.of(Kind.FILE_PATH)
        if not names and not paths:
            return None
        endings = sorted(
            {sigma_literal("\\" + i.value.lstrip("\\/")) for i in names}
            | {sigma_literal(path_suffix(i.value)) for i in paths}
        )
        field_name = "Image" if executed else "TargetFilename"
        return self.make(
            "files:process_creation" if executed else "files:file_event",
            names + paths,
            "File Name Or Path Executed" if executed else "File Name Or Path Written",
            "a process started from a file" if executed else "a file written",
            {"category": "process_creation" if executed else "file_event"},
            {"selection": {f"{field_name}|endswith": endings}, "condition": "selection"},
            "high",
            ["attack.execution"] if executed else ["attack.defense-evasion"],
        )

    def address_rules(self) -> list[dict[str, Any]]:
        ips, ranges = self.of(Kind.IP), self.of(Kind.CIDR)
        if not ips and not ranges:
            return []
        values = sorted({i.value for i in ips})
        cidrs = sorted({i.value for i in ranges})
        used = ips + ranges
        detection: dict[str, Any] = {}
        for side in ("Destination", "Source"):
            if values:
                detection[f"selection_{side.lower()}_ip"] = {f"{side}Ip": values}
            if cidrs:
                detection[f"selection_{side.lower()}_range"] = {f"{side}Ip|cidr": cidrs}
        connection = self.make(
            "addresses:network_connection",
            used,
            "Connection With A Listed Address",
            "a network connection to or from an address",
            {"category": "network_connection"},
            {**detection, "condition": "1 of selection_*"},
            "medium",
            ["attack.command-and-control"],
        )
        logon: dict[str, Any] = {}
        if values:
            logon["selection_ip"] = {"IpAddress": values}
        if cidrs:
            logon["selection_range"] = {"IpAddress|cidr": cidrs}
        security = self.make(
            "addresses:security",
            used,
            "Logon Or Authentication From A Listed Address",
            "a logon, failed logon or Kerberos/NTLM request from an address",
            {"service": "security"},
            {**logon, "condition": "1 of selection_*"},
            "high",
            ["attack.initial-access", "attack.lateral-movement"],
        )
        return [connection, security]

    def domain_rules(self) -> list[dict[str, Any]]:
        domains = self.of(Kind.DOMAIN)
        if not domains:
            return []
        values = sorted({sigma_literal(i.value.rstrip(".").lower()) for i in domains})
        return [
            self.make(
                "domains:dns_query",
                domains,
                "DNS Query For A Listed Domain",
                "a DNS query for a domain",
                {"category": "dns_query"},
                {"selection": {"QueryName": values}, "condition": "selection"},
                "high",
                ["attack.command-and-control"],
            ),
            self.make(
                "domains:network_connection",
                domains,
                "Connection To A Listed Domain",
                "a network connection to a host name",
                {"category": "network_connection"},
                {"selection": {"DestinationHostname": values}, "condition": "selection"},
                "high",
                ["attack.command-and-control"],
            ),
        ]

    def command_line_rules(self) -> list[dict[str, Any]]:
        out = []
        exact, like = self.of(Kind.COMMAND_LINE), self.of(Kind.COMMAND_LINE_LIKE)
        if exact or like:
            detection: dict[str, Any] = {}
            if exact:
                detection["selection_exact"] = {
                    "CommandLine": sorted({sigma_literal(i.value) for i in exact})
                }
            if like:
                detection["selection_pattern"] = {"CommandLine": sorted({i.value for i in like})}
            out.append(
                self.make(
                    "command_lines:process_creation",
                    exact + like,
                    "Listed Command Line",
                    "a process whose command line",
                    {"category": "process_creation"},
                    {**detection, "condition": "1 of selection_*"},
                    "high",
                    ["attack.execution"],
                )
            )
        # Regular expressions in a rule of their own: one the engine cannot run fails
        # only that rule, not the exact command lines above.
        regexes = self.of(Kind.COMMAND_LINE_REGEX)
        if regexes:
            out.append(
                self.make(
                    "command_line_regexes:process_creation",
                    regexes,
                    "Command Line Matching A Listed Pattern",
                    "a process whose command line matches a pattern",
                    {"category": "process_creation"},
                    {
                        "selection": {"CommandLine|re": sorted({i.value for i in regexes})},
                        "condition": "selection",
                    },
                    "high",
                    ["attack.execution"],
                )
            )
        return out


def feed_rules(feed: Feed) -> list[dict[str, Any]]:
    """Sigma rule dicts for the indicators of ``feed``, plus the Sigma rules it carries."""
    rules = _FeedBuilder(feed).rules()
    for doc in feed.sigma_rules:
        rules.append({**doc, "id": doc.get("id") or _sigma_id(doc)})
    return rules


def _sigma_id(doc: dict[str, Any]) -> str:
    text = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS, default=str).decode()
    return str(uuid.uuid5(INDICATOR_NAMESPACE, "sigma:" + text))


def load_feeds(paths: Iterable[str | Path]) -> tuple[list[dict[str, Any]], list[InputIssue]]:
    """Rule dicts and issues of every indicator file in ``paths``."""
    rules: list[dict[str, Any]] = []
    issues: list[InputIssue] = []
    for path in paths:
        feed = read_feed(path)
        rules.extend(feed_rules(feed))
        issues.extend(feed.issues)
        if not feed.indicators and not feed.sigma_rules:
            issues.append(
                InputIssue(str(path), None, "no usable indicator in the file", ISSUE_KIND)
            )
    return rules, issues


def like_to_sigma(pattern: str) -> str:
    """A STIX ``LIKE`` pattern (``%`` any run, ``_`` one character) as a Sigma string.

    Every other character is literal: ``*``, ``?`` and ``\\`` are escaped (a backslash
    as ``\\\\``, always valid in Sigma, so one before a wildcard stays a backslash).
    """
    special = {"%": "*", "_": "?", "*": "\\*", "?": "\\?", "\\": "\\\\"}
    return "".join(special.get(char, char) for char in pattern)
