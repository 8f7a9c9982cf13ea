"""Which chunk slots an EVTX scan takes for never written (all zeros), and which not."""

from __future__ import annotations

import pytest

from lotlhunt.sources.formats.evtx_scan import CHUNK, CHUNK_MAGIC, scan_chunk


@pytest.mark.parametrize("size", [1, 512, CHUNK - 1, CHUNK, CHUNK + 7])
def test_zeros_are_an_empty_slot(size: int) -> None:
    assert scan_chunk(bytes(size), 0, 4096).empty


@pytest.mark.parametrize("at", [0, 100, CHUNK - 1])
def test_one_written_byte_is_not_empty(at: int) -> None:
    data = bytearray(CHUNK)
    data[at] = 1
    scan = scan_chunk(bytes(data), 3, 4096 + 3 * CHUNK)
    assert not scan.empty and (scan.index, scan.offset) == (3, 4096 + 3 * CHUNK)


def test_a_chunk_magic_followed_by_zeros_is_not_empty() -> None:
    data = CHUNK_MAGIC + bytes(CHUNK - len(CHUNK_MAGIC))
    scan = scan_chunk(data, 0, 4096)
    assert not scan.empty and not scan.sound
