"""Known actors' playbooks as ATT&CK techniques, and how much of one an incident shows.

Volt Typhoon's is every technique the fact sheet's technique table cites
(``data/playbooks/volt_typhoon.json``). A technique matches the playbook's entry or its
parent (``T1021.001`` in an incident matches ``T1021`` in a playbook and the other way).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from ..model import PlaybookMatch

_DIR = Path(__file__).resolve().parent.parent / "data" / "playbooks"
#: Shared techniques an incident needs before it is said to resemble a playbook.
MIN_SHARED = 3


@cache
def playbooks() -> tuple[tuple[str, frozenset[str]], ...]:
    out = []
    for path in sorted(_DIR.glob("*.json")):
        doc = json.loads(path.read_text("utf-8"))
        out.append((str(doc["actor"]), frozenset(t.upper() for t in doc["techniques"])))
    return tuple(out)


def resemblance(techniques: Iterable[str]) -> tuple[PlaybookMatch, ...]:
    """The playbooks ``techniques`` overlap by ``MIN_SHARED`` or more, best first."""
    mine = sorted({t.upper() for t in techniques})
    out = []
    for actor, known in playbooks():
        parents = {k.split(".")[0] for k in known}
        shared = tuple(
            t
            for t in mine
            if t in known or t.split(".")[0] in parents or any(k.startswith(t + ".") for k in known)
        )
        if len(shared) >= MIN_SHARED:
            out.append(PlaybookMatch(actor=actor, techniques=shared, share=len(shared) / len(mine)))
    return tuple(sorted(out, key=lambda m: -len(m.techniques)))
