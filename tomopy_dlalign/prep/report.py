"""PNG reports for alignment quality: shifts per angle, sinograms and slices."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def alignment_report(folder: str | os.PathLike, theta, dx, dy, before, after, rec_before,
                     rec_after, truth_dx=None, truth_dy=None, title: str = "",
                     verdict=None, center_note: str = "") -> list[Path]:
    """Write ``shifts.png``, ``sinograms.png`` and ``slices.png`` into ``folder``.

    ``slices.png`` shows the middle slice of both reconstructions on one grey scale
    (0 to the 99.9th percentile of the aligned one), with pixel axes and a colour bar
    in the reconstruction's units (attenuation per pixel).

    ``before``/``after`` are the projection stacks, ``rec_before``/``rec_after`` the
    reconstructions; with ``truth_dx``/``truth_dy`` the true jitter is drawn too and the
    residual is shown (after removing the common offset; the title also gives its RMSE
    without the rigid motion of the sample, see :func:`tomopy_dlalign.prep.scoring.residuals`).
    ``verdict`` (the self-check, :mod:`tomopy_dlalign.prep.selfcheck`) and ``center_note``
    (the axis used and its estimates) are written on ``shifts.png``: in red across the
    top when the alignment could not show an improvement.
    """
    plt = _plt()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    deg = np.rad2deg(np.asarray(theta))
    files = []

    have_truth = truth_dx is not None and truth_dy is not None
    fig, axes = plt.subplots(2 if have_truth else 1, 1, figsize=(9, 6 if have_truth else 3.5),
                             squeeze=False)
    ax = axes[0, 0]
    ax.plot(deg, dx, ".-", ms=3, lw=0.8, label="dx estimated (columns)")
    ax.plot(deg, dy, ".-", ms=3, lw=0.8, label="dy estimated (rows)")
    if have_truth:
        ax.plot(deg, truth_dx, "k+", ms=4, label="dx true")
        ax.plot(deg, np.asarray(truth_dy) - np.mean(truth_dy), "kx", ms=3,
                label="dy true (mean removed)")
    ax.set(xlabel="angle (degrees)", ylabel="jitter (pixels)", title=title or "jitter per angle")
    ax.legend(fontsize=8, ncol=2)
    _banner(fig, verdict, center_note)
    if have_truth:
        from .scoring import residual_rmse, residuals

        rx, ry = residuals(dx, dy, truth_dx, truth_dy)
        rmse = float(np.sqrt(np.mean(rx**2 + ry**2)))
        rigid = residual_rmse(dx, dy, truth_dx, truth_dy, theta=theta)
        ax = axes[1, 0]
        ax.plot(deg, rx, ".", ms=3, label="dx residual")
        ax.plot(deg, ry, ".", ms=3, label="dy residual")
        ax.axhline(0, color="k", lw=0.5)
        ax.set(xlabel="angle (degrees)", ylabel="residual (pixels)",
               title=f"residual after correction: RMSE {rmse:.2f} px ({rigid:.2f} px "
                     f"without rigid motion), {np.mean(np.hypot(rx, ry) < 1) * 100:.0f} % "
                     f"within 1 px")
        ax.legend(fontsize=8)
    banner_lines = (0 if verdict is None else 1 if verdict.improved else 2) + bool(center_note)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.045 * banner_lines))
    files.append(folder / "shifts.png")
    fig.savefig(files[-1], dpi=100)
    plt.close(fig)

    row = before.shape[1] // 2
    fig, ax = plt.subplots(1, 2, figsize=(10, 4.5))
    for a, stack, name in ((ax[0], before, "before"), (ax[1], after, "after")):
        a.imshow(stack[:, row, :], cmap="gray", aspect="auto",
                 extent=(0, stack.shape[2], deg[-1], deg[0]))
        a.set(title=f"sinogram {name} (row {row})", xlabel="column", ylabel="angle (degrees)")
    fig.tight_layout()
    files.append(folder / "sinograms.png")
    fig.savefig(files[-1], dpi=100)
    plt.close(fig)

    s = rec_before.shape[0] // 2
    vmax = float(np.percentile(rec_after[s], 99.9)) or 1.0
    fig, ax = plt.subplots(1, 2, figsize=(11, 5.2), layout="constrained")
    for a, rec, name in ((ax[0], rec_before, "before"), (ax[1], rec_after, "after")):
        image = a.imshow(rec[s], cmap="gray", vmin=0, vmax=vmax, origin="upper")
        a.set(title=f"slice {s} of {rec.shape[0]}, {name} alignment", xlabel="column (pixels)",
              ylabel="row (pixels)")
    bar = fig.colorbar(image, ax=ax, shrink=0.9, extend="both")
    bar.set_label("attenuation (1/pixel), FBP")
    files.append(folder / "slices.png")
    fig.savefig(files[-1], dpi=100)
    plt.close(fig)
    return files


def _banner(fig, verdict, center_note: str) -> None:
    """The self-check's verdict and the axis, across the top of a figure."""
    if verdict is None and not center_note:
        return
    lines = [] if verdict is None else [verdict.message]
    lines += [center_note] if center_note else []
    bad = verdict is not None and not verdict.improved
    fig.text(0.01, 0.995, "\n".join(lines), va="top", ha="left", fontsize=7.5,
             color="white" if bad else "black", wrap=True,
             bbox={"facecolor": "#c0392b" if bad else "#eef5ea", "edgecolor": "none"})
