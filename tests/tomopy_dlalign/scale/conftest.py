"""Small jittered scans on disk, and what tda.align makes of them in this process."""

from __future__ import annotations

import numpy as np
import pytest

import tomopy_dlalign as tda

NPROJ, NSLICE, NCOL = 60, 32, 64


def write_scan(path, seed: int):
    """A jittered scan of line integrals (``/process/state`` line_integrals): returns
    ``(prj, theta)``."""
    theta = np.linspace(0, np.pi, NPROJ, endpoint=False)
    vol = tda.simulate.phantom("nanoparticles", NCOL, NSLICE, seed=seed)
    prj, _, _ = tda.add_jitter(tda.reproject(vol, theta), -3, 3, seed=seed)
    tda.io.write_dx(path, prj, theta=theta, data_units="1/pixel", state="line_integrals")
    return prj, theta


@pytest.fixture(scope="session")
def scans(tmp_path_factory):
    """Three scan files and, for each, ``tda.align`` of its data in this process."""
    folder = tmp_path_factory.mktemp("scans")
    out = []
    for seed in range(3):
        path = folder / f"scan{seed}.h5"
        prj, theta = write_scan(path, seed)
        aligned, dx, dy = tda.align(prj, theta, show_progress=False)
        out.append({"path": path, "prj": prj, "theta": theta, "aligned": aligned,
                    "dx": dx, "dy": dy})
    return out
