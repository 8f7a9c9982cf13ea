"""Machine-readable outputs: detections as JSON lines, a CSV timeline, the stats JSON."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from ..model import HuntResult, iso

CSV_COLUMNS = (
    "timestamp",
    "host",
    "level",
    "rule_title",
    "rule_id",
    "tags",
    "channel",
    "event_id",
    "record_id",
    "source",
    "fields",
)


def write_jsonl(result: HuntResult, path: Path) -> None:
    """One object per (rule, matched event), in time order, keys sorted."""
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for det in result.detections:
            out.write(json.dumps(det.to_dict(), sort_keys=True, ensure_ascii=False) + "\n")
        for corr in result.correlations:
            out.write(json.dumps(corr.to_dict(), sort_keys=True, ensure_ascii=False) + "\n")


def write_csv(result: HuntResult, path: Path) -> None:
    """A timeline sorted by time (then rule, then record), for spreadsheets and Timesketch."""
    rows = sorted(
        result.detections,
        key=lambda d: (iso(d.timestamp) or "", d.host or "", d.rule_title, d.record_id or 0),
    )
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for d in rows:
            writer.writerow(
                [
                    iso(d.timestamp) or "",
                    d.host or "",
                    d.level,
                    _cell(d.rule_title),
                    d.rule_id,
                    ";".join(d.tags),
                    d.channel or "",
                    "" if d.event_id is None else d.event_id,
                    "" if d.record_id is None else d.record_id,
                    _cell(d.source or ""),
                    _cell(json.dumps(d.fields, sort_keys=True, ensure_ascii=False)),
                ]
            )


def _cell(text: str) -> str:
    """Neutralise spreadsheet formulas: log text must never execute in a viewer."""
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def write_stats(result: HuntResult, path: Path) -> None:
    path.write_text(json.dumps(result.stats.to_dict(), indent=2, sort_keys=True) + "\n", "utf-8")
