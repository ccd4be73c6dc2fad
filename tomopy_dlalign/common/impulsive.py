"""Salt-and-pepper noise, recognised and removed: shared by the rotation-axis search
(:mod:`tomopy_dlalign.recon.center`) and registration (:mod:`tomopy_dlalign.prep`), which
must see the same data through the same filter."""

from __future__ import annotations

import numpy as np


def is_impulsive(stack: np.ndarray) -> bool:
    """Whether ``stack`` (n, H, W) carries salt-and-pepper noise: more than 0.5 % of its
    pixels sit at their image's minimum or maximum while neither horizontal neighbour does
    (an empty background at exactly zero, as simulations have, is not noise)."""
    arr = np.asarray(stack)
    lo = arr.min(axis=(1, 2), keepdims=True)
    hi = arr.max(axis=(1, 2), keepdims=True)
    count = 0
    for ext in (lo, hi):
        at = arr == ext
        alone = at[:, :, 1:-1] & ~at[:, :, :-2] & ~at[:, :, 2:]
        count += int(alone.sum())
    # each image has its own extremes: two pixels per image are no evidence of noise
    return count > 0.005 * arr.size + 2 * arr.shape[0]


def despeckle(stack: np.ndarray) -> np.ndarray:
    """``stack`` median-filtered 5 x 5 per image when it carries salt-and-pepper noise
    (:func:`is_impulsive`; a 3 x 3 median leaves much of strong noise), a new array; else
    ``stack`` itself (callers tell the two apart by identity)."""
    if not is_impulsive(stack):
        return stack
    from scipy.ndimage import median_filter

    return median_filter(np.asarray(stack, np.float32), size=(1, 5, 5))
