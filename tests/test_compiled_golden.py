"""Golden compiled SQL: every conformance rule, compiled in every dialect, compared with
the reviewed copy under tests/golden/compiled/<dialect>/ (``--update-golden`` rewrites
them). The conformance tests check what the SQL means on DuckDB; these show what the
compiler writes, for each engine, so that any change to it is seen in review.

Whether the Spark SQL is valid Spark is checked by Spark itself when pyspark is
installed and ``LOTLHUNT_SPARK_TESTS=1`` (a local Spark session takes a minute to start).
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from golden import assert_golden
from lotlhunt.rules.compile.dialect import DIALECTS, IP_SUFFIX, LOWER_SUFFIX, SPARK
from lotlhunt.rules.model import CompiledRule
from lotlhunt.testing import compile_rules
from test_sigma_conformance import CASES, CIDR_CASES, rule, sel

NETWORK = {"product": "windows", "category": "network_connection"}

#: Every conformance rule by its case id.
RULES: dict[str, dict[str, Any]] = {cid: rule(det) for cid, det, _, _ in CASES}
RULES.update(
    {f"cidr-{cid}": rule(sel(**{"DestinationIp|cidr": c}), NETWORK) for cid, c, _, _ in CIDR_CASES}
)


def compiled_text(compiled: CompiledRule) -> str:
    """The SQL of a rule and of each of its selections, one statement per block."""
    blocks = [f"-- condition\n{compiled.sql}\n"]
    blocks += [f"-- selection {name}\n{sql}\n" for name, sql in compiled.selections]
    return "\n".join(blocks)


def _compiled(case: str, dialect: str) -> CompiledRule:
    ruleset = compile_rules(RULES[case], DIALECTS[dialect])
    assert not ruleset.failed, ruleset.failed
    (compiled,) = ruleset.rules
    return compiled


@pytest.mark.parametrize("case", sorted(RULES))
@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_compiled_sql_is_the_golden_one(
    dialect: str, case: str, request: pytest.FixtureRequest
) -> None:
    assert_golden(
        f"compiled/{dialect}/{case}.sql", compiled_text(_compiled(case, dialect)), request
    )


def test_every_golden_file_belongs_to_a_rule() -> None:
    from golden import GOLDEN

    for dialect in DIALECTS:
        stale = {p.stem for p in (GOLDEN / "compiled" / dialect).glob("*.sql")} - set(RULES)
        assert not stale, f"golden files of no conformance rule: {sorted(stale)}"


@pytest.mark.skipif(
    os.environ.get("LOTLHUNT_SPARK_TESTS") != "1", reason="set LOTLHUNT_SPARK_TESTS=1"
)
def test_spark_runs_the_compiled_sql_and_the_transforms() -> None:
    pyspark_sql = pytest.importorskip("pyspark.sql")
    spark = (
        pyspark_sql.SparkSession.builder.master("local[1]")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    try:
        for case in sorted(RULES):
            compiled = _compiled(case, SPARK.name)
            columns = sorted(
                {*compiled.plain_fields}
                | {f + LOWER_SUFFIX for f in compiled.lower_fields}
                | {f + IP_SUFFIX for f in compiled.ip_fields}
            )
            row = ", ".join(f"CAST(NULL AS STRING) AS {SPARK.ident(c)}" for c in columns)
            for sql in [compiled.sql, *(s for _, s in compiled.selections)]:
                spark.sql(f"SELECT * FROM (SELECT {row or '1 AS x'}) WHERE {sql}").collect()
        values = "SELECT 'CORP' AS a, 'bob' AS b UNION ALL SELECT '0x1a2c', NULL"
        got = {
            name: [
                r.v
                for r in spark.sql(
                    f"SELECT {SPARK.transform(name, ['a', 'b'])} AS v FROM ({values})"
                ).collect()
            ]
            for name, _ in SPARK.transforms
        }
    finally:
        spark.stop()
    assert got["domain_user"] == ["CORP\\bob", None]
    assert got["decimal_id"] == [None, "6700"]
