"""The compile cache: hits, invalidation by what shapes a rule, robustness, switches."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from lotlhunt.rules import cache as rule_cache
from lotlhunt.rules import listing as rule_listing
from lotlhunt.rules.cache_entries import _ENTRY_SCHEMA
from lotlhunt.rules.compile.dialect import SPARK
from lotlhunt.rules.loader import load_rules
from lotlhunt.rules.model import CompiledRule
from lotlhunt.settings import Settings


def rule_doc(n: int, **extra: Any) -> dict[str, Any]:
    doc = {
        "title": f"rule {n}",
        "id": f"00000000-0000-4000-8000-{n:012d}",
        "level": "medium",
        "logsource": {"product": "windows", "category": "process_creation"},
        "detection": {
            "sel": {"Image|endswith": f"\\tool{n}.exe", "CommandLine|contains": ["-a", "-b"]},
            "condition": "sel",
        },
    }
    doc.update(extra)
    return doc


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    rules.mkdir()
    for n in range(3):
        (rules / f"r{n}.yml").write_text(yaml.safe_dump(rule_doc(n)), "utf-8")
    (rules / "linux.yml").write_text(
        yaml.safe_dump(rule_doc(9, logsource={"product": "linux", "category": "process_creation"})),
        "utf-8",
    )
    (rules / "broken.yml").write_text("title: [unclosed\n", "utf-8")
    return rules


def test_second_load_is_served_from_the_cache(folder: Path, rule_cache_dir: Path) -> None:
    cold = load_rules([folder])
    assert (cold.compiled, cold.cache_hits, cold.files) == (5, 0, 5)
    assert (rule_cache_dir / rule_cache.DB_NAME).exists()
    warm = load_rules([folder])
    assert (warm.compiled, warm.cache_hits, warm.files) == (0, 5, 5)
    assert warm.rules == cold.rules
    assert warm.failed == cold.failed and len(warm.failed) == 1
    assert warm.not_applicable == cold.not_applicable and len(warm.not_applicable) == 1
    assert warm.known == cold.known


def test_editing_one_file_recompiles_that_file_only(folder: Path, rule_cache_dir: Path) -> None:
    load_rules([folder])
    doc = rule_doc(1)
    doc["detection"]["sel"]["Image|endswith"] = "\\edited.exe"
    (folder / "r1.yml").write_text(yaml.safe_dump(doc), "utf-8")
    again = load_rules([folder])
    assert (again.compiled, again.cache_hits) == (1, 4)
    assert any("edited.exe" in r.sql for r in again.rules)
    assert not any("tool1.exe" in r.sql for r in again.rules)


def test_dialect_and_placeholders_are_part_of_the_key(
    folder: Path, rule_cache_dir: Path, tmp_path: Path
) -> None:
    (folder / "ph.yml").write_text(
        yaml.safe_dump(
            rule_doc(5, detection={"sel": {"User|expand": "%Admins%"}, "condition": "sel"})
        ),
        "utf-8",
    )
    ph1, ph2 = tmp_path / "ph1.yml", tmp_path / "ph2.yml"
    ph1.write_text("Admins: [alice]\n", "utf-8")
    ph2.write_text("Admins: [bob]\n", "utf-8")
    load_rules([folder], placeholders=ph1)
    assert load_rules([folder], dialect=SPARK).cache_hits == 0
    # Other placeholder values: only the file that uses a placeholder is recompiled.
    second = load_rules([folder], placeholders=ph2)
    assert (second.compiled, second.cache_hits) == (1, 5)
    assert any("'bob'" in r.sql for r in second.rules)


def test_corrupt_database_is_ignored_and_rewritten(folder: Path, rule_cache_dir: Path) -> None:
    cold = load_rules([folder])
    (rule_cache_dir / rule_cache.DB_NAME).write_bytes(b"this is not a database" * 100)
    again = load_rules([folder])
    assert again.rules == cold.rules and again.compiled == 5
    assert load_rules([folder]).cache_hits == 5


def test_corrupt_entry_is_ignored_and_rewritten(folder: Path, rule_cache_dir: Path) -> None:
    cold = load_rules([folder])
    con = sqlite3.connect(rule_cache_dir / rule_cache.DB_NAME)
    with con:
        con.execute("UPDATE entries SET data = ? WHERE path LIKE ?", (b"{not json", "%r0.yml"))
        con.execute(
            "UPDATE entries SET data = ? WHERE path LIKE ?",
            (b'{"version": 1, "rules": [{"id": 1}]}', "%r1.yml"),
        )
    con.close()
    again = load_rules([folder])
    assert (again.compiled, again.cache_hits) == (2, 3)
    assert again.rules == cold.rules
    assert load_rules([folder]).cache_hits == 5


def test_disabled_by_environment(
    folder: Path, rule_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOTLHUNT_NO_CACHE", "1")
    load_rules([folder])
    again = load_rules([folder])
    assert again.cache_hits == 0 and again.compiled == 5
    assert not rule_cache_dir.exists()


def test_default_location_follows_xdg(tmp_path: Path) -> None:
    def where(**env: str) -> Path:
        return Settings.from_environ(env).cache_dir

    assert where(XDG_CACHE_HOME=str(tmp_path / "xdg")) == tmp_path / "xdg" / "lotlhunt"
    assert where(HOME=str(tmp_path / "home")) == tmp_path / "home" / ".cache" / "lotlhunt"
    explicit = where(LOTLHUNT_CACHE_DIR=str(tmp_path / "explicit"), HOME=str(tmp_path))
    assert explicit == tmp_path / "explicit"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_unwritable_cache_only_slows_loading(folder: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        ruleset = load_rules([folder], cache_dir=locked / "sub")
        assert len(ruleset.rules) == 3
    finally:
        locked.chmod(0o700)


def test_cache_in_a_path_that_is_a_file_only_slows_loading(folder: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x", "utf-8")
    ruleset = load_rules([folder], cache_dir=blocker)
    assert len(ruleset.rules) == 3 and ruleset.compiled == 5


def test_entries_round_trip_every_field(folder: Path) -> None:
    ruleset = load_rules([folder], cache=False)
    rule = ruleset.rules[0]
    rich = CompiledRule(
        **{
            **{f: getattr(rule, f) for f in rule.__dataclass_fields__},
            "needs": (frozenset({("Image", "tool0.exe")}), frozenset({("A", "b"), ("C", "d")})),
            "exclusions": ("x: y",),
            "name": "nm",
        }
    )
    entry = {
        "rules": [rich],
        "failed": ruleset.failed,
        "not_applicable": ruleset.not_applicable,
        "unresolved": {"Admins": ["r (id)"]},
        "known": ruleset.known,
        "filters_key": "",
    }
    back = rule_cache.loads(rule_cache.dumps(entry), _ENTRY_SCHEMA)
    assert back == entry


def test_other_format_versions_are_misses() -> None:
    assert rule_cache.loads(b'{"version": 0}', _ENTRY_SCHEMA) is None
    assert rule_cache.loads(b"[]", _ENTRY_SCHEMA) is None


def _rows(rule_cache_dir: Path) -> list[tuple[str, str]]:
    con = sqlite3.connect(rule_cache_dir / rule_cache.DB_NAME)
    try:
        return con.execute("SELECT env, path FROM entries").fetchall()
    finally:
        con.close()


def test_old_entries_are_pruned(
    folder: Path, rule_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_rules([folder])
    (folder / "r1.yml").write_text(yaml.safe_dump(rule_doc(7)), "utf-8")
    load_rules([folder])
    assert len(_rows(rule_cache_dir)) == 5  # the old version of r1.yml was replaced
    for n in range(rule_cache.KEEP_ENVIRONMENTS + 2):
        monkeypatch.setattr(rule_cache, "environment_digest", lambda d, n=n: f"env{n}")
        load_rules([folder])
    envs = {env for env, _ in _rows(rule_cache_dir)}
    assert len(envs) == rule_cache.KEEP_ENVIRONMENTS
    assert f"env{rule_cache.KEEP_ENVIRONMENTS + 1}" in envs


def test_a_warm_hunt_never_imports_pysigma(
    folder: Path, rule_cache_dir: Path, tmp_path: Path
) -> None:
    # Importing pySigma is a third of a second of a warm start; cached rules are SQL.
    import json
    import subprocess
    import sys

    from lotlhunt.hunt import HuntConfig, run_hunt

    logs = tmp_path / "events.jsonl"
    event = {"Channel": "Security", "EventID": 4688, "NewProcessName": "C:\\x\\tool1.exe"}
    logs.write_text(json.dumps(event) + "\n", "utf-8")
    run_hunt(HuntConfig(paths=[logs], rules=[folder]))  # compiles, fills the cache
    script = (
        "import sys\n"
        "from lotlhunt.hunt import HuntConfig, run_hunt\n"
        f"result = run_hunt(HuntConfig(paths=[{str(logs)!r}], rules=[{str(folder)!r}]))\n"
        "sigma = sorted(m for m in sys.modules if m.split('.')[0] == 'sigma')\n"
        "print(result.stats.rules_loaded, sigma)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=os.environ
    ).stdout.split(maxsplit=1)
    assert int(out[0]) > 3 and out[1].strip() == "[]"


def test_every_compiler_module_is_part_of_the_key(tmp_path: Path) -> None:
    """Editing (or adding) any module of the rules package changes the environment key."""
    import shutil
    from importlib import resources

    package = Path(str(resources.files("lotlhunt")))
    copy = tmp_path / "lotlhunt"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__", "simulate"))
    names = rule_cache.compiler_sources(copy)
    modules = [n for n in names if n.endswith(".py") and n.startswith("rules/")]
    # The compiler's modules, wherever they sit inside the package, are all counted.
    for expected in ("rules/loader.py", "rules/compile/backend.py", "rules/compile/dialect.py"):
        assert expected in modules
    assert "data/logsources.yaml" in names
    before = rule_cache._digest_sources(copy)
    for name in modules + ["data/logsources.yaml"]:
        path = copy / name
        original = path.read_bytes()
        path.write_bytes(original + b"\n# edited\n")
        assert rule_cache._digest_sources(copy) != before, name
        path.write_bytes(original)
    assert rule_cache._digest_sources(copy) == before
    (copy / "rules" / "compile" / "new_module.py").write_text("X = 1\n")
    assert rule_cache._digest_sources(copy) != before


def test_the_environment_key_is_the_same_in_every_process() -> None:
    # A key holding anything made per process (a function's address in a repr, a
    # set's order) would make every hunt's cache cold.
    import subprocess
    import sys

    script = (
        "from lotlhunt.rules import cache\n"
        "from lotlhunt.rules.compile.dialect import DUCKDB, SPARK\n"
        "print(cache.environment_digest(DUCKDB), cache.environment_digest(SPARK))\n"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
        ).stdout
        for seed in (1, 2)
    }
    assert len(runs) == 1
    duckdb_key, spark_key = runs.pop().split()
    assert duckdb_key != spark_key


def _age(folder: Path, seconds: float = 60.0) -> None:
    """Set back the modification times of ``folder``'s files (their change times stay)."""
    for p in folder.iterdir():
        st = p.stat()
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns - int(seconds * 1e9)))


def _reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the rule files a load reads."""
    from lotlhunt.rules import loader

    seen: list[str] = []
    original = loader._read_rule_file

    def spy(name: str, out: Any) -> bytes | None:
        seen.append(os.path.basename(name))
        return original(name, out)

    monkeypatch.setattr(loader, "_read_rule_file", spy)
    return seen


def test_a_load_of_unchanged_files_reads_none_of_them(
    folder: Path, rule_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The listing (paths, sizes, inodes, times) stands for the files' contents: a warm
    # load of files changed long enough ago reads none of them (the broken one's
    # failure is cached too), and loads what the per-file cache gives.
    monkeypatch.setattr(rule_listing, "RACY_SECONDS", 0.0)
    _age(folder)
    cold = load_rules([folder])
    reads = _reads(monkeypatch)
    warm = load_rules([folder])
    assert reads == []
    assert (warm.compiled, warm.cache_hits, warm.files) == (0, 5, 5)
    assert warm.rules == cold.rules and warm.failed == cold.failed
    assert warm.not_applicable == cold.not_applicable


def test_a_file_rewritten_with_its_size_and_time_is_read_again(
    folder: Path, rule_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Same size, modification time put back: its change time differs, so the listing
    # does not match and the file is read and recompiled.
    monkeypatch.setattr(rule_listing, "RACY_SECONDS", 0.0)
    _age(folder)
    load_rules([folder])
    path = folder / "r1.yml"
    before = path.stat()
    path.write_text(path.read_text("utf-8").replace("tool1.exe", "toolX.exe"), "utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    again = load_rules([folder])
    assert (again.compiled, again.cache_hits) == (1, 4)
    assert any("toolx.exe" in r.sql.lower() for r in again.rules)
    assert not any("tool1.exe" in r.sql.lower() for r in again.rules)


def test_files_changed_just_now_are_read(
    folder: Path, rule_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Within RACY_SECONDS of a change, a file could change again unseen by its times:
    # no listing is made or used, every file is read.
    load_rules([folder])
    reads = _reads(monkeypatch)
    warm = load_rules([folder])
    assert sorted(reads) == sorted(p.name for p in folder.iterdir())
    assert warm.cache_hits == 5


def test_a_listed_file_whose_entry_is_gone_is_read_and_compiled(
    folder: Path, rule_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rule_listing, "RACY_SECONDS", 0.0)
    _age(folder)
    cold = load_rules([folder])
    con = sqlite3.connect(rule_cache_dir / rule_cache.DB_NAME)
    with con:
        con.execute("DELETE FROM entries WHERE path LIKE ?", ("%r2.yml",))
    con.close()
    reads = _reads(monkeypatch)
    again = load_rules([folder])
    assert reads == ["r2.yml"]
    assert (again.compiled, again.cache_hits) == (1, 4)
    assert again.rules == cold.rules
