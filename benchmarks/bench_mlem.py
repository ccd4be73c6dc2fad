"""MLEM speed: the ``cpu`` sparse-matrix backend against a per-slice ASTRA loop.

Run: ``python benchmarks/bench_mlem.py [--quick]``. Everything is measured in one run,
on the same data, and reported as ratios; the figures go to benchmarks/RESULTS.md.

* main case: 128 slices of 128 x 128, 181 angles, 20 iterations;
* baseline: the textbook MLEM looping over slices with ASTRA's 2D CPU
  ``create_sino`` / ``create_backprojection`` (timed on a subset of slices and scaled
  per slice, since the loop is linear in slices);
* TomoPy's ``recon(algorithm="mlem")`` when TomoPy is importable;
* scaling with slices (32, 128, 512 at 128 px) and width (128, 256, 512 px), measured
  per iteration after the build of the system matrix and its transpose, which is
  reported separately;
* the peak resident memory of each case, in a fresh process.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np


def astra_loop_mlem(tomo, theta, num_iter):
    import astra

    nproj, nslice, ncol = tomo.shape
    vol_geom = astra.create_vol_geom(ncol, ncol)
    proj_geom = astra.create_proj_geom("parallel", 1.0, ncol, theta)
    pid = astra.create_projector("linear", proj_geom, vol_geom)
    out = np.zeros((nslice, ncol, ncol), np.float32)
    for s in range(nslice):
        y = np.clip(tomo[:, s, :], 0, None)
        sid, sens = astra.create_backprojection(np.ones_like(y), pid)
        astra.data2d.delete(sid)
        inv = np.where(sens > 1e-6 * sens.max(), 1 / np.maximum(sens, 1e-12), 0)
        x = (sens > 1e-6 * sens.max()) * (y.sum() / sens.sum())
        for _ in range(num_iter):
            sid, ax = astra.create_sino(x, pid)
            astra.data2d.delete(sid)
            ratio = np.where(ax > 0, y / np.where(ax > 0, ax, 1), 0)
            bid, bp = astra.create_backprojection(ratio, pid)
            astra.data2d.delete(bid)
            x = x * bp * inv
        out[s] = x
    astra.projector.delete(pid)
    return out


def case(nslice, ncol, nproj, num_iter, method):
    """Run one case in this process and return its figures."""
    import tomopy_dlalign as tda
    from tomopy_dlalign import simulate

    theta = np.linspace(0, np.pi, nproj, endpoint=False)
    vol = simulate.shepp_logan(ncol, nslice)
    A = tda.make_projector(theta, ncol, backend="cpu")  # loads the plugins: not timed
    t = time.perf_counter()
    A.prepare()  # both matrices, built in NumPy (what a first call adds)
    build = time.perf_counter() - t
    tomo = A.forward(vol)
    t = time.perf_counter()
    if method == "cpu":
        rec = tda.mlem(tomo, theta, num_iter=num_iter, projector=A)
    elif method == "astra-loop":
        rec = astra_loop_mlem(tomo, theta, num_iter)
    elif method == "tomopy":
        import tomopy

        rec = tomopy.recon(tomo, theta, algorithm="mlem", num_iter=num_iter, ncore=2)
    else:
        raise ValueError(method)
    elapsed = time.perf_counter() - t
    err = float(np.linalg.norm(rec - vol) / np.linalg.norm(vol))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"method": method, "nslice": nslice, "ncol": ncol, "nproj": nproj,
            "iters": num_iter, "seconds": elapsed, "build_s": build, "rel_error": err,
            "peak_rss_mb": rss}


def run(nslice, ncol, nproj, num_iter, method):
    # a fresh process per case, so that the memory peak belongs to that case alone
    cmd = [sys.executable, __file__, "--case", json.dumps([nslice, ncol, nproj, num_iter,
                                                            method])]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case")
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    args = ap.parse_args()
    if args.case:
        print(json.dumps(case(*json.loads(args.case))))
        return
    nproj, iters = 181, 20
    main_slices, base_slices = (16, 4) if args.quick else (128, 8)
    rows = []
    ours = run(main_slices, 128, nproj, iters, "cpu")
    base = run(base_slices, 128, nproj, iters, "astra-loop")
    per_slice = base["seconds"] / base_slices
    rows += [ours, base]
    print(f"# MLEM {main_slices} slices x 128^2, {nproj} angles, {iters} iterations")
    print(f"cpu backend: {ours['seconds']:.2f} s (+ {ours['build_s']:.2f} s matrix build), "
          f"rel. error {ours['rel_error']:.4f}, peak RSS {ours['peak_rss_mb']:.0f} MB")
    print(f"ASTRA per-slice loop: {per_slice:.3f} s/slice -> {per_slice * main_slices:.1f} s "
          f"for {main_slices} slices (measured on {base_slices}), rel. error "
          f"{base['rel_error']:.4f}, peak RSS {base['peak_rss_mb']:.0f} MB")
    print(f"speed-up: {per_slice * main_slices / ours['seconds']:.1f}x "
          f"({per_slice * main_slices / (ours['seconds'] + ours['build_s']):.1f}x with build)")
    try:
        import tomopy  # noqa: F401

        tp = run(32, 128, nproj, iters, "tomopy")
        mine32 = run(32, 128, nproj, iters, "cpu")
        print(f"TomoPy mlem 32 slices: {tp['seconds']:.2f} s; ours {mine32['seconds']:.2f} s: "
              f"{tp['seconds'] / mine32['seconds']:.1f}x")
    except ImportError:
        print("TomoPy is not importable here: its comparison is skipped")
    print("# scaling, 2 iterations each, seconds per iteration (and matrix build)")
    sizes = [(32, 128), (128, 128), (512, 128), (128, 256), (128, 512)]
    if args.quick:
        sizes = [(8, 64), (32, 64)]
    for nslice, ncol in sizes:
        r = run(nslice, ncol, nproj, 2, "cpu")
        rows.append(r)
        print(f"{nslice:4d} slices x {ncol:4d}^2: {r['seconds'] / 2:.3f} s/iter, build "
              f"{r['build_s']:.1f} s, peak RSS {r['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
