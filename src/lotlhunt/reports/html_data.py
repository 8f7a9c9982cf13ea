"""The detections of the HTML report as its script reads them: one JSON document,
columnar, with one table of the distinct strings, so 100,000 detections stay a few MB.

The document sits in a ``<script type="application/json">`` element: :func:`script_json`
escapes ``<``, ``>``, ``&`` and the line separators so that no log text can end it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..model import LEVELS, HuntResult, iso
from .attack import techniques_of
from .common import IncidentIndex, in_time_order

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class _Strings:
    """One table of distinct strings; rows refer to them by index."""

    index: dict[str, int] = field(default_factory=dict)
    values: list[str] = field(default_factory=list)

    def __call__(self, text: str | None) -> int:
        if text is None:
            return -1
        k = self.index.get(text)
        if k is None:
            k = self.index[text] = len(self.values)
            self.values.append(text)
        return k


def report_data(result: HuntResult) -> dict[str, object]:
    """The detections as the script reads them: columnar, strings shared."""
    strings = _Strings()
    incidents = IncidentIndex.of_result(result)
    detections = in_time_order(result.detections)
    rules: dict[str, int] = {}
    rule_rows: list[list[object]] = []
    base = min((d.timestamp for d in detections if d.timestamp), default=None)
    rows: list[list[object]] = []
    for d in detections:
        key = d.rule_id + "\x00" + d.rule_title
        r = rules.get(key)
        if r is None:
            r = rules[key] = len(rule_rows)
            rule_rows.append(
                [
                    strings(d.rule_title),
                    strings(d.rule_id),
                    LEVELS.index(d.level) if d.level in LEVELS else len(LEVELS) - 1,
                    [strings(t) for t in d.tags],
                    [t.id for t in techniques_of(d.tags)],
                ]
            )
        micros = None if d.timestamp is None or base is None else _micros(d.timestamp, base)
        rows.append(
            [
                micros,
                strings(d.host),
                r,
                strings(d.channel),
                d.event_id,
                d.record_id,
                strings(incidents.of(d)),
                strings(d.source),
                [strings(m) for m in d.matched],
                [strings(x) for kv in d.details.items() for x in kv if kv[1] is not None],
                [strings(x) for kv in sorted(d.fields.items()) for x in kv if kv[1] is not None],
            ]
        )
    return {
        "base": None if base is None else iso(base),
        "base_us": None if base is None else _micros(base, _EPOCH),
        "levels": list(LEVELS),
        "strings": strings.values,
        "rules": rule_rows,
        "rows": rows,
    }


def _micros(ts: datetime, base: datetime) -> int:
    delta = ts - base
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def script_json(data: object) -> str:
    """JSON safe inside ``<script type="application/json">``: no ``<``, ``>`` or ``&``
    (so no ``</script>`` or ``<!--``), and no U+2028/U+2029; ASCII only, so text that
    is not valid Unicode (a lone surrogate) survives as its escape."""
    text = json.dumps(data, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# -- incidents -----------------------------------------------------------------------------
