"""Bragg rocking-curve scans to a 3D pattern: frames corrected one by one, masked in 3D,
centred, cropped to FFT-friendly sizes.

In Bragg CDI the crystal's diffraction around a Bragg peak is recorded by a 2D detector
while the sample rocks through the peak (``th``, ``eta``, ... in small steps): each frame
is a slice of the 3D intensity, and the stack of frames, in scan order, samples it on a
grid whose first axis is the rocking angle. :func:`prepare_3d` builds that volume:

1. the frames ``(n, H, W)`` (a folder of TIFF or EDF files in name order, a multi-frame
   file, an HDF5/NeXus stack; :func:`cdi_plugins.io.read_frames`), each corrected for
   the detector as the 2D preparation corrects their sum
   (:mod:`cdi_plugins.io.corrections`): ``(F_k - D) / (G / <G>)``, then 0 below
   ``threshold``, voxel by voxel;
2. missing voxels: what the files mark, pixels bad in every frame (detector gaps and
   dead pixels, judged on the sum of the raw frames by :func:`cdi_plugins.io.data_mask`;
   hot pixels, judged by :func:`cdi_plugins.io.hot_pixels` on the median of the raw
   frames, which a spike in one frame does not move; pixels the dark or flat cannot
   correct), and voxels bad in one frame (non-finite or negative values,
   ``saturation``, and spikes: a voxel above ``hot_ratio`` times the brightest of its 26
   neighbours plus one, a cosmic ray's hit);
3. the centre (:func:`cdi_plugins.io.find_centre` in 3D): the centre of mass by
   default, since a strained crystal's Bragg peak is not centrosymmetric;
4. a crop around it, and an optional binning, to even sizes whose prime factors are 2,
   3 and 5 along each axis, the centre on index ``n // 2`` of each;
5. with a SPEC scan (:func:`cdi_plugins.io.read_spec_scan`), the rocking motor's
   positions of the frames kept, checked against the number of frames.

The volume stays in the detector frame (axis 0 the rocking angle, axes 1 and 2 the
detector's rows and columns): it is what Bragg phasing codes phase; converting it to an
orthogonal reciprocal-space grid needs the diffractometer's geometry and is not done
here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from .corrections import (
    apply_threshold,
    correct_frames,
    log_corrections,
    mask_in_roi,
    read_inputs,
)
from .detector import Frames
from .prepare import bin_pattern, crop_box, data_mask, find_centre, frame_masks, hot_pixels
from .spec import SpecScan

logger = logging.getLogger(__name__)

#: the prime factors of the sizes :func:`prepare_3d` crops to, as 3D phasing codes want
FFT_PRIMES_3D = (2, 3, 5)
#: the axes of a prepared volume
AXES_3D = ("frame", "row", "column")


@dataclass
class PreparedPattern3D:
    """What :func:`prepare_3d` returns.

    Attributes
    ----------
    intensity : numpy.ndarray
        float32 ``(nz, ny, nx)``: axis 0 the frames (the rocking angle), axes 1 and 2
        the detector's rows and columns; the centre on ``(nz//2, ny//2, nx//2)``.
    mask : numpy.ndarray
        bool, the same shape, True = missing.
    centre : tuple of float
        ``(frame, row, column)`` of the centre in the input stack.
    origin : tuple of int
        The first input voxel kept along each axis.
    binning : tuple of int
        Input voxels summed into one along each axis.
    counts : dict
        Input voxels masked for each reason.
    positions : numpy.ndarray or None
        The rocking motor's position at each output frame (the mean over its binned
        frames), with a scan.
    parameters : dict
        The settings used and the scan's record (for provenance).
    """

    intensity: np.ndarray
    mask: np.ndarray
    centre: tuple
    origin: tuple
    binning: tuple
    counts: dict
    positions: np.ndarray | None = None
    parameters: dict = field(default_factory=dict)


def _volume_masks(frames: Frames, mask, saturation, hot_ratio: float,
                  dead_level: float) -> tuple[dict, np.ndarray]:
    """Missing voxels by reason (each ``(H, W)`` for every frame or ``(n, H, W)``), and
    the frames with their invalid values set to 0."""
    data = frames.data
    reasons = frame_masks(frames, mask, volume=True)
    invalid = ~np.isfinite(data) | (data < 0)
    reasons["invalid"] = invalid
    if saturation is not None:
        reasons["saturated"] = data >= saturation
    # pixels bad in every frame: gaps and dead pixels judged on the sum of the raw frames,
    # as in 2D; hot pixels on their median, which one frame's spike does not move
    detector = data_mask(data, None, hot_ratio, dead_level)
    reasons.update({k: detector[k] for k in ("gaps", "dead")})
    clean = np.where(invalid, 0, data)
    reasons["hot"] = hot_pixels(np.median(clean, axis=0), invalid.any(axis=0), hot_ratio)
    reasons["spikes"] = hot_pixels(clean, invalid, hot_ratio)
    return reasons, clean


def _scan_positions(scan: SpecScan | None, motor: str | None,
                    n_frames: int) -> np.ndarray | None:
    """The rocking motor's position at each frame, checked against the frames."""
    if scan is None:
        return None
    if not isinstance(scan, SpecScan):
        raise TypeError(f"scan must be a SpecScan (cdi_plugins.io.read_spec_scan), got "
                        f"{type(scan).__name__}")
    positions = scan.positions(motor)
    if len(positions) != n_frames:
        raise ValueError(f"scan {scan.key} of {scan.source!r} has {len(positions)} points but "
                         f"frames holds {n_frames} frames: give the frames of that scan, one "
                         f"per point")
    return positions


def _scan_record(scan: SpecScan | None, motor: str | None, positions: np.ndarray | None,
                 z0: int, nz: int, bz: int) -> tuple[np.ndarray | None, dict | None]:
    """The rocking motor's positions of the output frames, and the scan's record."""
    if scan is None:
        return None, None
    motor = motor or scan.scanned_motor
    kept = positions[z0:z0 + nz * bz].reshape(nz, bz).mean(axis=1)
    steps = np.diff(kept)
    step = float(np.median(steps)) if len(steps) else 0.0
    uniform = bool(np.all(np.abs(steps - step) <= 0.01 * abs(step))) if step else False
    if not uniform:
        logger.warning("scan %s: the %s steps are not uniform (%.4g to %.4g): the frames do "
                       "not sample the rocking angle on a regular grid", scan.key, motor,
                       steps.min() if len(steps) else 0, steps.max() if len(steps) else 0)
    record = {**scan.record(motor), "positions": kept.tolist(), "step": step,
              "uniform": uniform, "frames_kept": [z0, z0 + nz * bz]}
    return kept, record


def _centre_3d(centre, volume: np.ndarray, bad: np.ndarray) -> tuple[float, ...]:
    if isinstance(centre, str):
        return find_centre(volume, bad, method=centre)
    c = tuple(float(v) for v in centre)
    if len(c) != 3:
        raise ValueError(f"centre must be 'com', 'friedel' or (frame, row, column), got "
                         f"{centre!r}")
    return c


def prepare_3d(frames, mask=None, centre="com", size=None, binning=1,
               saturation: float | None = None, hot_ratio: float = 20.0,
               dead_level: float = 50.0, dataset: str | None = None, dark=None, flat=None,
               threshold: float = 0.0, scan: SpecScan | None = None,
               motor: str | None = None, roi=None) -> PreparedPattern3D:
    """A rocking-curve scan's frames to a centred, masked, cropped 3D pattern (module
    docstring).

    Each frame ``F_k`` becomes ``(F_k - D) / (G / <G>)``, set to 0 below ``threshold``,
    with ``D`` the mean dark frame and ``G`` the mean flat (white) field normalised by
    its mean ``<G>`` (:mod:`cdi_plugins.io.corrections`).

    Parameters
    ----------
    frames : Frames, array_like, str or list of paths
        The scan's frames ``(n, H, W)`` in scan order, or detector files and folders
        (:func:`cdi_plugins.io.read_frames`; a folder's files in name order, numbers by
        value).
    mask : array_like of bool, optional
        Extra missing pixels ``(H, W)`` (every frame) or voxels ``(n, H, W)``.
    centre : {"com", "friedel"} or (float, float, float)
        How to find the centre (:func:`cdi_plugins.io.find_centre`), or where it is.
    size : int or (int, int, int), optional
        Sizes after binning (even), of every axis or of each (None: the default for that
        axis); default the largest even size with prime factors 2, 3 and 5 that fits
        around the centre, along each axis.
    binning : int or (int, int, int)
        Voxels summed into one (all axes, or frames, rows, columns): ``(1, 2, 2)`` bins
        the detector and keeps every rocking step.
    saturation : float, optional
        Voxels at or above it (raw counts) are missing.
    hot_ratio, dead_level : float
        The hot-pixel, spike and dead-pixel rules (:func:`cdi_plugins.io.data_mask`,
        :func:`cdi_plugins.io.hot_pixels`).
    dataset : str, optional
        The dataset of an HDF5 file (the frames', the dark's and the flat's).
    dark, flat : array_like, str, PathLike or list of them, optional
        Dark and flat-field (white-field) frames ``(H, W)`` or ``(m, H, W)``, or their
        files and folders.
    threshold : float
        After the corrections, voxels below it are set to 0 (default 0: the negative
        values a dark subtraction leaves).
    roi : (int, int, int, int), optional
        ``(row0, row1, col0, col1)``, the frames' region of the detector: a dark, flat or
        2D ``mask`` of the whole detector is cut to it (a beamline that records only a
        region of interest calibrates the whole detector).
    scan : SpecScan, optional
        The scan's metadata (:func:`cdi_plugins.io.read_spec_scan`): one point per frame.
    motor : str, optional
        The rocking motor (a column of the scan); default the motor the scan's command
        moves.

    Returns
    -------
    PreparedPattern3D
        ``parameters`` records the corrections (as :func:`cdi_plugins.io.prepare` does),
        the voxels masked per reason, the centre, the crop, and with a scan its file,
        number, command, motor, the positions of the frames kept, their step and the
        start positions of every motor.

    Raises
    ------
    FileNotFoundError
        A frame, dark or flat file that does not exist.
    ValueError
        Frames of different shapes (naming the file and the argument), a ``mask``,
        ``dark`` or ``flat`` of another shape than the frames, a scan whose number of
        points differs from the number of frames, a ``size`` that does not fit, a
        negative ``threshold``.
    KeyError
        A ``motor`` that is no column of the scan.

    Example
    -------
    >>> zz, yy, xx = np.mgrid[0:40, 0:70, 0:80]
    >>> I = 1e3 * np.exp(-((zz - 19) ** 2 / 20 + (yy - 33) ** 2 / 30 + (xx - 41) ** 2 / 30))
    >>> p = prepare_3d(I + 5.0, dark=np.full((70, 80), 5.0))
    >>> p.intensity.shape, [round(c) for c in p.centre]
    ((36, 64, 72), [19, 33, 41])
    """
    frames, dark, flat, threshold = read_inputs(frames, dark, flat, threshold, dataset, roi)
    mask = mask_in_roi(mask, roi, frames.data.shape[-2:])
    n = len(frames.data)
    if n < 8:
        raise ValueError(f"frames: a 3D pattern needs at least 8 frames, got {n} "
                         f"({', '.join(frames.sources)})")
    all_positions = _scan_positions(scan, motor, n)
    reasons, clean = _volume_masks(frames, mask, saturation, hot_ratio, dead_level)
    corrected, masks, applied = correct_frames(clean, dark, flat, dtype=np.float32)
    reasons.update(masks)
    del clean
    bad = np.zeros(corrected.shape, bool)
    for value in reasons.values():
        bad |= value
    applied["threshold"] = threshold
    volume, applied["thresholded"] = apply_threshold(corrected, bad, threshold)
    del corrected
    log_corrections(applied)
    counts = {k: int(v.sum()) * (n if v.ndim == 2 else 1) for k, v in reasons.items()}
    c = _centre_3d(centre, volume, bad)
    origin, sizes = crop_box(volume.shape, c, size, binning, primes=FFT_PRIMES_3D,
                             square=False)
    bins = tuple(int(b) for b in np.broadcast_to(binning, 3))
    sl = tuple(slice(o, o + s * b) for o, s, b in zip(origin, sizes, bins, strict=True))
    intensity, m = bin_pattern(volume[sl], bad[sl], bins)
    positions, scan_record = _scan_record(scan, motor, all_positions, origin[0], sizes[0],
                                          bins[0])
    logger.info("prepared %s -> %s volume: centre (%.2f, %.2f, %.2f), binning %s, %d missing "
                "(%s)", volume.shape, intensity.shape, *c, bins, int(m.sum()),
                ", ".join(f"{k} {v}" for k, v in counts.items() if v))
    return PreparedPattern3D(
        intensity=intensity.astype(np.float32), mask=m, centre=c, origin=origin,
        binning=bins, counts=counts, positions=positions,
        parameters={"dimensions": 3, "axes": list(AXES_3D), "sources": frames.sources,
                    "n_frames": n, "centre": list(c), "crop_origin": list(origin),
                    "binning": list(bins), "size": list(sizes), "saturation": saturation,
                    "hot_ratio": hot_ratio, "dead_level": dead_level, **applied,
                    "masked": counts, "scan": scan_record})
