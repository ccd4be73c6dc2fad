"""Pre-processing with TomoPy's names: flat/dark normalisation (defective detector pixels
replaced, :mod:`.defects`) and the negative log."""

from __future__ import annotations

import logging

import numpy as np

from ..common.validation import as_array
from .defects import DefectMap, find_defects, replace_defects

logger = logging.getLogger(__name__)


def _field(value, name, shape):
    arr = as_array(value, name, ndim=(2, 3), dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.shape[1:] != shape:
        raise ValueError(f"{name} frames must have shape {shape} like the projections, "
                         f"got {arr.shape[1:]}")
    return arr.mean(axis=0)


def _defect_map(defects, flat, dark, raw: np.ndarray) -> DefectMap | None:
    """``normalize``'s ``defects`` argument as a map of the detector (None: off)."""
    if isinstance(defects, (bool, np.bool_)):
        return find_defects(flat, dark, raw) if defects else None
    dmap = defects if isinstance(defects, DefectMap) else DefectMap.from_mask(
        as_array(defects, "defects", ndim=2, dtype=None))
    if dmap.reason.shape != raw.shape[1:]:
        raise ValueError(f"defects must be a mask of the projections' frame shape "
                         f"{raw.shape[1:]}, got shape {dmap.reason.shape}")
    if dmap.mask.size and dmap.mask.all():
        raise ValueError("defects marks every pixel defective: nothing to replace them from")
    return dmap


#: the largest share of the detector without response (flat <= dark) that ``normalize``
#: accepts: beyond it there are too few good neighbours to replace those pixels from
MAX_UNRESPONSIVE = 0.5


def _check_response(bad: np.ndarray) -> None:
    """Refuse flat and dark fields with ``flat <= dark`` (``bad``) in more than
    :data:`MAX_UNRESPONSIVE` of the pixels."""
    fraction = float(bad.mean())
    if fraction > MAX_UNRESPONSIVE:
        raise ValueError(
            f"flat must exceed dark where the detector sees the beam, but flat <= dark in "
            f"{int(bad.sum())} of {bad.size} pixels ({100 * fraction:.3g} %, more than "
            f"{100 * MAX_UNRESPONSIVE:g} %): are the flat and dark fields swapped, or was "
            "the flat field taken without beam?")


def _log_defects(dmap: DefectMap) -> None:
    counts = ", ".join(f"{kind} {n}" for kind, n in dmap.counts.items() if n) or "none"
    level = logging.WARNING if dmap.fraction > 0.01 else logging.INFO
    logger.log(level, "normalize: %d defective detector pixels (%.3g %%: %s), replaced by "
               "the median of their good neighbours%s", int(dmap.mask.sum()),
               100 * dmap.fraction, counts,
               "; more than 1 %: check the flats, or pass defects=False (--no-defects) "
               "if the beam does not fill the detector" if level == logging.WARNING else "")


def normalize(arr, flat, dark, cutoff: float | None = None,
              defects: bool | np.ndarray | DefectMap = True,
              record: dict | None = None) -> np.ndarray:
    """Flat- and dark-field correction: ``(arr - dark) / (flat - dark)``, with the
    detector's defective pixels replaced by their neighbours.

    Parameters
    ----------
    arr : ndarray, shape (nproj, nslice, ncol)
        Raw projections (any numeric dtype; integer counts keep it for the saturation
        test).
    flat, dark : ndarray, shape (nflat, nslice, ncol) or (nslice, ncol)
        White and dark fields; several frames are averaged.
    cutoff : float, optional
        Upper limit of the normalised values, as in TomoPy.
    defects : bool, ndarray of bool (nslice, ncol) or DefectMap
        True (default): find the defective pixels (dead, hot, saturated, zero-count,
        and outliers fixed on the detector; :func:`~tomopy_dlalign.prep.defects.find_defects`)
        and replace them in every normalised projection by the median of their good
        neighbours (:func:`~tomopy_dlalign.prep.defects.replace_defects`). A mask or
        map: replace those pixels. False: the plain formula, nothing replaced.
    record : dict, optional
        Filled with ``{"defects": DefectMap.to_record()}`` (counts per kind, the first
        coordinates, the criteria), or ``{"defects": None}`` with ``defects=False``,
        for the ``/process`` record of the file written from the result.

    Returns
    -------
    ndarray, float32
        The transmissions. The input is not modified.

    Raises
    ------
    ValueError
        Frames whose shape is not the projections', a ``defects`` mask of another
        shape, or one that marks every pixel; flat and dark fields with ``flat <= dark``
        in more than half of the pixels (:data:`MAX_UNRESPONSIVE`).
    TypeError
        A ``record`` that is not a dict.

    Notes
    -----
    A dead pixel (``flat <= dark``) has no transmission: the formula divides by a tiny
    positive number instead of zero, and ``-log`` of the result is a line integral of
    about 13.8, or a huge negative one, in every projection: a stripe in the sinogram,
    a ring in the slice, and what registration locks onto. With ``defects`` on, such
    pixels take their neighbours' values, so the line integrals there stay finite and
    within the sample's range; how many of each kind were replaced is logged (INFO; a
    WARNING above 1 % of the detector). The criteria, and what they cannot tell apart
    (anything fixed on the detector, a sample feature of a pixel on the rotation axis,
    a beam that does not fill the detector), are those of
    :func:`~tomopy_dlalign.prep.defects.find_defects`; pass ``defects=False`` where
    they do not hold, or a mask of your own.

    When more than half of the pixels have ``flat <= dark`` the fields are refused
    rather than repaired: dead pixels are then not a defect of the detector but of the
    fields (swapped flat and dark, a flat taken with the shutter closed, an empty
    flat), and the result would be noise scaled by 1e6. Where the beam misses part of
    the detector, flat and dark differ there by noise only, which puts about half of
    those pixels at ``flat <= dark``: a beam that misses most of the detector can pass
    the limit, and the frames are then to be cropped to the beam first.

    Example
    -------
    >>> import numpy as np
    >>> normalize(np.full((2, 1, 2), 5.0), np.full((1, 1, 2), 9.0), np.ones((1, 1, 2)))[0, 0]
    array([0.5, 0.5], dtype=float32)
    >>> flat, dark = np.full((8, 8), 9.0), np.ones((8, 8))
    >>> flat[3, 3] = 1.0                                  # a dead pixel
    >>> out = normalize(np.full((2, 8, 8), 5.0), flat, dark)
    >>> float(out[0, 3, 3])                               # from its neighbours
    0.5
    """
    raw = as_array(arr, "arr", ndim=3, dtype=None)
    prj = as_array(raw, "arr", ndim=3, dtype=np.float32)
    shape = prj.shape[1:]
    f = _field(flat, "flat", shape)
    d = _field(dark, "dark", shape)
    if record is not None and not isinstance(record, dict):
        raise TypeError(f"record must be a dict to fill, got {type(record).__name__}")
    denom = f - d
    bad = denom <= 0
    _check_response(bad)
    dmap = _defect_map(defects, flat, dark, raw)
    # with defects on, such pixels are replaced (and counted as dead) unless a mask
    # passed in leaves them out
    unmasked = bad if dmap is None else bad & ~dmap.mask
    if unmasked.any():
        logger.warning("normalize: %d pixels have flat <= dark", int(unmasked.sum()))
    denom = np.where(bad, 1e-6, denom).astype(np.float32)
    out = (prj - d) / denom
    if dmap is not None:
        replace_defects(out, dmap, out=out)
        _log_defects(dmap)
    if cutoff is not None:
        np.minimum(out, np.float32(cutoff), out=out)
    if record is not None:
        record["defects"] = None if dmap is None else dmap.to_record()
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
