"""Rule files: finding them under folders, parsing one, compiling one.

Parsing is where attacker-controlled YAML meets pySigma, so every error a file can raise
is caught here and turned into an :class:`InputIssue` for that file; Sigma filter
documents are read from the same files.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
import yaml

from .._support.yaml_files import YAML_LOADER
from ..errors import InputIssue
from .compat import tolerate_documents
from .compiling import CompileContext, load_collection
from .model import RuleSet
from .placeholders import Placeholders
from .tuning import LoadedFilter

if TYPE_CHECKING:
    from sigma.collection import SigmaCollection


RULE_SUFFIXES = (".yml", ".yaml")
#: The path given to rules passed as documents (``extra_dicts``).
GENERATED = "<generated>"


def iter_rule_files(
    paths: Iterable[str | Path], errors: list[OSError] | None = None
) -> Iterable[Path]:
    """Rule files under ``paths``: ``.yml``/``.yaml`` files in folders (recursively,
    sorted, hidden folders such as ``.github`` skipped, links to folders followed and a
    folder reached twice read once), and every file named directly. Folders that cannot
    be listed are appended to ``errors`` (their rules would otherwise go missing
    silently)."""
    return map(Path, _rule_file_names(paths, errors))


def _rule_file_names(
    paths: Iterable[str | Path], errors: list[OSError] | None = None
) -> Iterable[str]:
    """:func:`iter_rule_files` as strings: thousands of Path objects cost a warm load."""
    folders: set[tuple[int, int]] = set()
    for p in paths:
        name = os.fspath(p)
        if not os.path.isdir(name):
            yield name
            continue
        found: list[str] = []
        walk = os.walk(
            name, onerror=errors.append if errors is not None else None, followlinks=True
        )
        for root, dirs, names in walk:
            # One stat a folder (a real path would stat every component of its name).
            try:
                st = os.stat(root)
            except OSError as exc:
                if errors is not None:
                    errors.append(exc)
                dirs.clear()
                continue
            if (st.st_dev, st.st_ino) in folders:  # a link back to a parent, given twice
                dirs.clear()
                continue
            folders.add((st.st_dev, st.st_ino))
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            found.extend(os.path.join(root, n) for n in names if n.lower().endswith(RULE_SUFFIXES))
        # Sorted by path components, as sorting Path objects would (but cheaper).
        found.sort(key=lambda s: s.split(os.sep))
        yield from found


def _top_level(content: bytes, key: bytes, pattern: re.Pattern[bytes]) -> bool:
    """Whether a document of the file has top-level ``key:`` (substring test first: the
    regular expression alone costs more than reading the file)."""
    return (content.startswith(key) or b"\n" + key in content) and bool(pattern.search(content))


def parse_rule_text(text: bytes | str, collect_filters: bool = True) -> SigmaCollection:
    """Parse a rule file the way ``SigmaCollection.from_yaml`` does, faster.

    libyaml (``CSafeLoader``) parses YAML several times faster than PyYAML's Python
    loader, which is most of pySigma's parse time; a file holding one plain rule (nearly
    all of them) skips the collection machinery. Filters are collected, not applied:
    the loader applies every filter of the load to every rule of every file.
    """
    from sigma.collection import SigmaCollection
    from sigma.exceptions import SigmaCollectionError
    from sigma.rule import SigmaRule
    from sigma.rule.base import check_alias_expansion

    docs = [d for d in yaml.load_all(text, Loader=YAML_LOADER) if d is not None]
    anchors = b"&" in text if isinstance(text, bytes) else "&" in text
    if anchors:  # no anchor, no alias: the expansion guard has nothing to find
        for doc in docs:
            check_alias_expansion(doc, SigmaCollectionError, None)
    docs = tolerate_documents(docs)
    if (
        len(docs) == 1
        and isinstance(docs[0], dict)
        and not {"action", "correlation", "filter"} & docs[0].keys()
    ):
        rule = SigmaRule.from_dict(docs[0], collect_errors=True)
        return SigmaCollection([rule], errors=list(rule.errors), resolve_references=False)
    # References are not resolved: resolving makes pySigma disable the output of rules
    # a ``generate: false`` correlation names (they would then not compile), and fails on
    # a correlation naming a rule of another file. Correlations are evaluated over the
    # detections of the rules they name, matched by id or name (lotlhunt.correlations).
    return SigmaCollection.from_dicts(
        docs, collect_errors=True, collect_filters=collect_filters, resolve_references=False
    )


_PARSE_ERRORS: tuple[type[BaseException], ...] = (
    yaml.YAMLError,
    ValueError,
    TypeError,
    AttributeError,
    KeyError,
    RecursionError,
)


def _compile_file(path: Path, content: bytes, ctx: CompileContext) -> RuleSet:
    """Parse and compile one rule file; every outcome is in the returned set."""
    from sigma.exceptions import SigmaError

    out = RuleSet(files=1, compiled=1)
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        out.failed.append(InputIssue(str(path), None, f"cannot read rule file: {exc}", "rule"))
        return out
    try:
        collection = parse_rule_text(text)
    except _PARSE_ERRORS + (SigmaError,) as exc:
        out.failed.append(InputIssue(str(path), None, f"invalid rule file: {exc}", "rule"))
        return out
    if collection.errors and not collection.rules and not collection.filters:
        reason = "; ".join(str(e) for e in collection.errors)
        out.failed.append(InputIssue(str(path), None, f"invalid rule file: {reason}", "rule"))
        return out
    try:
        result = load_collection(collection, path, ctx.backend, ctx)
    except _PARSE_ERRORS + (SigmaError,) as exc:
        out.failed.append(InputIssue(str(path), None, f"invalid rule file: {exc}", "rule"))
        return out
    result.files = 1
    result.compiled = 1
    return result


def _load_filters(
    files: Sequence[tuple[str, bytes | None]], placeholders: Placeholders
) -> tuple[list[LoadedFilter], list[InputIssue]]:
    """Sigma filter documents from the rule files that may hold some."""
    from sigma.exceptions import SigmaError
    from sigma.filters import SigmaFilter

    filters: list[LoadedFilter] = []
    issues: list[InputIssue] = []
    for path, content in files:
        if content is None:
            continue
        try:
            docs = [d for d in yaml.load_all(content, Loader=YAML_LOADER) if d is not None]
        except yaml.YAMLError:
            continue  # reported when the file is loaded as rules
        for doc in docs:
            if (
                not isinstance(doc, dict)
                or "filter" not in doc
                or {"action", "correlation"} & doc.keys()
            ):
                continue
            raw = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS, default=str)
            if b"expand" in raw:  # its values may come from placeholders
                raw += placeholders.digest().encode()
            try:
                parsed = SigmaFilter.from_dict(doc, collect_errors=True)
            except _PARSE_ERRORS + (SigmaError,) as exc:
                issues.append(InputIssue(str(path), None, f"invalid Sigma filter: {exc}", "filter"))
                continue
            if parsed.errors:
                reason = "; ".join(str(e) for e in parsed.errors)
                title = doc.get("title", "?")
                issues.append(
                    InputIssue(
                        str(path), None, f"Sigma filter {title!r} ignored: {reason}", "filter"
                    )
                )
                continue
            filters.append(LoadedFilter(parsed, str(path), hashlib.sha256(raw).hexdigest()[:32]))
    return filters, issues


def _compile_generated(content: bytes, ctx: CompileContext) -> RuleSet:
    """Rules given as documents (``extra_dicts``), compiled like a file of them."""
    from sigma.collection import SigmaCollection
    from sigma.exceptions import SigmaError

    out = RuleSet(files=0, compiled=1)
    path = Path(GENERATED)
    try:
        collection = SigmaCollection.from_dicts(
            orjson.loads(content), collect_errors=True, collect_filters=True
        )
        result = load_collection(collection, path, ctx.backend, ctx)
    except _PARSE_ERRORS + (SigmaError,) as exc:
        out.failed.append(InputIssue(str(path), None, f"invalid generated rules: {exc}", "rule"))
        return out
    result.files = 0
    result.compiled = 1
    return result
