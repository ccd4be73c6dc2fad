"""Figures of a ConvRe clustering: PCA scatter, cluster gallery, PRTF/wPRTF of every method.

Example
-------
>>> import tempfile, numpy as np
>>> import cdi_plugins as cdi
>>> from cdi_plugins.convre import report as convre_report
>>> o = np.zeros((32, 32), complex); o[10:22, 12:20] = 1
>>> rng = np.random.default_rng(0)
>>> runs = np.stack([o + 0.05 * rng.standard_normal((32, 32)) for _ in range(8)])
>>> I = cdi.simulate.diffraction(o)
>>> cl = cdi.convre(runs, intensity=I, model="pixels", n_clusters=2)
>>> files = convre_report.save_convre_report(cl, runs, I, outdir=tempfile.mkdtemp())
>>> sorted(files)
['gallery', 'pca', 'prtf', 'summary']
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tomopy_dlalign.common.figures import legend_outside, shared_colorbar  # noqa: E402
from tomopy_dlalign.common.modelfiles import write_text_atomic  # noqa: E402

from .. import metrics  # noqa: E402
from ..phasing.report import frequency_axis, save_figure  # noqa: E402
from .baselines import (  # noqa: E402
    Selection,
    best_chi2,
    error_fraction,
    mean_of_all,
    pca_kmeans_pixels,
)
from .pipeline import ConvReResult  # noqa: E402
from .selection import DEFAULT_RULE  # noqa: E402

logger = logging.getLogger(__name__)


def plot_pca(result: ConvReResult, path: str | os.PathLike, title: str = "",
             color_by: np.ndarray | None = None, color_label: str = "") -> None:
    """Runs on their first two principal components, coloured by cluster (kept cluster
    circled); with ``color_by`` a second panel colours them by that value (e.g. the
    real-space error in a simulation)."""
    emb = result.clustering.embedding
    y = emb[:, 1] if emb.shape[1] > 1 else np.zeros(len(emb))
    panels = 2 if color_by is not None else 1
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels + 2.6, 4.3),
                             constrained_layout=True, squeeze=False)
    ax = axes[0, 0]
    for k in range(result.n_clusters):
        m = result.labels == k
        s = result.scores[k]
        ax.scatter(emb[m, 0], y[m], s=22, color=f"C{k}",
                   label=f"cluster {k}: {s.size} runs, mean $\\chi^2$ {s.mean_chi2:.3g}")
    sel = result.selected
    ax.scatter(emb[sel, 0], y[sel], s=80, facecolors="none", edgecolors="k", lw=1,
               label="kept")
    ev = result.clustering.explained_variance
    ax.set_xlabel(f"PC 1 ({ev[0]:.0%} of variance)")
    ax.set_ylabel(f"PC 2 ({ev[1]:.0%})" if len(ev) > 1 else "")
    legend_outside(ax, fontsize=7)
    ax.set_title(title or "PCA of the run features")
    if color_by is not None:
        ax = axes[0, 1]
        sc = ax.scatter(emb[:, 0], y, c=color_by, s=22, cmap="viridis")
        fig.colorbar(sc, ax=ax, label=color_label)
        ax.set_xlabel("PC 1")
        ax.set_title(color_label)
    save_figure(fig, path)


def _union_box(aligned: np.ndarray, threshold: float = 0.1, margin: int = 3):
    """Bounding box of every run's own support (amplitude above ``threshold`` of its
    maximum), so that no run is cut in the gallery."""
    amp = np.abs(aligned)
    inside = (amp > threshold * amp.max(axis=(1, 2), keepdims=True)).any(axis=0)
    ys, xs = np.nonzero(inside)
    h, w = inside.shape
    return (slice(max(ys.min() - margin, 0), min(ys.max() + margin + 1, h)),
            slice(max(xs.min() - margin, 0), min(xs.max() + margin + 1, w)))


def plot_gallery(result: ConvReResult, path: str | os.PathLike, per_cluster: int = 6,
                 title: str = "") -> None:
    """One row per cluster: its mean, then up to ``per_cluster`` members (amplitudes of
    the aligned runs, cropped to the joint support's box; lowest chi^2 first), all on
    one grey scale with one colour bar and the same pixel axes."""
    prep = result.prepared
    crops = np.abs(prep.aligned[(slice(None), *_union_box(prep.aligned))])
    k = result.n_clusters
    fig, axes = plt.subplots(k, per_cluster + 1,
                             figsize=(1.6 * (per_cluster + 1) + 1.4, 1.9 * k + 0.6),
                             constrained_layout=True, squeeze=False, sharex=True, sharey=True)
    vmax = np.percentile(crops, 99.5)
    for row in range(k):
        members = np.flatnonzero(result.labels == row)
        members = members[np.argsort(result.chi2[members])]
        mean = crops[members].mean(axis=0)
        ax = axes[row, 0]
        image = ax.imshow(mean, cmap="gray", vmin=0, vmax=vmax)
        ax.set_ylabel("y (pixels)", fontsize=7)
        kept = " (kept)" if row == result.cluster else ""
        ax.set_title(f"cluster {row}{kept}\nmean of {members.size}", fontsize=7)
        for j in range(per_cluster):
            ax = axes[row, j + 1]
            if j < members.size:
                r = members[j]
                ax.imshow(crops[r], cmap="gray", vmin=0, vmax=vmax)
                ax.set_title(f"run {r}, $\\chi^2$ {result.chi2[r]:.3g}", fontsize=6)
            else:  # a cluster with fewer members than the row has room for
                ax.axis("off")
        for ax in axes[row]:
            ax.tick_params(labelsize=6)
            if row == result.cluster:
                for sp in ax.spines.values():
                    sp.set_color("C3")
                    sp.set_linewidth(1.5)
    for ax in axes[-1]:
        ax.set_xlabel("x (pixels)", fontsize=7)
    shared_colorbar(image, axes, "amplitude (a.u.)", shrink=0.8)
    fig.suptitle(title or "clusters: mean and members (amplitude)", fontsize=9)
    save_figure(fig, path)


def plot_methods_prtf(q: np.ndarray, prtfs: dict, wprtfs: dict, path: str | os.PathLike,
                      pixel_nm: float | None = None, resolutions: dict | None = None,
                      title: str = "") -> None:
    """PRTF (top) and wPRTF (bottom) of several methods, 1/e line, legends beside."""
    fig, axes = plt.subplots(2, 1, figsize=(9.5, 7), constrained_layout=True)
    x, xlabel = frequency_axis(q, pixel_nm)  # 1/um, as the phasing report
    for ax, curves, name in ((axes[0], prtfs, "PRTF"), (axes[1], wprtfs, "wPRTF")):
        for i, (label, c) in enumerate(curves.items()):
            lab = label
            if name == "wPRTF" and resolutions and label in resolutions:
                r = resolutions[label]
                lab = f"{label}: {r.length:.1f} nm" if r.length else f"{label}: {r.pixels:.2f} px"
            # distinct dashes: methods that keep the same runs draw the same curve
            ax.plot(x, c, color=f"C{i}", label=lab, lw=1.2, ls=("-", "--", "-.", ":")[i % 4])
        ax.axhline(metrics.INV_E, color="k", ls="--", lw=0.8, label="1/e")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(name)
        ax.set_ylim(0, 1.1)
        ax.grid(True, alpha=0.3)
        legend_outside(ax, fontsize=7)
        ax.set_title(f"{name} {title}")
    save_figure(fig, path)


def method_curves(objects, selections: dict, intensity, mask=None,
                  pixel_nm: float | None = None):
    """PRTF, wPRTF and resolution of each :class:`~cdi_plugins.convre.baselines.Selection`
    (computed from its kept runs, aligned to the lowest-chi^2 one, eqs. (1)-(2) of Pan
    et al. 2022). A single kept run has no PRTF of its own (it fits its modulus by
    construction) and is skipped."""
    objs = np.asarray(objects)
    prtfs, wprtfs, res = {}, {}, {}
    q = None
    for sel in selections.values():
        if sel.selected.size < 2:
            continue
        q, p = metrics.prtf(objs[sel.selected], intensity, mask)
        _, wf = metrics.wiener_filter(intensity, mask)
        prtfs[sel.method], wprtfs[sel.method] = p, p * wf
        res[sel.method] = metrics.resolution(q, p * wf, pixel_size=pixel_nm)
    return q, prtfs, wprtfs, res


def save_convre_report(result: ConvReResult, objects, intensity, mask=None,
                       outdir: str | os.PathLike = ".", pixel_nm: float | None = None,
                       fraction: float = 0.1) -> dict[str, Path]:
    """Write ``pca.png``, ``gallery.png``, ``prtf.png`` (every method of
    :func:`cdi_plugins.convre.baselines.compare`) and ``summary.json`` to ``outdir``."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    files = {k: out / f"{k}.png" for k in ("pca", "gallery", "prtf")}
    plot_pca(result, files["pca"])
    plot_gallery(result, files["gallery"])
    c2 = result.chi2
    p = result.parameters
    sels = {"best_chi2": best_chi2(objects, c2), "mean_of_all": mean_of_all(objects, c2),
            "van_der_schot": error_fraction(objects, c2, fraction),
            "asura_like": pca_kmeans_pixels(objects, c2, seed=p.get("seed"),
                                            min_fraction=p.get("min_fraction", 0.1),
                                            rule=p.get("rule", DEFAULT_RULE)),
            "convre": Selection("OSS + ConvRe", result.selected, result.average)}
    q, prtfs, wprtfs, res = method_curves(objects, sels, intensity, mask, pixel_nm)
    plot_methods_prtf(q, prtfs, wprtfs, files["prtf"], pixel_nm, res)
    files["summary"] = out / "summary.json"
    summary = {
        "n_runs": len(result.labels), "n_clusters": result.n_clusters,
        "kept_cluster": result.cluster, "selected": result.selected.tolist(),
        "silhouette": result.clustering.silhouette,
        "clusters": [vars(s) for s in result.scores],
        "resolution_wprtf_1_over_e": {k: {"pixels": r.pixels, "nm": r.length,
                                          "crossed": r.crossed} for k, r in res.items()},
        "parameters": result.parameters,
    }
    write_text_atomic(files["summary"], json.dumps(summary, indent=1, default=float))
    logger.info("ConvRe report written to %s", out)
    return files
