"""The figure of a prepared pattern: the input frame with its mask and the centre found,
the pattern that phasing will see, and its mask."""

from __future__ import annotations

import logging
import os

import numpy as np

from tomopy_dlalign.common.figures import image_panel, pyplot

from .prepare import PreparedPattern

logger = logging.getLogger(__name__)


#: what a pattern panel's colour is
_LOG_COUNTS = "intensity, log10(I + 1) (I in detector counts)"


def _log_image(ax, image, mask, title):
    shown = np.log10(np.where(mask, np.nan, image) + 1)
    image_panel(ax, shown, _LOG_COUNTS, cmap="viridis", interpolation="nearest")
    ax.set_title(title, fontsize=9)


def _mask_panel(ax, mask) -> None:
    """The mask in black and white, with a two-entry colour bar that says which is which."""
    from matplotlib.colors import ListedColormap

    shown = image_panel(ax, mask.astype(np.uint8), "pixel (mask value)",
                        cmap=ListedColormap(("white", "k")), vmin=0, vmax=1,
                        interpolation="nearest")
    shown.colorbar.set_ticks((0.25, 0.75), labels=("measured (0)", "missing (1)"))
    ax.set_title(f"missing pixels: {int(mask.sum())}", fontsize=9)


def save_prepare_report(prepared: PreparedPattern, path: str | os.PathLike) -> None:
    """Write a PNG: the summed frame (log scale, masked pixels red, the centre found and the
    crop box), the prepared pattern (log scale) and its mask, each with pixel axes and a
    colour bar.

    Parameters
    ----------
    prepared : PreparedPattern
        What :func:`cdi_plugins.io.prepare` returned.
    path : str or PathLike
        The PNG file.
    """
    from matplotlib.patches import Rectangle

    from tomopy_dlalign.common.modelfiles import atomic_path

    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(16, 5), layout="constrained")
    cy, cx = prepared.centre
    counts = ", ".join(f"{k} {v}" for k, v in prepared.counts.items() if v) or "none"
    _log_image(axes[0], prepared.raw, prepared.raw_mask,
               f"input frame; masked pixels red ({counts})\ncentre found (+): row {cy:.2f}, "
               f"column {cx:.2f}; crop box white")
    red = np.zeros((*prepared.raw_mask.shape, 4))
    red[prepared.raw_mask] = (1, 0, 0, 0.8)
    axes[0].imshow(red, interpolation="nearest")
    axes[0].plot(cx, cy, "w+", ms=14, mew=1.5)
    y0, x0, b = prepared.crop
    n = prepared.intensity.shape[0] * b
    axes[0].add_patch(Rectangle((x0 - 0.5, y0 - 0.5), n, n, fill=False, ec="w", lw=0.8))
    h, w = prepared.intensity.shape
    _log_image(axes[1], prepared.intensity, prepared.mask,
               f"prepared {h}x{w} (binning {b}); missing pixels white")
    axes[1].plot(w // 2, h // 2, "w+", ms=14, mew=1.5)
    _mask_panel(axes[2], prepared.mask)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    logger.info("wrote the preparation figure %s", path)
