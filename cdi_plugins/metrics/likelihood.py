"""Run quality that does not fool itself: log-likelihoods, the free log-likelihood and the
Fourier R-factor.

A low chi^2 on the pixels a run was fitted to is easy to reach by over-fitting: a run
whose support has grown into the background fits the noise too. The *free*
log-likelihood (Favre-Nicolin et al. 2020, after the crystallographer's free R of
Brunger 1992) is computed on a random ~5 % of the measured pixels that were withheld from
the modulus constraint (:func:`free_pixels`); it rises when a run over-fits and ranks
runs fairly. All formulas take the model intensity ``I_c = s |F(o)|^2`` of an object
(unitary transform, :func:`cdi_plugins.physics.farfield`) and the measured intensity
``I_o``, per pixel, averaged over the pixels used:

- Poisson: ``2 [I_c - I_o + I_o ln(I_o / I_c)]`` (the deviance; about 1 per pixel for an
  ideal fit of photon counts; ``0 ln 0 = 0``, so a measured zero scores ``2 I_c``);
- Gaussian: ``(I_c - I_o)^2 / (I_o + 1)``;
- Euclidean: ``4 (sqrt(I_c) - sqrt(I_o))^2``.

``s`` is 1 by default (this package's objects model the pattern directly); with
``scale="fit"`` it is the least-squares scale of the amplitudes, which puts objects from
other codes (other FFT normalisations) on the same footing.

References
----------
V. Favre-Nicolin et al., "Free log-likelihood as an unbiased metric for coherent
diffraction imaging", Sci. Rep. 10, 2664 (2020).
"""

from __future__ import annotations

import numpy as np

from ..physics import SPATIAL_NDIMS, farfield
from .fourier import as_mask, objects_and_pattern

NOISE_MODELS = ("poisson", "gaussian", "euclidean")


def free_pixels(shape: tuple[int, ...], fraction: float = 0.05, island_radius: int = 3,
                exclude_centre: float = 0.05, mask=None, seed=None) -> np.ndarray:
    """Random small islands of pixels to withhold from the modulus constraint.

    Discs (balls, for a 3D pattern) of ``island_radius`` pixels are drawn at random until
    they cover about ``fraction`` of the array; islands rather than single pixels because
    neighbouring Fourier pixels are correlated by the object's finite size. The centre
    (within ``exclude_centre`` of the array size) is left out: the strong low-frequency
    pixels carry the object's outline. Missing pixels (``mask``) are never free.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)`` or ``(D, H, W)`` of the centred pattern.
    fraction : float
        Share of the array to withhold, in [0, 0.5).
    island_radius : int
        Radius of each island in pixels.
    exclude_centre : float
        Relative radius of the central zone left out.
    mask : array_like of bool, optional
        True where pixels are missing.
    seed : int or numpy.random.Generator, optional
        Same seed, same pixels.

    Returns
    -------
    numpy.ndarray
        bool, ``shape``, True = withheld (free) pixel.

    Example
    -------
    >>> f = free_pixels((128, 128), seed=0)
    >>> bool(0.03 < f.mean() < 0.07), bool(f[64, 64])
    (True, False)
    >>> f = free_pixels((32, 32, 32), seed=0)
    >>> bool(0.03 < f.mean() < 0.07), bool(f[16, 16, 16])
    (True, False)
    """
    if not 0 <= fraction < 0.5:
        raise ValueError(f"free fraction must be in [0, 0.5), got {fraction}")
    shape = tuple(int(n) for n in shape)
    if len(shape) not in SPATIAL_NDIMS:
        raise ValueError(f"shape must be 2D or 3D, got {shape}")
    r = int(island_radius)
    out = np.zeros(shape, bool)
    if fraction == 0 or r < 0:
        return out
    rng = np.random.default_rng(seed)
    island = np.pi * max(r, 0.5) ** 2 if len(shape) == 2 else 4 / 3 * np.pi * max(r, 0.5) ** 3
    n = int(round(np.prod(shape) * fraction / island))
    centres = [rng.integers(r, m - r, n) for m in shape]
    far = sum(((c - m // 2) / (m * exclude_centre)) ** 2
              for c, m in zip(centres, shape, strict=True))
    centres = [c[far > 1] for c in centres]
    for offset in np.ndindex(*(2 * r + 1,) * len(shape)):
        d = [o - r for o in offset]
        if sum(x * x for x in d) <= r * r:
            out[tuple(c + x for c, x in zip(centres, d, strict=True))] = True
    return out & ~as_mask(mask, shape)


def _model_intensity(objects, intensity, valid, scale) -> tuple[np.ndarray, np.ndarray]:
    """``(I_c, I_o)`` of the valid pixels, ``(n, n_valid)`` and ``(n_valid,)``."""
    amp = np.abs(farfield(objects, ndim=intensity.ndim))[:, valid].astype(np.float64)
    obs = intensity[valid].astype(np.float64)
    if scale == "fit":
        s = (amp * np.sqrt(obs)).sum(axis=1) / np.maximum((amp**2).sum(axis=1), 1e-300)
        amp = amp * s[:, None]
    elif scale is not None:
        raise ValueError(f"scale must be None or 'fit', got {scale!r}")
    return amp**2, obs


def log_likelihood(objects, intensity, mask=None, pixels=None, noise: str = "poisson",
                   scale: str | None = None) -> np.ndarray:
    """Negative log-likelihood per pixel of each object's pattern given the measurement.

    Parameters
    ----------
    objects : array_like
        Complex ``(H, W)`` or ``(n, H, W)`` centred objects (``(D, H, W)`` or
        ``(n, D, H, W)`` with a 3D pattern).
    intensity : array_like
        Measured ``(H, W)`` or ``(D, H, W)`` centred intensity (photon counts for the
        Poisson figure to mean what it says).
    mask : array_like of bool, optional
        True where pixels are missing; never used.
    pixels : array_like of bool, optional
        Only these pixels (e.g. the free ones of :func:`free_pixels`); default all
        measured ones.
    noise : {"poisson", "gaussian", "euclidean"}
        Noise model (module docstring).
    scale : {None, "fit"}
        ``None``: ``I_c = |F(o)|^2``; ``"fit"``: the least-squares amplitude scale first.

    Returns
    -------
    numpy.ndarray
        ``(n,)``, the mean over the pixels used (NaN when no pixel is used).

    Example
    -------
    >>> o = np.zeros((16, 16), complex); o[6:10, 6:10] = 10
    >>> I = np.abs(farfield(o)) ** 2
    >>> float(log_likelihood(o, I)[0]) < 1e-9, float(log_likelihood(2 * o, I)[0]) > 1
    (True, True)
    """
    if noise not in NOISE_MODELS:
        raise ValueError(f"noise must be one of {NOISE_MODELS}, got {noise!r}")
    objs, arr, valid = objects_and_pattern(objects, intensity, mask)
    if pixels is not None:
        valid &= as_mask(pixels, arr.shape)
    if not valid.any():
        return np.full(len(objs), np.nan)
    calc, obs = _model_intensity(objs, arr, valid, scale)
    if noise == "gaussian":
        per_pixel = (calc - obs) ** 2 / (obs + 1)
    elif noise == "euclidean":
        per_pixel = 4 * (np.sqrt(calc) - np.sqrt(obs)) ** 2
    else:
        positive = obs[obs > 0]
        floor = 1e-2 * positive.min() if positive.size else 1e-30
        c = np.maximum(calc, floor)
        log_term = np.where(obs > 0, obs * np.log(np.maximum(obs, floor) / c), 0.0)
        per_pixel = 2 * (calc - obs + log_term)
    return per_pixel.mean(axis=1)


def r_factor(objects, intensity, mask=None, scale: str | None = None) -> np.ndarray:
    """Fourier R-factor ``sum | |F(o)| - sqrt(I) | / sum sqrt(I)`` over measured pixels.

    With ``scale="fit"`` the amplitudes are scaled by least squares first (objects of
    codes with other FFT normalisations).

    Example
    -------
    >>> o = np.zeros((16, 16), complex); o[6:10, 6:10] = 1
    >>> I = np.abs(farfield(o)) ** 2
    >>> round(float(r_factor(o, I)[0]), 6), round(float(r_factor(2 * o, I, scale="fit")[0]), 6)
    (0.0, 0.0)
    """
    objs, arr, valid = objects_and_pattern(objects, intensity, mask)
    calc, obs = _model_intensity(objs, arr, valid, scale)
    sq = np.sqrt(obs)
    return np.abs(np.sqrt(calc) - sq).sum(axis=1) / max(sq.sum(), 1e-300)


def fit_figures(obj, intensity, mask=None) -> dict:
    """``{"R": ..., "llk_poisson": ...}`` of one centred object against a pattern, the
    amplitude scale fitted (:func:`r_factor`, :func:`log_likelihood`): the same two
    figures for a network's prediction, a refinement and an iterative phasing.

    Example
    -------
    >>> o = np.zeros((16, 16), complex); o[6:10, 6:10] = 1
    >>> I = np.abs(farfield(o)) ** 2
    >>> {k: round(v, 6) for k, v in fit_figures(3 * o, I).items()}
    {'R': 0.0, 'llk_poisson': 0.0}
    """
    return {"R": float(r_factor(obj, intensity, mask, scale="fit")[0]),
            "llk_poisson": float(log_likelihood(obj, intensity, mask, scale="fit")[0])}
