"""The bundled pack against simulated intrusions: every recorded step is detected, and
hosts the actor never touched get no high or critical detection from the pack."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from lotlhunt.hunt import HuntConfig, run_hunt
from lotlhunt.simulate import LOGS_DIR, simulate_volt_typhoon

SEEDS = (0, 1, 2, 3, 4)


def score(out: Path) -> tuple[dict[str, bool], list[str], dict[str, int]]:
    """(step -> detected, false-positive detections on untouched hosts, event counts)."""
    result = run_hunt(HuntConfig(paths=[out / LOGS_DIR], workers=1))
    assert result.stats.records_failed == 0 and not result.rule_issues
    scenario = json.loads((out / "scenario.json").read_text())
    attacked = {h.lower() for h in scenario["attacked_hosts"]}
    truth = [json.loads(line) for line in (out / "truth.jsonl").read_text().splitlines()]
    hits = {
        ((d.host or "").split(".")[0].lower(), (d.channel or "").lower(), d.record_id)
        for d in result.detections
    }
    steps: dict[str, bool] = defaultdict(bool)
    counts = {"events": 0, "detected": 0}
    for t in truth:
        if not t["recorded"]:
            continue
        key = (t["host"].split(".")[0].lower(), t["channel"].lower(), t["record_id"])
        counts["events"] += 1
        counts["detected"] += key in hits
        steps[t["step"]] |= key in hits
    noisy = [
        f"{d.host}: {d.rule_title} ({d.level})"
        for d in result.detections
        if d.level in ("high", "critical")
        and (d.host or "").split(".")[0].lower() not in attacked
    ]
    return dict(steps), noisy, counts


@pytest.mark.parametrize("seed", SEEDS)
def test_pack_detects_every_recorded_step(seed: int, tmp_path: Path) -> None:
    out = tmp_path / "sim"
    simulate_volt_typhoon(out, hosts=10, days=3, seed=seed, fmt="jsonl")
    steps, noisy, counts = score(out)
    missed = sorted(step for step, seen in steps.items() if not seen)
    print(f"seed {seed}: {len(steps) - len(missed)}/{len(steps)} steps, "
          f"{counts['detected']}/{counts['events']} malicious events detected")
    assert not missed, f"steps without a detection: {missed}"
    assert not noisy, f"high/critical detections on untouched hosts: {noisy}"
