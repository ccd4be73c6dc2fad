"""What registration sees: a copy of the projections with the content that is not the
sample's motion taken out.

Registration compares each projection with the reprojection of a reconstruction; two
kinds of content mislead it:

- **Isolated extreme pixels that move with the data** (a dead pixel baked into the line
  integrals before the motion, zingers): a single value of 13.8 among values of 0.1
  outweighs the whole object in a correlation, and drags each projection toward wherever
  that pixel sits. Pixels farther than ``OUTLIER_SIGMAS`` robust standard deviations from
  the median of their 3 x 3 neighbourhood, when they are rare (under 1 % of a
  projection), are replaced by that median. Salt-and-pepper noise (a large share of
  pixels at an image's extremes) is median-filtered 5 x 5 instead, as before.
- **Values beyond the stack's robust range** (a dead pixel's 13.8 that an edge fill
  smeared into a block): replaced by their projection's median.
- **Stripes and bands fixed on the detector** (a gain error along a column, a dead
  column, flat-field banding along rows): they sit at the same place in every
  projection, whatever the sample does, so they pull every estimate toward zero shift.
  A column's stripe is the median, over angles and rows, of the projections' high-pass
  along columns (each projection minus its 2-pixel Gaussian blur along columns): the
  sample's fine detail moves from angle to angle and row to row and has a median near
  zero, a stripe down the whole detector survives it. Bands along rows likewise, with
  the median over angles and columns. Both are subtracted from every projection. A
  sample feature that stays at one detector column in most projections and most rows
  (a long wire on the rotation axis) is taken out too, which costs the registration that
  feature but biases nothing. Stripes down only part of the detector, and single
  pixels, are left to the defect handling of :func:`tomopy_dlalign.normalize` and to the
  outlier test above: a 2D median over angles alone would take out the sample's detail
  near the rotation axis, which moves little when the jitter is small (measured: clean
  phantoms with +-3 px of jitter went from 0.03 to 0.13 px with it).

The returned shifts always apply to the user's projections, not to this view.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy.ndimage import gaussian_filter1d, uniform_filter

from ..common.impulsive import despeckle

logger = logging.getLogger(__name__)

#: Gaussian width (pixels) of the blur whose residual is the fixed-pattern high-pass
FIXED_SIGMA = 2.0
#: projections (evenly spaced) the fixed pattern is estimated from, at most
FIXED_ANGLES = 60


def registration_view(prj: np.ndarray, fixed: bool = True,
                      impulsive: bool | None = None) -> tuple[np.ndarray, dict]:
    """The projections as registration should see them (see the module's notes).

    Parameters
    ----------
    prj : ndarray (nproj, nslice, ncol), float32
        Line integrals.
    fixed : bool
        Subtract the content fixed on the detector.
    impulsive : bool, optional
        Whether ``prj`` carried salt-and-pepper noise that the caller has median-filtered
        already (:func:`~tomopy_dlalign.common.impulsive.despeckle`); None: test and
        filter here.

    Returns
    -------
    view : ndarray, float32, a new array
    notes : dict
        What was done: ``impulsive`` (bool), ``out_of_range`` and ``outliers``
        (pixels replaced) and
        ``fixed_rms`` (RMS of the fixed pattern taken out, in line-integral units).

    Example
    -------
    >>> import numpy as np
    >>> p = np.zeros((8, 16, 16), np.float32); p[:, 4:12, 4:12] = 1; p[3, 2, 2] = 50
    >>> view, notes = registration_view(p)
    >>> float(view[3, 2, 2]) < 1, notes["out_of_range"] + notes["outliers"]
    (True, 1)
    """
    if impulsive is None:
        clean = despeckle(prj)
        impulsive = clean is not prj
        prj = clean
    view = np.array(prj, dtype=np.float32, copy=True)
    notes = {"impulsive": bool(impulsive), "outliers": 0, "out_of_range": 0,
             "fixed_rms": 0.0}
    notes["out_of_range"] = _replace_out_of_range(view)
    if not impulsive:
        notes["outliers"] = _replace_outliers(view)
    if fixed and view.shape[0] >= 8:
        pattern = fixed_pattern(view)
        notes["fixed_rms"] = float(np.sqrt(np.mean(pattern ** 2)))
        view -= pattern[None]
    if notes["outliers"]:
        logger.info("registration: %d isolated extreme pixels replaced by their "
                    "neighbourhood's median", notes["outliers"])
    return view, notes


def fixed_pattern(view: np.ndarray) -> np.ndarray:
    """The detector-fixed stripes and bands of a stack, ``(nslice, ncol)``: the median over
    angles and rows of each projection's high-pass along columns (``p`` minus its 2-pixel
    Gaussian blur along columns), one value per column, plus the median over angles and
    columns of the high-pass along rows, one value per row (see the module's notes). At
    most ``FIXED_ANGLES`` evenly spaced projections are read: a median of that many
    values is already steady."""
    view = view[::max(1, -(-len(view) // FIXED_ANGLES))]
    cols = view - gaussian_filter1d(view, FIXED_SIGMA, axis=2, mode="nearest")
    pattern = np.broadcast_to(np.median(cols, axis=(0, 1))[None, :], view.shape[1:]).copy()
    if view.shape[1] > 4:
        rows = view - gaussian_filter1d(view, FIXED_SIGMA, axis=1, mode="nearest")
        pattern += np.median(rows, axis=(0, 2))[:, None]
    return pattern.astype(np.float32)


def _replace_out_of_range(view: np.ndarray) -> int:
    """Replace, in place, pixels beyond the stack's robust range by their projection's
    median; returns how many. The range is the median over projections of their 0.5th
    and 99.5th percentiles, widened by its own span on each side: no feature of the
    sample reaches there, a defect baked into the data (and smeared by an edge fill into
    a block) does."""
    flat = view.reshape(len(view), -1)
    lo, hi = np.median(np.percentile(flat, [0.5, 99.5], axis=1), axis=1)
    span = max(hi - lo, 1e-6)
    bad = (view > hi + span) | (view < lo - span)
    if not bad.any():
        return 0
    med = np.median(flat, axis=1)
    view[bad] = np.broadcast_to(med[:, None, None], view.shape)[bad]
    return int(bad.sum())


def _replace_outliers(view: np.ndarray) -> int:
    """Replace, in place, the rare pixels far from their 3 x 3 median (more than half the
    projection's robust range); returns how many. The median is taken only where the
    pixel stands out from its 3 x 3 mean by half that much (a pixel that stands out from
    its median by ``d`` stands out from the mean of a window of at most four such pixels
    by at least ``5 d / 9``), which keeps this cheap on clean data."""
    n = len(view)
    lo, hi = np.percentile(view.reshape(n, -1), [0.1, 99.9], axis=1)
    floor = (0.5 * (hi - lo)).astype(np.float32)[:, None, None]
    size = (1, 3, 3) if view.shape[1] >= 3 else (1, 1, 3)
    cand = np.abs(view - uniform_filter(view, size=size, mode="nearest")) > 0.5 * floor
    if not cand.any():
        return 0
    k, r, c = np.nonzero(cand)
    pad = np.pad(view, ((0, 0), (size[1] // 2,) * 2, (1, 1)), mode="edge")
    window = np.stack([pad[k, r + i, c + j] for i in range(size[1]) for j in range(3)])
    med = np.median(window, axis=0)
    bad = np.abs(view[k, r, c] - med) > floor[k, 0, 0]
    share = np.bincount(k[bad], minlength=n) / view[0].size
    bad &= share[k] < 0.01
    view[k[bad], r[bad], c[bad]] = med[bad]
    return int(bad.sum())
