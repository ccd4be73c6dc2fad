"""Figures of the complex CNN's evaluation (Wu et al. 2021, Figs. 3-5), as PNG.

- ``cnn_gallery.png``: test patterns, true and predicted amplitude and phase (Fig. 4);
- ``nns_gallery.png``: the same for the nearest-neighbour search;
- ``cnn_chi2_hist.png``: histograms of chi^2 of the modulus, the amplitude and the
  phase, with their Gamma fits, CNN and NNS (Fig. 3b-d);
- ``cnn_refine_chi2.png``: mean and spread of chi^2 vs iteration for the four
  initialisations of the refinement (Fig. 5f);
- ``cnn_training.png``: training and validation loss per epoch (Fig. 3a).
"""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from scipy import stats  # noqa: E402

from tomopy_dlalign.common.figures import (  # noqa: E402
    image_panel,
    legend_outside,
    shared_colorbar,
)

from ..phasing.report import header, save_figure  # noqa: E402
from .unwrap import unwrap_phase  # noqa: E402

logger = logging.getLogger(__name__)

_LABELS = {"chi2_modulus": "modulus (eq. 5)", "chi2_amplitude": "amplitude",
           "chi2_phase": "phase"}
_PIXELS = {"xlabel": "x (pixels)", "ylabel": "y (pixels)"}


def _masked_phase(phase01, amplitude, threshold=0.05):
    return np.where(amplitude > threshold * amplitude.max(), phase01, np.nan)


def plot_gallery(path, intensity, amp_true, phase_true, amp_pred, phase_pred, chi2,
                 title: str) -> Path:
    """Rows: pattern (log), true amplitude, predicted amplitude, true phase, predicted
    phase (scaled to (0, 1), shown inside the particle); one colour bar for the patterns,
    one for both amplitude rows and one for both phase rows."""
    n = len(intensity)
    fig, axes = plt.subplots(5, n, figsize=(1.9 * n + 1.6, 10), constrained_layout=True,
                             sharex=True, sharey=True, squeeze=False)
    logs = np.stack([np.log10(i + 1e-6 * i.max()) for i in intensity])
    rows = (("pattern", logs, "magma", (logs.min(), logs.max())),
            ("amplitude, truth", amp_true, "gray", (0, 1)),
            ("amplitude, predicted", amp_pred, "gray", (0, 1)),
            ("phase, truth", [_masked_phase(p, a) for p, a in zip(phase_true, amp_true,
                                                                   strict=True)],
             "twilight", (0, 1)),
            ("phase, predicted", [_masked_phase(p, a) for p, a in zip(phase_pred, amp_pred,
                                                                       strict=True)],
             "twilight", (0, 1)))
    shown = []
    for i, (name, images, cmap, (lo, hi)) in enumerate(rows):
        for j in range(n):
            image = axes[i, j].imshow(images[j], cmap=cmap, vmin=lo, vmax=hi)
            axes[i, j].tick_params(labelsize=6)
        axes[i, 0].set_ylabel(f"{name}\ny (pixels)", fontsize=8)
        shown.append(image)
    for j in range(n):
        axes[0, j].set_title(f"$\\chi^2$ {chi2[j]:.3f}", fontsize=8)
        axes[-1, j].set_xlabel("x (pixels)", fontsize=8)
    bars = ("log10 intensity (a.u.)", "amplitude (maximum 1)",
            "phase $(\\varphi + \\pi) / 2\\pi$ (unitless)")
    for image, span, label in zip((shown[0], shown[1], shown[3]),
                                  (axes[:1], axes[1:3], axes[3:]), bars, strict=True):
        shared_colorbar(image, span, label, shrink=0.9)
    fig.suptitle(title, fontsize=10)
    save_figure(fig, path)
    return Path(path)


def plot_histograms(path, cnn: dict, nns: dict | None, fits: dict) -> Path:
    """chi^2 histograms with their Gamma fits (location 0), CNN and optionally NNS.

    ``fits[name][metric]`` is the fit of one histogram
    (:func:`cdi_plugins.cnn.evaluate.gamma_fit`), ``name`` in ``"CNN"``, ``"NNS"``."""
    fig, axes = plt.subplots(3, 1, figsize=(9, 8.5), constrained_layout=True)
    for ax, key in zip(axes, _LABELS, strict=True):
        sets = [("CNN", cnn[key], "C0")]
        if nns is not None:
            sets.append(("NNS", nns[key], "C3"))
        hi = np.percentile(np.concatenate([s[1] for s in sets]), 99)
        bins = np.linspace(0, hi, 60)
        for name, v, color in sets:
            v = np.asarray(v, np.float64)
            ax.hist(v, bins=bins, density=True, alpha=0.45, color=color,
                    label=f"{name}: mean {v.mean():.4f}")
            fit = fits[name][key]
            if np.isfinite(fit["mean"]):
                x = np.linspace(bins[1] / 4, hi, 300)
                ax.plot(x, stats.gamma.pdf(x, fit["shape"], scale=fit["scale"]), color=color,
                        label=f"{name} Gamma fit: mean {fit['mean']:.4f}")
        ax.set_xlabel(f"$\\chi^2$ of the {_LABELS[key]} (unitless)")
        ax.set_ylabel("density")
        legend_outside(ax)
    fig.suptitle(f"held-out test patterns (n = {len(cnn['chi2_modulus'])})")
    save_figure(fig, path)
    return Path(path)


def plot_refinement(path, comp: dict) -> Path:
    """Mean and standard deviation over patterns of chi^2 vs iteration (log scale)."""
    fig, ax = plt.subplots(figsize=(9.5, 4.8), constrained_layout=True)
    colors = ["C0", "C2", "C3", "C1"]
    for (name, curves), color in zip(comp["curves"].items(), colors, strict=False):
        it = np.arange(1, curves.shape[1] + 1)
        logc = np.log10(np.maximum(curves, 1e-12))
        mean, std = logc.mean(axis=0), logc.std(axis=0)
        # the legend quotes the curve's own last point: the geometric mean it draws
        ax.plot(it, 10**mean, color=color, label=f"{name}: final {10 ** mean[-1]:.2g}")
        ax.fill_between(it, 10 ** (mean - std), 10 ** (mean + std), color=color, alpha=0.2)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("$\\chi^2$ (eq. 5), geometric mean ± 1 sd\nover patterns")
    ax.set_title(f"{comp['n_patterns']} test patterns, {comp['n_starts']} random starts each; "
                 f"CNN-seeded below random start: {100 * comp['cnn_below_random_mean']:.0f}%",
                 fontsize=9)
    legend_outside(ax)
    save_figure(fig, path)
    return Path(path)


def plot_training(path, card: dict) -> Path | None:
    """Training and validation loss per epoch from the model card."""
    hist = card.get("training", {}).get("history", [])
    if not hist:
        return None
    ep = [h["epoch"] for h in hist]
    fig, ax = plt.subplots(figsize=(7.5, 4), constrained_layout=True)
    ax.plot(ep, [h["train_loss"] for h in hist], "o-", label="training")
    ax.plot(ep, [h["val_loss"] for h in hist], "s-", label="validation")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("loss, eq. (4)")
    ax.set_yscale("log")
    legend_outside(ax)
    save_figure(fig, path)
    return Path(path)


def plot_prediction(intensity, amplitude, phase, result, path) -> dict:
    """One prediction: pattern, amplitude, phase, unwrapped phase; and the refinement."""
    obj = amplitude * np.exp(1j * phase)
    panels = [("pattern", np.log10(intensity + 1e-6 * intensity.max()), "magma",
               "log10 intensity (input units)"),
              ("CNN amplitude", amplitude, "gray", "amplitude (a.u.)"),
              ("CNN phase", np.where(amplitude > 0.1 * amplitude.max(), phase, np.nan),
               "twilight", "phase (rad)"),
              ("CNN phase, unwrapped", unwrap_phase(obj), "viridis", "phase (rad)")]
    if result is not None:
        best = result.objects[result.best]
        h = best.shape[0]
        crop = slice(h // 4, h - h // 4)
        b = best[crop, crop]
        panels += [("refined amplitude", np.abs(b), "gray", "amplitude (a.u.)"),
                   ("refined phase, unwrapped", unwrap_phase(b), "viridis", "phase (rad)")]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 3.6),
                             constrained_layout=True)
    fig.get_layout_engine().set(w_pad=0.1)  # room for the last colour bar's labels
    for ax, (title, img, cmap, unit) in zip(axes, panels, strict=True):
        image_panel(ax, img, unit, cmap=cmap, **_PIXELS)
        ax.set_title(title, fontsize=9)
    # a refinement that failed its checks says so across the top, as phasing reports do
    header(fig, "", None if result is None else result.quality)
    save_figure(fig, path)
    return {"prediction": str(path)}


def save_figures(folder: Path, test: dict, amp, phase01, per: dict, nns_per: dict | None,
                 comp: dict | None, card: dict, fits: dict, n_show: int = 8) -> dict:
    """Write every figure of :func:`cdi_plugins.cnn.evaluate.evaluate`; returns their
    paths. ``fits`` as for :func:`plot_histograms`."""
    show = np.arange(min(n_show, len(amp)))
    files = {"gallery": str(plot_gallery(
        folder / "cnn_gallery.png", test["intensity"][show], test["amplitude"][show],
        test["phase"][show], amp[show], phase01[show], per["chi2_modulus"][show],
        "CNN on held-out patterns (phase scaled to (0, 1), shown inside the particle)"))}
    if nns_per is not None:
        files["nns_gallery"] = str(plot_gallery(
            folder / "nns_gallery.png", test["intensity"][show], test["amplitude"][show],
            test["phase"][show], test["nns_amplitude"][show], test["nns_phase"][show],
            nns_per["chi2_modulus"][show], "nearest neighbour in the training set"))
    files["histograms"] = str(plot_histograms(folder / "cnn_chi2_hist.png", per, nns_per,
                                                   fits))
    if comp is not None:
        files["refinement"] = str(plot_refinement(folder / "cnn_refine_chi2.png", comp))
    tr = plot_training(folder / "cnn_training.png", card)
    if tr is not None:
        files["training"] = str(tr)
    logger.info("figures written to %s", folder)
    return files
