"""The polish's stopping tolerance on simulated stand-ins for a measured scan.

Run: ``python benchmarks/bench_polish_tolerance.py [--tolerances 0.05 0.1]``

Four phantom families (160 px wide, 135 rows, 91 angles over 180 degrees inclusive, as
the measured Savu scan), raw counts of 1000 per open-beam pixel, sample motion induced
with :func:`tomopy_dlalign.simulate.induce_motion` at +-10 and +-20 px; ``align`` with the
axis given, for each tolerance of ``POLISH_TOL`` (rounds past two go on while a round
moves the shifts by more than it). Error against the drawn motion, rigid motion removed.
"""

from __future__ import annotations

import argparse

import numpy as np

import tomopy_dlalign as tda
from tomopy_dlalign.prep import alignment, residual_rmse

THETA = np.radians(np.linspace(-88.2, 91.8, 91))
CASES = (("cells", 5), ("shepp_logan", 6), ("battery", 7), ("assembly", 8))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tolerances", nargs="+", type=float, default=[0.05, 0.1])
    args = ap.parse_args(argv)
    errors = {t: [] for t in args.tolerances}
    original = alignment.POLISH_TOL
    try:
        for family, seed in CASES:
            vol = tda.simulate.phantom(family, 160, 135, seed=seed)
            raw, flat, dark = (a.astype(np.float32) for a in tda.simulate.scan(
                vol, THETA, center=86.0, flat_counts=1000, attenuation=0.03, seed=seed))
            for jitter in (10.0, 20.0):
                rng = np.random.default_rng(seed + 100)
                dx, dy = rng.uniform(-jitter, jitter, 91), rng.uniform(-jitter, jitter, 91)
                moved = tda.simulate.induce_motion(raw, flat, dark, dx, dy, seed=seed)
                prj = tda.minus_log(tda.normalize(moved, flat, dark))
                for tol in args.tolerances:
                    alignment.POLISH_TOL = tol
                    _, ex, ey = tda.align(prj, THETA, center=86.0, show_progress=False)
                    errors[tol].append(residual_rmse(ex, ey, dx, dy, theta=THETA))
                print(f"{family:12s} +-{jitter:<3g} " + "  ".join(
                    f"tol {t:g}: {errors[t][-1]:.3f}" for t in args.tolerances), flush=True)
    finally:
        alignment.POLISH_TOL = original
    print("mean: " + "  ".join(f"tol {t:g}: {np.mean(v):.4f}" for t, v in errors.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
