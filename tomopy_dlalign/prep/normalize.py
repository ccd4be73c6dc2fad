"""Pre-processing with TomoPy's names: flat/dark normalisation and the negative log."""

from __future__ import annotations

import logging

import numpy as np

from ..common.validation import as_array

logger = logging.getLogger(__name__)


def _field(value, name, shape):
    arr = as_array(value, name, ndim=(2, 3), dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.shape[1:] != shape:
        raise ValueError(f"{name} frames must have shape {shape} like the projections, "
                         f"got {arr.shape[1:]}")
    return arr.mean(axis=0)


def normalize(arr, flat, dark, cutoff: float | None = None) -> np.ndarray:
    """Flat- and dark-field correction: ``(arr - dark) / (flat - dark)``.

    Parameters
    ----------
    arr : ndarray, shape (nproj, nslice, ncol)
        Raw projections (any numeric dtype).
    flat, dark : ndarray, shape (nflat, nslice, ncol) or (nslice, ncol)
        White and dark fields; several frames are averaged.
    cutoff : float, optional
        Upper limit of the normalised values, as in TomoPy.

    Returns
    -------
    ndarray, float32. Pixels where ``flat <= dark`` (dead pixels) are divided by a tiny
    positive number instead of zero. The input is not modified.

    Example
    -------
    >>> import numpy as np
    >>> normalize(np.full((2, 1, 2), 5.0), np.full((1, 1, 2), 9.0), np.ones((1, 1, 2)))[0, 0]
    array([0.5, 0.5], dtype=float32)
    """
    prj = as_array(arr, "arr", ndim=3, dtype=np.float32)
    shape = prj.shape[1:]
    f = _field(flat, "flat", shape)
    d = _field(dark, "dark", shape)
    denom = f - d
    bad = denom <= 0
    if bad.any():
        logger.warning("normalize: %d pixels have flat <= dark", int(bad.sum()))
    denom = np.where(bad, 1e-6, denom).astype(np.float32)
    out = (prj - d) / denom
    if cutoff is not None:
        np.minimum(out, np.float32(cutoff), out=out)
    return out


def minus_log(arr, floor: float = 1e-6) -> np.ndarray:
    """Line integrals ``-log(arr)`` from normalised transmissions.

    Values at or below ``floor`` (zero or negative transmissions from noise or dead
    pixels) are raised to ``floor`` first, so that the result stays finite; how many
    were raised is logged.

    Example
    -------
    >>> import numpy as np
    >>> float(minus_log(np.array([[[np.exp(-2.0)]]]))[0, 0, 0])
    2.0
    """
    a = as_array(arr, "arr", ndim=3, dtype=np.float32)
    low = a <= floor
    if low.any():
        logger.info("minus_log: %d values <= %g raised to %g", int(low.sum()), floor, floor)
    return -np.log(np.maximum(a, np.float32(floor)))
