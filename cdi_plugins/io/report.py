"""The figure of a prepared pattern: the input frame with its mask and the centre found,
the pattern that phasing will see, and its mask; for a 3D pattern, its three central
slices."""

from __future__ import annotations

import logging
import os

import numpy as np

from tomopy_dlalign.common.figures import PIXEL_AXES, image_panel, pyplot, shared_colorbar

from .prepare import PreparedPattern
from .rocking import PreparedPattern3D

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


def save_prepare_report(prepared: PreparedPattern | PreparedPattern3D,
                        path: str | os.PathLike) -> None:
    """Write a PNG: the summed frame (log scale, masked pixels red, the centre found and the
    crop box), the prepared pattern (log scale) and its mask, each with pixel axes and a
    colour bar; for a 3D pattern, its three central slices on one log scale
    (:func:`save_volume_report`).

    Parameters
    ----------
    prepared : PreparedPattern or PreparedPattern3D
        What :func:`cdi_plugins.io.prepare` or :func:`cdi_plugins.io.prepare_3d` returned.
    path : str or PathLike
        The PNG file.
    """
    from matplotlib.patches import Rectangle

    from tomopy_dlalign.common.modelfiles import atomic_path

    if isinstance(prepared, PreparedPattern3D):
        save_volume_report(prepared, path)
        return
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


def _frame_label(prepared: PreparedPattern3D) -> str:
    scan = prepared.parameters.get("scan")
    if not scan:
        return "frame (scan steps)"
    return f"frame ({scan['motor']}, {scan['step']:.4g} per frame)"


def save_volume_report(prepared: PreparedPattern3D, path: str | os.PathLike) -> None:
    """Write a PNG of a 3D pattern's three central slices through its centre
    ``(nz//2, ny//2, nx//2)``: the detector plane of the centre frame (row against
    column), and the frame-column and frame-row planes through the centre, on one
    ``log10(I + 1)`` scale with one colour bar; missing voxels white, the centre marked.

    Parameters
    ----------
    prepared : PreparedPattern3D
        What :func:`cdi_plugins.io.prepare_3d` returned.
    path : str or PathLike
        The PNG file.
    """
    from tomopy_dlalign.common.modelfiles import atomic_path

    plt = pyplot()
    shown = np.log10(np.where(prepared.mask, np.nan, prepared.intensity) + 1)
    nz, ny, nx = shown.shape
    top = float(np.nanmax(shown)) if np.isfinite(shown).any() else 1.0
    frame = _frame_label(prepared)
    panels = ((shown[nz // 2], PIXEL_AXES, (nx // 2, ny // 2),
               f"detector plane, frame {nz // 2}"),
              (shown[:, ny // 2, :], (PIXEL_AXES[0], frame), (nx // 2, nz // 2),
               f"frames x columns, row {ny // 2}"),
              (shown[:, :, nx // 2], (PIXEL_AXES[1], frame), (ny // 2, nz // 2),
               f"frames x rows, column {nx // 2}"))
    fig, axes = plt.subplots(1, 3, figsize=(16, 5), layout="constrained")
    for ax, (image, (xlabel, ylabel), (x, y), title) in zip(axes, panels, strict=True):
        im = image_panel(ax, image, None, xlabel=xlabel, ylabel=ylabel, cmap="viridis",
                         vmin=0, vmax=top or 1.0, interpolation="nearest", aspect="auto")
        ax.plot(x, y, "w+", ms=14, mew=1.5)
        ax.set_title(title, fontsize=9)
    shared_colorbar(im, axes, _LOG_COUNTS)
    b = "x".join(map(str, prepared.binning))
    fig.suptitle(f"3D pattern {nz}x{ny}x{nx} (frames x rows x columns, binning {b}); "
                 f"missing voxels white ({int(prepared.mask.sum())}); centre (+) found at "
                 f"{', '.join(f'{c:.2f}' for c in prepared.centre)} of the input",
                 fontsize=10)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    logger.info("wrote the 3D pattern's slices %s", path)
