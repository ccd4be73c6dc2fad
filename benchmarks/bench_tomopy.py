"""tda.fbp / tda.mlem against TomoPy's gridrec and ASTRA's FBP, and compat.align_joint
against tomopy.align_joint, in one run: time (first and repeated calls) and accuracy.

Run: ``python benchmarks/bench_tomopy.py [--quick] [--out benchmarks/tomopy_results.json]``

Reconstruction: a Shepp-Logan phantom of 128 slices x 256^2, 181 angles over 180 degrees,
projected with ``tda.reproject``'s matrix-free ``torch`` backend; accuracy is the
relative L2 error inside the reconstruction circle. The first call of ``tda.fbp`` /
``tda.mlem`` is timed in a fresh process, twice: with an empty on-disk matrix cache (a
geometry never seen) and with the cache filled (any later process, the CLI, a scale-out
worker); repeated calls are timed in the same process. TomoPy's gridrec runs unpadded
(as ``tomopy.recon`` does by default) and with the projections edge-padded by half the
width on each side (which removes its cupping); ASTRA's CPU ``FBP`` runs slice by
slice. MLEM: 32 slices x 128^2, 20 iterations. Alignment (only where TomoPy is
importable): 181 x 64 x 128 with +-10 px of jitter; the residual is scored with the
rigid motion removed (DESIGN.md section 5).
TomoPy and ASTRA parts are skipped, and said so, where they are not importable.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

import tomopy_dlalign as tda
from tomopy_dlalign import compat, simulate
from tomopy_dlalign.prep import residual_rmse

THETA = np.linspace(0, np.pi, 181, endpoint=False)


def _data(nslice, ncol):
    vol = simulate.phantom("shepp_logan", ncol, nslice, seed=0).astype(np.float32) * 0.05
    # the matrix-free projector: the timed first calls must build their matrix themselves
    return vol, tda.reproject(vol, THETA, center=ncol / 2, backend="torch")


def _error(rec, vol):
    n = vol.shape[-1]
    yy, xx = np.mgrid[:n, :n] + 0.5 - n / 2
    inside = np.hypot(yy, xx) < n / 2 - 1
    return float(np.linalg.norm((rec - vol)[:, inside]) / np.linalg.norm(vol[:, inside]))


def _timed(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return out, times


def first_call(kind: str, nslice: int, ncol: int) -> dict:
    """Child-process mode: time the first and two repeated calls of ``kind``."""
    vol, prj = _data(nslice, ncol)
    if kind == "fbp":
        fn = lambda: tda.fbp(prj, THETA, center=ncol / 2)  # noqa: E731
    else:
        fn = lambda: tda.mlem(prj, THETA, center=ncol / 2, num_iter=20)  # noqa: E731
    rec, times = _timed(fn, 3)
    return {"method": f"tda.{kind}", "first_s": times[0], "repeated_s": min(times[1:]),
            "ratio": times[0] / min(times[1:]), "error": _error(rec, vol)}


def _in_fresh_process(kind, nslice, ncol, cache):
    env = dict(os.environ, TOMOPY_DLALIGN_CACHE=cache)
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(nslice), str(ncol)],
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_ours(nslice, ncol, kind):
    """First calls with an empty and with a filled disk cache, in fresh processes."""
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        for state in ("empty disk cache", "filled disk cache"):
            row = _in_fresh_process(kind, nslice, ncol, cache) | {"cache": state}
            rows.append(row)
    return rows


def _optional(module: str, what: str):
    """The module, or None (and a line saying ``what`` is skipped) when it is missing."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        print(f"{module} is not importable here: {what} skipped")
        return None


def bench_gridrec(tomopy, vol, prj):
    ncol = prj.shape[2]
    pad = ncol // 2
    padded = np.pad(prj, ((0, 0), (0, 0), (pad, pad)), mode="edge")
    rows = []
    for name, data, c in (("gridrec", prj, ncol / 2), ("gridrec, edge-padded", padded,
                                                       ncol / 2 + pad)):
        rec, times = _timed(lambda d=data, c=c: tomopy.recon(d, THETA, center=c,
                                                              algorithm="gridrec", ncore=2), 3)
        rec = rec[:, pad:pad + ncol, pad:pad + ncol] if data is padded else rec
        rows.append({"method": f"tomopy {name}", "first_s": times[0],
                     "repeated_s": min(times[1:]), "error": _error(rec, vol)})
    return rows


def bench_astra_fbp(astra, vol, prj):
    nslice, ncol = prj.shape[1:]
    cuda = bool(astra.use_cuda())
    vol_geom = astra.create_vol_geom(ncol, ncol)
    proj_geom = astra.create_proj_geom("parallel", 1.0, ncol, THETA)

    def run():
        pid = None if cuda else astra.create_projector("linear", proj_geom, vol_geom)
        rec = np.empty((nslice, ncol, ncol), np.float32)
        for i in range(nslice):
            sid = astra.data2d.create("-sino", proj_geom, prj[:, i])
            rid = astra.data2d.create("-vol", vol_geom)
            cfg = astra.astra_dict("FBP_CUDA" if cuda else "FBP")
            cfg.update(ReconstructionDataId=rid, ProjectionDataId=sid)
            if pid is not None:
                cfg["ProjectorId"] = pid
            aid = astra.algorithm.create(cfg)
            astra.algorithm.run(aid)
            rec[i] = astra.data2d.get(rid)
            astra.algorithm.delete(aid)
            astra.data2d.delete([sid, rid])
        if pid is not None:
            astra.projector.delete(pid)
        return rec

    rec, times = _timed(run, 2)
    return [{"method": "astra FBP" + (" (CUDA)" if cuda else " (CPU)"), "first_s": times[0],
             "repeated_s": times[1], "error": _error(rec, vol)}]


def bench_alignment(tomopy, quick):
    vol = simulate.phantom("nanoparticles", 128, 64, seed=9000) * 0.05
    clean = tda.reproject(vol, THETA, center=64.0)
    prj, dx, dy = tda.add_jitter(clean, -10, 10, seed=9000)
    rows, cycles = [], 2 if quick else 5
    for name, fn in (("compat.align_joint (defaults)", lambda: compat.align_joint(prj, THETA)),
                     (f"tomopy.align_joint sirt x{cycles}",
                      lambda: tomopy.align_joint(prj.copy(), THETA, iters=cycles,
                                                 debug=False))):
        t = time.perf_counter()
        _, sx, sy, _ = fn()
        seconds = time.perf_counter() - t
        # TomoPy's (sx, sy) are (rows, columns): our (dy, dx)
        rows.append({"method": name, "seconds": seconds,
                     "rmse_rigid_px": residual_rmse(sy, sx, dx, dy, theta=THETA)})
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="32 x 128^2 FBP, 2 SIRT cycles")
    ap.add_argument("--out", default=None, help="write the rows as JSON here")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(first_call(args.child[0], int(args.child[1]), int(args.child[2]))))
        return
    nslice, ncol = (32, 128) if args.quick else (128, 256)
    vol, prj = _data(nslice, ncol)
    fbp_rows = bench_ours(nslice, ncol, "fbp")
    tomopy, astra = _optional("tomopy", "gridrec"), _optional("astra", "ASTRA's FBP")
    fbp_rows += bench_gridrec(tomopy, vol, prj) if tomopy else []
    fbp_rows += bench_astra_fbp(astra, vol, prj) if astra else []
    rows = [r | {"case": f"FBP {nslice} x {ncol}^2 x 181"} for r in fbp_rows]
    rows += [r | {"case": "MLEM 32 x 128^2 x 181 x 20"} for r in bench_ours(32, 128, "mlem")]
    if tomopy:
        rows += [r | {"case": "alignment 181 x 64 x 128, +-10 px"}
                 for r in bench_alignment(tomopy, args.quick)]
    for r in rows:
        print(json.dumps(r))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
