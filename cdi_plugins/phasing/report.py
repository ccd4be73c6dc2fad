"""Figures of a phasing run: best reconstruction, chi^2 curves, PRTF and wPRTF.

Example
-------
>>> import tempfile
>>> import cdi_plugins as cdi
>>> from cdi_plugins.phasing import report
>>> sim = cdi.simulate.simulate_pattern(cdi.simulate.biological_object(64, seed=0), None)
>>> res = cdi.phase_retrieval(sim.intensity, algorithm="hio", n_iter=10, n_runs=2, seed=0,
...                           device="cpu")
>>> files = report.save_report(res, sim.intensity, outdir=tempfile.mkdtemp())
>>> sorted(files)
['best', 'chi2', 'prtf', 'summary']
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

from .. import metrics  # noqa: E402
from ..io import Geometry  # noqa: E402
from .engine import PhasingResult  # noqa: E402

logger = logging.getLogger(__name__)


def _crop_box(support: np.ndarray, margin: int = 4) -> tuple[slice, slice]:
    ys, xs = np.nonzero(support)
    if ys.size == 0:
        return slice(None), slice(None)
    h, w = support.shape
    return (slice(max(ys.min() - margin, 0), min(ys.max() + margin + 1, h)),
            slice(max(xs.min() - margin, 0), min(xs.max() + margin + 1, w)))


def plot_object(obj: np.ndarray, support: np.ndarray, path: str | os.PathLike,
                title: str = "", pixel_nm: float | None = None) -> None:
    """Amplitude and phase (phase shown where the amplitude exceeds 5 % of its maximum)."""
    box = _crop_box(support)
    o = obj[box]
    amp = np.abs(o)
    phase = np.where(amp > 0.05 * amp.max(), np.angle(o), np.nan)
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2), constrained_layout=True)
    extent = None
    if pixel_nm is not None:
        extent = [0, o.shape[1] * pixel_nm, o.shape[0] * pixel_nm, 0]
    im = axes[0].imshow(amp, cmap="gray", extent=extent)
    fig.colorbar(im, ax=axes[0], label="amplitude (a.u.)")
    axes[0].set_title("amplitude")
    im = axes[1].imshow(phase, cmap="twilight", vmin=-np.pi, vmax=np.pi, extent=extent)
    fig.colorbar(im, ax=axes[1], label="phase (rad)")
    axes[1].set_title("phase")
    for ax in axes:
        ax.set_xlabel("nm" if pixel_nm else "pixels")
    fig.suptitle(title)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_chi2(chi2: np.ndarray, path: str | os.PathLike, best: int | None = None) -> None:
    """chi^2 per iteration of every run (log scale), the best run highlighted."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2), constrained_layout=True)
    it = np.arange(1, chi2.shape[1] + 1)
    for r in range(chi2.shape[0]):
        ax.semilogy(it, chi2[r], color="0.6", lw=0.6, alpha=0.7)
    if best is not None:
        ax.semilogy(it, chi2[best], color="C3", lw=1.5, label=f"best run ({best})")
        ax.legend()
    ax.set_xlabel("iteration")
    ax.set_ylabel(r"$\chi^2$ (eq. 5)")
    ax.set_title(f"{chi2.shape[0]} runs")
    ax.grid(True, which="both", alpha=0.3)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_prtf(q: np.ndarray, curves: dict[str, np.ndarray], path: str | os.PathLike,
              res: metrics.Resolution | None = None, pixel_nm: float | None = None) -> None:
    """PRTF-like curves against spatial frequency, with the 1/e line and the crossing."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2), constrained_layout=True)
    x = q / pixel_nm if pixel_nm else q
    for label, c in curves.items():
        ax.plot(x, c, label=label)
    ax.axhline(metrics.INV_E, color="k", ls="--", lw=0.8, label="1/e")
    if res is not None:
        xr = res.q / pixel_nm if pixel_nm else res.q
        ax.axvline(xr, color="C3", ls=":", lw=1, label=f"resolution {res}")
    ax.set_xlabel("spatial frequency (1/nm)" if pixel_nm else "spatial frequency (cycles/pixel)")
    ax.set_ylabel("PRTF")
    ax.set_ylim(0, 1.1)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save_report(result: PhasingResult, intensity, mask=None, outdir: str | os.PathLike = ".",
                geometry: Geometry | None = None) -> dict[str, Path]:
    """Write ``best.png``, ``chi2.png``, ``prtf.png`` and ``summary.json`` to ``outdir``.

    The PRTF and wPRTF are computed from all runs (:func:`cdi_plugins.metrics.prtf`); the
    resolution is where the wPRTF crosses 1/e, in nm when ``geometry`` is given.

    Returns
    -------
    dict
        ``{"best", "chi2", "prtf", "summary"}`` -> paths.
    """
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    intensity = np.asarray(intensity, dtype=np.float32)
    pixel_nm = None
    if geometry is not None:
        pixel_nm = geometry.real_space_pixel(max(intensity.shape)) * 1e9
    best = result.best
    files = {k: out / f"{k}.png" for k in ("best", "chi2", "prtf")}
    plot_object(result.objects[best], result.supports[best], files["best"],
                f"best of {len(result.objects)} runs (run {best}, "
                f"$\\chi^2$ = {result.final_chi2[best]:.3g})", pixel_nm)
    plot_chi2(result.chi2, files["chi2"], best)
    q, plain = metrics.prtf(result.objects, intensity, mask, reference=best)
    _, wf = metrics.wiener_filter(intensity, mask)
    weighted = plain * wf
    res = metrics.resolution(q, weighted, pixel_size=pixel_nm)
    plot_prtf(q, {"PRTF": plain, "wPRTF": weighted}, files["prtf"], res, pixel_nm)
    files["summary"] = out / "summary.json"
    summary = {
        "schedule": result.schedule, "n_runs": len(result.objects), "best_run": best,
        "final_chi2": {"min": float(result.final_chi2.min()),
                       "median": float(np.median(result.final_chi2))},
        "resolution_wprtf_1_over_e": {"q_cycles_per_pixel": res.q, "pixels": res.pixels,
                                      "nm": res.length, "crossed": res.crossed},
        "prtf": {"q": q.tolist(), "prtf": np.nan_to_num(plain).tolist(),
                 "wprtf": np.nan_to_num(weighted).tolist()},
    }
    files["summary"].write_text(json.dumps(summary, indent=1))
    logger.info("report written to %s; wPRTF resolution %s", out, res)
    return files
