"""The LOTLHUNT_* environment, read once into Settings and passed on from there."""

from __future__ import annotations

from pathlib import Path

import pytest

from lotlhunt.hunt import HuntConfig, load_hunt_rules
from lotlhunt.settings import Settings


def test_environment_values() -> None:
    env = {
        "HOME": "/home/h",
        "LOTLHUNT_NO_CACHE": " yes ",
        "LOTLHUNT_RULE_WORKERS": "3",
        "LOTLHUNT_CACHE_DIR": "/cache",
    }
    assert Settings.from_environ(env) == Settings(False, Path("/cache"), 3)
    assert Settings.from_environ({"HOME": "/h", "LOTLHUNT_RULE_WORKERS": "many"}) == Settings(
        True, Path("/h/.cache/lotlhunt"), None
    )


@pytest.mark.parametrize(("value", "workers"), [("4", 4), (" 2 ", 2), ("0", 1), ("x", None)])
def test_simulation_workers_from_the_environment(value: str, workers: int | None) -> None:
    assert Settings.from_environ({"HOME": "/h", "LOTLHUNT_SIM_WORKERS": value}).sim_workers == (
        workers
    )
    assert Settings.from_environ({"HOME": "/h"}).sim_workers is None


def test_the_simulator_reads_no_environment() -> None:
    # The environment is read at the edge (settings, the command line) only.
    import lotlhunt.simulate as simulate

    folder = Path(simulate.__file__).parent
    readers = [
        str(p.relative_to(folder))
        for p in sorted(folder.rglob("*.py"))
        if "environ" in p.read_text("utf-8") or "getenv" in p.read_text("utf-8")
    ]
    assert readers == []


def test_a_hunt_config_keeps_the_settings_it_was_made_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The environment is read when the config is made, not while rules load.
    monkeypatch.setenv("LOTLHUNT_CACHE_DIR", str(tmp_path / "made"))
    monkeypatch.delenv("LOTLHUNT_NO_CACHE", raising=False)
    config = HuntConfig()
    monkeypatch.setenv("LOTLHUNT_CACHE_DIR", str(tmp_path / "later"))
    load_hunt_rules(config)
    assert (tmp_path / "made").is_dir() and not (tmp_path / "later").exists()
    off = HuntConfig(settings=Settings(False, tmp_path / "off", 1))
    assert load_hunt_rules(off).cache_hits == 0 and not (tmp_path / "off").exists()
