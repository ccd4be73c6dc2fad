"""Jitter-correction accuracy and speed: JitterNet against two baselines, in one run.

Run: ``python benchmarks/bench_align.py [--quick] [--out benchmarks/align_results.json]``

Held-out phantoms only: seeds never used in training (training volumes are drawn from
``default_rng([1, i])`` and ``default_rng([2, i])``; these use seeds 9000 and up), and
the ``cells`` family, which the shipped model never saw. 181 angles over 180 degrees;
128 px with +-10 px jitter and 256 px with +-20 px (with 64 and 128 detector rows),
salt-and-pepper noise 0-60 %. For each case and method: residual jitter RMSE (common offset
removed), the share of projections within 1 px, the MSE of eq. (1) of Fu et al. (the
mean of dx^2 + dy^2 of the residual), the SSIM of the reconstruction against the truth,
and the wall time. The SSIM isolates the alignment: the noise-free jittered projections
are corrected with the estimated shifts (and the common offset) and reconstructed by
FBP. The baselines run 10 cycles once (5 at 256 px, for time); their accuracy and time
after 1, 5 and 10 cycles, and the time they need to reach JitterNet's accuracy, are read
off that trajectory. The
projectors' system matrices are built before the timings.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from skimage.metrics import structural_similarity

import tomopy_dlalign as tda
from tomopy_dlalign import simulate
from tomopy_dlalign.prep import AlignInfo, fraction_within, residual_rmse, residuals

NETWORK = {"jitternet x1": dict(iters=1), "jitternet x2": dict(iters=2),
           "jitternet x1, no polish": dict(iters=1, polish=False)}
BASELINES = {"phase corr.": tda.align_pc, "reprojection": tda.align_reprojection}


def _score(name, ex, ey, dx, dy, seconds, clean_jittered, vol, theta, base):
    cx, cy = np.mean(dx - ex), np.mean(dy - ey)
    rec = tda.fbp(tda.shift(clean_jittered, -(ex + cx), -(ey + cy)), theta,
                  center=clean_jittered.shape[2] / 2)
    mid = slice(vol.shape[0] // 4, 3 * vol.shape[0] // 4)
    ssim = structural_similarity(rec[mid], vol[mid], data_range=float(vol.max()))
    rx, ry = residuals(ex, ey, dx, dy)
    row = base | {"method": name, "rmse_px": float(np.sqrt(np.mean(rx**2 + ry**2))),
                  "rmse_rigid_px": residual_rmse(ex, ey, dx, dy, theta=theta),
                  "within_1px": fraction_within(ex, ey, dx, dy),
                  "mse_eq1_px2": float(np.mean(rx**2 + ry**2)), "ssim": float(ssim),
                  "seconds": float(seconds)}
    print(f"{base['family']:8s} {base['size']:3d}px +-{base['jitter']:<3g} s&p "
          f"{base['noise']:4.0%}  {name:26s} RMSE {row['rmse_px']:6.2f} px "
          f"(rigid {row['rmse_rigid_px']:5.2f})  within 1 px "
          f"{row['within_1px']:5.0%}  SSIM {ssim:5.3f}  {seconds:6.2f} s", flush=True)
    return row


def run_case(family, size, jitter, noise, seed, quick=False):
    theta = np.linspace(0, np.pi, 181, endpoint=False)
    vol = simulate.phantom(family, size, size // 2, seed=seed) * 0.05
    clean = tda.reproject(vol, theta)
    clean_jittered, dx, dy = tda.add_jitter(clean, -jitter, jitter, seed=seed)
    data = clean_jittered
    if noise > 0:
        data = simulate.add_noise(clean_jittered, "salt_pepper", noise, seed=seed)
    base = {"family": family, "size": size, "jitter": jitter, "noise": noise}
    args = (dx, dy)
    rows = [_score("none", 0 * dx, 0 * dy, *args, 0.0, clean_jittered, vol, theta, base)]
    for name, kw in NETWORK.items():
        t = time.perf_counter()
        _, ex, ey = tda.align(data, theta, center=size / 2, **kw)
        rows.append(_score(name, ex, ey, *args, time.perf_counter() - t, clean_jittered, vol,
                           theta, base))
    targets = {r["method"]: (r["rmse_px"], r["seconds"]) for r in rows[1:]
               if r["method"] in ("jitternet x1", "jitternet x1, no polish")}
    for name, method in BASELINES.items():
        info = AlignInfo()
        method(data, theta, center=size / 2, iters=5 if (quick or size > 128) else 10,
               info=info)
        for k in (1, 5, 10):
            if k <= len(info.history):
                ex, ey = info.history[k - 1]
                rows.append(_score(f"{name} x{k}", ex, ey, *args, info.times[k - 1],
                                   clean_jittered, vol, theta, base))
        for net_name, (target, net_seconds) in targets.items():
            reach = [t for (ex, ey), t in zip(info.history, info.times, strict=True)
                     if residual_rmse(ex, ey, dx, dy) <= target]
            rows.append(base | {"method": f"{name}: time to reach {net_name}",
                                "target_rmse_px": target, "network_seconds": net_seconds,
                                "seconds": reach[0] if reach else None})
            print(f"    {name} reaches {net_name}'s {target:.2f} px ({net_seconds:.2f} s) "
                  + (f"after {reach[0]:.2f} s" if reach else "never within its cycles"),
                  flush=True)
    return rows


def markdown(rows) -> str:
    """The RESULTS.md table of ``rows``."""
    lines = ["| family, size, jitter | s&p noise | method | RMSE (px) | RMSE, rigid motion "
             "removed (px) | within 1 px | MSE eq. 1 (px^2) | SSIM | time (s) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "rmse_px" not in r:
            continue
        lines.append(f"| {r['family']}, {r['size']} px, +-{r['jitter']:g} | {r['noise']:.0%} | "
                     f"{r['method']} | {r['rmse_px']:.2f} | {r['rmse_rigid_px']:.2f} | "
                     f"{r['within_1px']:.0%} | {r['mse_eq1_px2']:.2f} | {r['ssim']:.3f} | "
                     f"{r['seconds']:.2f} |")
    lines += ["", "| case | noise | baseline: time to reach | JitterNet RMSE (px) | "
              "JitterNet time | baseline time | ratio |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        if "target_rmse_px" in r:
            t, ratio = "not reached", "-"
            if r["seconds"] is not None:
                t = f"{r['seconds']:.2f} s"
                ratio = f"{r['seconds'] / r['network_seconds']:.1f}x"
            lines.append(f"| {r['family']}, {r['size']} px, +-{r['jitter']:g} | "
                         f"{r['noise']:.0%} | {r['method'].replace('time to reach ', '')} | "
                         f"{r['target_rmse_px']:.2f} | {r['network_seconds']:.2f} s | {t} | "
                         f"{ratio} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default="benchmarks/align_results.json")
    ap.add_argument("--only", nargs="*", metavar="FAMILY:SIZE:NOISE",
                    help="run only these cases, e.g. cells:128:0 battery:128:0 (for timings "
                         "on a quiet machine)")
    args = ap.parse_args()
    theta = np.linspace(0, np.pi, 181, endpoint=False)
    for size in (64, 128, 256):  # build and cache the projectors outside the timings
        tda.make_projector(theta, size, backend="cpu")
    # warm up torch (thread pools, first convolutions) and load the model outside the timings
    tda.align(tda.reproject(simulate.phantom("cells", 128, 64, seed=1), theta), theta)
    cases = [("cells", 128, 10, n, 9000 + k) for k, n in enumerate((0, 0.1, 0.2, 0.4, 0.6))]
    cases += [("cells", 256, 20, n, 9100 + k) for k, n in enumerate((0, 0.4))]
    cases += [("battery", 128, 10, n, 9200 + k) for k, n in enumerate((0, 0.4))]
    if args.quick:
        cases = cases[:1]
    if args.only:
        keep = {tuple(c.split(":")) for c in args.only}
        cases = [c for c in cases if (c[0], str(c[1]), f"{c[3]:g}") in keep]
    rows = []
    for case in cases:
        rows += run_case(*case, quick=args.quick)
    with open(args.out, "w") as f:
        json.dump(rows, f, indent=1)
    with open(args.out.replace(".json", ".md"), "w") as f:
        f.write(markdown(rows))


if __name__ == "__main__":
    main()
