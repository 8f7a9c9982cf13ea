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


#: The most lines a module may have: past it, a module does more than one job.
MAX_MODULE_LINES = 500

#: Modules over the limit that are being split, at the size they may not pass meanwhile.
#: Each is a debt: an entry leaves as its module is split, and none is ever added.
OVERSIZED_BEING_SPLIT: dict[str, int] = {}


def _lines(path: Path) -> int:
    return len(path.read_text("utf-8").splitlines())


def test_no_module_exceeds_the_line_limit() -> None:
    sizes = {str(p.relative_to(SRC)): _lines(p) for p in _modules()}
    over = {
        name: n
        for name, n in sizes.items()
        if n > MAX_MODULE_LINES and n > OVERSIZED_BEING_SPLIT.get(name, 0)
    }
    assert over == {}, f"split these modules by job (at most {MAX_MODULE_LINES} lines): {over}"


def test_the_allowance_holds_only_modules_still_over_the_limit() -> None:
    # A module split (or gone) leaves the allowance, so the allowance can only shrink.
    stale = [
        name
        for name in OVERSIZED_BEING_SPLIT
        if not (SRC / name).is_file() or _lines(SRC / name) <= MAX_MODULE_LINES
    ]
    assert stale == []
