"""Figures of a phasing run: best reconstruction, chi^2 curves, PRTF and wPRTF.

A 3D reconstruction is drawn as its three central sections (through the centre of its
support's box, normal to z, y and x); its PRTF is taken over spherical shells.

A phasing that failed its checks (:mod:`cdi_plugins.phasing.verdict`) is drawn with a
red "FAILED: reasons" banner across the top of every figure, and no resolution is
quoted for it (neither on the PRTF figure nor in ``summary.json``). One that passed but
whose best run's details no other run reproduces gets an amber banner that says so.
Spatial frequencies are in 1/um when the geometry is known, as in ConvRe's report.

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
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tomopy_dlalign.common.figures import (  # noqa: E402
    image_panel,
    legend_outside,
    shared_colorbar,
)
from tomopy_dlalign.common.modelfiles import atomic_path, write_text_atomic  # noqa: E402

from .. import metrics  # noqa: E402
from ..io import Geometry  # noqa: E402
from .engine import PhasingResult  # noqa: E402
from .verdict import Verdict, assess  # noqa: E402

logger = logging.getLogger(__name__)


def _crop_box(support: np.ndarray, margin: int = 4) -> tuple[slice, ...]:
    """The support's bounding box grown by ``margin`` pixels, one slice per axis."""
    nz = np.nonzero(support)
    if nz[0].size == 0:
        return (slice(None),) * support.ndim
    return tuple(slice(max(i.min() - margin, 0), min(i.max() + margin + 1, n))
                 for i, n in zip(nz, support.shape, strict=True))


#: the sections of a 3D object: the axis each is normal to, and its (x, y) axis names
SECTIONS = ((0, "z", ("x", "y")), (1, "y", ("x", "z")), (2, "x", ("y", "z")))


def _sections(obj: np.ndarray, support: np.ndarray) -> list[tuple[str, np.ndarray, tuple]]:
    """The three central sections of a 3D object, cropped to its support's box:
    ``(name, section, (x name, y name))``, normal to z, y and x in turn."""
    box = _crop_box(support)
    cropped = obj[box]
    centre = [n // 2 for n in cropped.shape]
    out = []
    for axis, name, labels in SECTIONS:
        index = [slice(None)] * 3
        index[axis] = centre[axis]
        at = (box[axis].start or 0) + centre[axis]
        out.append((f"{name} = {at}", cropped[tuple(index)], labels))
    return out


def save_figure(fig, path: str | os.PathLike) -> None:
    """Write ``fig`` as a PNG atomically (a temporary file, then renamed) and close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


#: the banner of a failed phasing: white on this red
FAILED_RED = "#c00000"
#: the banner of a passed phasing whose details no other run reproduces: black on amber
UNREPRODUCED_AMBER = "#ffb000"


def header(fig, title: str = "", verdict: Verdict | None = None) -> None:
    """The figure's title; for a failed phasing, a red banner "FAILED: reasons" above it
    (the figure's suptitle, so that constrained layout keeps room for it); for a passed
    one whose best run's details no other run reproduces (``verdict.reproduced`` False),
    an amber banner that says so."""
    if verdict is None or (verdict.ok and verdict.reproduced is not False):
        if title:
            fig.suptitle(title)
        return
    width = int(fig.get_figwidth() * 13)
    if verdict.ok:
        line = (f"{verdict}, but no other run reproduces the best run's details (the "
                f"closest lies {min(verdict.close_distances):.2f} from it): phase with "
                "other seeds and compare")
        colour, ink = UNREPRODUCED_AMBER, "black"
    else:
        line, colour, ink = f"{verdict} - no resolution is quoted", FAILED_RED, "white"
    text = "\n".join(textwrap.wrap(line, width))
    fig.suptitle(text + (f"\n{title}" if title else ""), color=ink, fontsize=9,
                 fontweight="bold", bbox={"facecolor": colour, "edgecolor": colour, "pad": 5})
    # the layout sees the text, not its red box: keep the box off the axes below
    fig.get_layout_engine().set(h_pad=0.1)


def plot_object(obj: np.ndarray, support: np.ndarray, path: str | os.PathLike,
                title: str = "", pixel_nm: float | None = None,
                verdict: Verdict | None = None) -> None:
    """Amplitude and phase (phase shown where the amplitude exceeds 5 % of its maximum),
    cropped to the support; a red banner when ``verdict`` says the phasing failed. A 3D
    object is drawn as its three central sections (:func:`plot_sections`)."""
    if obj.ndim == 3:
        plot_sections(obj, support, path, title, pixel_nm, verdict)
        return
    box = _crop_box(support)
    o = obj[box]
    amp = np.abs(o)
    phase = np.where(amp > 0.05 * amp.max(), np.angle(o), np.nan)
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2), constrained_layout=True)
    extent = None
    if pixel_nm is not None:
        extent = [0, o.shape[1] * pixel_nm, o.shape[0] * pixel_nm, 0]
    unit = "nm" if pixel_nm else "pixels"
    labels = {"xlabel": f"x ({unit})", "ylabel": f"y ({unit})", "extent": extent}
    image_panel(axes[0], amp, "amplitude (a.u.)", cmap="gray", **labels)
    axes[0].set_title("amplitude")
    image_panel(axes[1], phase, "phase (rad)", cmap="twilight", vmin=-np.pi, vmax=np.pi,
                **labels)
    axes[1].set_title("phase")
    header(fig, title, verdict)
    save_figure(fig, path)


def plot_sections(obj: np.ndarray, support: np.ndarray, path: str | os.PathLike,
                  title: str = "", pixel_nm: float | None = None,
                  verdict: Verdict | None = None) -> None:
    """Amplitude (top row) and phase (bottom row) of a 3D object's central sections
    normal to z, y and x, cropped to its support's box."""
    sections = _sections(obj, support)
    amp_max = max(float(np.abs(sec).max()) for _, sec, _ in sections) or 1.0
    fig, axes = plt.subplots(2, 3, figsize=(12, 7), constrained_layout=True)
    unit = "nm" if pixel_nm else "pixels"
    for col, (name, sec, (xname, yname)) in enumerate(sections):
        amp = np.abs(sec)
        phase = np.where(amp > 0.05 * amp_max, np.angle(sec), np.nan)
        extent = None
        if pixel_nm is not None:
            extent = [0, sec.shape[1] * pixel_nm, sec.shape[0] * pixel_nm, 0]
        labels = {"xlabel": f"{xname} ({unit})", "ylabel": f"{yname} ({unit})",
                  "extent": extent}
        amp_im = image_panel(axes[0, col], amp, None, cmap="gray", vmin=0, vmax=amp_max,
                             **labels)
        axes[0, col].set_title(f"amplitude, {name}")
        phase_im = image_panel(axes[1, col], phase, None, cmap="twilight", vmin=-np.pi,
                               vmax=np.pi, **labels)
        axes[1, col].set_title(f"phase, {name}")
    shared_colorbar(amp_im, axes[0], "amplitude (a.u.)")
    shared_colorbar(phase_im, axes[1], "phase (rad)")
    header(fig, title, verdict)
    save_figure(fig, path)


def plot_chi2(chi2: np.ndarray, path: str | os.PathLike, best: int | None = None,
              verdict: Verdict | None = None) -> None:
    """chi^2 per iteration of every run (log scale), the best run highlighted."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2), constrained_layout=True)
    it = np.arange(1, chi2.shape[1] + 1)
    for r in range(chi2.shape[0]):
        ax.semilogy(it, chi2[r], color="0.6", lw=0.6, alpha=0.7)
    if best is not None:
        ax.semilogy(it, chi2[best], color="C3", lw=1.5, label=f"best run ({best})")
        legend_outside(ax)
    ax.set_xlabel("iteration")
    ax.set_ylabel(r"$\chi^2$ (eq. 5)")
    ax.set_title(f"$\\chi^2$ of {chi2.shape[0]} runs")
    ax.grid(True, which="both", alpha=0.3)
    header(fig, "", verdict)
    save_figure(fig, path)


def frequency_axis(q: np.ndarray, pixel_nm: float | None) -> tuple[np.ndarray, str]:
    """Spatial frequency for a plot: 1/um with a real-space pixel size (nm), else cycles
    per pixel; the one convention of every PRTF figure (phasing and ConvRe reports)."""
    if pixel_nm:
        return np.asarray(q) / pixel_nm * 1e3, "spatial frequency (1/um)"
    return np.asarray(q), "spatial frequency (cycles/pixel)"


def plot_prtf(q: np.ndarray, curves: dict[str, np.ndarray], path: str | os.PathLike,
              res: metrics.Resolution | None = None, pixel_nm: float | None = None,
              title: str = "PRTF and wPRTF", verdict: Verdict | None = None) -> None:
    """PRTF-like curves against spatial frequency, with the 1/e line and the crossing
    (``res``; none is drawn for a failed phasing, which gets a red banner instead)."""
    fig, ax = plt.subplots(figsize=(8.5, 4.2), constrained_layout=True)
    x, xlabel = frequency_axis(q, pixel_nm)
    for label, c in curves.items():
        ax.plot(x, c, label=label)
    ax.axhline(metrics.INV_E, color="k", ls="--", lw=0.8, label="1/e")
    if res is not None and (verdict is None or verdict.ok):
        xr = frequency_axis(np.array([res.q]), pixel_nm)[0][0]
        size = f"{res.length:.1f} nm" if res.length is not None else f"{res.pixels:.2f} px"
        edge = "" if res.crossed else " (never crossed: the edge)"
        ax.axvline(xr, color="C3", ls=":", lw=1, label=f"resolution {size}{edge}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("PRTF")
    ax.set_ylim(0, 1.1)
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    legend_outside(ax)
    header(fig, "", verdict)
    save_figure(fig, path)


def save_report(result: PhasingResult, intensity, mask=None, outdir: str | os.PathLike = ".",
                geometry: Geometry | None = None) -> dict[str, Path]:
    """Write ``best.png``, ``chi2.png``, ``prtf.png`` and ``summary.json`` to ``outdir``.

    The PRTF and wPRTF are computed from all runs (:func:`cdi_plugins.metrics.prtf`); the
    resolution is where the wPRTF crosses 1/e, in nm when ``geometry`` is given. The
    verdict is ``result.quality`` (:func:`~cdi_plugins.phasing.verdict.assess` when the
    result has none); a failed phasing gets a red banner on every figure, its verdict in
    ``summary.json`` and no resolution (``null``).

    Returns
    -------
    dict
        ``{"best", "chi2", "prtf", "summary"}`` -> paths.
    """
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    intensity = np.asarray(intensity, dtype=np.float32)
    verdict = result.quality if result.quality is not None else assess(result, intensity,
                                                                       mask)
    pixel_nm = None
    if geometry is not None:
        pixel_nm = geometry.real_space_pixel(max(intensity.shape)) * 1e9
    best = result.best
    files = {k: out / f"{k}.png" for k in ("best", "chi2", "prtf")}
    plot_object(result.objects[best], result.supports[best], files["best"],
                f"best of {len(result.objects)} runs (run {best}, "
                f"$\\chi^2$ = {result.final_chi2[best]:.3g})", pixel_nm, verdict)
    plot_chi2(result.chi2, files["chi2"], best, verdict)
    q, plain = metrics.prtf(result.objects, intensity, mask, reference=best)
    _, wf = metrics.wiener_filter(intensity, mask)
    weighted = plain * wf
    res = metrics.resolution(q, weighted, pixel_size=pixel_nm) if verdict.ok else None
    plot_prtf(q, {"PRTF": plain, "wPRTF": weighted}, files["prtf"], res, pixel_nm,
              f"PRTF and wPRTF of {len(result.objects)} runs (aligned to run {best})",
              verdict)
    files["summary"] = out / "summary.json"
    summary = {
        "schedule": result.schedule, "n_runs": len(result.objects), "best_run": best,
        "final_chi2": {"min": float(result.final_chi2.min()),
                       "median": float(np.median(result.final_chi2))},
        "quality": verdict.to_dict(),
        "support_growth": result.parameters.get("support_growth"),
        "resolution_wprtf_1_over_e": None if res is None else {
            "q_cycles_per_pixel": res.q, "pixels": res.pixels, "nm": res.length,
            "crossed": res.crossed},
        "prtf": {"q": q.tolist(), "prtf": np.nan_to_num(plain).tolist(),
                 "wprtf": np.nan_to_num(weighted).tolist()},
    }
    write_text_atomic(files["summary"], json.dumps(summary, indent=1))
    logger.info("report written to %s; %s", out,
                f"wPRTF resolution {res}" if res is not None else f"phasing {verdict}")
    return files
