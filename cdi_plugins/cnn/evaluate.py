"""Evaluation of the complex CNN on held-out data (Wu et al. 2021, Figs. 3-5).

:func:`evaluate` computes, on a held-out test file, the chi^2 of the modulus (eq. 5) and
of the amplitude and the phase for every pattern, with Gamma fits of their histograms;
the same for the nearest-neighbour search (NNS) over the training set; the CNN's time
per pattern, one at a time and batched; and the comparison of four initialisations of
the ER/HIO + shrink-wrap refinement (Fig. 5f). It writes PNG figures and a JSON file
of the numbers.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from tomopy_dlalign.common.h5files import jsonable
from tomopy_dlalign.common.modelfiles import write_text_atomic
from tomopy_dlalign.common.progress import progress

from ..phasing import centred_box, phase_retrieval
from ..simulate import superellipsoid as se
from .loss import image_chi2
from .model import INFERENCE_BATCH
from .neighbours import nearest_neighbour
from .prediction import as_model, modulus_chi2, predict
from .refinement import refine, refine_shrinkwrap, scaled_schedule

logger = logging.getLogger(__name__)

METRICS = ("chi2_modulus", "chi2_amplitude", "chi2_phase")


def gamma_fit(values: np.ndarray) -> dict:
    """Gamma distribution fitted to positive values (location 0): shape ``k``, scale
    ``theta``, its mean ``k theta`` and mode ``(k - 1) theta``."""
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v) & (v > 0)]
    nan = {"shape": float("nan"), "scale": float("nan"), "mean": float("nan"),
           "mode": float("nan")}
    if v.size < 3 or np.ptp(v) <= 1e-12 * v.max():
        return nan
    try:
        k, _, theta = stats.gamma.fit(v, floc=0)
    except (ValueError, RuntimeError):  # the maximum-likelihood solver found no root
        return nan
    return {"shape": float(k), "scale": float(theta), "mean": float(k * theta),
            "mode": float(max(k - 1, 0) * theta)}


def _summary(values: np.ndarray) -> dict:
    v = np.asarray(values, np.float64)
    return {"mean": float(v.mean()), "median": float(np.median(v)), "std": float(v.std()),
            "gamma": gamma_fit(v)}


def prediction_chi2(intensity, amplitude, phase01, amp_true, phase_true) -> dict:
    """Per-pattern chi^2 of the modulus (eq. 5, fitted scale), the amplitude and the phase
    scaled to (0, 1) (``sum (x_p - x_g)^2 / sum x_g^2``)."""
    ph = 2 * np.pi * phase01 - np.pi
    return {
        "chi2_modulus": modulus_chi2(intensity, amplitude, ph),
        "chi2_amplitude": image_chi2(torch.from_numpy(amplitude),
                                     torch.from_numpy(amp_true)).numpy(),
        "chi2_phase": image_chi2(torch.from_numpy(phase01),
                                 torch.from_numpy(phase_true)).numpy(),
    }


def time_cnn(net, intensity: np.ndarray, n_single: int = 200, repeats: int = 3) -> dict:
    """Milliseconds per pattern: one pattern per call (median), and the whole stack in
    batches of :data:`~cdi_plugins.cnn.model.INFERENCE_BATCH` (best of ``repeats``),
    through :func:`cdi_plugins.cnn.predict`."""
    predict(intensity[:8], model=net)
    single = []
    for i in range(min(n_single, len(intensity))):
        t = time.perf_counter()
        predict(intensity[i], model=net)
        single.append(time.perf_counter() - t)
    batched = []
    for _ in range(repeats):
        t = time.perf_counter()
        predict(intensity, model=net)
        batched.append((time.perf_counter() - t) / len(intensity))
    return {"single_ms": 1e3 * float(np.median(single)), "batched_ms": 1e3 * min(batched),
            "batch_size": INFERENCE_BATCH, "n": len(intensity), "threads": torch.get_num_threads()}


def compare_initialisations(test: dict, amp: np.ndarray, phase: np.ndarray,
                            nns_amp: np.ndarray | None, nns_phase: np.ndarray | None,
                            n_patterns: int, n_starts: int, seed: int, n_iter: int = 600,
                            show_progress: bool | None = None) -> dict:
    """chi^2 vs iteration of the four initialisations of Wu et al. (2021), Fig. 5f.

    (i) random phases in the fixed square support (half the array); (ii) random phases
    in the CNN support; (iii) the CNN's phase and support; (iv) the NNS neighbour's
    phase and support. All use the same ER/HIO schedule and shrink-wrap
    (:func:`cdi_plugins.cnn.refine`), inside the same fixed square. (i) and (ii) run
    ``n_starts`` random starts per pattern; (iii) and (iv) are deterministic.

    Returns
    -------
    dict
        ``curves[name]`` ``(n_patterns, n_iter)`` (mean over starts), ``final[name]``
        ``(n_patterns, n_starts or 1)``, and the share of patterns whose CNN-seeded run
        ends below the mean (and below the best) final chi^2 of the random starts.
    """
    names = ["random phase + square support", "random phase + CNN support",
             "CNN phase + CNN support", "NNS phase + NNS support"]
    if nns_amp is None:
        names = names[:3]
    curves = {k: [] for k in names}
    final = {k: [] for k in names}
    bar = progress(range(n_patterns), "refinement comparison", show_progress, total=n_patterns)
    for i in bar:
        intensity = test["intensity"][i]
        box = centred_box(intensity.shape)
        sw = refine_shrinkwrap()
        runs = {
            names[0]: phase_retrieval(intensity, support=box, max_support=box,
                                      algorithm=scaled_schedule(n_iter), n_runs=n_starts,
                                      seed=seed * 100003 + i, device="cpu", shrinkwrap=sw,
                                      show_progress=False, free_fraction=0),
            names[1]: refine(intensity, amp[i], phase[i], n_runs=n_starts, n_iter=n_iter,
                                 use_phase=False, seed=seed * 100003 + i, device="cpu",
                                 show_progress=False),
            names[2]: refine(intensity, amp[i], phase[i], n_iter=n_iter, device="cpu",
                                 show_progress=False),
        }
        if nns_amp is not None:
            runs[names[3]] = refine(intensity, nns_amp[i], nns_phase[i], n_iter=n_iter,
                                        device="cpu", show_progress=False)
        for k, res in runs.items():
            curves[k].append(res.chi2.mean(axis=0))
            final[k].append(res.chi2[:, -1])
    curves = {k: np.asarray(v) for k, v in curves.items()}
    final = {k: np.asarray(v) for k, v in final.items()}
    cnn_final = final[names[2]][:, 0]
    out = {
        "n_patterns": n_patterns, "n_starts": n_starts, "n_iter": n_iter,
        "schedule": scaled_schedule(n_iter), "curves": curves, "final": final,
        "cnn_below_random_mean": float(np.mean(cnn_final < final[names[0]].mean(axis=1))),
        "cnn_below_random_best": float(np.mean(cnn_final < final[names[0]].min(axis=1))),
        "cnn_below_random_cnn_support_mean": float(np.mean(
            cnn_final < final[names[1]].mean(axis=1))),
        "final_mean": {k: float(v.mean()) for k, v in final.items()},
        "final_median": {k: float(np.median(v)) for k, v in final.items()},
    }
    return out


def evaluate(dataset: str | os.PathLike, model=None, train: str | os.PathLike | None = None,
             n: int | None = None, report: str | os.PathLike | None = None,
             output: str | os.PathLike | None = None, n_refine: int = 0, n_starts: int = 4,
             seed: int = 0, n_iter: int = 600, n_train: int | None = None,
             show_progress: bool | None = None) -> dict:
    """Score the CNN (and the NNS baseline) on held-out data; optional figures.

    Parameters
    ----------
    dataset : path
        Held-out test data (:func:`cdi_plugins.simulate.superellipsoid.make_dataset`, a seed not
        used for training).
    model : ComplexCNN or path, optional
        Default the shipped weights.
    train : path, optional
        Training data: the NNS reference set (Wu et al. 2021, section 2.2).
    n : int, optional
        Test patterns (default all).
    n_train : int, optional
        NNS references: the first ``n_train`` particles of ``train`` (default all).
    report : path, optional
        Folder for ``cnn_gallery.png``, ``cnn_chi2_hist.png``, ``cnn_refine_chi2.png``,
        ``cnn_training.png`` (and ``nns_gallery.png`` with ``train``).
    output : path, optional
        JSON file of the figures.
    n_refine : int
        Test patterns for the comparison of initialisations (0: skip).
    n_starts : int
        Random starts per random initialisation.
    seed : int
        Seed of the random starts.
    n_iter : int
        Refinement iterations.
    show_progress : bool, optional

    Returns
    -------
    dict
        The figures (as written to ``output``).
    """
    net = as_model(model)
    test = se.read_dataset(dataset, n)
    card = getattr(net, "card", {}) or {}
    train_seed = card.get("data", {}).get("train_seed")
    if train_seed is not None and train_seed == test["seed"]:
        raise ValueError(f"the test data {str(dataset)!r} were made with the training seed "
                         f"{train_seed}: they are not held out")
    t0 = time.perf_counter()
    amp, phase = predict(test["intensity"], model=net)
    phase01 = ((phase + np.pi) / (2 * np.pi)).astype(np.float32)
    out: dict = {"test": {"path": str(dataset), "seed": test["seed"],
                          "n": len(test["intensity"])},
                 "model": card.get("command", str(model))}
    per = prediction_chi2(test["intensity"], amp, phase01, test["amplitude"], test["phase"])
    out["cnn"] = {k: _summary(v) for k, v in per.items()}
    out["timing"] = time_cnn(net, test["intensity"])
    logger.info("CNN on %d test patterns: chi2 modulus %.4f, amplitude %.4f, phase %.4f; "
                "%.3f ms/pattern single, %.3f ms batched", len(amp),
                *(out["cnn"][k]["mean"] for k in METRICS), out["timing"]["single_ms"],
                out["timing"]["batched_ms"])
    nns_per = nns_amp = nns_phase = None
    if train is not None:
        nns_amp, nns_phase, nns_per = _nns(test, train, n_train, per, out)
    comp = None
    if n_refine:
        comp = compare_initialisations(test, amp, phase, nns_amp, nns_phase,
                                       min(int(n_refine), len(amp)), int(n_starts), seed,
                                       n_iter, show_progress)
        out["refinement"] = {k: v for k, v in comp.items() if k not in ("curves", "final")}
        logger.info("refinement over %d patterns: CNN-seeded below the random starts' mean "
                    "on %.0f%%, below their best on %.0f%%", comp["n_patterns"],
                    100 * comp["cnn_below_random_mean"], 100 * comp["cnn_below_random_best"])
    out["seconds"] = time.perf_counter() - t0
    if report is not None:
        from . import report as figures

        folder = Path(report)
        folder.mkdir(parents=True, exist_ok=True)
        fits = {name: {k: v["gamma"] for k, v in out[key].items() if k in METRICS}
                for name, key in (("CNN", "cnn"), ("NNS", "nns")) if key in out}
        out["figures"] = figures.save_figures(folder, test, amp, phase01, per, nns_per, comp,
                                              card, fits)
    if output is not None:
        write_text_atomic(output, json.dumps(out, indent=2, default=jsonable))
    return out


def _nns(test: dict, train, n_train: int | None, per: dict, out: dict):
    """The NNS baseline over the training set: its predictions and chi^2 (added to
    ``test`` and ``out``)."""
    ref = se.read_dataset(train, n_train)
    if ref["seed"] == test["seed"]:
        raise ValueError("the NNS reference set and the test data share a seed")
    idx, sec = nearest_neighbour(test["intensity"], torch.from_numpy(ref["intensity"]))
    nns_amp = ref["amplitude"][idx]
    nns_p01 = ref["phase"][idx]
    nns_phase = (2 * np.pi * nns_p01 - np.pi).astype(np.float32)
    nns_per = prediction_chi2(test["intensity"], nns_amp, nns_p01, test["amplitude"],
                              test["phase"])
    test["nns_amplitude"], test["nns_phase"] = nns_amp, nns_p01
    out["nns"] = {k: _summary(v) for k, v in nns_per.items()}
    out["nns"]["ms_per_pattern"] = 1e3 * sec
    out["nns"]["n_reference"] = len(ref["intensity"])
    out["cnn_better_than_nns_fraction"] = float(np.mean(
        per["chi2_modulus"] < nns_per["chi2_modulus"]))
    logger.info("NNS over %d references: chi2 modulus %.4f, amplitude %.4f, phase %.4f; "
                "%.2f ms/pattern", len(ref["intensity"]),
                *(out["nns"][k]["mean"] for k in METRICS), 1e3 * sec)
    return nns_amp, nns_phase, nns_per



def prediction_report(intensity, amplitude, phase, result, folder) -> dict:
    """PNG of one prediction (and its refinement): pattern, amplitude, wrapped and
    unwrapped phase."""
    from . import report as figures

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return figures.plot_prediction(intensity, amplitude, phase, result,
                                      folder / "cnn_prediction.png")
