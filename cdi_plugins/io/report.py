"""The figure of a prepared pattern: the input frame with its mask and the centre found,
the pattern that phasing will see, and its mask."""

from __future__ import annotations

import logging
import os

import numpy as np

from .prepare import PreparedPattern

logger = logging.getLogger(__name__)


def _log_image(ax, image, mask, title):
    shown = np.log10(np.where(mask, np.nan, image) + 1)
    ax.imshow(shown, cmap="viridis", interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def save_prepare_report(prepared: PreparedPattern, path: str | os.PathLike) -> None:
    """Write a PNG: the summed frame (log scale, masked pixels red, the centre found and the
    crop box), the prepared pattern (log scale) and its mask.

    Parameters
    ----------
    prepared : PreparedPattern
        What :func:`cdi_plugins.io.prepare` returned.
    path : str or PathLike
        The PNG file.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from tomopy_dlalign.common.modelfiles import atomic_path

    fig, axes = plt.subplots(1, 3, figsize=(13, 4.6))
    _log_image(axes[0], prepared.raw, prepared.raw_mask, "input frame, log10(I+1); mask red")
    red = np.zeros((*prepared.raw_mask.shape, 4))
    red[prepared.raw_mask] = (1, 0, 0, 0.8)
    axes[0].imshow(red, interpolation="nearest")
    cy, cx = prepared.centre
    axes[0].plot(cx, cy, "w+", ms=14, mew=1.5)
    y0, x0, b = prepared.crop
    n = prepared.intensity.shape[0] * b
    axes[0].add_patch(Rectangle((x0 - 0.5, y0 - 0.5), n, n, fill=False, ec="w", lw=0.8))
    counts = ", ".join(f"{k} {v}" for k, v in prepared.counts.items() if v) or "none"
    axes[0].set_xlabel(f"centre ({cy:.2f}, {cx:.2f}); masked: {counts}", fontsize=7)
    h, w = prepared.intensity.shape
    _log_image(axes[1], prepared.intensity, prepared.mask,
               f"prepared {h}x{w} (binning {b}), log10(I+1)")
    axes[1].plot(w // 2, h // 2, "w+", ms=14, mew=1.5)
    axes[2].imshow(prepared.mask, cmap="gray_r", interpolation="nearest")
    axes[2].set_title(f"missing pixels: {int(prepared.mask.sum())}", fontsize=9)
    axes[2].set_xticks([])
    axes[2].set_yticks([])
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    logger.info("wrote the preparation figure %s", path)
