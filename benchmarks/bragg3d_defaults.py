"""Which phasing settings suit 3D Bragg CDI: ``phase_retrieval``'s defaults against named
alternatives, on simulated faceted, strained crystals with their truth known.

Data. ``--seeds`` crystals (seeds 0, 1, ...) from
:func:`cdi_plugins.simulate.faceted_crystal_3d` (a {100}/{111} polyhedron, randomly
oriented, asymmetric facets, rounded edges, strain phase from bending, a point inclusion
and a correlated field), ``--size``^3 voxels, corner radius ``--extent * size / 2``
(default 0.3: oversampled 2.3-2.8 times per axis at 64^3), or with ``--family
superellipsoid`` the hard-edged :func:`cdi_plugins.simulate.crystal_object_3d`; their
patterns with Poisson
counts totalling ``--photons`` (default 4e7, a measured rocking scan's order), drawn with
the crystal's seed, and no mask.

Candidates (:data:`CANDIDATES`, keyword arguments of
:func:`cdi_plugins.phase_retrieval`; a ``shrinkwrap`` dict is the fields of
:class:`cdi_plugins.ShrinkWrap`): ``defaults`` (``phase_retrieval``'s defaults as they
stand: the low-resolution start, then :data:`cdi_plugins.defaults.DEFAULT_SCHEDULE`
with an RMS shrink-wrap after each ER block, blur 2 -> 0.5 voxels, threshold 0.25, then
the support growth judged by the free log-likelihood, :mod:`cdi_plugins.phasing.growth`);
``no-growth`` (the defaults without the support growth: the defaults before it);
``rule-2d`` (the same, given explicitly as ``ShrinkWrap()``); ``sigma1`` (a fixed blur of 1
voxel); ``thr0.15``, ``thr0.1`` (RMS thresholds of 0.15, 0.1); ``sigma1-thr0.15``,
``sigma2-1-thr0.15`` (threshold 0.15 with a blur of 1 voxel, or narrowing from 2 to 1
only); ``cohere-like`` (the
settings of cohere's scan-54 example that ``benchmarks/cdi_bragg3d.py`` runs in
cohere-core itself: 3 x (20 ER + 180 HIO) + 20 ER, shrink-wrap relative to the maximum,
threshold 0.1, blur 1 voxel, every iteration from the second, with no bound on how much
the support may shrink at once, as cohere has none; unlike cohere, the start is this
package's autocorrelation support, not a box of half the array). Every candidate
phases the same pattern from the same ``--runs`` random starts (``seed`` = the
crystal's).

Figures per candidate, with the formulas of ``benchmarks/cdi_bragg3d.py`` (its
``score`` and ``cross_iou``, imported): the best run is the one of least Poisson
log-likelihood per voxel (:func:`cdi_plugins.metrics.log_likelihood`, amplitude scaled
by least squares); its real-space error to the truth
(:func:`cdi_plugins.metrics.real_space_error`: twin, 1/10-voxel shift and global phase
removed), median over the crystals (and the error of the run the package itself ranks
first, by free log-likelihood); the share of all runs within an error of 0.15 of their
crystal's best run (the best run included); the best run's LLK (and the truth's, the
noise floor), median over the crystals; the IoU of the best run's support (its final
support where its aligned amplitude exceeds 0.2 of its maximum) with the truth's
polyhedron, median; seconds per crystal (one call of ``--runs`` runs on ``--threads``
threads, after a warm-up); how many crystals the package's own verdict passed.

The study of benchmarks/RESULTS_cdi.md, section 5 (which kept the default): candidates
compared on rounded crystals, seeds 0-3, then again on seeds 4-6, and on hard-edged
ones:

    python benchmarks/bragg3d_defaults.py --seeds 4 --runs 8 --size 64 --extent 0.4 \
        --photons 4e7 --threads 2 --out benchmarks/bragg3d_defaults.json
    python benchmarks/bragg3d_defaults.py --first-seed 4 --seeds 3 --runs 8 --size 64 \
        --extent 0.4 --photons 4e7 --threads 2 --candidates thr0.15 thr0.1 \
        sigma1-thr0.15 sigma2-1-thr0.15 --out benchmarks/bragg3d_defaults_validation.json
    python benchmarks/bragg3d_defaults.py --first-seed 4 --seeds 3 --runs 8 --size 64 \
        --extent 0.4 --photons 4e7 --threads 2 --candidates rule-2d thr0.2 sigma1 \
        --out benchmarks/bragg3d_defaults_validation2.json
    python benchmarks/bragg3d_defaults.py --family superellipsoid --extent 0.3 \
        --photons 1e8 --seeds 3 --runs 8 --size 64 --threads 2 \
        --candidates rule-2d thr0.2 sigma1 thr0.15 --out benchmarks/bragg3d_defaults_hard.json

A quick check that it runs end to end (every schedule scaled to 60 iterations):

    python benchmarks/bragg3d_defaults.py --size 32 --runs 2 --seeds 1 --n-iter 60 \\
        --out /tmp/bragg3d_defaults_smoke.json
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from cdi_bragg3d import cross_iou, machine, score  # noqa: E402

#: cohere's scan-54 schedule, 3*(20*ER+180*HIO)+20*ER, in this package's syntax
COHERE_SCHEDULE = "(ER**20 * HIO(0.9)**180)**3 * ER**20"
#: name -> keyword arguments of ``phase_retrieval`` (``shrinkwrap``: ShrinkWrap's fields)
CANDIDATES = {
    "defaults": {},
    "no-growth": {"support_growth": False},
    "rule-2d": {"shrinkwrap": {}},
    "sigma1": {"shrinkwrap": {"sigma_start": 1.0, "sigma_end": 1.0}},
    "thr0.15": {"shrinkwrap": {"threshold": 0.15}},
    "thr0.1": {"shrinkwrap": {"threshold": 0.1}},
    "thr0.2": {"shrinkwrap": {"threshold": 0.2}},
    "sigma1-thr0.15": {"shrinkwrap": {"threshold": 0.15, "sigma_start": 1.0, "sigma_end": 1.0}},
    "sigma2-1-thr0.15": {"shrinkwrap": {"threshold": 0.15, "sigma_end": 1.0}},
    "cohere-like": {"algorithm": COHERE_SCHEDULE,
                    "shrinkwrap": {"method": "max", "threshold": 0.1, "sigma_start": 1.0,
                                   "sigma_end": 1.0, "start": 1, "every": 1,
                                   "max_shrink": 1.0}},
}
#: runs within this real-space error of their crystal's best run agree with it
AGREE_BELOW = 0.15


def crystal(size: int, extent: float, photons: float, seed: int, family: str = "faceted"):
    """The crystal of ``seed`` and its pattern: intensity, mask, truth, truth's support.
    ``family``: ``faceted`` (:func:`~cdi_plugins.simulate.faceted_crystal_3d`, rounded
    edges) or ``superellipsoid`` (:func:`~cdi_plugins.simulate.crystal_object_3d`, the
    hard-edged crystal of ``cdi_bragg3d.py``; support: amplitude above half its peak)."""
    from cdi_plugins import simulate

    if family == "superellipsoid":
        obj = simulate.crystal_object_3d(size, extent=extent, seed=seed)
        support = np.abs(obj) > 0.5 * np.abs(obj).max()
    else:
        c = simulate.faceted_crystal_3d(size, extent=extent, seed=seed)
        obj, support = c.obj, c.support
    sim = simulate.simulate_pattern(obj, photons=photons, seed=seed)
    return sim.intensity, sim.mask, obj, support


def phasing_kwargs(kwargs: dict, n_iter: int | None) -> dict:
    """A candidate's keyword arguments for ``phase_retrieval``, its schedule scaled to
    ``n_iter`` iterations when given."""
    import cdi_plugins as cdi

    kw = dict(kwargs)
    if "shrinkwrap" in kw and isinstance(kw["shrinkwrap"], dict):
        kw["shrinkwrap"] = cdi.ShrinkWrap(**kw["shrinkwrap"])
    if n_iter is not None:
        if "algorithm" in kw:
            kw["algorithm"] = cdi.algorithms.scale_schedule(kw["algorithm"], n_iter)
        else:
            kw["n_iter"] = n_iter
    return kw


def run_candidate(name: str, kw: dict, intensity, mask, truth, truth_support, runs: int,
                  seed: int, device: str) -> dict:
    """One candidate on one crystal: ``score``'s figures plus the IoU with the truth's
    support, the package's own pick and the seconds."""
    import cdi_plugins as cdi

    t0 = time.perf_counter()
    res = cdi.phase_retrieval(intensity, mask=mask, n_runs=runs, seed=seed, device=device,
                              show_progress=False, **kw)
    dt = time.perf_counter() - t0
    out = {"objects": res.objects, "supports": res.supports, "seconds": np.array([dt]),
           "n_iter": res.iterations}
    s = score(out, intensity, mask, truth)
    iou = cross_iou({name: out}, {name: s}, truth, truth_support)
    s.update(seconds=dt, pick=res.best, err_pick=s["err_to_truth"][res.best],
             iou_truth=iou["iou"][f"truth | {name}"], verdict_ok=bool(res.quality.ok),
             verdict=str(res.quality), schedule=res.schedule,
             support_vox_truth=int(truth_support.sum()), grown_by=res.grown_by.tolist())
    return s


def summary(per_crystal: list[dict]) -> dict:
    """Medians over the crystals of the best run's figures; the agreeing share of all
    runs; mean seconds per crystal."""
    best = [s["best"] for s in per_crystal]
    err = [s["err_to_truth"][b] for s, b in zip(per_crystal, best, strict=True)]
    return {"crystals": len(per_crystal),
            "err_best_median": float(np.median(err)), "err_best_max": float(np.max(err)),
            "err_pick_median": float(np.median([s["err_pick"] for s in per_crystal])),
            "agree": float(np.mean([a for s in per_crystal
                                    for a in np.array(s["err_to_best"]) < AGREE_BELOW])),
            "llk_best_median": float(np.median([s["llk"][b] for s, b in
                                                zip(per_crystal, best, strict=True)])),
            "llk_truth_median": float(np.median([s["llk_truth"] for s in per_crystal])),
            "iou_median": float(np.median([s["iou_truth"] for s in per_crystal])),
            "seconds_per_crystal": float(np.mean([s["seconds"] for s in per_crystal])),
            "verdict_ok": int(sum(s["verdict_ok"] for s in per_crystal))}


def print_table(results: dict) -> None:
    print("\n| candidate | crystals | err best (median / max) | err pick | agree | "
          "LLK best / truth | IoU truth | s / crystal | verdict ok |\n"
          "|---|---|---|---|---|---|---|---|---|")
    for name, block in results["candidates"].items():
        m = block.get("summary")
        if not m:
            continue
        print(f"| {name} | {m['crystals']} | {m['err_best_median']:.3f} / "
              f"{m['err_best_max']:.3f} | {m['err_pick_median']:.3f} | {m['agree']:.0%} | "
              f"{m['llk_best_median']:.3g} / {m['llk_truth_median']:.3g} | "
              f"{m['iou_median']:.2f} | {m['seconds_per_crystal']:.1f} | "
              f"{m['verdict_ok']}/{m['crystals']} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=4, help="crystals: seeds FIRST .. FIRST+SEEDS-1")
    ap.add_argument("--family", choices=("faceted", "superellipsoid"), default="faceted",
                    help="faceted_crystal_3d (rounded edges) or crystal_object_3d (hard)")
    ap.add_argument("--first-seed", type=int, default=0, help="the first crystal's seed")
    ap.add_argument("--runs", type=int, default=8, help="runs per crystal and candidate")
    ap.add_argument("--size", type=int, default=64, help="box size (voxels per axis)")
    ap.add_argument("--extent", type=float, default=0.3,
                    help="the crystal's largest diameter over the box")
    ap.add_argument("--photons", type=float, default=4e7, help="total counts per pattern")
    ap.add_argument("--candidates", nargs="+", default=list(CANDIDATES),
                    choices=list(CANDIDATES), metavar="NAME",
                    help=f"candidates to run, of {', '.join(CANDIDATES)}")
    ap.add_argument("--n-iter", type=int,
                    help="scale every candidate's schedule to this many iterations (a "
                         "quick check; the default schedule then starts without its "
                         "low-resolution stage)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default="benchmarks/bragg3d_defaults.json")
    a = ap.parse_args()
    import torch

    import cdi_plugins as cdi
    from cdi_plugins import metrics

    torch.set_num_threads(a.threads)
    results = {"machine": machine(a),
               "settings": {"seeds": list(range(a.first_seed, a.first_seed + a.seeds)),
                            "runs": a.runs, "size": a.size, "extent": a.extent,
                            "photons": a.photons, "n_iter": a.n_iter, "family": a.family,
                            "device": a.device, "agree_below": AGREE_BELOW},
               "candidates": {n: {"kwargs": CANDIDATES[n], "crystals": []}
                              for n in a.candidates}}

    def save():
        Path(a.out).write_text(json.dumps(results, indent=1))

    for seed in range(a.first_seed, a.first_seed + a.seeds):
        intensity, mask, truth, truth_support = crystal(a.size, a.extent, a.photons, seed,
                                                      a.family)
        llk_truth = float(metrics.log_likelihood(truth, intensity, mask, scale="fit")[0])
        if seed == 0:  # warm-up (threads, FFT plans) outside the timings; its verdict,
            # a failure after 2 iterations, is not worth a warning
            quiet = logging.getLogger("cdi_plugins")
            level = quiet.level
            quiet.setLevel(logging.ERROR)
            cdi.phase_retrieval(intensity, mask=mask, algorithm="ER", n_iter=2,
                                device=a.device, show_progress=False)
            quiet.setLevel(level)
        for name in a.candidates:
            s = run_candidate(name, phasing_kwargs(CANDIDATES[name], a.n_iter), intensity,
                              mask, truth, truth_support, a.runs, seed, a.device)
            s.update(seed=seed, llk_truth=llk_truth)
            block = results["candidates"][name]
            block["crystals"].append(s)
            block["summary"] = summary(block["crystals"])
            print(f"seed {seed} {name}: err best {s['err_to_truth'][s['best']]:.3f}, agree "
                  f"{s['agree']:.0%}, LLK {s['llk'][s['best']]:.3g} (truth {llk_truth:.3g}), "
                  f"IoU {s['iou_truth']:.2f}, {s['seconds']:.1f} s", flush=True)
            save()
    results["machine"]["finished_utc"] = time.strftime("%H:%M:%S", time.gmtime())
    save()
    print_table(results)


if __name__ == "__main__":
    main()
