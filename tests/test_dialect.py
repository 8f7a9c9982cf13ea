"""Dialects: identifier quoting per engine, and the named field transforms the logsource
mapping uses, implemented by every dialect."""

from __future__ import annotations

import pytest

from lotlhunt.rules.compile.dialect import DIALECTS, DUCKDB, SPARK
from lotlhunt.rules.logsources import SAME, resolve_names, transforms_used


def test_identifiers_are_quoted_as_each_engine_reads_them() -> None:
    assert DUCKDB.ident('a"b') == '"a""b"'
    # Spark SQL reads "name" as a string literal: identifiers take back-ticks.
    assert SPARK.ident("a`b c") == "`a``b c`"


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_every_transform_the_mapping_names_is_implemented(dialect: str) -> None:
    used = transforms_used()
    assert {SAME, "domain_user", "decimal_id", "integrity_level"} <= used
    assert used <= DIALECTS[dialect].transform_names()


def test_the_mapping_holds_no_sql() -> None:
    # 4688's renames are fields or named transforms of fields, not SQL text.
    variants = resolve_names("windows", "process_creation", None).variants
    (security,) = [v for v in variants if v.renames]
    renames = dict(security.renames)
    assert renames["Image"].transform == SAME and renames["Image"].fields == ("NewProcessName",)
    assert renames["User"].fields == ("SubjectDomainName", "SubjectUserName")
    for rename in renames.values():
        assert all(f.isidentifier() for f in rename.fields)


def test_an_unknown_transform_is_an_error_not_sql() -> None:
    with pytest.raises(KeyError, match="no transform"):
        DUCKDB.transform("drop_table", ["x"])
