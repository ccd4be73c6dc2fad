"""ConvRe against plain OSS, van der Schot selection and ASURA-like PCA + k-means, on
simulated mitochondrion-like patterns at several photon budgets (Pan et al. 2022, Fig. 4).

For each budget: one background-subtracted 128 x 128 pattern of the same simulated
mitochondrion (beamstop, Poisson noise), ``--runs`` OSS runs (positivity, shrink-wrap),
then every method of :mod:`cdi_plugins.convre.baselines` on the same runs. Figures per method:
wPRTF resolution (1/e) in pixels and in nm for the paper's geometry (5.5 keV, 1.496 m,
60 um effective pixels), amplitude variance per shell, and the real-space error of the
method's image against the truth (which the paper could not measure). The learned
features are also compared with raw pixels as inputs to the same PCA + k-means, on these
budgets and on 32 held-out simulated patterns. Per-budget figures (PCA, gallery, PRTF,
variance) are written for the ``--figure-budgets`` noisiest budgets only, and any other
PNG in ``--out`` is deleted, so the folder holds what ``RESULTS_convre.md`` links.

    python benchmarks/convre_bench.py --runs 96 --budgets 1e6 1e5 5e4 3e4 2e4 2.5e4 \\
        --work /tmp/convre/bench --out benchmarks/convre_figures

Each budget's runs are saved in ``--work`` as soon as they are phased and reused on the
next call, so an interrupted benchmark resumes where it stopped. The truth is used only
to score the methods, never by them.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402

import cdi_plugins as cdi  # noqa: E402
from cdi_plugins import metrics  # noqa: E402
from cdi_plugins.convre import PHASING, cluster, convre, prepare_by_chi2  # noqa: E402
from cdi_plugins.convre import baselines as selection  # noqa: E402
from cdi_plugins.convre import features as feature_net  # noqa: E402
from cdi_plugins.convre import report as convre_report  # noqa: E402
from cdi_plugins.convre.features import features  # noqa: E402
from cdi_plugins.simulate import mitochondria  # noqa: E402
from tomopy_dlalign.common.modelfiles import atomic_path  # noqa: E402

logger = logging.getLogger("convre_bench")

METHODS = ("best_chi2", "mean_of_all", "van_der_schot", "van_der_schot_25", "asura_like",
           "convre")
LABELS = {"best_chi2": "OSS best chi2", "mean_of_all": "OSS (mean of all)",
          "van_der_schot": "van der Schot 10%", "van_der_schot_25": "van der Schot 25%",
          "asura_like": "ASURA-like (pixels)", "convre": "OSS + ConvRe"}


def phase_budget(obj, photons, args, k):
    """Simulate and phase one budget (cached in ``args.work``)."""
    # the benchmark's own object (seed 100) keeps the cache names of earlier revisions
    obj_tag = "" if args.object_seed == 100 else f"_o{args.object_seed}"
    file = Path(args.work) / (f"budget_{photons:.3g}_r{args.runs}_i{args.iter}_s{args.seed}"
                              f"{obj_tag}.npz")
    sim = mitochondria.mitochondrion_pattern(obj, photons, beamstop=args.beamstop,
                                             background=args.background,
                                             seed=args.seed * 1000 + k)
    if file.exists():
        d = np.load(file)
        return sim, d["objects"], d["chi2"], float(d["seconds"])
    t0 = time.perf_counter()
    res = cdi.phase_retrieval(sim.intensity, mask=sim.mask, algorithm="oss", n_iter=args.iter,
                              n_runs=args.runs, seed=args.seed, device="cpu",
                              constraint="positive", show_progress=not args.no_progress,
                              **PHASING)
    dt = time.perf_counter() - t0
    with atomic_path(file) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, objects=res.objects, chi2=res.final_chi2, seconds=dt)
    logger.info("phased %.3g photons: %d runs in %.0f s", photons, args.runs, dt)
    return sim, res.objects, res.final_chi2, dt


def _subset(sel, chi2, n, key):
    """At most ``n`` of a method's kept runs for its PRTF: the lowest-chi^2 ones, except
    for plain OSS, which takes the first ``n`` runs (random starts, no selection)."""
    if key == "mean_of_all":
        keep = sel.selected[:n]
    else:
        keep = sel.selected[np.argsort(chi2[sel.selected], kind="stable")[:n]]
    return selection.Selection(sel.method, np.sort(keep), sel.average)


def clustering_quality(objs, chi2, errors, good, seed):
    """Learned features against raw pixels as inputs of the same PCA + k-means++."""
    out = {}
    prep = prepare_by_chi2(objs, chi2)
    for name, model in (("features", None), ("pixels", "pixels")):
        f = features(prep.crops, model)
        auto = cluster(f, seed=seed)
        two = cluster(f, n_clusters=2, seed=seed)
        cl = convre(objs, chi2=chi2, model=model, seed=seed)
        sel = cl.selected
        out[name] = {
            "ari_k2_vs_consistent": float(adjusted_rand_score(good, two.labels)),
            "ari_auto_vs_consistent": float(adjusted_rand_score(good, auto.labels)),
            "n_clusters_auto": auto.n_clusters,
            "silhouette": auto.silhouette,
            "kept": int(sel.size),
            "kept_consistent_fraction": float(good[sel].mean()),
            "consistent_kept_fraction": float(good[sel].sum() / max(good.sum(), 1)),
            "kept_mean_error": float(errors[sel].mean()),
            "separation": float(feature_net.separation(
                [f / np.linalg.norm(f, axis=1, keepdims=True)], good[None])),
        }
    return out


def evaluate(sim, objs, chi2, obj, pixel_nm, seed, outdir, tag, n_prtf=24, plots=True):
    """Every method on one budget's runs: resolution, variance, real-space error, and
    (with ``plots``) the PCA, gallery, PRTF and variance figures."""
    errors = np.array([metrics.real_space_error(o, obj) for o in objs])
    good = errors <= errors.min() + 0.05
    cl = convre(objs, chi2=chi2, seed=seed)
    sels = selection.compare(objs, chi2, seed=seed)
    sels["convre"] = selection.Selection("OSS + ConvRe", cl.selected, cl.average)
    sels["van_der_schot_25"] = selection.error_fraction(objs, chi2, 0.25)
    out = {"photons": sim.photons, "errors_runs": {"min": float(errors.min()),
                                                   "median": float(np.median(errors)),
                                                   "consistent_runs": int(good.sum())},
           "methods": {}}
    # the paper computes every method's PRTF and variance from 24 reconstructions; a PRTF
    # of fewer runs is biased upward (the mean of N unrelated phasors has modulus about
    # 1/sqrt(N)), so the primary figures use the same number of runs for every method
    sels_n = {k: _subset(v, chi2, n_prtf, k) for k, v in sels.items()}
    q, prtfs, wprtfs, res = convre_report.method_curves(objs, sels_n, sim.intensity, sim.mask,
                                                         pixel_nm)
    _, _, _, res_all = convre_report.method_curves(objs, sels, sim.intensity, sim.mask,
                                                   pixel_nm)
    variances = {}
    for key in METHODS:
        s, sn = sels[key], sels_n[key]
        entry = {"label": LABELS[key], "n_kept": int(s.selected.size),
                 "n_prtf": int(sn.selected.size),
                 "real_space_error": metrics.real_space_error(s.average, obj),
                 "kept_consistent_fraction": float(good[s.selected].mean())}
        if sn.method in res:
            r = res[sn.method]
            entry.update({"resolution_px": r.pixels, "resolution_nm": r.length,
                          "crossed": r.crossed})
            qv, v = metrics.amplitude_variance(objs[sn.selected], sim.mask,
                                               reference=int(np.argmin(chi2[sn.selected])))
            variances[LABELS[key]] = v
            entry["amplitude_variance"] = np.nan_to_num(v).tolist()
        if s.method in res_all:
            r = res_all[s.method]
            entry.update({"resolution_px_all_kept": r.pixels,
                          "resolution_nm_all_kept": r.length})
        out["methods"][key] = entry
    out["q"] = q.tolist()
    out["clustering"] = clustering_quality(objs, chi2, errors, good, seed)
    out["convre"] = {"n_clusters": cl.n_clusters, "silhouette": cl.clustering.silhouette,
                     "scores": [vars(s) for s in cl.scores]}
    if plots:
        _budget_figures(cl, objs, chi2, errors, q, prtfs, wprtfs, res, variances, pixel_nm,
                        seed, Path(outdir), tag)
    return out


def _budget_figures(cl, objs, chi2, errors, q, prtfs, wprtfs, res, variances, pixel_nm, seed,
                    d, tag):
    """PCA scatter (features and pixels), cluster gallery, PRTFs and amplitude variance."""
    convre_report.plot_pca(cl, d / f"pca_{tag}.png", f"ConvRe features, {tag}", errors,
                           "real-space error (truth)")
    cl_pix = convre(objs, chi2=chi2, model="pixels", seed=seed)
    convre_report.plot_pca(cl_pix, d / f"pca_pixels_{tag}.png", f"raw pixels, {tag}", errors,
                           "real-space error (truth)")
    convre_report.plot_gallery(cl, d / f"gallery_{tag}.png", title=f"ConvRe clusters, {tag}")
    convre_report.plot_methods_prtf(q, prtfs, wprtfs, d / f"prtf_{tag}.png", pixel_nm, res,
                                    tag)
    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    for i, (lab, v) in enumerate(variances.items()):
        ax.semilogy(q / pixel_nm * 1e3, v, color=f"C{i}", label=lab, lw=1)
    ax.set_xlabel("spatial frequency (1/um)")
    ax.set_ylabel("variance of |F| over kept runs")
    ax.set_title(f"amplitude variance, {tag}")
    ax.legend(fontsize=7)
    ax.grid(True, alpha=0.3)
    fig.savefig(d / f"variance_{tag}.png", dpi=110)
    plt.close(fig)


def heldout_comparison(args):
    """Learned features vs raw pixels on fresh simulated patterns (objects never seen in
    training: ``make_training_set(seed=1)``, seeds 100003 onward), scored against two
    labellings that the truth gives: *consistent* (real-space error within 0.05 of the
    pattern's best run, the training label) and *found* (error below 0.5: the runs'
    errors are bimodal, about 0.15 to 0.35 when the object is found and 0.7 to 0.95 when
    not, so this is the split a selection must make; the 0.05 margin often cuts a
    continuum of runs that all found the object)."""
    data = feature_net.make_training_set(
        n_objects=args.heldout_patterns, n_runs=16, n_iter=400, photons=(1e4, 3e5),
        background=args.background, seed=1, cache_dir=args.heldout,
        show_progress=not args.no_progress)
    labellings = {"consistent": data["good"], "found": data["errors"] <= 0.5}
    rows = []
    for p, (crops, ph) in enumerate(zip(data["crops"], data["photons"], strict=True)):
        row = {"photons": float(ph), "runs": len(crops)}
        feats = {name: features(crops, model) for name, model in (("features", None),
                                                                   ("pixels", "pixels"))}
        parts = {name: (cluster(f, n_clusters=2, seed=args.seed).labels,
                        cluster(f, seed=args.seed)) for name, f in feats.items()}
        for lab, good_all in labellings.items():
            good = good_all[p]
            row[lab] = {"positives": int(good.sum())}
            for name, f in feats.items():
                two, auto = parts[name]
                fn = f / np.linalg.norm(f, axis=1, keepdims=True)
                row[lab][name] = {
                    "ari_k2": float(adjusted_rand_score(good, two)),
                    "ari_auto": float(adjusted_rand_score(good, auto.labels)),
                    "n_clusters_auto": auto.n_clusters,
                    "separation": feature_net.separation([fn], good[None]),
                }
        rows.append(row)
    summary = {}
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), constrained_layout=True)
    for ax, lab in zip(axes, labellings, strict=True):
        mixed = [r for r in rows if 2 <= r[lab]["positives"] < r["runs"]]
        summary[lab] = {"patterns": len(mixed)}
        for name in ("features", "pixels"):
            summary[lab][name] = {
                key: float(np.nanmean([r[lab][name][key] for r in mixed]))
                for key in ("ari_k2", "ari_auto", "separation")}
        x = np.arange(len(mixed))
        for j, name in enumerate(("features", "pixels")):
            ax.bar(x + (j - 0.5) * 0.35, [r[lab][name]["ari_auto"] for r in mixed], 0.35,
                   color=f"C{j}", label=f"{name}: mean {summary[lab][name]['ari_auto']:.2f}")
        ax.set_xticks(x, [f"{r['photons']:.1e}\n{r[lab]['positives']}/{r['runs']}"
                          for r in mixed], fontsize=6)
        ax.set_xlabel(f"held-out pattern: photons, {lab}/total runs")
        ax.set_ylabel(f"ARI (silhouette k) with {lab}/other")
        ax.set_ylim(-0.15, 1.15)
        ax.legend(fontsize=7)
        ax.set_title(f"label: {lab} runs", fontsize=9)
    fig.suptitle("learned features vs raw pixels on unseen objects (PCA + k-means++)")
    fig.savefig(Path(args.out) / "features_vs_pixels_heldout.png", dpi=110)
    plt.close(fig)
    logger.info("held-out features vs pixels: %s", summary)
    return {"patterns": rows, "mean_over_mixed": summary}


def summary_plots(results, outdir):
    results = sorted(results, key=lambda r: -r["photons"])
    budgets = [r["photons"] for r in results]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    for i, key in enumerate(METHODS):
        err = [r["methods"][key]["real_space_error"] for r in results]
        axes[1].semilogx(budgets, err, "o-", color=f"C{i}", label=LABELS[key])
        if key != "best_chi2":
            nm = [r["methods"][key].get("resolution_nm", np.nan) for r in results]
            axes[0].semilogx(budgets, nm, "o-", color=f"C{i}", label=LABELS[key])
    axes[0].set_ylabel("wPRTF resolution, 1/e (nm, paper geometry)")
    axes[1].set_ylabel("real-space error vs truth")
    for ax in axes:
        ax.set_xlabel("photons")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        ax.invert_xaxis()
    fig.savefig(Path(outdir) / "summary_resolution_error.png", dpi=110)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
    x = np.arange(len(results))
    for j, name in enumerate(("features", "pixels")):
        ari = [r["clustering"][name]["ari_k2_vs_consistent"] for r in results]
        pur = [r["clustering"][name]["kept_consistent_fraction"] for r in results]
        ax.bar(x + (j - 0.5) * 0.35, ari, 0.35, color=f"C{j}",
               label=f"{name}: ARI (k=2) with consistent/failed")
        ax.plot(x + (j - 0.5) * 0.35, pur, "k^" if j == 0 else "kv",
                label=f"{name}: consistent fraction of kept cluster")
    ax.set_xticks(x, [f"{b:.2g}" for b in budgets])
    ax.set_xlabel("photons")
    ax.set_ylim(-0.1, 1.1)
    ax.legend(fontsize=7)
    ax.set_title("learned features vs raw pixels, same PCA + k-means++")
    fig.savefig(Path(outdir) / "features_vs_pixels.png", dpi=110)
    plt.close(fig)


def scene_arguments(ap: argparse.ArgumentParser) -> None:
    """The options that define a budget's pattern, its phasing and its scoring (shared
    with ``convre_draws.py``)."""
    ap.add_argument("--runs", type=int, default=96)
    ap.add_argument("--iter", type=int, default=500)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--object-seed", type=int, default=100)
    ap.add_argument("--background", type=float, default=1.0)
    ap.add_argument("--beamstop", type=float, default=2.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--prtf-runs", type=int, default=24,
                    help="runs per method in the PRTF and variance (24 as in the paper)")
    ap.add_argument("--work", default="/tmp/convre/bench",
                    help="cache of each budget's phased runs")
    ap.add_argument("--no-progress", action="store_true")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    scene_arguments(ap)
    ap.add_argument("--budgets", type=float, nargs="+", default=[1e6, 1e5, 5e4, 3e4])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--phase-only", action="store_true", help="phase and cache, no scoring")
    ap.add_argument("--heldout", default="/tmp/convre/heldout",
                    help="cache of the held-out patterns for the features/pixels comparison")
    ap.add_argument("--heldout-patterns", type=int, default=32)
    ap.add_argument("--out", default="benchmarks/convre_figures")
    ap.add_argument("--figure-budgets", type=int, default=2,
                    help="per-budget figures only for this many of the noisiest budgets")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    Path(args.work).mkdir(parents=True, exist_ok=True)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    obj = mitochondria.mitochondrion_object(args.size, seed=args.object_seed)
    pixel_nm = mitochondria.paper_pixel_nm(args.size)
    results = []
    figured = sorted(args.budgets)[:args.figure_budgets]
    for k, ph in enumerate(args.budgets):
        sim, objs, chi2, secs = phase_budget(obj, ph, args, k)
        if args.phase_only:
            continue
        tag = f"{ph:.2g}".replace("e+0", "e")
        r = evaluate(sim, objs, chi2, obj, pixel_nm, args.seed, args.out, tag, args.prtf_runs,
                     plots=ph in figured)
        r["phasing_seconds"] = secs
        results.append(r)
        logger.info("%s photons: %s", tag, {k: (round(v.get("resolution_nm", np.nan), 1),
                                                round(v["real_space_error"], 3))
                                            for k, v in r["methods"].items()})
    if args.phase_only:
        return 0
    summary_plots(results, args.out)
    heldout = heldout_comparison(args)
    meta = {"command": "python benchmarks/convre_bench.py " + " ".join(argv or []),
            "args": vars(args), "pixel_nm": pixel_nm,
            "machine": {"python": platform.python_version(), "torch": torch.__version__,
                        "threads": args.threads},
            "weights_card": feature_net.modelfiles.read_card(feature_net.DEFAULT_WEIGHTS)
            .get("command")}
    (Path(args.out) / "convre_bench.json").write_text(
        json.dumps({"meta": meta, "budgets": results, "heldout_features_vs_pixels": heldout},
                   indent=1, default=float))
    _remove_stale_figures(Path(args.out), figured)
    return 0


def _remove_stale_figures(out: Path, figured) -> None:
    """Delete the PNGs in ``out`` that this run did not write (older runs' per-budget
    figures), so the folder holds exactly what RESULTS_convre.md links."""
    tags = [f"{ph:.2g}".replace("e+0", "e") for ph in figured]
    keep = {"summary_resolution_error.png", "features_vs_pixels.png",
            "features_vs_pixels_heldout.png"}
    keep |= {f"{kind}_{t}.png" for t in tags
             for kind in ("pca", "pca_pixels", "gallery", "prtf", "variance")}
    for f in out.glob("*.png"):
        if f.name not in keep:
            f.unlink()
            logger.info("removed stale figure %s", f)


if __name__ == "__main__":
    raise SystemExit(main())
