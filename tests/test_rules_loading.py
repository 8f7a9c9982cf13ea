"""Loading rule files and folders: every rule compiles or is listed with a reason."""

from __future__ import annotations

import os
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from corpus import require_corpus
from lotlhunt.rules.loader import load_rules
from lotlhunt.rules.parallel import CompileOptions
from lotlhunt.rules.rule_files import iter_rule_files
from lotlhunt.testing import write_yaml

SIGMAHQ_FOLDERS = ("rules", "rules-emerging-threats", "rules-threat-hunting", "rules-placeholder")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOTLHUNT_CACHE_DIR", str(tmp_path / "cache"))


def rule_doc(n: int, **extra: Any) -> dict[str, Any]:
    doc = {
        "title": f"rule {n}",
        "id": f"00000000-0000-4000-8000-{n:012d}",
        "name": f"rule_{n}",
        "level": "medium",
        "logsource": {"product": "windows", "category": "process_creation"},
        "detection": {"sel": {"Image|endswith": f"\\tool{n}.exe"}, "condition": "sel"},
    }
    doc.update(extra)
    return doc


write = write_yaml


def test_folders_yield_yaml_files_only_sorted_without_hidden_folders(tmp_path: Path) -> None:
    write(tmp_path / "b" / "two.yml", rule_doc(2))
    write(tmp_path / "a.YAML", rule_doc(1))
    write(tmp_path / ".github" / "workflows" / "ci.yml", {"on": "push"})
    (tmp_path / "README.md").write_text("# rules\n", "utf-8")
    (tmp_path / "notes.txt").write_text("x", "utf-8")
    files = [p.relative_to(tmp_path).as_posix() for p in iter_rule_files([tmp_path])]
    assert files == ["a.YAML", "b/two.yml"]
    ruleset = load_rules([tmp_path])
    assert ruleset.files == 2 and len(ruleset.rules) == 2 and ruleset.failed == []


def test_a_file_named_twice_loads_once(tmp_path: Path) -> None:
    path = write(tmp_path / "r.yml", rule_doc(1))
    ruleset = load_rules([tmp_path, path])
    assert ruleset.files == 1 and len(ruleset.rules) == 1


def test_every_rule_is_accounted_for(tmp_path: Path) -> None:
    write(tmp_path / "ok.yml", rule_doc(1))
    write(
        tmp_path / "linux.yml",
        rule_doc(2, logsource={"product": "linux", "category": "process_creation"}),
    )
    (tmp_path / "yaml_error.yml").write_text("title: [unclosed\n", "utf-8")
    write(tmp_path / "bad_sigma.yml", rule_doc(3, detection={"sel": {"A": 1}, "condition": "nope"}))
    write(
        tmp_path / "no_mapping.yml",
        rule_doc(4, logsource={"product": "windows", "category": "no_such_category"}),
    )
    (tmp_path / "latin1.yml").write_bytes("title: caf\xe9\n".encode("latin-1"))
    (tmp_path / "empty.yml").write_text("", "utf-8")
    ruleset = load_rules([tmp_path])
    assert [r.title for r in ruleset.rules] == ["rule 1"]
    assert [label for label, _ in ruleset.not_applicable] == [
        "rule 2 (00000000-0000-4000-8000-000000000002)"
    ]
    failed = {Path(i.path).name: i.message for i in ruleset.failed}
    assert set(failed) == {"yaml_error.yml", "bad_sigma.yml", "no_mapping.yml", "latin1.yml"}
    assert failed["yaml_error.yml"].startswith("invalid rule file")
    assert "no mapping for category 'no_such_category'" in failed["no_mapping.yml"]
    assert ruleset.files == 7
    # A rule with errors is listed once, not once per collection and once per rule.
    assert sum(1 for i in ruleset.failed if Path(i.path).name == "bad_sigma.yml") == 1


def test_multi_document_files_and_global_action(tmp_path: Path) -> None:
    base = rule_doc(1)
    glob = {"action": "global", **{k: base[k] for k in ("level", "logsource")}}
    one = {k: v for k, v in base.items() if k not in ("level", "logsource")}
    two = {**one, "id": "00000000-0000-4000-8000-000000000002", "name": "rule_2", "title": "rule 2"}
    write(tmp_path / "multi.yml", glob, one, two)
    ruleset = load_rules([tmp_path])
    assert sorted(r.title for r in ruleset.rules) == ["rule 1", "rule 2"]


def correlation(rules: list[str]) -> dict[str, Any]:
    return {
        "title": "many tools",
        "id": "00000000-0000-4000-8000-0000000000c1",
        "correlation": {
            "type": "event_count",
            "rules": rules,
            "group-by": ["Computer"],
            "timespan": "5m",
            "condition": {"gte": 2},
        },
    }


def test_correlations_are_kept_also_when_naming_rules_of_other_files(tmp_path: Path) -> None:
    write(tmp_path / "base.yml", rule_doc(1))
    write(tmp_path / "same_file.yml", rule_doc(2), correlation(["rule_2"]))
    write(tmp_path / "other_file.yml", correlation(["rule_1"]))
    first = load_rules([tmp_path])
    assert first.failed == []
    assert len(first.correlations) == 2
    assert {r.name for r in first.rules} == {"rule_1", "rule_2"}
    # Files with correlations are parsed every time; the rest come from the cache.
    second = load_rules([tmp_path])
    assert (second.cache_hits, second.compiled) == (1, 2)
    assert len(second.correlations) == 2


def test_generated_rules_are_compiled_and_cached(tmp_path: Path) -> None:
    first = load_rules([], extra_dicts=[rule_doc(1), rule_doc(2)])
    assert len(first.rules) == 2 and first.files == 0 and first.compiled == 1
    second = load_rules([], extra_dicts=[rule_doc(1), rule_doc(2)])
    assert second.rules == first.rules and second.cache_hits == 1 and second.files == 0
    assert all(r.path == "<generated>" for r in second.rules)


class RecordingProgress:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int | None]] = []

    def start(self, phase: str, total: int | None) -> None:
        self.calls.append((phase, total))

    def advance(self, n: int = 1, records: int = 0) -> None:
        self.calls.append(("advance", n))

    def note(self, message: str) -> None:
        self.calls.append((message, None))


def test_progress_reports_compiling_only_when_there_is_compiling(tmp_path: Path) -> None:
    write(tmp_path / "a.yml", rule_doc(1))
    write(tmp_path / "b.yml", rule_doc(2))
    progress = RecordingProgress()
    load_rules([tmp_path], progress=progress)
    assert progress.calls == [("compiling rules", 2), ("advance", 1), ("advance", 1)]
    progress = RecordingProgress()
    load_rules([tmp_path], progress=progress)
    assert progress.calls == []


@pytest.fixture
def many_files(tmp_path: Path) -> Path:
    folder = tmp_path / "many"
    for n in range(12):
        write(folder / f"r{n:02d}.yml", rule_doc(n))
    write(folder / "linux.yml", rule_doc(50, logsource={"product": "linux", "category": "x"}))
    (folder / "broken.yml").write_text("title: [unclosed\n", "utf-8")
    return folder


#: Workers for a handful of files, a few files each so that every worker gets some.
SHARED = CompileOptions(min_files_per_worker=1, files_per_job=2)


def test_worker_processes_compile_the_same_rules(many_files: Path) -> None:
    local = load_rules([many_files], cache=False, workers=1)
    with warnings.catch_warnings():
        # Workers that cannot start (their entry point not importable) warn and leave the
        # work to this process: the load would succeed without any worker having run.
        warnings.simplefilter("error", RuntimeWarning)
        shared = load_rules([many_files], workers=3, compile_options=SHARED)
    assert shared.compiled == 14 and shared.cache_hits == 0
    assert shared.rules == local.rules
    assert shared.failed == local.failed and shared.not_applicable == local.not_applicable
    # What the workers compiled is cached like the rest.
    assert load_rules([many_files]).cache_hits == 14


def test_workers_that_fail_leave_the_work_to_this_process(many_files: Path) -> None:
    # Workers that exit at once used to raise BrokenPipeError out of the load now and
    # then (about 1 load in 30), depending on when they died: load many times.
    local = load_rules([many_files], cache=False, workers=1)
    dying = replace(SHARED, interpreter=(sys.executable, "-c", "import sys; sys.exit(3)", "--"))
    for _ in range(10):
        with pytest.warns(RuntimeWarning, match="failed to start"):
            shared = load_rules([many_files], cache=False, workers=2, compile_options=dying)
        assert shared.rules == local.rules and shared.compiled == 14


@pytest.mark.corpus
def test_sigmahq_compile_rate_and_warm_load(tmp_path: Path) -> None:
    folders = [require_corpus("sigma", name) for name in SIGMAHQ_FOLDERS]
    started = time.perf_counter()
    cold = load_rules(folders)
    cold_seconds = time.perf_counter() - started
    total = len(cold.rules) + len(cold.failed) + len(cold.not_applicable)
    assert total >= cold.files  # every file yields at least one accounted-for rule
    rate = (len(cold.rules) + len(cold.not_applicable)) / total
    print(
        f"{cold.files} files: {len(cold.rules)} compiled, {len(cold.not_applicable)} not "
        f"applicable, {len(cold.failed)} failed ({rate:.2%} ok), cold {cold_seconds:.1f} s"
    )
    assert rate >= 0.995, [str(i) for i in cold.failed]
    # Nothing fails for a reason other than a missing mapping or a placeholder value.
    for issue in cold.failed:
        assert "placeholder %" in issue.message or "no mapping for" in issue.message, issue

    started = time.perf_counter()
    warm = load_rules(folders)
    warm_seconds = time.perf_counter() - started
    print(f"warm {warm_seconds:.2f} s")
    assert warm.cache_hits == warm.files == cold.files and warm.compiled == 0
    assert warm.rules == cold.rules and warm.failed == cold.failed
    assert warm_seconds < 5  # generous for loaded CI machines; ~0.4 s on a quiet one


def test_links_to_rule_folders_are_followed_and_read_once(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    write(tmp_path / "shared" / "one.yml", rule_doc(1))
    write(rules / "two.yml", rule_doc(2))
    (rules / "linked").symlink_to(tmp_path / "shared", target_is_directory=True)
    (rules / "loop").symlink_to(rules, target_is_directory=True)  # a link to a parent
    files = [p.relative_to(rules).as_posix() for p in iter_rule_files([rules])]
    assert files == ["linked/one.yml", "two.yml"]
    ruleset = load_rules([rules, tmp_path / "shared"])
    assert ruleset.files == 2 and len(ruleset.rules) == 2 and ruleset.failed == []


def test_a_rule_folder_that_cannot_be_listed_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "ok" / "one.yml", rule_doc(1))
    write(tmp_path / "locked" / "two.yml", rule_doc(2))
    scandir = os.scandir

    def refusing(path: Any) -> Any:
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refusing)
    ruleset = load_rules([tmp_path], cache=False)
    assert len(ruleset.rules) == 1
    assert [(i.path, i.message.split(":")[0]) for i in ruleset.failed] == [
        (str(tmp_path / "locked"), "cannot list rule folder")
    ]
