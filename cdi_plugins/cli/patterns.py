"""What the command groups of ``cdi-plugins`` share: reading the pattern a command is
given."""

from __future__ import annotations

from .. import io


def read_pattern(path: str):
    """``(intensity (H, W), mask, geometry or None)`` of a CXI or Data Exchange file
    holding one pattern."""
    try:
        intensity, mask = io.read_cxi(path)
        geom = io.read_cxi_geometry(path)
    except KeyError:
        intensity, mask, geom = io.read_dx(path)
    if intensity.ndim == 3:
        if intensity.shape[0] != 1:
            raise SystemExit(f"{path} holds {intensity.shape[0]} patterns; phase one at a time")
        intensity = intensity[0]
    return intensity, mask, geom
