"""Sigma's RE2 patterns written for Java (Spark) so they match the same text."""

from __future__ import annotations

import re

import pytest

from lotlhunt.rules.compile.dialect import DUCKDB, SPARK
from lotlhunt.rules.compile.java_regex import java_pattern


def _python(pattern: str) -> re.Pattern[str]:
    # Python's re with ASCII word and space classes reads look-around as Java does;
    # it stands in for Java here (its \s also has \v, so \s is not checked this way).
    return re.compile(pattern, re.ASCII)


@pytest.mark.parametrize(
    ("text", "hit"),
    [
        ("ntdsutil \u00e2\u20ac\u0153ifm\u00e2\u20ac", True),  # mis-decoded quotes
        ("ntdsutil ifm", True),
        ("ntdsutil ifmx", False),
        ("xifm", False),
        ("ifm_", False),
    ],
)
def test_word_boundaries_are_ascii_as_in_re2(text: str, hit: bool) -> None:
    pattern = java_pattern(r"\bifm\b")
    assert "\\b" not in pattern
    # Python's \b over str is Unicode-aware like Java 17's, so the original pattern
    # misses the mis-decoded quote; the rewritten one finds what RE2 finds.
    assert bool(_python(pattern).search(text)) is hit


def test_not_a_boundary_is_the_complement() -> None:
    pattern = _python(java_pattern(r"a\Bb|\B-"))
    assert pattern.search("ab")
    assert pattern.search(" -")
    assert not pattern.search("a-")


def test_spaces_leave_out_the_vertical_tab() -> None:
    pattern = java_pattern(r"a\sb[\s_]c\Sd")
    assert pattern == "a[\\t\\n\\f\\r ]b[\\t\\n\\f\\r _]c[^\\t\\n\\f\\r ]d"
    assert re.fullmatch(pattern, "a\tb_cxd")
    assert not re.fullmatch(pattern, "a\x0bb_cxd")


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("(?i)abc", "(?iu)abc"),
        ("(?is)abc", "(?isu)abc"),
        ("x(?i:abc)", "x(?iu:abc)"),
        ("(?iu)abc", "(?iu)abc"),
        ("(?s)abc", "(?s)abc"),
        ("(?:abc)", "(?:abc)"),
        ("(?P<n>a)", "(?P<n>a)"),
    ],
)
def test_caseless_matching_folds_unicode(before: str, after: str) -> None:
    assert java_pattern(before) == after


@pytest.mark.parametrize(
    "pattern",
    [r"\\b", r"[\b]", r"\Q\b\s\E\d", r"[]\b]", r"[^]\b]", r"\.\*", "a{2,3}"],
)
def test_escapes_that_mean_the_same_are_kept(pattern: str) -> None:
    assert java_pattern(pattern) == pattern


def test_only_the_spark_dialect_rewrites() -> None:
    assert DUCKDB.regex_pattern(r"\bx\b") == r"\bx\b"
    assert SPARK.regex_pattern(r"\bx\b") != r"\bx\b"
