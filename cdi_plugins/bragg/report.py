"""The figure of a Bragg post-processing: three central slices of the crystal's amplitude,
phase, displacement and strain."""

from __future__ import annotations

import logging
import os

import numpy as np

from tomopy_dlalign.common.figures import image_panel, pyplot, shared_colorbar

from .postprocess import BraggResult

logger = logging.getLogger(__name__)

_AXIS_NAMES = {"detector": ("frame", "row", "column"), "lab": ("x", "y", "z")}


def _columns(result: BraggResult):
    """(volume, colour-bar label, colour map, symmetric limits) of each column."""
    cols = [(result.amplitude, "amplitude (a.u.)", "gray", False),
            (result.phase, "phase, ramp removed (rad)", "RdBu_r", True)]
    if result.displacement is not None:
        cols.append((result.displacement * 1e12, "displacement along Q (pm)", "RdBu_r", True))
        top = np.nanmax(np.abs(result.strain)) if np.isfinite(result.strain).any() else 0
        power = int(np.floor(np.log10(top))) if top > 0 else 0
        cols.append((result.strain / 10.0 ** power, f"strain along Q (x 1e{power})",
                     "RdBu_r", True))
    return cols


def _limits(volume, symmetric: bool) -> tuple[float, float]:
    finite = volume[np.isfinite(volume)]
    if finite.size == 0:
        return -1.0, 1.0
    if symmetric:
        top = float(np.abs(finite).max()) or 1.0
        return -top, top
    return float(finite.min()), float(finite.max()) or 1.0


def _box(support, margin: int = 3) -> list[slice]:
    """The support's bounding box and ``margin`` voxels around it, per axis."""
    box = []
    for axis in range(3):
        used = np.nonzero(support.any(axis=tuple(k for k in range(3) if k != axis)))[0]
        box.append(slice(max(int(used.min()) - margin, 0),
                         min(int(used.max()) + margin + 1, support.shape[axis])))
    return box


def _extent(result: BraggResult, axis: int, box: list[slice]):
    """The panel's (left, right, bottom, top): voxel indices in the detector frame, nm
    about the array centre in the laboratory frame (drawn with z, y up)."""
    rows, cols = [k for k in range(3) if k != axis]
    if result.frame == "lab" and result.basis is not None:
        scale = result.voxel_size * 1e9
        centre = np.array(result.object.shape) // 2
    else:
        scale, centre = np.ones(3), np.zeros(3, int)

    def edges(k):
        return ((box[k].start - centre[k] - 0.5) * scale[k],
                (box[k].stop - centre[k] - 0.5) * scale[k])

    (left, right), (low, high) = edges(cols), edges(rows)
    return (left, right, low, high) if result.frame == "lab" else (left, right, high, low)


def save_bragg_report(result: BraggResult, path: str | os.PathLike) -> None:
    """Write a PNG: the central slice across each of the three axes (rows) of the
    amplitude, the phase with the ramp removed, and with a geometry the displacement
    (pm) and strain (%) along ``Q`` (columns), each column on one colour scale; axes in
    nm in the laboratory frame, in voxels in the detector frame (whose voxels are
    sheared: see :mod:`cdi_plugins.bragg.geometry`), cropped to the support and 3 voxels
    around it; white outside the support.

    Parameters
    ----------
    result : BraggResult
        What :func:`cdi_plugins.bragg.postprocess` returned.
    path : str or PathLike
        The PNG file.
    """
    from tomopy_dlalign.common.modelfiles import atomic_path

    if not isinstance(result, BraggResult):
        raise TypeError(f"result must be a BraggResult, got {type(result).__name__}")
    plt = pyplot()
    cols = _columns(result)
    names = _AXIS_NAMES[result.frame]
    unit = "nm" if result.frame == "lab" else "voxels"
    centre = [n // 2 for n in result.object.shape]
    box = _box(result.support)
    origin = "lower" if result.frame == "lab" else "upper"
    fig, axes = plt.subplots(3, len(cols), figsize=(3.6 * len(cols), 10),
                             layout="constrained", squeeze=False)
    for j, (volume, label, cmap, symmetric) in enumerate(cols):
        vmin, vmax = _limits(volume, symmetric)
        for axis in range(3):
            rows, columns = [names[k] for k in range(3) if k != axis]
            ax = axes[axis, j]
            plane = volume[tuple(box[k] if k != axis else centre[axis] for k in range(3))]
            im = image_panel(ax, plane, None,
                             xlabel=f"{columns} ({unit})", ylabel=f"{rows} ({unit})",
                             cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest",
                             origin=origin, extent=_extent(result, axis, box))
            ax.set_title(f"{names[axis]} = {centre[axis]}", fontsize=9)
        shared_colorbar(im, axes[:, j], label, location="bottom", shrink=0.9)
    ramp = ", ".join(f"{g:.3f}" for g in result.ramp.gradient)
    fig.suptitle(f"Bragg post-processing, {result.frame} frame "
                 f"({' x '.join(map(str, result.object.shape))}): ramp removed "
                 f"({ramp}) rad/voxel, offset {result.ramp.offset:.2f} rad; "
                 f"{int(result.support.sum())} voxels in the support", fontsize=10)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    logger.info("wrote the Bragg figure %s", path)
