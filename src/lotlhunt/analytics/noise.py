"""Noise control: the noisy rules we know of, rules that flood a hunt, and how to tune.

Two kinds of noise, both handled only when the hunter asks (``--exclude-noisy``) and
both reported, never silent:

- **Known noisy rules**: ``data/noisy_rules.yml``, rules measured to fire mostly on
  ordinary activity (each entry says what was measured). They are not run.
- **Rules that flood this hunt**: more detections than a threshold
  (``--noisy-threshold``). They run, their detections are counted and set aside
  (:class:`~lotlhunt.model.SuppressedRule` on the result), so a flood does not bury the
  rest of the report.

After every hunt, :func:`noisiest` lists the rules with the most detections, each with
one line to paste to tune it: an exclusion entry for ``--exclusions`` that would drop
the field value most of its detections share (``docs/tuning.md``), and a line for a
``--level-override`` file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from itertools import chain
from operator import methodcaller
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import yaml

from .._support.yaml_files import YAML_LOADER
from ..model import detection_values
from ..rules.indicators import sigma_literal

if TYPE_CHECKING:
    from ..model import Detection, SuppressedRule
    from ..rules.model import RuleSet

#: Detections past which ``--exclude-noisy`` sets a rule's hits aside. On the Mordor set
#: (637 k events) the busiest SigmaHQ rules pass 10 k detections while the attacks
#: themselves raise tens to hundreds per rule.
DEFAULT_NOISY_THRESHOLD = 5_000
#: Longest field value offered in an exclusion line (longer ones are rarely the constant
#: that explains a flood, and unreadable on a terminal).
MAX_VALUE = 160


@cache
def noisy_list() -> dict[str, str]:
    """Rule id (lower case) -> why it is listed as noisy, from ``data/noisy_rules.yml``."""
    text = resources.files("lotlhunt").joinpath("data/noisy_rules.yml").read_text("utf-8")
    data = yaml.load(text, Loader=YAML_LOADER) or {}
    return {str(e["id"]).lower(): str(e["reason"]) for e in data.get("rules") or []}


def drop_listed(ruleset: RuleSet) -> int:
    """Leave the rules of the noisy list out of ``ruleset`` (in place); how many."""
    listed = noisy_list()
    before = len(ruleset.rules)
    ruleset.rules = [r for r in ruleset.rules if r.id.lower() not in listed]
    return before - len(ruleset.rules)


def flooding(matches: pa.Table, threshold: int) -> dict[int, int]:
    """Rule index -> detections, for the rules with more than ``threshold`` matches."""
    if matches.num_rows <= threshold:
        return {}
    counts = pc.value_counts(matches.column("rule"))
    out = {}
    for item in counts.to_pylist():
        if item["counts"] > threshold:
            out[int(item["values"])] = int(item["counts"])
    return out


def without_rules(matches: pa.Table, rules: Iterable[int]) -> pa.Table:
    drop = pa.array(sorted(rules), pa.int32())
    return matches.filter(pc.invert(pc.is_in(matches.column("rule"), drop)))


@dataclass(frozen=True)
class RuleNoise:
    """One line of the noisiest-rules listing."""

    rule_id: str
    title: str
    level: str
    detections: int
    hosts: int
    #: The field and value most of its detections share, and the share.
    field: str | None = None
    value: str | None = None
    share: float = 0.0
    #: Its detections were set aside by the threshold (not in the report).
    suppressed: bool = False

    def exclusion_line(self) -> str:
        """An entry for an exclusions file (``--exclusions``), as one YAML line."""
        match: dict[str, Any] = {}
        if self.field and self.value is not None:
            match[self.field] = sigma_literal(self.value)
        entry = {
            "rule": self.rule_id,
            "reason": "FILL IN why these events are benign",
            "match": match or {"FIELD": "VALUE"},
        }
        return "- " + _flow(entry)

    def override_line(self) -> str:
        """A line for a level override file (``--level-override``)."""
        level = "low" if self.level not in ("low", "informational") else "informational"
        return yaml.safe_dump({self.rule_id: level}, default_flow_style=False).strip()


def _flow(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10_000, sort_keys=False).strip()


_items = methodcaller("items")
_NONE: dict[str, Any] = {}


def noisiest(
    detections: Sequence[Detection],
    n: int,
    suppressed: Iterable[SuppressedRule] = (),
) -> list[RuleNoise]:
    """The ``n`` rules with the most detections (set-aside ones included), busiest first."""
    if n <= 0:
        return []
    # Read as columns: detections kept as columns build no object for this.
    rule_ids = detection_values(detections, "rule_id")
    per_rule: Counter[str] = Counter(rule_ids)
    out: list[RuleNoise] = [
        RuleNoise(s.rule_id, s.rule_title, s.level, s.detections, 0, suppressed=True)
        for s in suppressed
    ]
    top = [rule_id for rule_id, _ in per_rule.most_common(n)]
    wanted = set(top)
    hosts: dict[str, set[str]] = {rule_id: set() for rule_id in top}
    values: dict[str, Counter[tuple[str, str]]] = {rule_id: Counter() for rule_id in top}
    members: dict[str, list[int]] = {rule_id: [] for rule_id in top}
    for k, rule_id in enumerate(rule_ids):
        if rule_id in wanted:
            members[rule_id].append(k)
    first = {rule_id: rows[0] for rule_id, rows in members.items()}
    all_hosts = detection_values(detections, "host")
    all_fields = detection_values(detections, "fields")
    for rule_id, rows in members.items():
        hosts[rule_id].update(all_hosts[k] for k in rows if all_hosts[k])
        # Pairs counted as they come, then kept and merged in first-seen order (which
        # settles ties): the same counts as one pair at a time, a pass in C.
        seen = Counter(chain.from_iterable(map(_items, [all_fields[k] or _NONE for k in rows])))
        for (name, value), count in seen.items():
            if value is not None and len(str(value)) <= MAX_VALUE:
                values[rule_id][(name, str(value))] += count
    titles = detection_values(detections, "rule_title")
    levels = detection_values(detections, "level")
    for rule_id in top:
        k = first[rule_id]
        common = values[rule_id].most_common(1)
        field, value, share = None, None, 0.0
        if common:
            (field, value), count = common[0]
            share = count / per_rule[rule_id]
        out.append(
            RuleNoise(
                rule_id,
                titles[k],
                levels[k],
                per_rule[rule_id],
                len(hosts[rule_id]),
                field,
                value,
                share,
            )
        )
    out.sort(key=lambda r: -r.detections)
    return out[:n]
