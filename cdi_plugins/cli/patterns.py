"""What the command groups of ``cdi-plugins`` share: reading the pattern a command is
given."""

from __future__ import annotations

_CXI_ROOT, _DX_DATA = "entry_1", "exchange/data"


def read_pattern(path: str):
    """``(intensity (H, W) or (D, H, W), mask, geometry or None)`` of a CXI or Data Exchange
    file holding one pattern (3D when the file's mask has the data's 3D shape, as
    ``prepare --scan`` writes it); a file in neither layout is an error naming both, and so is a
    file whose ``/process/state`` says it holds tomographic data. A file that records no
    state is read as a measured pattern (logged)."""
    import numpy as np

    from tomopy_dlalign.common.h5files import open_h5
    from tomopy_dlalign.common.process import DIFFRACTION_STATES, STATES, read_process, state_of

    from .. import io

    record = read_process(path)
    if state_of(record, "pattern") not in DIFFRACTION_STATES:
        raise ValueError(f"{path} holds {STATES[record.state]} (/process/state is "
                         f"{record.state!r}), not a diffraction pattern")
    with open_h5(path) as f:
        layout = "cxi" if _CXI_ROOT in f else "dx" if _DX_DATA in f else None
    if layout is None:
        raise KeyError(f"{path} holds no diffraction pattern: expected the CXI layout "
                       f"(/entry_1/data_1/data or the detector's data) or Data Exchange "
                       f"(/exchange/data)")
    if layout == "cxi":
        intensity, mask = io.read_cxi(path)
        geom = io.read_cxi_geometry(path)
    else:
        intensity, mask, geom = io.read_dx(path)
    if intensity.ndim == 3 and mask is not None and np.shape(mask) == intensity.shape:
        return intensity, mask, geom        # one 3D pattern (a rocking curve), its 3D mask
    if intensity.ndim == 3:
        if intensity.shape[0] != 1:
            raise ValueError(f"{path} holds {intensity.shape[0]} patterns; phase one at a "
                             "time")
        intensity = intensity[0]
    return intensity, mask, geom
