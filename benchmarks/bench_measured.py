"""Alignment of measured scans with induced sample motion, beside TomoPy, in one run.

Run: ``python benchmarks/bench_measured.py --data DIR [--jitter 10 20] [--out FILE]``
(TomoPy's ``align_joint`` and ``align_seq`` join when TomoPy is importable: run it with
the Python of an environment where TomoPy is built, ``LD_LIBRARY_PATH`` set).

Scans (``DIR`` holds them; how to obtain each is in ``benchmarks/RESULTS.md``):

- ``tooth``: TomoPy's measured tooth, ``tooth.h5`` (181 x 2 x 640, Data Exchange, raw
  counts with flats and darks). Two rows: horizontal motion only.
- ``savu``: a Diamond I12/I13 scan from Savu's test data, ``savu/tiffs/raw_*.tiff``
  (91 x 135 x 160 counts), ``savu/flat_00001.tiff``, ``savu/dark_00001.tiff``,
  ``savu/angles.txt`` (degrees, with 10 flat/dark entries before and after): a particle
  in a holder, one dead pixel, flat-field banding.

Sample motion is induced as it happens at a beamline
(:func:`tomopy_dlalign.simulate.induce_motion`): the line integrals are shifted by random
``(dx, dy)`` (uniform in +-J px; ``dy = 0`` for slabs of fewer than 32 rows), the flat,
the dark and the defective pixels stay where they are, and raw counts are re-made with
Poisson noise. Each method then takes the user's path, ``normalize -> minus_log ->
align``. A further case, ``savu moving defect``, shifts the line integrals computed
without defect handling, so that the dead pixel moves with the sample (as a detector
artefact already baked into the data would).

Scores are RMS residuals against the drawn motion with the unobservable rigid motion
removed (``residual_rmse(..., theta=)``), and the raw residual (common offsets only).
A measured scan carries motion of its own, in every jittered copy alike; the second
score takes the truth as the drawn motion plus the scan's own motion, as ``align`` finds
it on the scan before motion is induced (:func:`own_motion`; with TomoPy, its
``align_joint`` on the same stack is printed beside it as an independent estimate).
"Centre given" is the axis found on the scan before motion was induced; ``"auto"`` is
found by each method from the jittered data. TomoPy gets the given centre in both rows
(its ``find_center`` is reported separately).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

import tomopy_dlalign as tda
from tomopy_dlalign.prep import AlignInfo, residual_rmse


def load_tooth(root: Path):
    import h5py

    with h5py.File(root / "tooth.h5", "r") as f:
        raw = f["exchange/data"][...].astype(np.float32)
        flat = f["exchange/data_white"][...].astype(np.float32)
        dark = f["exchange/data_dark"][...].astype(np.float32)
        theta = np.radians(f["exchange/theta"][...])
    return raw, flat, dark, theta


def load_savu(root: Path):
    import tifffile

    d = root / "savu"
    files = sorted((d / "tiffs").glob("raw_*.tiff"))
    raw = np.stack([tifffile.imread(p) for p in files]).astype(np.float32)
    flat = tifffile.imread(d / "flat_00001.tiff").astype(np.float32)[None]
    dark = tifffile.imread(d / "dark_00001.tiff").astype(np.float32)[None]
    angles = np.loadtxt(d / "angles.txt")
    theta = np.radians(angles[10:10 + raw.shape[0]])
    return raw, flat, dark, theta


LOADERS = {"tooth": load_tooth, "savu": load_savu}


def line_integrals(raw, flat, dark, defects: bool = True):
    try:
        return tda.minus_log(tda.normalize(raw, flat, dark, defects=defects))
    except TypeError:   # a version of normalize without defect handling
        return tda.minus_log(tda.normalize(raw, flat, dark))


def methods(center_given: float):
    out = {
        "align, centre given": lambda p, th, info: tda.align(p, th, center=center_given,
                                                             info=info),
        "align, auto": lambda p, th, info: tda.align(p, th, center="auto", info=info),
    }
    try:
        import tomopy
    except ImportError:
        return out

    def tomopy_method(func, **kw):
        def run(p, th, info):
            info.center = center_given
            _, sx, sy, _ = func(p.copy(), th, center=center_given, **kw)
            return None, np.asarray(sy), np.asarray(sx)   # TomoPy: sy columns, sx rows
        return run

    out["tomopy.align_joint x5 (sirt), centre given"] = tomopy_method(tomopy.align_joint,
                                                                      iters=5)
    out["tomopy.align_seq x5, centre given"] = tomopy_method(tomopy.align_seq, iters=5)
    return out


def tomopy_center(prj, theta):
    try:
        import tomopy
    except ImportError:
        return None
    try:
        c = tomopy.find_center(prj, theta, ind=prj.shape[1] // 2, init=prj.shape[2] / 2,
                               tol=0.5)
    except (ValueError, FloatingPointError):
        return float("nan")
    return float(np.ravel(c)[0])


def own_motion(raw, flat, dark, theta, center, seed):
    """The scan's own motion: what ``align`` (self-check off, so that a small motion is
    not returned as zero) finds on the scan before any motion is induced, its counts
    re-made with Poisson noise like the jittered copies'. A measured scan is not still:
    this motion is in every jittered copy too, so the truth of a copy is the drawn
    motion plus this. With TomoPy importable, ``align_joint`` (MLEM) is run on the same
    stack, as an independent estimate of the same motion."""
    n = raw.shape[0]
    still = line_integrals(tda.simulate.induce_motion(raw, flat, dark, np.zeros(n),
                                                      np.zeros(n), seed=seed + 1),
                           flat, dark)
    _, ox, oy = tda.align(still, theta, center=center, check=False)
    note = {}
    try:
        import tomopy
    except ImportError:
        return ox, oy, note
    _, sx, sy, _ = tomopy.align_joint(still.copy(), theta, center=center,
                                      algorithm="mlem", iters=10)
    tx = np.asarray(sy, float)
    basis = np.stack([np.cos(theta), np.sin(theta), np.ones_like(theta)], 1)

    def free(v):
        return v - basis @ np.linalg.lstsq(basis, v, rcond=None)[0]

    note = {"own_motion_rms_x": float(np.std(free(ox))),
            "tomopy_own_motion_rms_x": float(np.std(free(tx))),
            "own_motion_correlation_with_tomopy": float(np.corrcoef(free(ox), free(tx))[0, 1])}
    print(f"own motion (rigid removed): align {note['own_motion_rms_x']:.3f} px, "
          f"tomopy.align_joint (mlem) {note['tomopy_own_motion_rms_x']:.3f} px, "
          f"correlation {note['own_motion_correlation_with_tomopy']:.2f}", flush=True)
    return ox, oy, note


def run_case(name, raw, flat, dark, theta, jitter, seed, moving_defect=False):
    rng = np.random.default_rng(seed)
    n, rows = raw.shape[0], raw.shape[1]
    dx = rng.uniform(-jitter, jitter, n)
    dy = rng.uniform(-jitter, jitter, n) if rows >= 32 else np.zeros(n)
    clean = line_integrals(raw, flat, dark)
    c_true = tda.find_center(clean, theta)
    if moving_defect:
        prj = tda.shift(line_integrals(raw, flat, dark, defects=False), dx, dy)
    else:
        moved = tda.simulate.induce_motion(raw, flat, dark, dx, dy, seed=seed + 1)
        prj = line_integrals(moved, flat, dark)
    ox, oy, note = own_motion(raw, flat, dark, theta, c_true, seed)
    rows_out = [{"scan": name, "jitter": jitter, "method": "own motion", **note}] if note else []
    for mname, func in methods(c_true).items():
        info = AlignInfo()
        t0 = time.perf_counter()
        _, ex, ey = func(prj, theta, info)
        secs = time.perf_counter() - t0
        row = {"scan": name, "jitter": jitter, "method": mname,
               "rmse_rigid_removed": residual_rmse(ex, ey, dx, dy, theta=theta),
               "rmse_raw": residual_rmse(ex, ey, dx, dy),
               "rmse_own_motion_removed": residual_rmse(ex, ey, dx + ox, dy + oy,
                                                        theta=theta),
               "rmse_dy": float(np.sqrt(np.mean((ey - ey.mean() - dy + dy.mean()) ** 2))),
               "center_used": info.center, "center_given": c_true, "seconds": secs,
               "warning": getattr(info, "warning", None)}
        rows_out.append(row)
        print(f"{name:22s} +-{jitter:<3g} {mname:46s} {row['rmse_rigid_removed']:6.3f} px "
              f"(own motion removed {row['rmse_own_motion_removed']:6.3f}, "
              f"raw {row['rmse_raw']:6.3f}, dy {row['rmse_dy']:5.3f}) centre "
              f"{info.center if info.center is not None else float('nan'):7.2f} / "
              f"{c_true:7.2f}  {secs:6.1f} s", flush=True)
    tc = tomopy_center(prj, theta)
    if tc is not None:
        print(f"{name:22s} +-{jitter:<3g} tomopy.find_center on the jittered stack: {tc:.2f}")
        rows_out.append({"scan": name, "jitter": jitter, "method": "tomopy.find_center",
                         "center_found": tc, "center_given": c_true})
    return rows_out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--scans", nargs="+", default=["tooth", "savu", "savu moving defect"])
    ap.add_argument("--jitter", nargs="+", type=float, default=[10.0, 20.0])
    ap.add_argument("--seed", type=int, default=24)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    results = []
    for scan in args.scans:
        base = scan.split()[0]
        raw, flat, dark, theta = LOADERS[base](args.data)
        moving = scan.endswith("moving defect")
        for j in args.jitter:
            if moving and j > 10:
                continue
            results += run_case(scan, raw, flat, dark, theta, j, args.seed, moving)
            if args.out:
                args.out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
