"""Where the words a slice's rules look for occur in its fields' distinct values.

The prefilter asks which of its literals occur in a field, the ``contains`` tests of the
rules it keeps where their words do: one pass serves both where it can (:func:`word_hits`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from ...rules.compile.dialect import LOWER_SUFFIX
from ...rules.compile.literals import MAX_LITERAL
from ...rules.compile.tree import Node
from .encode import lowered
from .kernels import node_words, substring_hits
from .wordsearch import WordSearch, search_words

if TYPE_CHECKING:
    from .engine import DuckDBEngine


def word_hits(
    engine: DuckDBEngine,
    values: dict[str, pa.Table],
    field_units: dict[str, dict[str, Node]],
    by_field: dict[str, set[str]],
    looked: dict[str, set[str]] | None = None,
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, WordSearch]]:
    """For each field, where the literals the prefilter or a ``contains`` test looks
    for occur in its lowered values: one Aho-Corasick pass serves both while the
    values are small (``options.search_bytes``); past that, one search by DuckDB
    (:mod:`.wordsearch`), located later, word by word as tests need them.
    ``looked``: the words each field's passes looked for so far, not looked for
    again and added to (a word a pass looked for and did not find is in no value)."""
    words: dict[str, set[str]] = {}
    for name, literals in by_field.items():
        words.setdefault(name.lower(), set()).update(literals)
    for f, nodes in field_units.items():
        if f not in values:
            continue
        for node in nodes.values():
            found = node_words(node)
            if found and node.column.lower() == f + LOWER_SUFFIX:
                words.setdefault(f, set()).update(found)
    hits: dict[str, dict[str, np.ndarray]] = {}
    searches: dict[str, WordSearch] = {}
    for f, wanted in words.items():
        table = values.get(f)
        column = lowered(table) if table is not None else None
        if table is None or column is None:
            continue
        array = table.column(column).combine_chunks()
        usable = sorted(w for w in wanted if 0 < len(w) <= MAX_LITERAL)
        if looked is not None:
            done = looked.setdefault(f, set())
            usable = [w for w in usable if w not in done]
            if not usable:
                continue
            done.update(usable)
        if array.nbytes <= engine.options.search_bytes:
            hits[f] = substring_hits(array, usable)
        else:
            searches[f] = engine_search(engine, array, usable)
    return hits, searches


def engine_search(engine: DuckDBEngine, column: pa.Array, words: Iterable[str]) -> WordSearch:
    """:func:`.wordsearch.search_words` on one of the engine's cursors."""
    return engine.memory.run(lambda: search_words(engine.cursor(), column, words))
