"""MISP events (JSON export) to indicators.

Reads the event JSON MISP exports and serves (``{"Event": {...}}``, a list of them, or a
REST search ``{"response": [...]}``): the event's attributes and those of its objects.
Only attributes flagged for detection (``to_ids: true``, MISP's meaning of "usable as an
indicator") are used; the others are counted in one issue per event, so an analyst sees
how much context was left out.

=====================================================  ====================
``md5``, ``sha1``, ``sha256``                          hash
``filename`` (a path when it holds ``\\`` or ``/``)    file name or path
``filename|md5`` / ``|sha1`` / ``|sha256``             file name and hash
``ip-src``, ``ip-dst``, ``ip-src|port``, ``ip-dst|port``  address (or range)
``domain``, ``hostname``, ``domain|ip``                domain (and address)
``text`` / ``other`` of a ``process`` object's
``command-line``                                       command line
=====================================================  ====================

Other types (``url``, ``regkey``, ``mutex``, ``yara``...) are listed as unsupported.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from .intel import Feed, Kind

_HASHES = {"md5": Kind.MD5, "sha1": Kind.SHA1, "sha256": Kind.SHA256}
_HEX = re.compile(r"^[0-9A-Fa-f]+$")
_PORT = re.compile(r"^(.*)[|:](\d{1,5})$")


def is_misp(doc: Any) -> bool:
    """Whether ``doc`` looks like a MISP event export."""
    if isinstance(doc, dict):
        return isinstance(doc.get("Event"), dict) or isinstance(doc.get("response"), list)
    return isinstance(doc, list) and any(isinstance(d, dict) and "Event" in d for d in doc)


def _events(doc: Any) -> Iterable[dict[str, Any]]:
    items = doc.get("response", [doc]) if isinstance(doc, dict) else doc
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("Event"), dict):
            yield item["Event"]


def read_events(doc: Any, path: str) -> Feed:
    """The indicators of every event in a MISP export (already decoded JSON)."""
    feed = Feed(path=path, name="")
    names: list[str] = []
    dates: list[str] = []
    for event in _events(doc):
        label = f"event {event.get('uuid') or event.get('id') or '?'}"
        if event.get("info"):
            names.append(str(event["info"]))
        if event.get("date"):
            dates.append(str(event["date"])[:10])
        skipped = 0
        attributes = [(a, None) for a in event.get("Attribute") or []]
        for obj in event.get("Object") or []:
            if isinstance(obj, dict):
                attributes += [(a, obj.get("name")) for a in obj.get("Attribute") or []]
        for attribute, object_name in attributes:
            if not isinstance(attribute, dict):
                feed.unsupported(label, "an attribute that is not a JSON object")
                continue
            if not _flag(attribute.get("to_ids")):
                skipped += 1
                continue
            _attribute(feed, attribute, object_name)
        if skipped:
            feed.unsupported(
                label, f"{skipped} attributes not flagged for detection (to_ids: false), not used"
            )
    feed.name = names[0] if names else path.rsplit("/", 1)[-1]
    feed.date = max(dates, default="")
    return feed


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true")


def _attribute(feed: Feed, attribute: dict[str, Any], object_name: Any) -> None:
    kind = str(attribute.get("type", "")).lower()
    value = str(attribute.get("value", "")).strip()
    label = f"attribute {attribute.get('uuid') or attribute.get('id') or '?'} ({kind})"
    relation = str(attribute.get("object_relation") or "").lower()
    if object_name == "process" and relation == "command-line":
        feed.add(Kind.COMMAND_LINE, value, label)
        return
    if kind in _HASHES:
        _hash(feed, kind, value, label)
    elif kind == "filename":
        _file(feed, value, label)
    elif kind.startswith("filename|") and kind[9:] in _HASHES:
        name, _, digest = value.partition("|")
        _file(feed, name, label)
        _hash(feed, kind[9:], digest, label)
    elif kind in ("ip-src", "ip-dst"):
        feed.add(Kind.CIDR if "/" in value else Kind.IP, value, label)
    elif kind in ("ip-src|port", "ip-dst|port"):
        match = _PORT.match(value)
        feed.add(Kind.IP, match.group(1) if match else value, label)
    elif kind in ("domain", "hostname"):
        feed.add(Kind.DOMAIN, value, label)
    elif kind == "domain|ip":
        domain, _, ip = value.partition("|")
        feed.add(Kind.DOMAIN, domain, label)
        feed.add(Kind.IP, ip, label)
    else:
        feed.unsupported(label, f"MISP type {kind!r} is not supported")


def _hash(feed: Feed, kind: str, value: str, label: str) -> None:
    if _HEX.match(value):
        feed.add(_HASHES[kind], value, label)
    else:
        feed.unsupported(label, f"{value[:80]!r} is not a hexadecimal hash")


def _file(feed: Feed, value: str, label: str) -> None:
    is_path = "\\" in value or "/" in value
    feed.add(Kind.FILE_PATH if is_path else Kind.FILE_NAME, value, label)
