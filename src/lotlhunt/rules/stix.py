"""STIX 2.1 bundles (as joint advisories publish them) to indicators.

Each ``indicator`` object is parsed with the ``stix2`` library, its ``pattern`` into the
library's pattern objects (STIX Patterning, part 9 of the 2.1 specification), and the
comparisons that name one value lotlhunt can look for become :class:`~.intel.Indicator`
values:

============================================  ======================================
``file:hashes.'SHA-256'`` / ``'SHA-1'`` / ``MD5``  hash (``=``, ``IN``)
``file:name``, ``process:name``,               file name (``=``, ``IN``)
``process:image_ref.name``
``process:command_line``                       command line (``=``, ``IN``; ``LIKE`` as a
                                               wildcard pattern; ``MATCHES`` as a regex)
``ipv4-addr:value``, ``ipv6-addr:value``,      address (``=``, ``IN``; ``ISSUBSET`` as a
``network-traffic:dst_ref.value`` / ``src_ref``  range)
``domain-name:value``                          domain (``=``, ``IN``)
============================================  ======================================

Observations joined by ``OR`` are read one by one; an ``AND`` within an observation is
read only when one side is a file hash (the hash alone names the file). Everything else
(``FOLLOWEDBY``, qualifiers, negations, other objects and operators, other pattern
languages than ``stix`` and ``sigma``) is listed as unsupported, with the indicator's id.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from .._support.yaml_files import YAML_LOADER
from .intel import Feed, Kind, like_to_sigma

_HASHES = {"SHA256": Kind.SHA256, "SHA1": Kind.SHA1, "MD5": Kind.MD5}
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def read_bundle(doc: dict[str, Any], path: str) -> Feed:
    """The indicators of one STIX 2.1 bundle (already decoded JSON)."""
    import stix2

    objects = doc.get("objects")
    feed = Feed(path=path, name="")
    if not isinstance(objects, list):
        feed.unsupported("bundle", "no objects list")
        objects = []
    names: list[str] = []
    dates: list[str] = []
    for raw in objects:
        if not isinstance(raw, dict):
            feed.unsupported("bundle", "an object that is not a JSON object")
            continue
        kind = raw.get("type")
        if kind in ("report", "grouping") and raw.get("name"):
            names.insert(0, str(raw["name"]))
            for ref in raw.get("external_references") or []:
                if isinstance(ref, dict) and ref.get("url"):
                    feed.references.append(str(ref["url"]))
        if kind != "indicator":
            continue
        label = str(raw.get("id", "indicator"))
        try:
            indicator = stix2.parse(raw, allow_custom=True, version="2.1")
        except Exception as exc:  # noqa: BLE001 - stix2 raises many kinds; all mean invalid
            feed.unsupported(label, f"invalid STIX indicator: {str(exc)[:200]}")
            continue
        if getattr(indicator, "revoked", False):
            feed.unsupported(label, "revoked by its producer (not used)")
            continue
        if indicator.get("name"):
            names.append(str(indicator.name))
        dates.append(str(indicator.get("created", ""))[:10])
        _read_indicator(feed, label, indicator)
    feed.name = names[0] if names else path.rsplit("/", 1)[-1]
    feed.date = max((d for d in dates if d), default="")
    return feed


def _read_indicator(feed: Feed, label: str, indicator: Any) -> None:
    pattern_type = str(indicator.get("pattern_type", "stix")).lower()
    pattern = str(indicator.pattern)
    if pattern_type == "sigma":
        _read_sigma(feed, label, pattern)
        return
    if pattern_type != "stix":
        feed.unsupported(label, f"pattern_type {pattern_type!r} is not supported")
        return
    from stix2.pattern_visitor import create_pattern_object

    try:
        tree = create_pattern_object(pattern, version="2.1")
    except Exception as exc:  # noqa: BLE001 - the grammar's errors have no common base
        feed.unsupported(label, f"pattern does not parse: {str(exc)[:200]}")
        return
    _observations(feed, label, tree)


def _read_sigma(feed: Feed, label: str, text: str) -> None:
    try:
        doc = yaml.load(text, Loader=YAML_LOADER)
    except yaml.YAMLError as exc:
        feed.unsupported(label, f"Sigma pattern is not YAML: {str(exc)[:200]}")
        return
    if not isinstance(doc, dict) or "detection" not in doc:
        feed.unsupported(label, "Sigma pattern is not a Sigma rule")
        return
    feed.sigma_rules.append(doc)


def _observations(feed: Feed, label: str, node: Any) -> None:
    name = type(node).__name__
    if name == "OrObservationExpression":
        for operand in node.operands:
            _observations(feed, label, operand)
    elif name == "ObservationExpression":
        _comparisons(feed, label, node.operand)
    elif name == "ParentheticalExpression":
        _observations(feed, label, node.expression)
    else:
        feed.unsupported(label, f"{_describe(node)} is not supported (single values only)")


def _comparisons(feed: Feed, label: str, node: Any) -> None:
    name = type(node).__name__
    if name == "OrBooleanExpression":
        for operand in node.operands:
            _comparisons(feed, label, operand)
    elif name == "ParentheticalExpression":
        _comparisons(feed, label, node.expression)
    elif name == "AndBooleanExpression":
        hashes = [o for o in node.operands if _hash_kind(o) is not None]
        if hashes:  # the hash names the file; the other conditions only narrow it
            for operand in hashes:
                _comparison(feed, label, operand)
            feed.unsupported(label, f"{_describe(node)}: an AND of conditions; its hash is used")
        else:
            feed.unsupported(label, f"{_describe(node)}: an AND of conditions is not supported")
    else:
        _comparison(feed, label, node)


def _path(node: Any) -> tuple[str, list[str]]:
    lhs = node.lhs
    parts = [str(getattr(p, "property_name", p)).strip("'") for p in lhs.property_path]
    return str(lhs.object_type_name), parts


def _hash_kind(node: Any) -> Kind | None:
    if not hasattr(node, "lhs"):
        return None
    obj, parts = _path(node)
    if obj == "file" and len(parts) == 2 and parts[0] == "hashes":
        return _HASHES.get(parts[1].upper().replace("-", ""))
    return None


def _values(node: Any) -> list[str]:
    rhs = node.rhs
    items = rhs.value if type(rhs).__name__ == "ListConstant" else [rhs]
    return [_unescape(str(getattr(i, "value", i))) for i in items]


def _unescape(value: str) -> str:
    """STIX string literals escape ``\\\\`` and ``\\'``; the library keeps the escapes."""
    return _ESCAPE.sub(r"\1", value)


def _comparison(feed: Feed, label: str, node: Any) -> None:
    if not hasattr(node, "lhs") or not hasattr(node, "rhs"):
        feed.unsupported(label, f"{_describe(node)} is not supported")
        return
    if getattr(node, "negated", False):
        feed.unsupported(label, f"{_describe(node)}: a negated comparison is not supported")
        return
    op = str(node.operator).upper()
    obj, parts = _path(node)
    where = f"{obj}:{'.'.join(parts)} {op}"
    kind = _kind(obj, parts, op)
    if kind is None:
        feed.unsupported(label, f"{where} is not supported")
        return
    for value in _values(node):
        if kind is Kind.IP and "/" in value:
            feed.add(Kind.CIDR, value, label)
        elif kind is Kind.COMMAND_LINE_LIKE:
            feed.add(kind, like_to_sigma(value), label)
        elif kind in (Kind.SHA256, Kind.SHA1, Kind.MD5) and not re.fullmatch(
            r"[0-9A-Fa-f]+", value
        ):
            feed.unsupported(label, f"{where} {value[:80]!r} is not a hexadecimal hash")
        else:
            feed.add(kind, value, label)


def _kind(obj: str, parts: list[str], op: str) -> Kind | None:
    """The indicator kind of ``obj:parts op``, or None when not supported."""
    path = ".".join(parts)
    equality = op in ("=", "IN")
    if obj == "file" and parts[:1] == ["hashes"] and equality:
        return _HASHES.get(parts[-1].upper().replace("-", ""))
    if (obj, path) in (("file", "name"), ("process", "name"), ("process", "image_ref.name")):
        return Kind.FILE_NAME if equality else None
    if obj == "process" and path == "command_line":
        if equality:
            return Kind.COMMAND_LINE
        return {"LIKE": Kind.COMMAND_LINE_LIKE, "MATCHES": Kind.COMMAND_LINE_REGEX}.get(op)
    address = (obj in ("ipv4-addr", "ipv6-addr") and path == "value") or (
        obj == "network-traffic" and path in ("dst_ref.value", "src_ref.value")
    )
    if address:
        return Kind.IP if equality else (Kind.CIDR if op == "ISSUBSET" else None)
    if obj == "domain-name" and path == "value" and equality:
        return Kind.DOMAIN
    return None


def _describe(node: Any) -> str:
    text = str(node)
    return text if len(text) <= 160 else text[:157] + "..."
