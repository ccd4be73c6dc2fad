"""``cdi-plugins cluster`` and ``cdi-plugins train-features``: ConvRe from the command line.

::

    cdi-plugins cluster result.h5 -o clustered.h5 --report report/
    # the shipped weights: the defaults are their recipe (see the model card)
    cdi-plugins train-features -o cdi_plugins/weights/convre_features.safetensors \\
        --seed 0 --cache /tmp/convre/train2

:func:`add_commands` registers both on the parser of :mod:`cdi_plugins.cli`.
"""

from __future__ import annotations

import argparse
import logging
import platform
import shlex
import time
from pathlib import Path

from tomopy_dlalign.common.cli import (
    add_epochs,
    add_iters,
    add_model,
    add_output,
    add_report,
    add_seed,
    add_threads,
    set_threads,
    word_or,
)
from tomopy_dlalign.common.outputs import reads, writes

from ..defaults import DEFAULT_RULE, RULES

logger = logging.getLogger("cdi_plugins.cli")



def write_clustered(path, result, intensity, mask, geometry, clustered, sources) -> None:
    """The phasing result (as :func:`cdi_plugins.io.write_result`) plus ConvRe's output
    under ``/exchange/convre``: ``labels``, ``selected``, ``average`` (complex64),
    ``average_amplitude``, ``average_phase``, ``chi2``, ``pca_scores``, with the parameters
    and per-cluster scores in ``/process/cdi_plugins_convre``; the steps of ``sources``
    (the phasing result read) and a ``cluster`` step in ``/process/steps``."""
    import numpy as np

    from tomopy_dlalign.common import __version__
    from tomopy_dlalign.common.h5files import atomic_h5, write_provenance
    from tomopy_dlalign.common.process import record_step

    from .. import io

    io.write_result(path, result, intensity, mask, geometry, step=None, history=sources)
    with atomic_h5(path, "a") as f:
        g = f.require_group("exchange").require_group("convre")
        g.create_dataset("labels", data=clustered.labels)
        g.create_dataset("selected", data=clustered.selected)
        g.create_dataset("average", data=clustered.average)
        g.create_dataset("average_amplitude", data=np.abs(clustered.average))
        g.create_dataset("average_phase", data=np.angle(clustered.average)).attrs["units"] = "rad"
        g.create_dataset("chi2", data=clustered.chi2)
        g.create_dataset("pca_scores", data=clustered.clustering.embedding)
        params = {**clustered.parameters, "source": str(sources),
                  "kept_cluster": clustered.cluster,
                  "scores": [vars(s) for s in clustered.scores],
                  "silhouette": clustered.clustering.silhouette}
        write_provenance(f, "cdi_plugins_convre", __version__, params,
                         model=clustered.parameters.get("model"))
        record_step(f, "cluster", "phased", params, package="cdi_plugins",
                    model=clustered.parameters.get("model"), source=sources)


@reads("input", "weights")
@writes("output", folders=("report",))
def cmd_cluster(args) -> int:
    """Cluster the runs of the phasing result ``args.input`` (ConvRe)."""
    from tomopy_dlalign.common.h5files import open_h5
    from tomopy_dlalign.common.process import STATES, read_process

    from .. import io, metrics
    from ..convre import convre
    from ..convre import report as convre_report

    record = read_process(args.input)
    if record.state is not None and record.state != "phased":
        raise ValueError(f"{args.input} holds {STATES[record.state]} (/process/state is "
                         f"{record.state!r}), not a phasing result: phase it first with "
                         f"cdi-plugins phase {args.input} -o result.h5")
    result = io.read_result(args.input)
    with open_h5(args.input) as f:
        intensity = f["exchange/data"][()] if "exchange/data" in f else None
        mask = f["exchange/mask"][()].astype(bool) if "exchange/mask" in f else None
    geom = None
    try:
        geom = io.read_dx(args.input)[2]
    except (KeyError, ValueError):
        geom = None
    if intensity is None:
        raise ValueError(f"{args.input} holds no /exchange/data: ConvRe needs the pattern "
                         f"(write it with the result, as `cdi-plugins phase -o` does)")
    model = "pixels" if args.features == "pixels" else (args.weights or None)
    # runs are ranked as phasing ranked them: by the free log-likelihood when pixels
    # were withheld, else by chi^2
    cl = convre(result.objects, intensity=intensity, mask=mask, chi2=result.scores,
                n_clusters=args.clusters, model=model, max_clusters=args.max_clusters,
                min_fraction=args.min_fraction, seed=args.seed, rule=args.rule)
    pixel_nm = geom.real_space_pixel(max(intensity.shape)) * 1e9 if geom else None
    if cl.selected.size > 1:
        q, w = metrics.prtf(result.objects[cl.selected], intensity, mask, wiener=True)
        r = metrics.resolution(q, w, pixel_size=pixel_nm)
    else:  # a single run fits its own modulus: its PRTF says nothing
        r = "n/a (one kept run has no PRTF of its own)"
    if args.output:
        write_clustered(args.output, result, intensity, mask, geom, cl, args.input)
    if args.report:
        convre_report.save_convre_report(cl, result.objects, intensity, mask, args.report,
                                         pixel_nm=pixel_nm)
    print(f"ConvRe: {cl.n_clusters} cluster(s) of sizes {[s.size for s in cl.scores]}; kept "
          f"cluster {cl.cluster} ({cl.selected.size} runs, mean chi2 "
          f"{cl.scores[cl.cluster].mean_chi2:.4g}); wPRTF resolution (1/e) = {r}")
    return 0


def cmd_train_features(args) -> int:
    """Train ConvRe's feature extractor into ``args.output``."""
    import numpy as np
    import torch

    from ..convre import features

    set_threads(args)
    t0 = time.perf_counter()
    data = features.make_training_set(
        n_objects=args.objects, n_runs=args.runs, size=args.size,
        photons=(args.photons_min, args.photons_max), background=args.background,
        n_iter=args.iters, good_margin=args.good_margin, max_error=args.max_error,
        seed=args.seed,
        cache_dir=args.cache, show_progress=args.progress)
    t_data = time.perf_counter() - t0
    net, scores = features.train(data, epochs=args.epochs, lr=args.lr, tau=args.tau,
                                  seed=args.seed, failed_together=args.failed_together,
                                  compact=args.compact,
                                  show_progress=args.progress)
    card = {
        "model": features.MODEL_NAME,
        "architecture": net.config,
        "parameters": int(sum(p.numel() for p in net.parameters())),
        "command": _command_line(args),
        "seed": args.seed,
        "data": {**data["parameters"], "generator": "cdi_plugins.simulate.mitochondria + OSS "
                 "(cdi_plugins.phasing.phase_retrieval, constraint=positive, shrink-wrap)",
                 "photons_drawn": data["photons"].round(1).tolist(),
                 "phasing_seconds_per_pattern": np.round(data["seconds"], 1).tolist(),
                 "consistent_fraction": float(data["good"].mean())},
        "loss": "supervised contrastive (Khosla et al. 2020), two augmented views; the "
                "consistent runs of one pattern are positives"
                + ("; so are its failed runs" if args.failed_together else
                   "; each failed run is its own class")
                + (f"; plus {args.compact:g} x the per-pattern within/between-class "
                   "scatter ratio (features.compactness_loss)" if args.compact > 0 else ""),
        "epochs": args.epochs, "learning_rate": args.lr, "tau": args.tau,
        "metrics": scores,
        "training_time_s": {
            "data_this_call": round(t_data, 1),
            "data_phasing_total": round(float(np.nansum(data["seconds"])), 1),
            "data_patterns_from_cache_without_time": int(np.isnan(data["seconds"]).sum()),
            "training": round(scores["seconds"], 1),
            "total_this_call": round(time.perf_counter() - t0, 1)},
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "threads": args.threads, "device": "cpu"},
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    features.save_model(net, args.output, card)
    print(f"wrote {args.output} (+ .json model card): val separation "
          f"{scores['val_separation_features']:.2f} (features) vs "
          f"{scores['val_separation_pixels']:.2f} (pixels)")
    return 0


def _add_cluster(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cluster", help="ConvRe: cluster the runs of a phasing result",
                       description="Cluster the runs of a phasing result on convolutional "
                       "features (ConvRe), keep one cluster and average it; the result plus "
                       "/exchange/convre goes to the output, the figures to the report.")
    p.add_argument("input", help="result file written by `cdi-plugins phase -o` (with the "
                                 "pattern)")
    add_output(p, "output file: the result plus /exchange/convre", required=False)
    add_report(p, "folder for the PCA scatter, gallery, PRTF figures")
    p.add_argument("--clusters", type=word_or("auto", int, "an integer"), default="auto",
                   help="number of clusters; auto: chosen by the silhouette")
    p.add_argument("--max-clusters", type=int, default=6, help="largest number tried")
    p.add_argument("--min-fraction", type=float, default=0.1,
                   help="smallest share of the runs a kept cluster may hold with "
                        "--rule mean-chi2")
    p.add_argument("--rule", choices=RULES, default=DEFAULT_RULE,
                   help="kept cluster: the cluster of the lowest-chi^2 run (best-run), or "
                        "the lowest mean chi^2 among clusters of at least --min-fraction of "
                        "the runs (mean-chi2)")
    p.add_argument("--features", choices=("cnn", "pixels"), default="cnn",
                   help="convolutional features, or raw pixels")
    add_model(p, "feature extractor weights (.safetensors)", option="--weights")
    add_seed(p, help="seed of k-means++")
    p.set_defaults(func=cmd_cluster)


def _add_train_features(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-features",
                       help="train ConvRe's feature extractor on simulated reconstructions",
                       description="Simulate patterns, phase each many times (OSS), and "
                       "train ConvRe's feature extractor to tell the consistent runs of a "
                       "pattern from the failed ones; the model card (.json) records the "
                       "recipe. --cache keeps each pattern's runs, so a killed run resumes.")
    add_output(p, "weights file (.safetensors); the model card goes beside it")
    p.add_argument("--objects", type=int, default=64, help="simulated patterns")
    p.add_argument("--runs", type=int, default=24, help="OSS runs per pattern")
    add_iters(p, "OSS in each run", 400, legacy_iter=True)
    p.add_argument("--size", type=int, default=128, help="pattern size in pixels")
    p.add_argument("--photons-min", type=float, default=1.5e4, help="lowest photon budget")
    p.add_argument("--photons-max", type=float, default=1.5e5, help="highest photon budget")
    p.add_argument("--background", type=float, default=1.0,
                   help="subtracted background, photons per pixel")
    p.add_argument("--good-margin", type=float, default=0.05,
                   help="runs within this real-space error of the best are consistent")
    p.add_argument("--max-error", type=float, default=0.5,
                   help="runs above this real-space error are never consistent")
    p.add_argument("--failed-together", action=argparse.BooleanOptionalAction, default=True,
                   help="the failed runs of a pattern are one class, or one class each "
                        "(--no-failed-together)")
    p.add_argument("--compact", type=float, default=5.0,
                   help="weight of the per-pattern within/between-class scatter term")
    add_epochs(p, 100)
    p.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate")
    p.add_argument("--tau", type=float, default=0.2, help="contrastive temperature")
    add_seed(p, help="seed of the simulated patterns, the phasing and the training")
    add_threads(p, reproducible=True)
    p.add_argument("--cache", metavar="FOLDER",
                   help="folder keeping each simulated pattern's runs (resume)")
    p.set_defaults(func=cmd_train_features)


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``cluster`` and ``train-features`` on the ``cdi-plugins`` subparsers."""
    _add_cluster(sub)
    _add_train_features(sub)


_TRAIN_OPTIONS = ("output", "objects", "runs", "iters", "size", "photons_min", "photons_max",
                  "background", "good_margin", "max_error", "compact", "epochs", "lr", "tau",
                  "seed", "threads", "cache")


def _command_line(args) -> str:
    """The ``train-features`` command that reproduces ``args`` (for the model card)."""
    parts = ["cdi-plugins", "train-features"]
    parts.append("--failed-together" if args.failed_together else "--no-failed-together")
    for name in _TRAIN_OPTIONS:
        value = getattr(args, name)
        if value is not None:
            parts += [f"--{name.replace('_', '-')}", str(value)]
    return " ".join(shlex.quote(p) for p in parts)
