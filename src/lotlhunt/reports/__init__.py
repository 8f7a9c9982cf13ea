"""Reports are pure functions of a :class:`~lotlhunt.model.HuntResult`; none re-runs a hunt.

Each writer takes the result and a path. :data:`REPORTS` names them; the command line
builds one ``--OPTION FILE`` per entry, so a new report is one entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..model import HuntResult
from .ecs import write_ecs
from .files import write_csv, write_incidents, write_jsonl, write_stats
from .html import write_html
from .issues import write_issues
from .navigator import write_navigator
from .timesketch import write_timesketch

Writer = Callable[[HuntResult, Path], None]


@dataclass(frozen=True)
class Report:
    """A file report: its command-line option, what it writes, and the writer."""

    name: str
    option: str
    help: str
    writer: Writer


REPORTS: dict[str, Report] = {
    r.name: r
    for r in (
        Report("jsonl", "--jsonl", "Write detections as JSON lines.", write_jsonl),
        Report(
            "csv",
            "--csv",
            "Write a CSV timeline (Timeline Explorer columns, key fields in Details).",
            write_csv,
        ),
        Report("stats", "--stats", "Write counts as JSON.", write_stats),
        Report(
            "incidents",
            "--incidents",
            "Write incidents as JSON lines, best first.",
            write_incidents,
        ),
        Report(
            "html",
            "--html",
            "Write one self-contained HTML report (incidents, hosts, detections, ATT&CK).",
            write_html,
        ),
        Report(
            "navigator",
            "--navigator",
            "Write an ATT&CK Navigator layer (format 4.5) of the techniques seen.",
            write_navigator,
        ),
        Report(
            "timesketch",
            "--timesketch",
            "Write a Timesketch timeline: JSON lines, or CSV if FILE ends .csv.",
            write_timesketch,
        ),
        Report(
            "ecs",
            "--ecs",
            "Write Elastic Common Schema alerts as a bulk API body (NDJSON).",
            write_ecs,
        ),
        # Last: a problem list that cannot be written never costs the findings.
        Report(
            "issues",
            "--issues",
            "Write every input and rule problem and skipped file as JSON lines.",
            write_issues,
        ),
    )
}

__all__ = [
    "REPORTS",
    "Report",
    "Writer",
    "write_csv",
    "write_ecs",
    "write_html",
    "write_incidents",
    "write_issues",
    "write_jsonl",
    "write_navigator",
    "write_stats",
    "write_timesketch",
]
