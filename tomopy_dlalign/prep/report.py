"""PNG reports for alignment quality: shifts per angle, sinograms and slices."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np

from ..common.figures import image_panel, legend_outside, pyplot, shared_colorbar

#: what a projection's grey level is: a line integral of the attenuation, no unit
LINE_INTEGRAL = r"line integral $-\ln(I/I_0)$ (unitless)"


def alignment_report(folder: str | os.PathLike, theta, dx, dy, before, after, rec_before,
                     rec_after, truth_dx=None, truth_dy=None, title: str = "",
                     verdict=None, center_note: str = "") -> list[Path]:
    """Write ``shifts.png``, ``sinograms.png`` and ``slices.png`` into ``folder``.

    ``shifts.png`` draws ``dx`` and ``dy`` against the angle in two panels (the
    estimate as dots; the true jitter, when given, as a line under them), legends beside
    the axes. ``sinograms.png`` shows the middle detector row of ``before`` and
    ``after`` on one grey scale, the line integrals :math:`-\\ln(I/I_0)` (unitless).
    ``slices.png`` shows the middle slice of both reconstructions on one grey scale
    (0 to the 99.9th percentile of the aligned one), with pixel axes and a colour bar
    in the reconstruction's units (attenuation per pixel).

    ``before``/``after`` are the projection stacks, ``rec_before``/``rec_after`` the
    reconstructions; with ``truth_dx``/``truth_dy`` the true jitter is drawn too and the
    residual is shown in a third panel (after removing the common offset; the title also
    gives its RMSE without the rigid motion of the sample, see
    :func:`tomopy_dlalign.prep.scoring.residuals`). ``verdict`` (the self-check,
    :mod:`tomopy_dlalign.prep.selfcheck`) and ``center_note`` (the axis used and its
    estimates) are written across the top of ``shifts.png``: white on red when the
    alignment could not show an improvement.
    """
    plt = pyplot()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    deg = np.rad2deg(np.asarray(theta))
    files = [folder / name for name in ("shifts.png", "sinograms.png", "slices.png")]
    truth = None if truth_dx is None or truth_dy is None else (truth_dx, truth_dy)
    for path, fig in zip(files, (
            _shifts_figure(plt, deg, theta, dx, dy, truth, title, verdict, center_note),
            _sinograms_figure(plt, deg, before, after),
            _slices_figure(plt, rec_before, rec_after)), strict=True):
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return files


def _shifts_figure(plt, deg, theta, dx, dy, truth, title, verdict, center_note):
    """dx, dy (and the residual, with the truth) against the angle, one panel each."""
    panels = 3 if truth is not None else 2
    fig, axes = plt.subplots(panels, 1, figsize=(10, 2.5 * panels + 0.6), sharex=True,
                             layout="constrained")
    true_x, true_y = (None, None) if truth is None else truth
    if true_y is not None:
        true_y = np.asarray(true_y) - np.mean(true_y)
    for ax, est, true, name, sense in (
            (axes[0], dx, true_x, "dx", "horizontal, along columns"),
            (axes[1], dy, true_y, "dy", "vertical, along rows")):
        if true is not None:
            ax.plot(deg, true, color="0.55", lw=1.0,
                    label="true" + (" (mean removed)" if name == "dy" else ""))
        ax.plot(deg, est, "o", color="C0" if name == "dx" else "C1", ms=3, mew=0,
                label="estimated")
        ax.axhline(0, color="k", lw=0.5)
        ax.set_ylabel(f"{name} (pixels)\n{sense}")
        legend_outside(ax)
    axes[0].set_title(title or "jitter per angle")
    if truth is not None:
        _residual_panel(axes[2], deg, theta, dx, dy, *truth)
    axes[-1].set_xlabel("angle (degrees)")
    _banner(fig, verdict, center_note)
    return fig


def _residual_panel(ax, deg, theta, dx, dy, truth_dx, truth_dy) -> None:
    from .scoring import residual_rmse, residuals

    rx, ry = residuals(dx, dy, truth_dx, truth_dy)
    rmse = float(np.sqrt(np.mean(rx**2 + ry**2)))
    rigid = residual_rmse(dx, dy, truth_dx, truth_dy, theta=theta)
    ax.plot(deg, rx, "o", color="C0", ms=3, mew=0, label="dx residual")
    ax.plot(deg, ry, "s", color="C1", ms=3, mew=0, label="dy residual")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_ylabel("residual (pixels)\nestimated \N{MINUS SIGN} true")
    ax.set_title(f"residual after correction: RMSE {rmse:.2f} px ({rigid:.2f} px without "
                 f"rigid motion), {np.mean(np.hypot(rx, ry) < 1) * 100:.0f} % within 1 px")
    legend_outside(ax)


def _sinograms_figure(plt, deg, before, after):
    """The middle detector row against the angle, before and after, on one grey scale."""
    row = before.shape[1] // 2
    sinos = (before[:, row, :], after[:, row, :])
    vmin = float(min(s.min() for s in sinos))
    vmax = float(max(s.max() for s in sinos))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8), layout="constrained")
    for ax, sino, name in zip(axes, sinos, ("before", "after"), strict=True):
        image = image_panel(ax, sino, None, xlabel="detector column (pixels)",
                            ylabel="angle (degrees)", cmap="gray", aspect="auto",
                            vmin=vmin, vmax=vmax,
                            extent=(0, sino.shape[1], deg[-1], deg[0]))
        ax.set_title(f"{name} alignment")
    fig.suptitle(f"sinograms of detector row {row} (of {before.shape[1]})")
    shared_colorbar(image, axes, LINE_INTEGRAL, shrink=0.9)
    return fig


def _slices_figure(plt, rec_before, rec_after):
    """The middle slice before and after, one grey scale from 0."""
    s = rec_before.shape[0] // 2
    vmax = float(np.percentile(rec_after[s], 99.9)) or 1.0
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.2), layout="constrained")
    for ax, rec, name in zip(axes, (rec_before, rec_after), ("before", "after"), strict=True):
        image = image_panel(ax, rec[s], None, cmap="gray", vmin=0, vmax=vmax, origin="upper")
        ax.set_title(f"slice {s} of {rec.shape[0]}, {name} alignment")
    shared_colorbar(image, axes, "attenuation (1/pixel), FBP", shrink=0.9, extend="both")
    return fig


def _banner(fig, verdict, center_note: str) -> None:
    """The self-check's verdict and the axis, across the top of a figure (its suptitle,
    so that the layout keeps room for it); white on red when the alignment failed."""
    if verdict is None and not center_note:
        return
    lines = [] if verdict is None else [verdict.message]
    lines += [center_note] if center_note else []
    width = int(fig.get_figwidth() * 17)
    text = "\n".join(part for line in lines for part in textwrap.wrap(line, width))
    bad = verdict is not None and not verdict.improved
    fig.suptitle(text, x=0.01, ha="left", fontsize=8, color="white" if bad else "black",
                 bbox={"facecolor": "#c0392b" if bad else "#eef5ea", "edgecolor": "none"})
    fig.get_layout_engine().set(h_pad=0.08)
