"""The rows of a field's values (engines/duckdb/units.py ``FieldCodes.rows_of``): the
inverted index sorts codes in the narrowest type that holds them, which must give the
rows a scan of every code gives, whatever the number of distinct values."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from lotlhunt.engines.duckdb.units import FieldCodes

# Distinct values on either side of the bounds of 8, 16 and 32 bits.
SIZES = [1, 2, 255, 256, 257, 65_535, 65_536, 65_537]


@settings(max_examples=80, deadline=None)
@given(
    size=st.sampled_from(SIZES),
    seed=st.integers(0, 2**32 - 1),
    rows=st.integers(0, 400),
    asked=st.integers(0, 20),
)
def test_rows_of_values_are_the_rows_holding_them(
    size: int, seed: int, rows: int, asked: int
) -> None:
    rng = np.random.default_rng(seed)
    # The highest codes (NULL's, the last value, among them) are drawn often.
    codes = np.where(
        rng.random(rows) < 0.3,
        size - 1 - rng.integers(0, min(size, 3), rows),
        rng.integers(0, size, rows),
    ).astype(np.int64)
    field = FieldCodes(pa.array(np.arange(size)), codes)
    wanted = np.unique(
        np.concatenate([rng.choice(codes, min(asked, rows)), rng.integers(0, size, asked)])
    ).astype(np.int64)
    for _ in range(2):  # the index built, then read again
        got = field.rows_of(wanted)
        assert got.tolist() == np.flatnonzero(np.isin(codes, wanted)).tolist()
    assert field.weight(wanted) == len(got)
