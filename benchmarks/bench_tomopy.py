"""tda.fbp / tda.mlem against TomoPy's gridrec and ASTRA's FBP, and compat.align_joint
against tomopy.align_joint, in one run: time (first and repeated calls) and accuracy.

Run: ``python benchmarks/bench_tomopy.py [--quick] [--rounds 5] [--no-align]
[--out benchmarks/tomopy_results.json]`` (in an environment where TomoPy is importable,
built as issue #18 describes; without it the TomoPy rows are skipped, and said so).

Reconstruction: a Shepp-Logan phantom of 128 slices x 256^2, 181 angles over 180 degrees,
projected with ``tda.reproject``'s matrix-free ``torch`` backend; accuracy is the
relative L2 error inside the reconstruction circle. The machine may be shared, so the
contenders are interleaved: every round times, one after the other, a fresh process
running ``tda.fbp`` (its first call, then repeated calls: the first builds the system
matrix of a geometry never seen, and pays the process's own start-up), a repeated
``tda.fbp`` in this process, TomoPy's gridrec unpadded (as ``tomopy.recon`` does by
default) and with the projections edge-padded by half the width on each side (which
removes its cupping), ASTRA's CPU ``FBP`` slice by slice (first two rounds only: it is
slow), and a fresh process running ``tda.mlem`` (32 slices x 128^2, 20 iterations).
Figures are medians over the rounds, each with the 1-minute load average at the time;
speed ratios are taken within a round, then their median. First calls on new geometries
in a warm process (the axis moved by quarter pixels) are timed too, each right before a
repeated call on the same geometry. There is no disk cache: a geometry's matrix is built
in the process that needs it (in tenths of a second) and kept in memory.
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


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _timed(fn):
    load = _load()
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t, load


def first_call(kind: str, path: str, repeats: int = 3) -> dict:
    """Child-process mode: the first and ``repeats`` repeated calls of ``kind`` on the
    projections stored at ``path`` (with the phantom beside them)."""
    with np.load(path) as f:
        vol, prj = f["vol"], f["prj"]
    ncol = prj.shape[2]
    if kind == "fbp":
        fn = lambda: tda.fbp(prj, THETA, center=ncol / 2)  # noqa: E731
    else:
        fn = lambda: tda.mlem(prj, THETA, center=ncol / 2, num_iter=20)  # noqa: E731
    rec, first, load = _timed(fn)
    times = [_timed(fn)[1] for _ in range(repeats)]
    return {"first_s": first, "repeated_s": float(np.median(times)),
            "ratio": first / float(np.median(times)), "error": _error(rec, vol), "load": load}


def _child(kind, path):
    out = subprocess.run([sys.executable, __file__, "--child", kind, path],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _optional(module: str, what: str):
    """The module, or None (and a line saying ``what`` is skipped) when it is missing."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        print(f"{module} is not importable here: {what} skipped")
        return None


def gridrec(tomopy, prj, padded: bool):
    ncol = prj.shape[2]
    pad = ncol // 2 if padded else 0
    data = np.pad(prj, ((0, 0), (0, 0), (pad, pad)), mode="edge") if pad else prj
    rec = tomopy.recon(data, THETA, center=ncol / 2 + pad, algorithm="gridrec", ncore=2)
    return rec[:, pad:pad + ncol, pad:pad + ncol]


def astra_fbp(astra, prj):
    nslice, ncol = prj.shape[1:]
    cuda = bool(astra.use_cuda())
    vol_geom = astra.create_vol_geom(ncol, ncol)
    proj_geom = astra.create_proj_geom("parallel", 1.0, ncol, THETA)
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


def _summary(samples: dict, vol) -> list[dict]:
    """Medians over the rounds of every contender's samples ``(seconds, load)``."""
    rows = []
    for name, s in samples.items():
        if not s["t"]:
            continue
        row = {"method": name, "seconds": float(np.median(s["t"])), "n": len(s["t"]),
               "all_s": [round(t, 3) for t in s["t"]], "load": s["load"]}
        if "rec" in s:
            row["error"] = _error(s["rec"], vol)
        rows.append(row)
    return rows


def bench_fbp(prj, vol, path, rounds, tomopy, astra):
    """Interleaved rounds; returns the rows and the per-round speed ratios."""
    ncol = prj.shape[2]
    names = ["tda.fbp (repeated, this process)", "tomopy gridrec",
             "tomopy gridrec, edge-padded by ncol/2", "astra FBP (CPU), slice by slice"]
    samples = {n: {"t": [], "load": []} for n in names}
    fresh, ratios = [], {"gridrec": [], "gridrec, edge-padded": []}
    tda.fbp(prj, THETA, center=ncol / 2)  # this process's own first call
    for r in range(rounds):
        fresh.append(_child("fbp", path))
        runs = [(names[0], lambda: tda.fbp(prj, THETA, center=ncol / 2))]
        if tomopy:
            runs += [(names[1], lambda: gridrec(tomopy, prj, False)),
                     (names[2], lambda: gridrec(tomopy, prj, True))]
        if astra and r < 2:
            runs += [(names[3], lambda: astra_fbp(astra, prj))]
        got = {}
        for name, fn in runs:
            rec, t, load = _timed(fn)
            samples[name]["t"].append(t)
            samples[name]["load"].append(load)
            samples[name]["rec"] = rec
            got[name] = t
        if tomopy:
            ratios["gridrec"].append(got[names[0]] / got[names[1]])
            ratios["gridrec, edge-padded"].append(got[names[0]] / got[names[2]])
    rows = _summary(samples, vol)
    rows.append(_fresh_row("tda.fbp, first call in a fresh process", fresh))
    rows.append(_new_geometry("tda.fbp", lambda c: tda.fbp(prj, THETA, center=c), ncol))
    speed = {f"tda.fbp / {k}": float(np.median(v)) for k, v in ratios.items() if v}
    return rows, speed


def _new_geometry(name, fn, ncol):
    """First and repeated call on three geometries this process has not seen (the axis
    moved by quarter pixels: new matrices), each pair timed back to back."""
    pairs = []
    for c in ncol / 2 + 0.25 * np.arange(1, 4):
        (_, first, load), (_, again, _) = _timed(lambda c=c: fn(c)), _timed(lambda c=c: fn(c))
        pairs.append((first, again, load))
    return {"method": f"{name}, first call on a new geometry (warm process)",
            "first_s": float(np.median([f for f, _, _ in pairs])),
            "repeated_s": float(np.median([a for _, a, _ in pairs])),
            "ratio": float(np.median([f / a for f, a, _ in pairs])),
            "ratios": [round(f / a, 2) for f, a, _ in pairs], "load": [w for _, _, w in pairs]}


def _fresh_row(name, fresh):
    return {"method": name, "first_s": float(np.median([f["first_s"] for f in fresh])),
            "repeated_s": float(np.median([f["repeated_s"] for f in fresh])),
            "ratio": float(np.median([f["ratio"] for f in fresh])),
            "ratios": [round(f["ratio"], 2) for f in fresh],
            "error": fresh[0]["error"], "load": [f["load"] for f in fresh]}


def bench_mlem(rounds, tmp):
    vol, prj = _data(32, 128)
    path = os.path.join(tmp, "mlem.npz")
    np.savez(path, vol=vol, prj=prj)
    rows = [_fresh_row("tda.mlem, first call in a fresh process",
                       [_child("mlem", path) for _ in range(rounds)])]
    rows.append(_new_geometry("tda.mlem",
                              lambda c: tda.mlem(prj, THETA, center=c, num_iter=20), 128))
    return rows


def bench_alignment(tomopy, quick):
    vol = simulate.phantom("nanoparticles", 128, 64, seed=9000) * 0.05
    clean = tda.reproject(vol, THETA, center=64.0)
    prj, dx, dy = tda.add_jitter(clean, -10, 10, seed=9000)
    rows, cycles = [], 2 if quick else 5
    for name, fn in (("compat.align_joint (defaults)", lambda: compat.align_joint(prj, THETA)),
                     (f"tomopy.align_joint sirt x{cycles}",
                      lambda: tomopy.align_joint(prj.copy(), THETA, iters=cycles,
                                                 debug=False))):
        (_, sx, sy, _), seconds, load = _timed(fn)
        # TomoPy's (sx, sy) are (rows, columns): our (dy, dx)
        rows.append({"method": name, "seconds": seconds, "load": load,
                     "rmse_rigid_px": residual_rmse(sy, sx, dx, dy, theta=THETA)})
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="32 x 128^2 FBP, 2 SIRT cycles")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    ap.add_argument("--no-align", action="store_true", help="skip the alignment comparison")
    ap.add_argument("--out", default=None, help="write the rows as JSON here")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(first_call(*args.child)))
        return
    nslice, ncol = (32, 128) if args.quick else (128, 256)
    tomopy, astra = _optional("tomopy", "gridrec"), _optional("astra", "ASTRA's FBP")
    report = {"machine": {"cpus": os.cpu_count(), "load_at_start": os.getloadavg()},
              "command": " ".join([os.path.basename(sys.executable)] + sys.argv)}
    with tempfile.TemporaryDirectory() as tmp:
        vol, prj = _data(nslice, ncol)
        path = os.path.join(tmp, "fbp.npz")
        np.savez(path, vol=vol, prj=prj)
        rows, speed = bench_fbp(prj, vol, path, args.rounds, tomopy, astra)
        report["fbp"] = {"case": f"FBP {nslice} x {ncol}^2 x 181", "rows": rows,
                         "speed_ratios": speed}
        report["mlem"] = {"case": "MLEM 32 x 128^2 x 181 x 20",
                          "rows": bench_mlem(args.rounds, tmp)}
    if tomopy and not args.no_align:
        report["alignment"] = {"case": "alignment 181 x 64 x 128, +-10 px",
                               "rows": bench_alignment(tomopy, args.quick)}
    report["machine"]["load_at_end"] = os.getloadavg()
    print(json.dumps(report, indent=1))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(report, fh, indent=1)


if __name__ == "__main__":
    main()
