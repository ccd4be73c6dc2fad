"""Registration of measured projections against reprojections (the baselines' core).

Phase correlation gives the shift of each measured projection relative to its
reprojection, to a fraction of a pixel; salt-and-pepper noise is removed with a 3 x 3
median filter first (without it, phase correlation fails at 40 % noise, as Fu et al.
report).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import median_filter


def _window(h: int, w: int) -> np.ndarray:
    # a Tukey-like taper, so the image borders do not dominate the correlation
    def taper(n):
        t = np.ones(n)
        m = max(n // 8, 1)
        ramp = 0.5 * (1 - np.cos(np.pi * (np.arange(m) + 0.5) / m))
        t[:m], t[-m:] = ramp, ramp[::-1]
        return t

    return np.outer(taper(h), taper(w))


def phase_correlation(measured, reference, upsample: int = 20, denoise: bool = True):
    """Shift ``(dx, dy)`` of each ``measured`` image relative to ``reference``.

    Parameters
    ----------
    measured, reference : ndarray (n, H, W)
    upsample : int
        Sub-pixel precision 1/upsample (Guizar-Sicairos et al. 2008, via scikit-image).
    denoise : bool
        Median-filter both images (3 x 3) first.

    Returns
    -------
    dx, dy : ndarray (n,), in the project's sense: ``shift(reference, dx, dy)`` looks
    like ``measured``.
    """
    from skimage.registration import phase_cross_correlation

    m = np.asarray(measured, np.float32)
    r = np.asarray(reference, np.float32)
    if denoise:
        m = median_filter(m, size=(1, 3, 3))
        r = median_filter(r, size=(1, 3, 3))
    win = _window(*m.shape[1:])
    dx = np.zeros(m.shape[0])
    dy = np.zeros(m.shape[0])
    for i in range(m.shape[0]):
        a = (m[i] - m[i].mean()) * win
        b = (r[i] - r[i].mean()) * win
        # skimage returns the shift that registers `moving` onto `reference`
        s, _, _ = phase_cross_correlation(b, a, upsample_factor=upsample,
                                          normalization=None)
        dy[i], dx[i] = -s[0], -s[1]
    return dx, dy
