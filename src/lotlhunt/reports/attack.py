"""ATT&CK names for the tags rules carry: technique ids, their names and tactics.

Sigma tags techniques as ``attack.t1003.003`` and tactics as ``attack.credential-access``.
The table shipped as ``data/attack.json`` names the techniques Windows hunting rules
commonly tag; an id it does not know still shows, named by its id, under the tactics
its rule names.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

_TECHNIQUE_TAG = re.compile(r"^attack\.(t\d{4}(?:\.\d{3})?)$", re.IGNORECASE)


@dataclass(frozen=True)
class Tactic:
    id: str  # TA0006
    short: str  # credential-access
    name: str  # Credential Access


@dataclass(frozen=True)
class Technique:
    id: str  # T1003.003
    name: str
    tactics: tuple[str, ...]  # short names, matrix order

    @property
    def parent(self) -> str:
        return self.id.split(".")[0]


@dataclass(frozen=True)
class AttackTable:
    version: str
    tactics: tuple[Tactic, ...]
    techniques: dict[str, Technique]

    def tactic(self, short: str) -> Tactic | None:
        for t in self.tactics:
            if t.short == short:
                return t
        return None

    def technique(self, tid: str, fallback_tactics: Iterable[str] = ()) -> Technique:
        """The technique ``tid``; one the table lacks is named by its id and placed
        under ``fallback_tactics`` (the tactics its rule is tagged with)."""
        known = self.techniques.get(tid)
        if known is not None:
            return known
        parent = self.techniques.get(tid.split(".")[0])
        order = {t.short: i for i, t in enumerate(self.tactics)}
        tactics = (
            parent.tactics
            if parent
            else tuple(sorted({t for t in fallback_tactics if t in order}, key=order.__getitem__))
        )
        return Technique(tid, tid, tactics)


@lru_cache(maxsize=1)
def attack_table() -> AttackTable:
    raw = json.loads(resources.files("lotlhunt").joinpath("data/attack.json").read_text("utf-8"))
    tactics = tuple(Tactic(*row) for row in raw["tactics"])
    order = {t.short: i for i, t in enumerate(tactics)}
    techniques: dict[str, Technique] = {}
    for tid, (name, tacs) in raw["techniques"].items():
        if not tacs:
            tacs = raw["techniques"][tid.split(".")[0]][1]
        techniques[tid] = Technique(tid, name, tuple(sorted(tacs, key=order.__getitem__)))
    return AttackTable(str(raw["attack_version"]), tactics, techniques)


def technique_ids(tags: Iterable[str]) -> tuple[str, ...]:
    """``T1003.003``-style ids of the technique tags in ``tags``, in tag order, once."""
    out: list[str] = []
    for tag in tags:
        m = _TECHNIQUE_TAG.match(tag)
        if m:
            tid = m.group(1).upper()
            if tid not in out:
                out.append(tid)
    return tuple(out)


def tactic_names(tags: Iterable[str]) -> tuple[str, ...]:
    """Tactic short names (``credential-access``) among ``tags``; Sigma's older
    underscore spelling (``attack.credential_access``) is read too."""
    known = _tactic_shorts()
    out: list[str] = []
    for tag in tags:
        if tag.lower().startswith("attack."):
            short = tag[7:].lower().replace("_", "-")
            if short in known and short not in out:
                out.append(short)
    return tuple(out)


@lru_cache(maxsize=1)
def _tactic_shorts() -> frozenset[str]:
    return frozenset(t.short for t in attack_table().tactics)


@lru_cache(maxsize=4096)
def techniques_of(tags: tuple[str, ...]) -> tuple[Technique, ...]:
    """The techniques ``tags`` name, each with its tactics (a rule's tags repeat on each
    of its detections: computed once per rule)."""
    table = attack_table()
    fallback = tactic_names(tags)
    return tuple(table.technique(tid, fallback) for tid in technique_ids(tags))
