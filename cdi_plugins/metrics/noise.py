"""Counting statistics of a measured pattern: the misfit that photon noise alone leaves,
and whether the pattern obeys Friedel's law.

A phasing can only be judged against what the noise allows. For photon counts
``k ~ Poisson(lambda)`` the amplitude misfit of a perfect model, the Euclidean
log-likelihood term ``4 (sqrt(k) - sqrt(lambda))^2`` (:mod:`~cdi_plugins.metrics.likelihood`),
has an expectation that depends on ``lambda`` alone: about ``8 lambda`` for faint pixels,
close to 1 for bright ones (the square root stabilises the Poisson variance at 1/4).
:func:`euclidean_floor` is that expectation averaged over a set of pixels, so that a
run's Euclidean log-likelihood divided by it is about 1 when the run fits the data to
the noise, and grows with any systematic misfit.

The pattern of a real object obeys Friedel's law, ``I(q) = I(-q)``; a complex one (a
crystal's strain field, absorption) breaks it. :func:`friedel_test` measures that on
photon counts with an exact statistic: given the total ``n = k(q) + k(-q)`` of a pair of
mates, a symmetric pattern splits it as a fair coin does, so
``(k(q) - k(-q))^2 / n`` has mean 1 and variance ``2 - 2/n`` whatever the intensity.

Both need photon counts (:func:`is_counts`): scaled, background-corrected or noiseless
intensities have no Poisson floor to compare with.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import stats

from tomopy_dlalign.common.validation import as_array

from ..physics import SPATIAL_NDIMS, friedel_mate
from .fourier import as_mask

#: above this mean count the expansion 1/4 + 7/(64 lambda) of E[(sqrt k - sqrt lambda)^2]
#: is exact to 1e-4
_LARGE = 100.0
#: a pattern is symmetric when its Friedel z-score stays below this ...
FRIEDEL_Z = 5.0
#: ... or its mean statistic below this: background subtraction and detector noise add
#: about this much variance to photon counts (1.2 on ConvRe's simulated patterns)
FRIEDEL_EXCESS = 1.5


@lru_cache(maxsize=1)
def _floor_table() -> tuple[np.ndarray, np.ndarray]:
    """``E[(sqrt(k) - sqrt(lambda))^2]`` for ``k ~ Poisson(lambda)`` on a grid of lambda."""
    lam = np.concatenate([[0.0], np.geomspace(1e-4, _LARGE, 600)])
    k = np.arange(0, int(_LARGE + 20 * np.sqrt(_LARGE)) + 1)
    pmf = stats.poisson.pmf(k[None, :], lam[:, None])
    value = (pmf * (np.sqrt(k)[None, :] - np.sqrt(lam)[:, None]) ** 2).sum(axis=1)
    return lam, value


def expected_sqrt_misfit(lam) -> np.ndarray:
    """``E[(sqrt(k) - sqrt(lambda))^2]`` for ``k ~ Poisson(lambda)``, element-wise.

    About ``2 lambda`` for ``lambda << 1``, highest (0.45) near ``lambda = 1``, tending to
    1/4 for ``lambda >> 1``.

    Example
    -------
    >>> [round(float(v), 3) for v in expected_sqrt_misfit([0.0, 0.001, 1.0, 1000.0])]
    [0.0, 0.002, 0.454, 0.25]
    """
    lam = np.clip(np.asarray(lam, dtype=np.float64), 0, None)
    grid, value = _floor_table()
    out = np.interp(lam, grid, value)
    big = lam > _LARGE
    out[big] = 0.25 + 7.0 / (64.0 * lam[big])
    return out


def is_counts(intensity, mask=None, tolerance: float = 1e-3) -> bool:
    """Whether the measured pixels hold photon counts: whole numbers, not all zero.

    Example
    -------
    >>> is_counts(np.array([[0.0, 3.0], [7.0, 1.0]])), is_counts(np.array([[0.5, 2.0]]))
    (True, False)
    """
    arr = as_array(intensity, "intensity", ndim=SPATIAL_NDIMS, nonnegative=True,
                   dtype=np.float64)
    v = arr[~as_mask(mask, arr.shape)]
    return bool(v.size and v.max() >= 1 and np.all(np.abs(v - np.rint(v)) <= tolerance))


def euclidean_floor(model_intensity, pixels) -> float:
    """Mean of ``4 E[(sqrt(k) - sqrt(lambda))^2]`` over ``pixels``, with ``lambda`` the
    model's intensity there: the Euclidean log-likelihood
    (:func:`~cdi_plugins.metrics.log_likelihood` with ``noise="euclidean"``) that a
    model fitting photon counts to the noise reaches on average.

    Parameters
    ----------
    model_intensity : array_like
        ``(H, W)`` or ``(D, H, W)`` intensity of a model, in counts (e.g. ``|F(o)|^2`` of
        a run).
    pixels : array_like of bool
        The model's shape, the pixels the log-likelihood was averaged over.

    Returns
    -------
    float
        Between 0 and about 1; NaN when no pixel is selected.

    Example
    -------
    >>> round(euclidean_floor(np.full((8, 8), 1e4), np.ones((8, 8), bool)), 4)
    1.0
    """
    lam = as_array(model_intensity, "model_intensity", ndim=SPATIAL_NDIMS, nonnegative=True,
                   dtype=np.float64)
    sel = as_mask(pixels, lam.shape)
    if not sel.any():
        return float("nan")
    return float(4.0 * expected_sqrt_misfit(lam[sel]).mean())


@dataclass
class FriedelTest:
    """Result of :func:`friedel_test`.

    Attributes
    ----------
    statistic : float
        Mean of ``(k(q) - k(-q))^2 / (k(q) + k(-q))`` over the measured pairs of mates
        with counts; 1 for a symmetric pattern, larger when it is not.
    z : float
        How many standard deviations the sum lies above its symmetric expectation.
    n_pairs : int
        Pairs of measured mates with at least one count.
    symmetric : bool
        ``z < FRIEDEL_Z`` or ``statistic < FRIEDEL_EXCESS``: no significant departure
        from Friedel's law, or one smaller than the extra noise of background-corrected
        counts (a real object).
    """

    statistic: float
    z: float
    n_pairs: int
    symmetric: bool


def _mate_index(shape) -> np.ndarray:
    """Flat index of each pixel's Friedel mate (:func:`~cdi_plugins.physics.friedel_mate`)."""
    return friedel_mate(np.arange(int(np.prod(shape))).reshape(shape),
                        ndim=len(shape)).ravel()


def friedel_test(intensity, mask=None) -> FriedelTest:
    """Test a pattern of photon counts against Friedel's law ``I(q) = I(-q)``.

    Each pair of measured mates ``(q, -q)`` is counted once (pixels that are their own
    mate are skipped). Given ``n = k(q) + k(-q) > 0``, a symmetric pattern draws
    ``k(q) ~ Binomial(n, 1/2)``, so ``(k(q) - k(-q))^2 / n`` has mean 1 and variance
    ``2 - 2/n`` at any count level (module docstring).

    Parameters
    ----------
    intensity : array_like
        ``(H, W)`` or ``(D, H, W)`` centred photon counts (:func:`is_counts`).
    mask : array_like of bool, optional
        True where pixels are missing.

    Returns
    -------
    FriedelTest

    Raises
    ------
    ValueError
        The intensities are not photon counts, or no pair of mates is measured.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> lam = np.exp(-np.hypot(*np.mgrid[-32:32, -32:32]) / 8) * 50
    >>> friedel_test(rng.poisson(lam).astype(float)).symmetric
    True
    >>> friedel_test(rng.poisson(np.roll(lam, 3, axis=1)).astype(float)).symmetric
    False
    """
    arr = as_array(intensity, "intensity", ndim=SPATIAL_NDIMS, nonnegative=True,
                   dtype=np.float64)
    m = as_mask(mask, arr.shape)
    if not is_counts(arr, m):
        raise ValueError("friedel_test needs photon counts (whole numbers): intensity holds "
                         "other values")
    mate = _mate_index(arr.shape)
    flat = np.arange(arr.size)
    valid = ~m.ravel()
    first = (flat < mate) & valid & valid[mate]
    k1, k2 = arr.ravel()[first], arr.ravel()[mate[first]]
    n = k1 + k2
    lit = n > 0
    if not lit.any():
        raise ValueError("no pair of Friedel mates is measured with counts")
    k1, k2, n = k1[lit], k2[lit], n[lit]
    terms = (k1 - k2) ** 2 / n
    var = np.sum(2.0 - 2.0 / n)
    z = float((terms.sum() - terms.size) / np.sqrt(var)) if var > 0 else 0.0
    stat = float(terms.mean())
    return FriedelTest(statistic=stat, z=z, n_pairs=int(terms.size),
                       symmetric=bool(z < FRIEDEL_Z or stat < FRIEDEL_EXCESS))
