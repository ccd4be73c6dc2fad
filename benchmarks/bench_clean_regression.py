"""Clean and noisy phantoms: this tree's ``align`` against an earlier one, in one run.

Run: ``python benchmarks/bench_clean_regression.py --baseline DIR [--rounds 3]``, where
``DIR`` is a checkout of the earlier version (``git worktree add DIR <commit>``). Each
case runs in a fresh process per version, the two versions interleaved round by round,
so that both see the same machine load; the figures are the median wall time and CPU
time of the process (the first call of a process included, as a user's script pays it;
CPU time is the fairer ratio on a loaded machine) and the error against the drawn jitter
with rigid motion removed.

Cases (181 angles over 180 degrees, 128 px, 64 rows, +-10 px unless stated; centre
given as 64): the five phantom families clean, and three at 40 % salt-and-pepper noise
with the default ``center="auto"``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

CASE = r"""
import json, sys, time
import numpy as np
import tomopy_dlalign as tda
from tomopy_dlalign.prep import residual_rmse
fam, noise, center = sys.argv[1], float(sys.argv[2]), sys.argv[3]
th = np.linspace(0, np.pi, 181, endpoint=False)
vol = tda.simulate.phantom(fam, 128, 64, seed=77) * 0.05
rng = np.random.default_rng(77)
dx, dy = rng.uniform(-10, 10, 181), rng.uniform(-10, 10, 181)
p = tda.shift(tda.reproject(vol, th), dx, dy)
if noise:
    p = tda.simulate.add_noise(p, "salt_pepper", noise, seed=77)
c = center if center == "auto" else float(center)
t, cpu = time.perf_counter(), time.process_time()
_, ex, ey = tda.align(p, th, center=c, show_progress=False)
print(json.dumps({"seconds": time.perf_counter() - t, "cpu": time.process_time() - cpu,
                  "rmse": residual_rmse(ex, ey, dx, dy, theta=th)}))
"""

CASES = [(f, 0.0, "64") for f in ("nanoparticles", "battery", "cells", "assembly",
                                   "shepp_logan")]
CASES += [(f, 0.4, "auto") for f in ("cells", "shepp_logan", "assembly")]


def run(tree: Path, case) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run([sys.executable, "-c", CASE, *map(str, case)], env=env, check=True,
                         capture_output=True, text=True, cwd=tree).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    here = Path(__file__).resolve().parents[1]
    rows = []
    for case in CASES:
        res = {"this": [], "baseline": []}
        for _ in range(args.rounds):
            for name, tree in (("baseline", args.baseline), ("this", here)):
                res[name].append(run(tree, case))
        row = {"case": f"{case[0]} {'clean' if not case[1] else f'{case[1]:.0%} s&p'}",
               "center": case[2]}
        for name in ("baseline", "this"):
            for key in ("seconds", "cpu"):
                vals = sorted(r[key] for r in res[name])
                row[f"{name}_{key}"] = vals[len(vals) // 2]
            row[f"{name}_rmse"] = res[name][0]["rmse"]
        row["time_ratio"] = row["this_seconds"] / row["baseline_seconds"]
        row["cpu_ratio"] = row["this_cpu"] / row["baseline_cpu"]
        rows.append(row)
        print(f"{row['case']:28s} centre {row['center']:4s}  error {row['baseline_rmse']:.3f} "
              f"-> {row['this_rmse']:.3f} px   wall {row['baseline_seconds']:.2f} -> "
              f"{row['this_seconds']:.2f} s ({row['time_ratio']:.2f}x), CPU "
              f"{row['baseline_cpu']:.2f} -> {row['this_cpu']:.2f} s ({row['cpu_ratio']:.2f}x)",
              flush=True)
        if args.out:
            args.out.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
