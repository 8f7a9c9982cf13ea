"""The engine seam holds: only lotlhunt.engines speaks to DuckDB, and rules know no
engine. A module that imports duckdb outside it would bring SQL back into the analytics,
and a second engine would again mean editing them."""

from __future__ import annotations

import ast
from pathlib import Path

import lotlhunt

SRC = Path(lotlhunt.__file__).parent


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, relative imports resolved."""
    package = ".".join(path.relative_to(SRC.parent).with_suffix("").parts[:-1])
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                out.add(".".join([*base, node.module] if node.module else base))
            else:
                out.add(node.module or "")
    return out


def _modules(under: str = "") -> list[Path]:
    return sorted((SRC / under).rglob("*.py"))


def test_only_the_engines_import_duckdb() -> None:
    offenders = [
        str(p.relative_to(SRC))
        for p in _modules()
        if "engines" not in p.relative_to(SRC).parts
        and any(m == "duckdb" or m.startswith("duckdb.") for m in _imports(p))
    ]
    assert offenders == []


def test_nothing_outside_the_engines_reaches_into_an_engine_package() -> None:
    offenders = [
        str(p.relative_to(SRC))
        for p in _modules()
        if "engines" not in p.relative_to(SRC).parts
        and any(m.startswith("lotlhunt.engines.duckdb") for m in _imports(p))
    ]
    assert offenders == []


def test_rules_import_no_engine() -> None:
    offenders = [
        str(p.relative_to(SRC))
        for p in _modules("rules")
        if any(m.startswith("lotlhunt.engines") for m in _imports(p))
    ]
    assert offenders == []
