"""One self-contained HTML report: incidents first, then hosts, detections, ATT&CK, inputs.

Nothing in the file loads anything: styles and the one script are inline, a
Content-Security-Policy forbids every fetch (``default-src 'none'``) and allows the
script by its hash only. Everything that came from a log or a rule is either escaped
by the template (autoescaping) or shipped as data: one JSON document in a
``<script type="application/json">`` element with ``<``, ``>``, ``&`` and the line
separators escaped, which the script renders with ``textContent`` only.

The detections table is paged by the script (a page at a time in the DOM), and its
data is columnar with one string table, so 100,000 detections stay a few MB and open
in a second.
"""

from __future__ import annotations

import base64
import hashlib
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from ..model import LEVELS, HuntResult, iso
from .attack import attack_table
from .html_data import report_data, script_json
from .html_hosts import STRIP_BARS, attack_matrix, host_rows
from .html_incidents import GRAPH_BOX, incident_timeline, lateral_graph

__all__ = ["render_html", "report_data", "script_json", "write_html"]

if TYPE_CHECKING:
    import jinja2

#: Issues listed in full before the report says "and N more".
ISSUES_SHOWN = 500


def _environment() -> jinja2.Environment:
    import jinja2  # here: every command line registers this report, few write it

    return jinja2.Environment(
        loader=jinja2.PackageLoader("lotlhunt.reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _asset(name: str) -> str:
    return resources.files("lotlhunt.reports").joinpath("templates", name).read_text("utf-8")


def _hash(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


def render_html(result: HuntResult, title: str = "lotlhunt report") -> str:
    script = _asset("report.js")
    style = _asset("report.css")
    csp = (
        "default-src 'none'; "
        f"script-src '{_hash(script)}'; "
        f"style-src '{_hash(style)}'; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
    incidents = sorted(result.incidents, key=lambda i: -i.score)
    s = result.stats
    template = _environment().get_template("report.html.j2")
    return template.render(
        title=title,
        csp=csp,
        style=style,
        script=script,
        stats=s,
        levels=LEVELS,
        incidents=[
            (i, lateral_graph(i), incident_timeline(i), sorted(i.signals, key=_signal_time))
            for i in incidents
        ],
        hosts=host_rows(result),
        matrix=attack_matrix(result),
        correlations=sorted(result.correlations, key=lambda c: c.first),
        input_issues=result.input_issues[:ISSUES_SHOWN],
        input_more=max(0, len(result.input_issues) - ISSUES_SHOWN),
        rule_issues=result.rule_issues[:ISSUES_SHOWN],
        rule_more=max(0, len(result.rule_issues) - ISSUES_SHOWN),
        skipped=result.skipped[:ISSUES_SHOWN],
        skipped_more=max(0, len(result.skipped) - ISSUES_SHOWN),
        data=script_json(report_data(result)),
        strip_width=STRIP_BARS * 4,
        box=GRAPH_BOX,
        attack_version=attack_table().version,
    )


def _signal_time(signal: object) -> str:
    return iso(getattr(signal, "timestamp", None)) or ""


def write_html(result: HuntResult, path: Path) -> None:
    text = render_html(result)
    path.write_text(text, encoding="utf-8", errors="backslashreplace")
