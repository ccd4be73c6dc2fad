"""Agreement between runs and between images per resolution shell: the variance of the
Fourier amplitude over runs, shell correlations and Fourier ring correlations (Fourier
shell correlations of 3D objects).

Shells are rings of a 2D array and spherical shells of a 3D one
(:func:`~cdi_plugins.metrics.fourier.shell_index`). A stack of runs is ``(n, H, W)`` or
``(n, D, H, W)``; pass ``ndim=3`` (or a ``(D, H, W)`` mask) to read a 3D array as one 3D
object rather than a stack of 2D runs.
"""

from __future__ import annotations

import numpy as np

from tomopy_dlalign.common.validation import as_array

from ..physics import SPATIAL_NDIMS, farfield
from .alignment import align_runs
from .fourier import as_mask, as_objects, shell_index, shell_sum, spatial_ndim


def amplitude_variance(objects, mask=None, align: bool = True,
                       reference: int = 0, ndim: int | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Variance over runs of the Fourier amplitude ``|F(o_r)|``, averaged per shell.

    As in Fig. 4(c, d) of Pan et al. (2022): low where the runs agree on the structure.
    ``ndim`` (2 or 3): the runs' spatial dimensions; default that of ``mask``, else
    :func:`~cdi_plugins.metrics.fourier.as_objects`'s reading of the stack.

    Example
    -------
    >>> o = np.zeros((16, 16), complex); o[6:10, 6:10] = 1
    >>> q, v = amplitude_variance(np.stack([o, o, o])); float(np.nanmax(v)) < 1e-12
    True
    """
    if ndim is None and mask is not None:
        ndim = np.ndim(mask)
    objs = as_objects(objects, ndim=ndim)
    nd = spatial_ndim(objs)
    if align and len(objs) > 1:
        objs = align_runs(objs, objs[reference])
    amp = np.abs(farfield(objs.astype(np.complex128), ndim=nd))
    var = amp.var(axis=0)
    valid = ~as_mask(mask, var.shape)
    idx, q = shell_index(var.shape)
    n = len(q)
    cnt = shell_sum(np.ones_like(var), idx, valid, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return q, np.where(cnt > 0, shell_sum(var, idx, valid, n) / cnt, np.nan)


def shell_correlation(a, b, mask=None) -> tuple[np.ndarray, np.ndarray]:
    """Pearson cross-correlation of two real 2D or 3D patterns in each resolution shell.

    ``CC(q) = sum (a - <a>)(b - <b>) / sqrt(sum (a - <a>)^2 sum (b - <b>)^2)`` over the
    measured pixels of the shell (Fig. 5(e) of Pan et al. 2022).

    Example
    -------
    >>> rng = np.random.default_rng(0); a = rng.random((16, 16))
    >>> q, cc = shell_correlation(a, 2 * a + 1); bool(np.allclose(cc[1:], 1))
    True
    """
    x = as_array(a, "a", ndim=SPATIAL_NDIMS, dtype=np.float64)
    y = as_array(b, "b", ndim=SPATIAL_NDIMS, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"a and b must have the same shape, got {x.shape} and {y.shape}")
    valid = ~as_mask(mask, x.shape)
    idx, q = shell_index(x.shape)
    n = len(q)
    cnt = np.maximum(shell_sum(np.ones_like(x), idx, valid, n), 1)
    mx = (shell_sum(x, idx, valid, n) / cnt)[idx]
    my = (shell_sum(y, idx, valid, n) / cnt)[idx]
    dx, dy = x - mx, y - my
    num = shell_sum(dx * dy, idx, valid, n)
    den = np.sqrt(shell_sum(dx * dx, idx, valid, n) * shell_sum(dy * dy, idx, valid, n))
    with np.errstate(invalid="ignore", divide="ignore"):
        return q, np.where(den > 0, num / den, np.nan)


def frc(a, b) -> tuple[np.ndarray, np.ndarray]:
    """Fourier ring correlation of two complex images (Fourier shell correlation of two
    3D objects), ``Re sum F_a conj(F_b) / sqrt(sum |F_a|^2 sum |F_b|^2)`` per shell.

    Example
    -------
    >>> rng = np.random.default_rng(0); a = rng.random((16, 16)) + 0j
    >>> q, c = frc(a, a); bool(np.allclose(c, 1))
    True
    """
    x = as_array(a, "a", ndim=SPATIAL_NDIMS, dtype=np.complex128)
    y = as_array(b, "b", ndim=SPATIAL_NDIMS, dtype=np.complex128)
    if x.shape != y.shape:
        raise ValueError(f"a and b must have the same shape, got {x.shape} and {y.shape}")
    fa, fb = farfield(x, ndim=x.ndim), farfield(y, ndim=y.ndim)
    idx, q = shell_index(x.shape)
    n = len(q)
    valid = np.ones(x.shape, bool)
    num = shell_sum((fa * np.conj(fb)).real, idx, valid, n)
    den = np.sqrt(shell_sum(np.abs(fa) ** 2, idx, valid, n)
                  * shell_sum(np.abs(fb) ** 2, idx, valid, n))
    with np.errstate(invalid="ignore", divide="ignore"):
        return q, np.where(den > 0, num / den, np.nan)


#: the Fourier shell correlation of two 3D objects is :func:`frc` of them
fsc = frc


def halfset_frc(objects, seed: int | None = None,
                reference: int = 0, ndim: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """FRC (FSC in 3D) between the averages of two random halves of the (aligned) runs.

    ``objects``: ``(n, H, W)`` or ``(n, D, H, W)`` runs (``ndim`` as for
    :func:`amplitude_variance`).

    Example
    -------
    >>> o = np.zeros((16, 16), complex); o[6:10, 5:11] = 1
    >>> q, c = halfset_frc(np.stack([o] * 4), seed=0); bool(np.allclose(c[:4], 1))
    True
    """
    objs = as_objects(objects, ndim=ndim)
    if len(objs) < 2:
        raise ValueError(f"halfset_frc needs at least 2 runs, got {len(objs)}")
    objs = align_runs(objs, objs[reference])
    order = np.random.default_rng(seed).permutation(len(objs))
    half = len(objs) // 2
    return frc(objs[order[:half]].mean(axis=0), objs[order[half:]].mean(axis=0))
