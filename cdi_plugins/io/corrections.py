"""Detector corrections shared by the 2D and the 3D preparations: dark, flat field,
threshold.

As facility recipes for measured Bragg and forward CDI data do (cohere's preprocessing,
for one), a frame ``F`` is corrected as

    (F - D) / (G / <G>),   then 0 where it falls below ``threshold``

with ``D`` the mean of the dark frames (taken with the frames' exposure), ``G`` the mean
of the flat-field (white-field) frames and ``<G>`` its mean over the pixels where it is
positive and finite, so that a flood field of any level corrects the gain and keeps the
counts' scale. Pixels where ``G`` is not positive and finite or below :data:`FLAT_MIN`
of its median, and those the dark's or the flat's files mark bad, cannot be corrected:
they are masked, never divided.

:func:`read_inputs` reads and checks the frames with their dark and flat frames and the
threshold, :func:`read_calibration` dark or flat frames alone, :func:`correct_frames`
applies them to frames ``(..., H, W)`` (each frame, or a sum of ``n`` frames, which holds
the dark ``n`` times), :func:`apply_threshold` zeroes what falls below the threshold.
:func:`cdi_plugins.io.prepare` corrects the sum of its frames,
:func:`cdi_plugins.io.prepare_3d` every frame of a scan.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from .detector import Frames, read_frames

logger = logging.getLogger(__name__)


@dataclass
class Calibration:
    """A dark or flat-field frame, as :func:`read_calibration` returns it.

    Attributes
    ----------
    frame : numpy.ndarray
        float64 ``(H, W)``: the mean of the frames read (0 where ``mask`` is True).
    mask : numpy.ndarray
        bool ``(H, W)``: pixels the calibration files mark bad (their NeXus or CXI mask,
        unsigned-integer maxima).
    sources : list of str
        The files read (``"<array>"`` for an array).
    shape : tuple of int
        ``(n_frames, H, W)`` as read.
    """

    frame: np.ndarray
    mask: np.ndarray
    sources: list
    shape: tuple

    def record(self) -> dict:
        """What was applied, for the ``/process`` record."""
        return {"sources": list(self.sources), "shape": list(self.shape),
                "mean": float(self.frame[~self.mask].mean()) if (~self.mask).any() else 0.0}


def as_frames(value, name: str, dataset: str | None = None) -> Frames:
    """Frames from :class:`~cdi_plugins.io.Frames`, an array ``(H, W)`` or ``(n, H, W)``,
    or files and folders of them (:func:`~cdi_plugins.io.read_frames`).

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`~cdi_plugins.io.read_frames`, the message starting with ``name`` (the
        argument the frames came from).
    TypeError
        Complex values.

    Example
    -------
    >>> as_frames(np.zeros((4, 5)), "frames").data.shape
    (1, 4, 5)
    """
    if isinstance(value, Frames):
        return value
    if isinstance(value, np.ndarray) or np.ndim(value) >= 2:
        if np.iscomplexobj(value):
            raise TypeError(f"{name} must be real intensities, got complex values "
                            "(their imaginary part would be lost)")
        data = np.asarray(value, dtype=np.float32)
        return Frames(data.reshape(-1, *data.shape[-2:]), np.zeros(data.shape[-2:], bool),
                      ["<array>"])
    try:
        return read_frames(value, dataset=dataset)
    except (FileNotFoundError, ValueError) as exc:
        raise type(exc)(f"{name}: {exc}") from None


def check_roi(roi) -> tuple[int, int, int, int] | None:
    """``(row0, row1, col0, col1)`` as whole numbers with ``0 <= row0 < row1`` and
    ``0 <= col0 < col1``, or None."""
    if roi is None:
        return None
    try:
        r = tuple(int(v) for v in roi)
        whole = all(float(v) == int(v) for v in roi)
    except (TypeError, ValueError):
        r, whole = (), False
    if len(r) != 4 or not whole or not (0 <= r[0] < r[1] and 0 <= r[2] < r[3]):
        raise ValueError(f"roi must be (row0, row1, col0, col1) with 0 <= row0 < row1 and "
                         f"0 <= col0 < col1, got {roi!r}")
    return r


def crop_to_roi(data: np.ndarray, roi, shape: tuple[int, int], name: str,
                where: str = "") -> np.ndarray:
    """``data`` (``(..., H, W)``) of the whole detector cut to the frames' region of
    interest ``roi`` when its shape is not the frames' ``shape``; unchanged when it is.

    Raises
    ------
    ValueError
        Another shape and no ``roi`` (the message says to give one), or a ``roi`` that
        does not fit ``data`` or does not give ``shape``.
    """
    at = f" ({where})" if where else ""
    if data.shape[-2:] == tuple(shape):
        return data
    if roi is None:
        raise ValueError(f"{name}{at} has frames of shape {data.shape[-2:]}, the frames to "
                         f"correct {tuple(shape)}: they must be the same detector area (a "
                         f"{name} of the whole detector: give the frames' region of interest, "
                         f"roi=(row0, row1, col0, col1), --roi ROW0 ROW1 COL0 COL1)")
    r0, r1, c0, c1 = roi
    if r1 > data.shape[-2] or c1 > data.shape[-1] or (r1 - r0, c1 - c0) != tuple(shape):
        raise ValueError(f"roi {roi} does not cut the frames' shape {tuple(shape)} out of "
                         f"{name}{at} of shape {data.shape[-2:]}")
    logger.info("%s: rows %d-%d and columns %d-%d of its %s kept (the frames' region of "
                "interest)", name, r0, r1, c0, c1, data.shape[-2:])
    return data[..., r0:r1, c0:c1]


def mask_in_roi(mask, roi, shape: tuple[int, int]):
    """A 2D ``mask`` of the whole detector cut to the frames' region ``roi``; any other
    mask (None, the frames' shape, 3D) as it is."""
    if mask is None or roi is None or np.ndim(mask) != 2:
        return mask
    return crop_to_roi(np.asarray(mask, bool), check_roi(roi), shape, "mask")


def read_calibration(source, name: str, shape: tuple[int, int],
                     dataset: str | None = None, roi=None) -> Calibration | None:
    """Read dark or flat-field frames and average them, checked against the frames' shape.

    Parameters
    ----------
    source : Frames, array_like, str, PathLike, list of them, or None
        Frames ``(H, W)`` or ``(n, H, W)``, or files and folders of them read as the
        detector frames are (:func:`cdi_plugins.io.read_frames`). None: no correction.
    name : str
        The argument it came from (``"dark"``, ``"flat"``), for the messages.
    shape : tuple of int
        ``(H, W)`` of the frames to correct.
    dataset : str, optional
        The dataset of an HDF5 file.
    roi : (int, int, int, int), optional
        ``(row0, row1, col0, col1)``: the frames' region of the detector, cut out of
        calibration frames of the whole detector (:func:`crop_to_roi`).

    Returns
    -------
    Calibration or None

    Raises
    ------
    FileNotFoundError
        A file or folder that does not exist (named with ``name``).
    ValueError
        Frames of another shape than ``shape`` (both named), NaN values where the files
        do not mark the pixel bad, infinite values in a dark frame.

    Example
    -------
    >>> dark = read_calibration(np.full((3, 4, 5), 2.0), "dark", (4, 5))
    >>> dark.shape, float(dark.frame.mean())
    ((3, 4, 5), 2.0)
    """
    if source is None:
        return None
    frames = as_frames(source, name, dataset)
    where = ", ".join(frames.sources)
    data = crop_to_roi(frames.data, roi, shape, name, where)
    mask = crop_to_roi(frames.mask, roi, shape, name, where)
    nan = np.isnan(data).any(axis=0) & ~mask
    if nan.any():
        first = tuple(int(i) for i in np.argwhere(nan)[0])
        raise ValueError(f"{name} ({where}) holds NaN at {int(nan.sum())} pixel(s), the first "
                         f"at {first}: a {name} frame must be a measurement there")
    if name == "dark" and (np.isinf(data).any(axis=0) & ~mask).any():
        raise ValueError(f"{name} ({where}) holds infinite values: a dark frame must be finite")
    frame = np.where(mask, 0, data.astype(np.float64)).mean(axis=0)
    logger.info("%s: mean of %d frame(s) of %s from %s", name, len(data), data.shape[-2:],
                where)
    return Calibration(frame=frame, mask=mask.copy(), sources=list(frames.sources),
                       shape=tuple(int(n) for n in data.shape))


def read_inputs(frames, dark, flat, threshold, dataset: str | None = None, roi=None
                ) -> tuple[Frames, Calibration | None, Calibration | None, float]:
    """The inputs of a preparation read and checked: the frames (:func:`as_frames`), the
    dark and flat frames against their shape (:func:`read_calibration`) and the threshold
    (:func:`check_threshold`); ``roi`` cuts calibration frames of the whole detector to
    the frames' region (:func:`crop_to_roi`).

    Raises
    ------
    FileNotFoundError, ValueError, TypeError
        As those functions, naming the argument (``frames``, ``dark``, ``flat``,
        ``threshold``).

    Example
    -------
    >>> frames, dark, flat, threshold = read_inputs(np.ones((2, 4, 5)), np.zeros((4, 5)),
    ...                                             None, 0)
    >>> frames.data.shape, dark.shape, flat, threshold
    ((2, 4, 5), (1, 4, 5), None, 0.0)
    """
    frames = as_frames(frames, "frames", dataset)
    threshold = check_threshold(threshold)
    shape = frames.data.shape[-2:]
    roi = check_roi(roi)
    return (frames, read_calibration(dark, "dark", shape, dataset, roi),
            read_calibration(flat, "flat", shape, dataset, roi), threshold)


#: a flat-field pixel below this share of the flat's median cannot correct its pixel: it
#: would multiply the counts there by more than 1 / FLAT_MIN (a dead or shadowed pixel)
FLAT_MIN = 0.01


def _flat_gain(flat: Calibration) -> tuple[np.ndarray, np.ndarray, float]:
    """The flat field normalised to its mean over usable pixels, the pixels it cannot
    correct (not positive and finite, below :data:`FLAT_MIN` of its median, or marked bad
    by its files), and that mean."""
    bad = flat.mask | ~np.isfinite(flat.frame) | (flat.frame <= 0)
    if bad.all():
        raise ValueError(f"flat ({', '.join(flat.sources)}) has no positive finite pixel")
    bad |= flat.frame < FLAT_MIN * float(np.median(flat.frame[~bad]))
    mean = float(flat.frame[~bad].mean())
    return np.where(bad, 1.0, flat.frame / mean), bad, mean


def check_threshold(threshold) -> float:
    """``threshold`` as a float, refused unless finite and ``>= 0``."""
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        value = np.nan
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"threshold must be a finite number >= 0, got {threshold!r}")
    return value


def correct_frames(values: np.ndarray, dark: Calibration | None, flat: Calibration | None,
                   n_frames: int = 1, dtype=np.float64) -> tuple[np.ndarray, dict, dict]:
    """``(values - n_frames D) / (G / <G>)`` (module docstring) on frames ``(..., H, W)``.

    Parameters
    ----------
    values : numpy.ndarray
        Frames ``(n, H, W)`` (each corrected, ``n_frames=1``) or one frame ``(H, W)``
        that sums ``n_frames`` frames (each of which held the dark level).
    dark, flat : Calibration or None
        From :func:`read_calibration`; None skips that correction.
    n_frames : int
        How many dark levels each value holds.
    dtype : numpy dtype
        Of the corrected values (float32 halves the memory of a large scan).

    Returns
    -------
    corrected : numpy.ndarray
        A new array (``values`` itself when there is nothing to correct); 0 at the
        pixels the flat cannot correct.
    masks : dict
        bool ``(H, W)`` by reason, for the corrections applied: ``"dark"`` (pixels the
        dark's files mark bad), ``"flat"`` (pixels the flat cannot correct).
    record : dict
        ``{"dark": ..., "flat": ...}``: each :meth:`Calibration.record`, the flat's with
        its ``mean`` and the pixels it ``masked``; None where not applied.

    Example
    -------
    >>> dark = Calibration(np.full((2, 2), 1.0), np.zeros((2, 2), bool), ["<array>"], (1, 2, 2))
    >>> out, masks, record = correct_frames(np.full((3, 2, 2), 5.0), dark, None)
    >>> float(out.max()), sorted(masks), record["flat"]
    (4.0, ['dark'], None)
    """
    masks: dict = {}
    record: dict = {"dark": None, "flat": None}
    if dark is None and flat is None:
        return values, masks, record
    out = np.array(values, dtype=dtype)
    if dark is not None:
        out -= (n_frames * dark.frame).astype(dtype)
        masks["dark"] = dark.mask
        record["dark"] = dark.record()
    if flat is not None:
        gain, bad, mean = _flat_gain(flat)
        out /= gain.astype(dtype)
        out[..., bad] = 0
        masks["flat"] = bad
        record["flat"] = {**flat.record(), "mean": mean, "masked": int(bad.sum())}
    return out, masks, record


def apply_threshold(values: np.ndarray, bad: np.ndarray,
                    threshold: float) -> tuple[np.ndarray, int]:
    """Values below ``threshold``, and those ``bad`` marks missing, set to 0, and how many
    measured non-zero values the threshold zeroed. ``bad`` broadcasts against ``values``.

    Example
    -------
    >>> apply_threshold(np.array([0.5, 2.0, -1.0]), np.zeros(3, bool), 1.0)
    (array([0., 2., 0.]), 2)
    """
    below = values < threshold
    count = int((below & (values != 0) & ~bad).sum())
    return np.where(bad | below, 0, values), count


def log_corrections(applied: dict) -> None:
    """Log at INFO what :func:`correct_frames` and :func:`apply_threshold` did, from the
    record ``{"dark", "flat", "threshold", "thresholded"}``."""
    done = []
    if applied["dark"]:
        done.append(f"dark subtracted (mean {applied['dark']['mean']:.4g})")
    if applied["flat"]:
        done.append(f"flat divided (mean {applied['flat']['mean']:.4g}, "
                    f"{applied['flat']['masked']} pixel(s) masked)")
    if applied["threshold"] or applied["thresholded"]:
        done.append(f"{applied['thresholded']} measured value(s) below "
                    f"{applied['threshold']:g} set to 0")
    if done:
        logger.info("detector corrections: %s", "; ".join(done))
