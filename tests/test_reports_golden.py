"""Golden files pin every report of a seeded simulation and of a result with incidents.

Regenerate after an intended change with ``pytest tests/test_reports_golden.py
--update-golden`` and review the diff. Timings and the temporary folder are masked.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lotlhunt.hunt import HuntConfig, run_hunt
from lotlhunt.model import HuntResult
from lotlhunt.reports import REPORTS
from lotlhunt.simulate import simulate_volt_typhoon
from report_fixtures import fake_result

GOLDEN = Path(__file__).parent / "golden"
SUFFIX = {
    "jsonl": "jsonl",
    "csv": "csv",
    "stats": "json",
    "incidents": "jsonl",
    "issues": "jsonl",
    "html": "html",
    "navigator": "json",
    "timesketch": "jsonl",
    "ecs": "ndjson",
}


def mask(text: str, root: Path) -> str:
    """The temporary folder, timings and ids derived from paths made constant."""
    text = text.replace(str(root), "<ROOT>")
    text = re.sub(r'("seconds": )[0-9.]+', r"\1<S>", text)
    text = re.sub(r'("(?:rules|read|hunt|correlate|collect|analytics)": )[0-9.]+', r"\1<S>", text)
    text = re.sub(r'"_id":"[0-9a-f]{40}"', '"_id":"<ID>"', text)
    return text


def check(result: HuntResult, out: Path, root: Path, name: str, update: bool) -> None:
    folder = GOLDEN / name
    folder.mkdir(parents=True, exist_ok=True)
    mismatched = []
    for key, report in REPORTS.items():
        path = out / f"{key}.{SUFFIX[key]}"
        report.writer(result, path)
        got = mask(path.read_text("utf-8"), root)
        golden = folder / path.name
        if update:
            golden.write_text(got, "utf-8")
        elif not golden.exists() or golden.read_text("utf-8") != got:
            mismatched.append(path.name)
    assert not mismatched, f"{mismatched} differ from {folder} (--update-golden to accept)"


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[HuntResult, Path]:
    root = tmp_path_factory.mktemp("sim")
    simulate_volt_typhoon(root / "sim", hosts=6, days=1, seed=7, fmt="jsonl")
    result = run_hunt(HuntConfig(paths=[root / "sim" / "logs"], workers=1))
    return result, root


def test_reports_of_a_seeded_simulation(
    simulated: tuple[HuntResult, Path], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    result, root = simulated
    assert result.detections, "the simulated intruder is found"
    check(result, tmp_path, root, "simulation", request.config.getoption("--update-golden"))


def test_reports_of_a_result_with_incidents(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    check(
        fake_result(30),
        tmp_path,
        tmp_path,
        "incidents",
        request.config.getoption("--update-golden"),
    )
