"""``align`` on 181 x 1024 x 1024 on this machine: the network pass and the binned polish.

Run: ``python benchmarks/bench_align_large.py``

A held-out ``cells`` phantom (128^3, seed 9300) is projected at 181 angles, the
projections are upsampled to 1024 x 1024 and jittered by +-80 px (the +-10 px of the
128 px cases, scaled). The script prints the wall time, the residual RMSE (common offsets
removed, and with the rigid motion of the sample removed too) and the peak memory.
"""

from __future__ import annotations

import resource
import time

import numpy as np
import torch

import tomopy_dlalign as tda
from tomopy_dlalign import simulate
from tomopy_dlalign.prep import residual_rmse


def main():
    theta = np.linspace(0, np.pi, 181, endpoint=False)
    vol = simulate.phantom("cells", 128, 128, seed=9300) * 0.05
    small = torch.from_numpy(tda.reproject(vol, theta))[:, None]
    prj = torch.nn.functional.interpolate(small, size=(1024, 1024), mode="bilinear",
                                          align_corners=False)[:, 0].numpy() / 8
    jittered, dx, dy = tda.add_jitter(prj, -80, 80, seed=9300)
    del prj
    for name, kw in (("align(polish=False)", dict(polish=False)),
                     ("align(polish_size=256)", dict(polish_size=256))):
        t = time.perf_counter()
        _, ex, ey = tda.align(jittered, theta, center=512.0, **kw)
        print(f"{name} on {jittered.shape}: {time.perf_counter() - t:.1f} s; RMSE "
              f"{residual_rmse(ex, ey, dx, dy):.2f} px, rigid motion removed "
              f"{residual_rmse(ex, ey, dx, dy, theta=theta):.2f} px (jitter +-80 px); peak "
              f"RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.1f} GB",
              flush=True)


if __name__ == "__main__":
    main()
