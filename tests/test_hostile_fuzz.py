"""Fuzzing JSON exports, archives and rules: whatever they hold, reading and hunting finish,
every record is accounted for, and a lost record is never silent.

Property tests (hypothesis, bounded example counts, no deadline: the machine is shared)
and seeded byte-level mutations; EVTX has its own campaign (test_hostile_evtx_fuzz.py).
"""

from __future__ import annotations

import io
import json
import random
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lotlhunt.engines.duckdb.engine import DuckDBEngine
from lotlhunt.hunt import read_into
from lotlhunt.simulate.evtx_writer import write_evtx
from lotlhunt.simulate.records import EvtxRecord
from lotlhunt.sources import InputUnit, UnitReport, discover, read_unit
from lotlhunt.testing import compile_rules

SEED = 7
FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

NASTY_KEYS = st.sampled_from(
    [
        "__rid",
        "__RID",
        "host",
        "Source",
        "position",
        "EventID",
        "Channel",
        "K\x00y",
        "\x1b[2J",
        "",
        " ",
        "a.b",
        "a__lc",
        'q"uote',
        "x" * 300,
        "Ünï",
        "CommandLine",
        "lotlhunt_extra_fields",
    ]
)
KEYS = st.one_of(NASTY_KEYS, st.text(max_size=12))
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**100), max_value=2**100),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=16,
)
EVENTS = st.dictionaries(KEYS, VALUES, max_size=8)


def read(path: Path, member: str | None = None, fmt: str = "json") -> tuple[int, UnitReport]:
    rows = 0
    report = None
    for item in read_unit(InputUnit(str(path), member, fmt)):
        if isinstance(item, pa.RecordBatch):
            rows += item.num_rows
        else:
            report = item
    assert isinstance(report, UnitReport)
    return rows, report


@pytest.fixture(scope="module")
def engine() -> Any:
    e = DuckDBEngine()
    yield e
    e.close()


@FUZZ
@given(
    events=st.lists(EVENTS, min_size=1, max_size=6),
    framing=st.sampled_from(["lines", "array", "pretty"]),
)
def test_json_events_of_any_shape(
    tmp_path_factory: pytest.TempPathFactory,
    engine: DuckDBEngine,
    events: list[dict[str, Any]],
    framing: str,
) -> None:
    path = tmp_path_factory.mktemp("json") / "e.json"
    if framing == "lines":
        text = "".join(json.dumps(e) + "\n" for e in events)
    elif framing == "array":
        text = json.dumps(events, indent=1)
    else:
        text = "".join(json.dumps(e, indent=2) + "\n" for e in events)
    path.write_text(text, "utf-8")
    rows, report = read(path)
    assert rows + report.records_failed == len(events), report.issues
    assert rows == len(events) or report.issues
    before = engine.count()
    stats = read_into(engine, [path])
    assert engine.count() - before == stats.records == rows


@pytest.mark.parametrize("kind", ["lines", "pretty"])
def test_json_byte_mutations(tmp_path: Path, kind: str) -> None:
    rng = random.Random(SEED)
    docs = [
        {"EventID": i, "Channel": "Security", "CommandLine": f'cmd {i} "q" \\ ü'} for i in range(40)
    ]
    indent = None if kind == "lines" else 2
    texts = [(json.dumps(d, indent=indent) + "\n").encode() for d in docs]
    original = b"".join(texts)
    ends = [sum(map(len, texts[: i + 1])) for i in range(len(texts))]
    for n in range(60):
        data = bytearray(original)
        expected = len(docs)
        for _ in range(rng.randint(1, 6)):
            at = rng.randrange(len(data))
            choice = rng.random()
            if choice < 0.4:
                data[at] ^= 1 << rng.randrange(8)
            elif choice < 0.7:
                data[at] = rng.choice(b'{}[]",:\\\n\x00')
            else:  # a file cut short: what it still holds whole is what must be read
                del data[at:]
                expected = sum(1 for end in ends if end <= at)
                break
        path = tmp_path / f"m{n}.json"
        path.write_bytes(bytes(data))
        rows, report = read(path)
        if rows < expected:
            assert report.issues, f"mutant {n}: {rows} rows of {expected} and no issue"


def _archive(folder: Path) -> bytes:
    evtx = folder / "s.evtx"
    write_evtx(
        evtx,
        [
            EvtxRecord(
                provider="P",
                event_id=4688,
                channel="Security",
                computer="h",
                timestamp=datetime(2024, 1, 1, tzinfo=UTC),
                record_id=i + 1,
                event_data={"CommandLine": f"c {i}"},
            )
            for i in range(150)
        ],
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for m in range(3):
            lines = "".join(json.dumps({"EventID": i, "m": m}) + "\n" for i in range(30))
            zf.writestr(f"d{m}/e.json", lines)
        zf.write(evtx, "s.evtx")
    return buffer.getvalue()


def test_zip_mutations(tmp_path: Path) -> None:
    original = _archive(tmp_path)
    path = tmp_path / "a.zip"
    path.write_bytes(original)
    whole = sum(read(path, u.member, u.fmt)[0] for u in discover([path]).units)
    assert whole == 3 * 30 + 150
    rng = random.Random(SEED)
    for n in range(60):
        data = bytearray(original)
        kind = n % 3
        if kind == 0:
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif kind == 1:
            at = rng.randrange(len(data))
            data[at : at + rng.choice([4, 64, 1024])] = bytes(len(data[at : at + 1024]))[
                : len(data[at : at + rng.choice([4, 64, 1024])])
            ]
        else:
            del data[rng.randrange(len(data)) :]
        mutant = tmp_path / f"m{n}.zip"
        mutant.write_bytes(bytes(data))
        found = discover([mutant])
        rows = 0
        issues = list(found.issues)
        for unit in found.units:
            got, report = read(mutant, unit.member, unit.fmt)
            rows += got
            issues += report.issues
        if rows < whole:
            assert issues or found.skipped, f"mutant {n}: {rows} of {whole} rows and no issue"


MODIFIERS = st.sampled_from(
    [
        "",
        "|contains",
        "|startswith",
        "|endswith",
        "|re",
        "|contains|all",
        "|cidr",
        "|windash",
        "|base64offset|contains",
        "|contains|cased",
        "|exists",
        "|gt",
        "|fieldref",
    ]
)
RULE_VALUES = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["*", "?", "\\", "'", '"', "x" * 5000, "10.0.0.0/8", "(", "[", "\x00", "%x%"]),
    st.integers(),
    st.none(),
)


@FUZZ
@given(
    fields=st.lists(
        st.tuples(st.one_of(NASTY_KEYS, st.text(min_size=1, max_size=10)), MODIFIERS, RULE_VALUES),
        min_size=1,
        max_size=3,
    ),
    keyword=st.one_of(st.none(), st.text(max_size=20)),
)
def test_rules_of_any_shape(
    engine: DuckDBEngine, fields: list[tuple[str, str, Any]], keyword: str | None
) -> None:
    if engine.count() == 0:
        batch = [
            {
                "EventID": 1,
                "Channel": "Microsoft-Windows-Sysmon/Operational",
                "CommandLine": "whoami /all",
                "Image": "C:\\w.exe",
            }
        ]
        import tempfile

        from lotlhunt.testing import load_events

        with tempfile.TemporaryDirectory() as tmp:
            load_events(engine, batch, Path(tmp))
    selection = {f"{name}{modifier}": value for name, modifier, value in fields}
    detection: dict[str, Any] = {"sel": selection, "condition": "sel"}
    if keyword is not None:
        detection = {"sel": selection, "kw": [keyword], "condition": "sel or kw"}
    rule = {
        "title": "fuzzed",
        "id": "99999999-9999-4999-8999-999999999999",
        "logsource": {"product": "windows", "category": "process_creation"},
        "detection": detection,
    }
    ruleset = compile_rules(rule)
    assert len(ruleset.rules) + len(ruleset.failed) + len(ruleset.not_applicable) >= 1
    evaluation = engine.evaluate(ruleset.rules)
    assert all(isinstance(reason, str) for _, reason in evaluation.failed)
