"""The readers on the shared real-world corpus: every file reads, every record accounted for.

Counts are checked against independent counts made here the plain way (the ``evtx``
package's own iteration; non-empty lines of each archive member read with the standard
library), so a reader that silently drops records fails.
"""

from __future__ import annotations

import tarfile
import zipfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import evtx
import pyarrow as pa
import pytest

from corpus import require_corpus
from lotlhunt.sources import InputUnit, UnitReport, discover, read_all, read_unit

pytestmark = pytest.mark.corpus


def _read_everything(units: list[InputUnit]) -> tuple[dict[str, int], dict[str, UnitReport]]:
    rows: dict[str, int] = defaultdict(int)
    reports: dict[str, UnitReport] = {}
    for item in read_all(units, workers=2):
        if isinstance(item, UnitReport):
            reports[item.unit.label] = item
        else:
            assert isinstance(item, pa.RecordBatch)
            for label in item["source"].to_pylist():  # one batch, maybe several units
                rows[label] += 1
    return rows, reports


def _evtx_count(path: Path) -> int:
    """Records plus errors, as a straightforward loop over the evtx package sees them."""
    count = 0
    records = evtx.PyEvtxParser(str(path)).records_json()
    while True:
        try:
            next(records)
        except StopIteration:
            return count
        except RuntimeError:
            pass
        count += 1


def _non_empty_lines(data: bytes) -> int:
    return sum(1 for line in data.split(b"\n") if line.strip())


def _is_log_member(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return name.endswith(".json") and not base.startswith("._") and "__MACOSX/" not in name


def test_evtx_attack_samples() -> None:
    root = require_corpus("evtx-attack-samples")
    files = sorted(root.rglob("*.evtx"))
    assert len(files) >= 250
    found = discover([root])
    assert sorted(Path(u.path) for u in found.units if u.fmt == "evtx") == files
    rows, reports = _read_everything(found.units)
    assert set(reports) == {u.label for u in found.units}
    for path in files:
        report = reports[str(path)]
        assert report.records == rows[str(path)]
        assert report.records + report.records_failed == _evtx_count(path), path
        assert not [i for i in report.issues if i.kind == "file"], report.issues


def test_mordor_archives() -> None:
    root = require_corpus("mordor")
    found = discover([root])
    assert not found.issues, found.issues
    rows, reports = _read_everything(found.units)
    expected: dict[str, int] = {}
    for path in sorted(root.rglob("*.zip")):
        with zipfile.ZipFile(path) as zf:
            for name in zf.namelist():
                if _is_log_member(name):
                    expected[f"{path}!{name}"] = _non_empty_lines(zf.read(name))
    for path in sorted(root.rglob("*.tar.gz")):
        with tarfile.open(path, "r|gz") as tar:
            try:
                for info in tar:
                    handle = tar.extractfile(info)
                    if handle is not None and _is_log_member(info.name):
                        expected[f"{path}!{info.name}"] = _non_empty_lines(handle.read())
            except (tarfile.ReadError, EOFError):  # some of these end early, after the data
                pass
    assert len(expected) >= 120
    json_units = {u.label for u in found.units if u.fmt == "json" and u.member is not None}
    assert json_units == set(expected)
    skipped = {label for label, _ in found.skipped}
    assert any(label.endswith((".cap", ".pcapng")) for label in skipped)
    for label, count in expected.items():
        report = reports[label]
        assert report.records == rows[label]
        assert report.records + report.records_failed == count, label
        assert report.records_failed == 0, report.issues[:3]
    assert sum(expected.values()) > 600_000


# Fields whose values must agree between a regression case's .evtx and its .json twin.
# The twins were exported by another tool that trims trailing blanks and, once, changed
# the case of a path; values are compared trimmed and case-folded for that reason.
_KEY_FIELDS = (
    "host",
    "channel",
    "provider",
    "timestamp",
    "Image",
    "CommandLine",
    "ParentImage",
    "TargetObject",
    "TargetFilename",
    "ImageLoaded",
    "Provider_Name",
    "ScriptBlockText",
)


def _rows(path: Path, fmt: str) -> tuple[list[dict[str, Any]], UnitReport]:
    items = list(read_unit(InputUnit(str(path), None, fmt)))
    report = items[-1]
    assert isinstance(report, UnitReport)
    return [r for b in items[:-1] if isinstance(b, pa.RecordBatch) for r in b.to_pylist()], report


def _norm(value: Any) -> Any:
    return value.rstrip().casefold() if isinstance(value, str) else value


def test_sigma_regression_twins_agree() -> None:
    root = require_corpus("sigma-regression")
    pairs = [(p, p.with_suffix(".json")) for p in sorted(root.rglob("*.evtx"))]
    assert len(pairs) >= 100 and all(j.exists() for _, j in pairs)
    for evtx_path, json_path in pairs:
        from_evtx, report_evtx = _rows(evtx_path, "evtx")
        from_json, report_json = _rows(json_path, "json")
        assert report_evtx.records_failed == report_json.records_failed == 0
        assert from_evtx, evtx_path
        by_key = {(r["event_id"], r["record_id"]): r for r in from_json}
        assert {(r["event_id"], r["record_id"]) for r in from_evtx} == set(by_key), evtx_path
        for row in from_evtx:
            twin = by_key[(row["event_id"], row["record_id"])]
            for name in _KEY_FIELDS:
                assert _norm(row.get(name)) == _norm(twin.get(name)), (evtx_path, name)
