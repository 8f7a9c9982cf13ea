"""Reports are pure functions of a :class:`~lotlhunt.model.HuntResult`; none re-runs a hunt.

Each writer takes the result and a path. :data:`REPORTS` names them; the command line
builds one ``--OPTION FILE`` per entry, so a new report is one entry here. A writer's
module is imported when the report is written (the HTML report's templates, the ATT&CK
tables and the ECS mapping are not a start-up cost of a hunt that writes JSON lines).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..model import HuntResult
    from .ecs import write_ecs
    from .files import write_csv, write_incidents, write_jsonl, write_stats
    from .html import write_html
    from .issues import write_issues
    from .navigator import write_navigator
    from .timesketch import write_timesketch

Writer = Callable[["HuntResult", Path], None]


@dataclass(frozen=True)
class Report:
    """A file report: its command-line option, what it writes, and where its writer is
    (``module:function`` in this package), imported on first use."""

    name: str
    option: str
    help: str
    target: str

    @property
    def writer(self) -> Writer:
        module, function = self.target.split(":")
        writer: Writer = getattr(import_module(f"{__name__}.{module}"), function)
        return writer


REPORTS: dict[str, Report] = {
    r.name: r
    for r in (
        Report("jsonl", "--jsonl", "Write detections as JSON lines.", "files:write_jsonl"),
        Report(
            "csv",
            "--csv",
            "Write a CSV timeline (Timeline Explorer columns, key fields in Details).",
            "files:write_csv",
        ),
        Report("stats", "--stats", "Write counts as JSON.", "files:write_stats"),
        Report(
            "incidents",
            "--incidents",
            "Write incidents as JSON lines, best first.",
            "files:write_incidents",
        ),
        Report(
            "html",
            "--html",
            "Write one self-contained HTML report (incidents, hosts, detections, ATT&CK).",
            "html:write_html",
        ),
        Report(
            "navigator",
            "--navigator",
            "Write an ATT&CK Navigator layer (format 4.5) of the techniques seen.",
            "navigator:write_navigator",
        ),
        Report(
            "timesketch",
            "--timesketch",
            "Write a Timesketch timeline: JSON lines, or CSV if FILE ends .csv.",
            "timesketch:write_timesketch",
        ),
        Report(
            "ecs",
            "--ecs",
            "Write Elastic Common Schema alerts as a bulk API body (NDJSON).",
            "ecs:write_ecs",
        ),
        # Last: a problem list that cannot be written never costs the findings.
        Report(
            "issues",
            "--issues",
            "Write every input and rule problem and skipped file as JSON lines.",
            "issues:write_issues",
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

_WRITERS = {report.target.split(":")[1]: report for report in REPORTS.values()}


def __getattr__(name: str) -> Any:
    """A writer by name (``from lotlhunt.reports import write_csv``), imported on use."""
    report = _WRITERS.get(name)
    if report is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return report.writer
