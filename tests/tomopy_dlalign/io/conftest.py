"""Fixtures shared by the reader tests: raw detector stacks and damaged copies of files."""

import numpy as np
import pytest


@pytest.fixture
def raw_stacks(rng):
    """A function ``(nproj, nslice, ncol) -> (prj, flat, dark)`` of uint16 detector
    frames (3 flats, 2 darks, at a dark level below 100 counts)."""
    def make(nproj, nslice, ncol, nflat=3, ndark=2):
        prj = rng.integers(0, 60000, (nproj, nslice, ncol)).astype(np.uint16)
        flat = rng.integers(0, 60000, (nflat, nslice, ncol)).astype(np.uint16)
        dark = rng.integers(0, 100, (ndark, nslice, ncol)).astype(np.uint16)
        return prj, flat, dark
    return make


@pytest.fixture
def truncate():
    """A function ``(src, dst) -> dst`` writing the first half of ``src``'s bytes to
    ``dst``: a file cut short (an interrupted copy or download)."""
    def cut(src, dst):
        raw = src.read_bytes()
        dst.write_bytes(raw[: len(raw) // 2])
        return dst
    return cut
