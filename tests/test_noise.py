"""Noise control: profiles, level overrides, the noisy list, floods, the noisiest listing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from lotlhunt.analytics.noise import noisiest, noisy_list
from lotlhunt.cli import cli
from lotlhunt.errors import UsageError
from lotlhunt.hunt import HuntConfig, load_hunt_rules, run_hunt
from lotlhunt.rules.profiles import Profile, in_profile
from lotlhunt.testing import write_yaml

SYSMON = "Microsoft-Windows-Sysmon/Operational"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOTLHUNT_CACHE_DIR", str(tmp_path / "cache"))


def rule(n: int, level: str, status: str | None, image: str, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "title": f"Rule {n} {image}",
        "id": f"00000000-0000-4000-8000-{n:012d}",
        "level": level,
        "logsource": {"product": "windows", "category": "process_creation"},
        "detection": {"sel": {"Image|endswith": f"\\{image}"}, "condition": "sel"},
        **extra,
    }
    if status:
        doc["status"] = status
    return doc


RULES = [
    rule(1, "critical", "stable", "a.exe"),
    rule(2, "high", "test", "b.exe"),
    rule(3, "medium", "test", "c.exe"),
    rule(4, "medium", "experimental", "d.exe"),
    rule(5, "low", "experimental", "e.exe"),
    rule(6, "informational", "test", "f.exe", tags=["detection.threat-hunting"]),
    rule(7, "high", "deprecated", "g.exe"),
    rule(8, "informational", None, "h.exe"),
]
IN_PROFILE = {
    "core": {1, 2},
    "core+": {1, 2, 3},
    "core++": {1, 2, 3, 4},
    "hunting": {1, 2, 3, 4, 5, 6},
    "all": {1, 2, 3, 4, 5, 6, 7, 8},
}


def loaded(tmp_path: Path, **config: Any) -> set[int]:
    folder = tmp_path / "rules"
    for doc in RULES:
        write_yaml(folder / f"{doc['id']}.yml", doc)
    ruleset = load_hunt_rules(HuntConfig(rules=[folder], default_rules=False, **config))
    return {int(r.id[-12:]) for r in ruleset.rules}


@pytest.mark.parametrize("profile", list(IN_PROFILE))
def test_profiles_choose_by_level_and_status(tmp_path: Path, profile: str) -> None:
    assert loaded(tmp_path, profile=profile) == IN_PROFILE[profile]


def test_a_profile_counts_what_it_leaves_out(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    for doc in RULES:
        write_yaml(folder / f"{doc['id']}.yml", doc)
    ruleset = load_hunt_rules(HuntConfig(rules=[folder], default_rules=False, profile="core"))
    assert ruleset.left_out == {"outside profile core": 6}


def test_unknown_profile_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown profile"):
        loaded(tmp_path, profile="core+++")


def test_a_rule_without_status_counts_as_experimental() -> None:
    assert in_profile(Profile.CORE_PLUS_PLUS, "high", "", ())
    assert not in_profile(Profile.CORE, "high", "", ())


def test_profile_keeps_the_base_rules_of_a_correlation_it_keeps(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    base = rule(20, "informational", "test", "x.exe", name="base_x")
    corr = {
        "title": "many x",
        "id": "00000000-0000-4000-8000-000000000021",
        "status": "test",
        "level": "high",
        "correlation": {
            "type": "event_count",
            "rules": ["base_x"],
            "timespan": "5m",
            "condition": {"gte": 3},
        },
    }
    write_yaml(folder / "corr.yml", base, corr)
    ruleset = load_hunt_rules(HuntConfig(rules=[folder], default_rules=False, profile="core"))
    assert [r.title for r in ruleset.rules] == ["Rule 20 x.exe"]
    assert len(ruleset.correlations) == 1


def test_level_overrides_by_id_and_title_glob_then_profile(tmp_path: Path) -> None:
    overrides = write_yaml(
        tmp_path / "levels.yml",
        {
            "00000000-0000-4000-8000-000000000005": "high",  # by id: into core++... not core
            "rule 2 *": "low",  # by title, case-insensitive: out of core
            "Rule 3*": "critical",
            "No Such Rule*": "low",
        },
    )
    folder = tmp_path / "rules"
    for doc in RULES:
        write_yaml(folder / f"{doc['id']}.yml", doc)
    ruleset = load_hunt_rules(
        HuntConfig(rules=[folder], default_rules=False, level_overrides=overrides, profile="core")
    )
    levels = {int(r.id[-12:]): (r.level, r.level_override) for r in ruleset.rules}
    assert levels == {
        1: ("critical", ""),
        3: ("critical", "levels.yml: medium -> critical"),
    }
    assert [i.message for i in ruleset.tuning_issues] == [
        "level override 'No Such Rule*' matches no rule"
    ]


def test_an_id_override_wins_over_a_title_glob(tmp_path: Path) -> None:
    overrides = tmp_path / "levels.yml"
    overrides.write_text("'Rule 1*': low\n00000000-0000-4000-8000-000000000001: medium\n", "utf-8")
    folder = tmp_path / "rules"
    write_yaml(folder / "r.yml", RULES[0])
    ruleset = load_hunt_rules(
        HuntConfig(rules=[folder], default_rules=False, level_overrides=overrides)
    )
    assert ruleset.rules[0].level == "medium"


@pytest.mark.parametrize("content", ["- a\n- b\n", "x: severe\n", "x: [low]\n"])
def test_bad_override_files_are_usage_errors(tmp_path: Path, content: str) -> None:
    path = tmp_path / "levels.yml"
    path.write_text(content, "utf-8")
    with pytest.raises(UsageError):
        loaded(tmp_path, level_overrides=path)


def test_the_shipped_noisy_list_is_left_out_on_request(tmp_path: Path) -> None:
    listed = next(iter(noisy_list()))
    folder = tmp_path / "rules"
    write_yaml(folder / "noisy.yml", {**rule(30, "low", "test", "n.exe"), "id": listed})
    write_yaml(folder / "quiet.yml", rule(31, "low", "test", "q.exe"))
    kept = load_hunt_rules(HuntConfig(rules=[folder], default_rules=False, exclude_noisy=True))
    assert [r.title for r in kept.rules] == ["Rule 31 q.exe"]
    assert kept.left_out == {"on the noisy rule list": 1}
    every = load_hunt_rules(HuntConfig(rules=[folder], default_rules=False))
    assert len(every.rules) == 2


def test_every_listed_noisy_rule_says_why() -> None:
    for rule_id, reason in noisy_list().items():
        assert len(rule_id) == 36 and "detections" in reason


def logs(tmp_path: Path, counts: dict[str, int]) -> Path:
    path = tmp_path / "logs.jsonl"
    rows = []
    for image, n in counts.items():
        for i in range(n):
            rows.append(
                {
                    "Channel": SYSMON,
                    "EventID": 1,
                    "Hostname": f"ws{i % 3}",
                    "Image": f"C:\\Tools\\{image}",
                    "ParentImage": "C:\\Agent\\agent.exe" if i % 4 else "C:\\x\\cmd.exe",
                }
            )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    return path


def test_a_rule_flooding_the_hunt_is_set_aside_and_reported(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    write_yaml(folder / "a.yml", rule(40, "medium", "test", "busy.exe"))
    write_yaml(folder / "b.yml", rule(41, "high", "test", "rare.exe"))
    path = logs(tmp_path, {"busy.exe": 40, "rare.exe": 3})
    config = dict(paths=[path], rules=[folder], default_rules=False)
    plain = run_hunt(HuntConfig(**config))
    assert len(plain.detections) == 43 and plain.suppressed == []
    quiet = run_hunt(HuntConfig(**config, exclude_noisy=True, noisy_threshold=10))
    assert [d.rule_title for d in quiet.detections] == ["Rule 41 rare.exe"] * 3
    assert [(s.rule_title, s.detections) for s in quiet.suppressed] == [("Rule 40 busy.exe", 40)]
    assert any("40 detections of Rule 40 busy.exe" in n for n in quiet.stats.notes)


def test_noisiest_lists_counts_hosts_and_the_dominant_value(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    write_yaml(folder / "a.yml", rule(40, "medium", "test", "busy.exe"))
    write_yaml(folder / "b.yml", rule(41, "high", "test", "rare.exe"))
    result = run_hunt(
        HuntConfig(
            paths=[logs(tmp_path, {"busy.exe": 40, "rare.exe": 3})],
            rules=[folder],
            default_rules=False,
        )
    )
    rows = noisiest(result.detections, 1)
    assert len(rows) == 1
    top = rows[0]
    assert (top.title, top.detections, top.hosts) == ("Rule 40 busy.exe", 40, 3)
    assert (top.field, top.value, top.share) == ("Image", "C:\\Tools\\busy.exe", 1.0)
    # The lines parse as an exclusions entry and a level override entry.
    entry = yaml.safe_load(top.exclusion_line())[0]
    assert entry["rule"] == top.rule_id and entry["match"] == {"Image": "C:\\Tools\\busy.exe"}
    assert yaml.safe_load(top.override_line()) == {top.rule_id: "low"}


def test_an_exclusion_line_escapes_sigma_wildcards() -> None:
    from lotlhunt.analytics.noise import RuleNoise

    row = RuleNoise("id", "t", "high", 5, 1, "CommandLine", "a*b?c", 1.0)
    assert yaml.safe_load(row.exclusion_line())[0]["match"] == {"CommandLine": "a\\*b\\?c"}


def test_cli_prints_noisiest_rules_without_terminal_controls(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    doc = rule(40, "medium", "test", "busy.exe")
    doc["detection"] = {"sel": {"Image|contains": "busy"}, "condition": "sel"}
    write_yaml(folder / "a.yml", doc)
    path = tmp_path / "logs.jsonl"
    row = {"Channel": SYSMON, "EventID": 1, "Hostname": "ws1", "Image": "C:\\busy\x1b[2J.exe"}
    path.write_text(json.dumps(row) + "\n", "utf-8")
    out = CliRunner().invoke(
        cli, ["hunt", str(path), "--rules", str(folder), "--no-default-rules", "--noisiest", "3"]
    )
    assert out.exit_code == 0, out.output
    assert "Noisiest rules" in out.output and "\x1b[2J" not in out.output
    assert "\\e[2J" in out.output
    assert "00000000-0000-4000-8000-000000000040: low" in out.output


def test_rules_list_shows_what_a_profile_would_run(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    for doc in RULES:
        write_yaml(folder / f"{doc['id']}.yml", doc)
    levels = write_yaml(tmp_path / "levels.yml", {"Rule 3*": "critical"})
    out = CliRunner().invoke(
        cli,
        ["rules", "list", str(folder), "--no-default-rules", "--profile", "core", "--json"]
        + ["--level-override", str(levels)],
    )
    assert out.exit_code == 0, out.output
    listed = sorted(json.loads(line)["rule"] for line in out.output.splitlines())
    assert [name.split(" ")[1] for name in listed] == ["1", "2", "3"]
