"""Accept the rule files other Sigma consumers accept, and say what was tolerated.

Public Windows rule sets are not all strict Sigma. Hayabusa's rule repository tags
Sysmon rules with a bare ``sysmon``, writes ``references:`` as one string, leaves
``tags:`` and ``falsepositives:`` empty, adds fields of its own (``details``,
``ruletype``, ``sample-evtx``), names the event's ``Channel`` and ``EventID`` in the
detection, and still carries rules with the deprecated ``| count()`` aggregation.
pySigma rejects each of these as an error of the whole rule, so one cosmetic field
would silence a rule that Hayabusa, Chainsaw or Zircolite run.

:func:`tolerate` repairs a rule document before pySigma sees it: only metadata that
does not change what the rule matches is repaired, and every repair is recorded.

- *Repairs* (``fixed``): a string where a list is expected, an empty key, a tag without
  a namespace (kept as written), an unknown date format, a non-UUID ``related`` entry.
- *Warnings* (``warnings``): what makes the rule suspect: an id that is not a UUID
  (kept as text), an unknown ``level`` or ``status`` (dropped), a missing title.
- A detection that names ``Channel`` in a rule of Hayabusa's repository
  (``ruletype:``), or whose logsource has no mapping here, selects its events by its
  own ``Channel``/``EventID`` conditions, as Hayabusa does (``by_channel``).
- ``condition: selection | count(Field) by Group > N`` becomes a Sigma correlation
  rule (``value_count`` / ``event_count``) over a base rule, the meaning Hayabusa gives
  it and the form its repository replaced it with.

What the detection itself says is never rewritten, except to split off an aggregation.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Where the record of what was tolerated travels with the rule (a custom attribute).
COMPAT_KEY = "lotlhunt_compat"
#: Namespace of the ids given to the base rule of a converted aggregation.
AGGREGATION_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "lotlhunt:aggregation-base")

LEVELS = ("informational", "low", "medium", "high", "critical")
STATUSES = ("stable", "test", "experimental", "deprecated", "unsupported")
_LEVEL_SYNONYMS = {"info": "informational", "information": "informational", "med": "medium"}
_LEVEL_SYNONYMS.update({"crit": "critical", "warning": "medium", "warn": "medium"})
_RELATION_TYPES = frozenset({"derived", "obsolete", "merged", "renamed", "similar"})
_LIST_FIELDS = ("references", "falsepositives", "fields", "scope")
_TEXT_FIELDS = ("description", "author", "license", "taxonomy", "name")
_DATE = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$")

#: ``selection | count(Field) by A, B >= 5`` (Sigma 1's aggregation; Hayabusa still
#: reads it). Group 1: the condition; 2: the counted field; 3: the group-by list.
_AGGREGATION = re.compile(
    r"^(?P<cond>.+?)\s*\|\s*count\(\s*(?P<field>[\w.-]*)\s*\)"
    r"(?:\s+by\s+(?P<by>[\w.-]+(?:\s*,\s*[\w.-]+)*))?"
    r"\s*(?P<op>>=|<=|==|=|>|<)\s*(?P<n>\d+)\s*$",
    re.IGNORECASE | re.DOTALL,
)
#: Hayabusa's own field modifiers, and the Sigma modifiers its documentation says
#: replace them.
_MODIFIER_ALIASES = {"equalsfield": ("fieldref",), "endswithfield": ("fieldref", "endswith")}
_OPERATORS = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte", "=": "eq", "==": "eq"}
#: Span of an aggregation that names no ``timeframe``: Hayabusa then counts over the
#: whole input; ten years stands for that.
UNBOUNDED_TIMESPAN = "3650d"


@dataclass
class Tolerated:
    """What :func:`tolerate` changed in one rule document."""

    fixed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: Tags without a namespace (``sysmon``), kept as written.
    bare_tags: list[str] = field(default_factory=list)
    #: The rule's own id when it is not a UUID (pySigma requires one).
    text_id: str | None = None
    #: The detection names ``Channel``: its events may be chosen by that condition.
    names_channel: bool = False
    #: From Hayabusa's repository (``ruletype:``): ``Channel`` is how it selects events.
    hayabusa: bool = False
    #: A correlation document made from a ``| count()`` aggregation, if any.
    correlation: dict[str, Any] | None = None
    #: Why the rule cannot run here although it is valid for the tool it was written for.
    unsupported: str | None = None

    def record(self) -> dict[str, Any]:
        """The part kept on the rule (a custom attribute pySigma carries along)."""
        return {
            "fixed": self.fixed,
            "warnings": self.warnings,
            "bare_tags": self.bare_tags,
            "text_id": self.text_id,
            "names_channel": self.names_channel,
            "hayabusa": self.hayabusa,
            "unsupported": self.unsupported,
        }

    def changed(self) -> bool:
        return bool(
            self.fixed
            or self.warnings
            or self.bare_tags
            or self.text_id
            or self.names_channel
            or self.unsupported
        )


def tolerate_documents(docs: list[Any]) -> list[Any]:
    """Every document of a rule file repaired (see :func:`tolerate`); a converted
    aggregation adds its correlation document after the rule."""
    out: list[Any] = []
    for doc in docs:
        if not isinstance(doc, dict) or "filter" in doc:
            out.append(doc)
            continue
        fixed, tolerated = tolerate(doc)
        out.append(fixed)
        if tolerated.correlation is not None:
            out.append(tolerated.correlation)
    return out


def tolerate(doc: Mapping[str, Any]) -> tuple[dict[str, Any], Tolerated]:
    """A copy of rule document ``doc`` that pySigma accepts, and what was changed."""
    out = dict(doc)
    t = Tolerated()
    t.hayabusa = "ruletype" in out
    _title(out, t)
    _identity(out, t)
    _level_and_status(out, t)
    for key in ("date", "modified"):
        _date(out, key, t)
    for key in _LIST_FIELDS:
        _as_list(out, key, t)
    for key in _TEXT_FIELDS:
        _as_text(out, key, t)
    _tags(out, t)
    _related(out, t)
    detection = out.get("detection")
    if isinstance(detection, Mapping):
        detection = out["detection"] = _modifier_aliases(detection, t)
        t.names_channel = _names_channel(detection)
        t.unsupported = _file_references(detection)
        _aggregation(out, detection, t)
    if t.changed():
        out[COMPAT_KEY] = t.record()
    return out, t


def _title(out: dict[str, Any], t: Tolerated) -> None:
    title = out.get("title")
    if title is None or title == "":
        if "correlation" in out or "detection" in out:
            out["title"] = "untitled"
            t.warnings.append("the rule has no title")
    elif not isinstance(title, str):
        out["title"] = str(title)
        t.fixed.append("title is not text")


def _identity(out: dict[str, Any], t: Tolerated) -> None:
    value = out.get("id")
    if value is None:
        return
    try:
        uuid.UUID(str(value))
    except ValueError:
        t.text_id = str(value)
        del out["id"]
        t.warnings.append(f"id {str(value)[:80]!r} is not a UUID (kept as text)")


def _level_and_status(out: dict[str, Any], t: Tolerated) -> None:
    level = out.get("level")
    if level is not None:
        text = str(level).strip().lower()
        text = _LEVEL_SYNONYMS.get(text, text)
        if text in LEVELS:
            if text != level:
                t.fixed.append(f"level {str(level)[:40]!r} read as {text!r}")
            out["level"] = text
        else:
            del out["level"]
            t.warnings.append(f"unknown level {str(level)[:40]!r} (ignored)")
    status = out.get("status")
    if status is not None:
        text = str(status).strip().lower()
        if text in STATUSES:
            out["status"] = text
        else:
            del out["status"]
            t.warnings.append(f"unknown status {str(status)[:40]!r} (ignored)")


def _date(out: dict[str, Any], key: str, t: Tolerated) -> None:
    value = out.get(key)
    if value is None or hasattr(value, "year"):  # YAML dates arrive as date objects
        return
    match = _DATE.match(str(value).strip())
    if match:
        y, m, d = (int(g) for g in match.groups())
        if 1 <= m <= 12 and 1 <= d <= 31:
            out[key] = f"{y:04d}-{m:02d}-{d:02d}"
            return
    del out[key]
    t.fixed.append(f"{key} {str(value)[:40]!r} is not a date (ignored)")


def _as_list(out: dict[str, Any], key: str, t: Tolerated) -> None:
    if key not in out:
        return
    value = out[key]
    if value is None:
        del out[key]
    elif isinstance(value, list):
        items = [str(v) for v in value if v is not None]
        if items != value:
            out[key] = items
            t.fixed.append(f"{key} holds values that are not text")
    else:
        out[key] = [str(value)]
        t.fixed.append(f"{key} is one value, not a list")


def _as_text(out: dict[str, Any], key: str, t: Tolerated) -> None:
    value = out.get(key)
    if value is None:
        out.pop(key, None)
    elif isinstance(value, list):
        out[key] = ", ".join(str(v) for v in value)
        t.fixed.append(f"{key} is a list, not text")
    elif not isinstance(value, str):
        out[key] = str(value)
        t.fixed.append(f"{key} is not text")


def _tags(out: dict[str, Any], t: Tolerated) -> None:
    if "tags" not in out:
        return
    value = out["tags"]
    if value is None:
        del out["tags"]
        return
    items = value if isinstance(value, list) else [value]
    kept: list[str] = []
    for item in items:
        if item is None:
            continue
        text = str(item).strip()
        if "." in text.strip("."):
            kept.append(text)
        elif text:
            t.bare_tags.append(text)
    if kept != value:
        out["tags"] = kept
    if not isinstance(value, list):
        t.fixed.append("tags is one value, not a list")


def _related(out: dict[str, Any], t: Tolerated) -> None:
    if "related" not in out:
        return
    value = out["related"]
    if not isinstance(value, list):
        del out["related"]
        if value is not None:
            t.fixed.append("related is not a list (ignored)")
        return
    kept = []
    for entry in value:
        if isinstance(entry, Mapping) and entry.get("type") in _RELATION_TYPES:
            try:
                uuid.UUID(str(entry.get("id")))
            except ValueError:
                pass
            else:
                kept.append(entry)
                continue
        t.fixed.append(f"related entry {str(entry)[:60]!r} is invalid (ignored)")
    out["related"] = kept


def _modifier_aliases(detection: Mapping[str, Any], t: Tolerated) -> Mapping[str, Any]:
    """``Field|equalsfield`` / ``|endswithfield`` (Hayabusa) as ``|fieldref`` forms."""
    renamed: list[str] = []

    def key(name: Any) -> Any:
        if not isinstance(name, str) or "|" not in name:
            return name
        head, *mods = name.split("|")
        new: list[str] = []
        for mod in mods:
            alias = _MODIFIER_ALIASES.get(mod.strip().lower())
            new.extend(alias or (mod,))
            if alias:
                renamed.append(mod)
        return "|".join([head, *new])

    def walk(node: Any) -> Any:
        if isinstance(node, Mapping):
            return {key(k): walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    if not any(alias in str(detection) for alias in _MODIFIER_ALIASES):
        return detection
    out = {k: (v if k in ("condition", "timeframe") else walk(v)) for k, v in detection.items()}
    for mod in sorted(set(renamed)):
        t.fixed.append(f"Hayabusa modifier |{mod} read as its Sigma form")
    return out


#: Hayabusa's value forms that name a file of its own configuration folder
#: (``Field: {regexes: ./rules/config/regex/x.txt}``).
_FILE_REFERENCES = ("regexes", "allowlist")


def _file_references(detection: Mapping[str, Any]) -> str | None:
    """Why a detection using Hayabusa's file references cannot run here, or None."""

    def walk(node: Any) -> str | None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                if isinstance(value, Mapping) and set(value) & set(_FILE_REFERENCES):
                    kind = next(k for k in _FILE_REFERENCES if k in value)
                    return (
                        f"{key}: Hayabusa's '{kind}:' reads {str(value[kind])[:120]!r} from "
                        "Hayabusa's own configuration folder; not supported"
                    )
                if isinstance(value, (Mapping, list)) and (found := walk(value)):
                    return found
        elif isinstance(node, list):
            for item in node:
                if found := walk(item):
                    return found
        return None

    for name, value in detection.items():
        if name not in ("condition", "timeframe") and (found := walk({name: value})):
            return found
    return None


def _names_channel(detection: Mapping[str, Any]) -> bool:
    """Whether some selection of ``detection`` tests the ``Channel`` field."""

    def walk(node: Any) -> bool:
        if isinstance(node, Mapping):
            for key, value in node.items():
                if str(key).split("|", 1)[0].strip().lower() == "channel":
                    return True
                if isinstance(value, (Mapping, list)) and walk(value):
                    return True
        elif isinstance(node, list):
            return any(walk(item) for item in node)
        return False

    return any(walk(v) for k, v in detection.items() if k not in ("condition", "timeframe"))


def _aggregation(out: dict[str, Any], detection: Mapping[str, Any], t: Tolerated) -> None:
    """Split ``cond | count(...) ... op N`` into a base rule and a correlation rule."""
    condition = detection.get("condition")
    if not isinstance(condition, str) or "|" not in condition:
        return
    match = _AGGREGATION.match(condition.strip())
    if match is None:
        return  # pySigma reports the condition as it is
    timeframe = detection.get("timeframe") or out.get("timeframe")
    base_detection = {k: v for k, v in detection.items() if k != "timeframe"}
    base_detection["condition"] = match["cond"]
    original_id = out.get("id") or t.text_id or out.get("title", "")
    base_id = str(uuid.uuid5(AGGREGATION_NAMESPACE, str(original_id)))
    correlation: dict[str, Any] = {
        "title": out.get("title", "untitled"),
        "status": out.get("status"),
        "description": out.get("description"),
        "author": out.get("author"),
        "references": out.get("references"),
        "tags": out.get("tags"),
        "falsepositives": out.get("falsepositives"),
        "level": out.get("level"),
        "correlation": {
            "type": "value_count" if match["field"] else "event_count",
            "rules": [base_id],
            "timespan": str(timeframe) if timeframe else UNBOUNDED_TIMESPAN,
            "condition": {_OPERATORS[match["op"]]: int(match["n"])},
        },
    }
    if "id" in out:
        correlation["id"] = out["id"]
    if match["field"]:
        correlation["correlation"]["condition"]["field"] = match["field"]
    if match["by"]:
        correlation["correlation"]["group-by"] = [g.strip() for g in match["by"].split(",")]
    t.correlation = {k: v for k, v in correlation.items() if v is not None}
    out["detection"] = base_detection
    out["id"] = base_id
    out["title"] = f"{out.get('title', 'untitled')} (events counted)"
    out["level"] = "informational"
    t.fixed.append("a '| count()' aggregation became a Sigma correlation rule")
    if not timeframe:
        t.warnings.append("the aggregation has no timeframe: counted over the whole input")
