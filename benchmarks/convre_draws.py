"""How much of the ConvRe benchmark's margins is the noise draw? The same comparison
(``convre_bench.evaluate``: every method on the same OSS runs, wPRTF resolution from 24
runs, real-space error against the truth) repeated over independent draws of the
Poisson noise and of the OSS random starts.

Draw ``s`` is ``convre_bench.py --seed s``: the pattern of budget ``k`` (its index in
``--budgets``, the benchmark's own list, so that draw 0 is the benchmark's run) gets the
noise seed ``1000 s + k``, and OSS the seed ``s``. Only the ``--score`` budgets are
phased and scored; their runs are cached in ``--work`` like the benchmark's::

    OMP_NUM_THREADS=1 python benchmarks/convre_draws.py --seeds 0 1 2 3 \\
        --budgets 1e6 1e5 5e4 3e4 2e4 2.5e4 --score 3e4 2.5e4

Writes ``benchmarks/convre_draws.json`` and prints two Markdown tables: per budget and
method, the median, mean and standard deviation over the draws, and in how many draws
each method had the best resolution and the lowest error; and per draw, the package's
two selection rules (``rule="mean-chi2"``: lowest mean chi^2 among the clusters of at
least 10 % of the runs; ``rule="best-run"``: the cluster that holds the run of lowest
chi^2, whatever its size) on the same clusters, for the learned features and for raw
pixels. ``--table-only`` prints the tables of an earlier run.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import convre_bench as cb  # noqa: E402

from cdi_plugins import metrics  # noqa: E402
from cdi_plugins.convre import RULES, average_runs, convre  # noqa: E402
from cdi_plugins.simulate import mitochondria  # noqa: E402
from tomopy_dlalign.common.modelfiles import atomic_path  # noqa: E402

logger = logging.getLogger("convre_draws")
HERE = Path(__file__).parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--budgets", type=float, nargs="+", default=[1e6, 1e5, 5e4, 3e4, 2e4, 2.5e4],
                    help="the benchmark's budget list (fixes each budget's noise seed)")
    ap.add_argument("--score", type=float, nargs="+", default=[3e4, 2.5e4],
                    help="budgets to phase and score")
    cb.scene_arguments(ap)
    ap.add_argument("--out", default=str(HERE / "convre_draws.json"))
    ap.add_argument("--table-only", action="store_true",
                    help="print the table of the draws already in --out")
    args = ap.parse_args(argv)
    if args.table_only:
        rows = json.loads(Path(args.out).read_text())["draws"]
        print(table(rows) + "\n\n" + rule_table(rows))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    Path(args.work).mkdir(parents=True, exist_ok=True)
    obj = mitochondria.mitochondrion_object(args.size, seed=args.object_seed)
    pixel_nm = mitochondria.paper_pixel_nm(args.size)
    rows = []
    for seed in args.seeds:
        for k, ph in enumerate(args.budgets):
            if ph not in args.score:
                continue
            args.seed = seed
            sim, objs, chi2, _ = cb.phase_budget(obj, ph, args, k)
            r = cb.evaluate(sim, objs, chi2, obj, pixel_nm, seed, None, "", args.prtf_runs,
                            plots=False)
            rows.append({"seed": seed, "photons": ph,
                         "consistent_runs": r["errors_runs"]["consistent_runs"],
                         "methods": {m: {"resolution_nm": v.get("resolution_nm"),
                                         "real_space_error": v["real_space_error"],
                                         "n_kept": v["n_kept"]}
                                     for m, v in r["methods"].items()},
                         "rules": rule_variants(objs, chi2, obj, seed)})
            logger.info("seed %d, %.3g photons: %s", seed, ph,
                        {m: (v["resolution_nm"], round(v["real_space_error"], 3))
                         for m, v in rows[-1]["methods"].items()})
    with atomic_path(args.out) as tmp:
        Path(tmp).write_text(json.dumps({"args": vars(args), "draws": rows}, indent=1,
                                        default=float))
    print(table(rows) + "\n\n" + rule_table(rows))
    return 0


def rule_variants(objs, chi2, obj, seed) -> dict:
    """Both selection rules (:data:`cdi_plugins.convre.RULES`), each through
    :func:`convre` on the same features and k-means seed (so on the same clusters, except
    that ``best-run`` may give an isolated best run a cluster of its own), for the learned
    features and for raw pixels: runs kept, how many of them are
    consistent, and the real-space error of their mean."""
    errors = np.array([metrics.real_space_error(o, obj) for o in objs])
    good = errors <= errors.min() + 0.05
    out = {}
    for name, model in (("features", None), ("pixels", "pixels")):
        out[name] = {}
        for rule in RULES:
            sel = convre(objs, chi2=chi2, model=model, seed=seed, rule=rule).selected
            out[name][rule] = {"n_kept": int(sel.size),
                               "n_consistent_kept": int(good[sel].sum()),
                               "real_space_error": metrics.real_space_error(
                                   average_runs(objs, sel, chi2), obj)}
    return out


def rule_table(rows: list[dict]) -> str:
    """Markdown: per draw, both selection rules on the clusters of the learned features
    and of raw pixels (runs kept / consistent among them, error of their mean)."""
    variants = [(f, r) for f in ("features", "pixels") for r in RULES]
    lines = ["| photons | draw | consistent runs | best chi2 run: error | "
             + " | ".join(f"{f}, {r}: kept/consistent, error" for f, r in variants) + " |",
             "|---|---|---|---|" + "---|" * len(variants)]
    for r in sorted(rows, key=lambda r: (-r["photons"], r["seed"])):
        b = r.get("rules")
        if b is None:
            continue
        cells = [f"{r['methods']['best_chi2']['real_space_error']:.3f}"]
        for f, rule in variants:
            v = b[f][rule]
            cells.append(f"{v['n_kept']}/{v['n_consistent_kept']}, "
                         f"{v['real_space_error']:.3f}")
        lines.append(f"| {r['photons']:.2g} | {r['seed']} | {r['consistent_runs']} | "
                     + " | ".join(cells) + " |")
    lines += ["", "| photons | " + " | ".join(f"{f}, {r}" for f, r in variants) + " |",
              "|---|" + "---|" * len(variants)]
    for ph in sorted({r["photons"] for r in rows if "rules" in r}, reverse=True):
        sub = [r for r in rows if r["photons"] == ph and "rules" in r]
        cells = []
        for f, rule in variants:
            e = np.array([r["rules"][f][rule]["real_space_error"] for r in sub])
            cells.append(f"mean {e.mean():.3f}, median {np.median(e):.3f}")
        lines.append(f"| {ph:.2g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def table(rows: list[dict]) -> str:
    """Markdown: mean +- sd over draws, and wins (best resolution, lowest error)."""
    lines = ["| photons | method | draws | wPRTF res. (nm): median, mean +- sd "
             "| best res. (draws) | real-space error: median, mean +- sd "
             "| lowest error (draws) | runs kept, mean |",
             "|---|---|---|---|---|---|---|---|"]
    for ph in sorted({r["photons"] for r in rows}, reverse=True):
        sub = [r for r in rows if r["photons"] == ph]
        scored = [m for m in cb.METHODS if m != "best_chi2"]
        # ties (methods that keep the same runs score the same) count for each of them
        best_res = [_winners(r, scored, "resolution_nm") for r in sub]
        best_err = [_winners(r, cb.METHODS, "real_space_error") for r in sub]
        for m in cb.METHODS:
            res = np.array([r["methods"][m]["resolution_nm"] or np.nan for r in sub], float)
            err = np.array([r["methods"][m]["real_space_error"] for r in sub])
            kept = np.mean([r["methods"][m]["n_kept"] for r in sub])
            res_s = ("n/a" if np.isnan(res).all() else
                     f"{np.nanmedian(res):.1f}, {np.nanmean(res):.1f} +- {np.nanstd(res):.1f}")
            lines.append(f"| {ph:.2g} | {cb.LABELS[m]} | {len(sub)} | {res_s} | "
                         f"{sum(m in w for w in best_res)} | {np.median(err):.3f}, "
                         f"{err.mean():.3f} +- {err.std():.3f} | "
                         f"{sum(m in w for w in best_err)} | {kept:.0f} |")
    return "\n".join(lines)


def _winners(row: dict, methods, key: str) -> set:
    # a method that kept one run has no PRTF, hence no resolution, and cannot win on it
    vals = {m: row["methods"][m][key] for m in methods
            if row["methods"][m][key] is not None}
    low = min(vals.values())
    return {m for m, v in vals.items() if v <= low + 1e-9}


if __name__ == "__main__":
    raise SystemExit(main())
