"""Fourier-space shells and the data misfit chi^2 of reconstructions.

Spatial frequency ``q`` is in cycles per real-space pixel (0.5 at the edge of the array
along an axis); shells are one Fourier pixel wide (:func:`shell_index`). The other
metrics modules sum per shell with :func:`shell_sum`.
"""

from __future__ import annotations

import numpy as np

from tomopy_dlalign.common.validation import as_array

from ..physics import farfield


def as_objects(objects, name: str = "objects") -> np.ndarray:
    """Complex ``(n, H, W)`` objects from one ``(H, W)`` or a stack, validated."""
    a = as_array(objects, name, ndim=(2, 3), dtype=np.complex64)
    return a[None] if a.ndim == 2 else a


def as_mask(mask, shape) -> np.ndarray:
    """bool mask of ``shape`` (True = missing); all False when ``mask`` is None."""
    if mask is None:
        return np.zeros(shape, bool)
    m = np.asarray(mask)
    if m.shape != tuple(shape):
        raise ValueError(f"mask must have shape {tuple(shape)}, got {m.shape}")
    return m.astype(bool)


def shell_index(shape) -> tuple[np.ndarray, np.ndarray]:
    """Shell number of every pixel of a centred ``(H, W)`` array, and each shell's ``q``.

    ``q = sqrt((ky/H)^2 + (kx/W)^2)`` cycles per pixel, binned in steps of
    ``1/max(H, W)``; shell ``i`` has centre ``q[i] = i / max(H, W)``.

    Example
    -------
    >>> idx, q = shell_index((8, 8)); int(idx[4, 4]), int(idx[4, 7]), float(q[3])
    (0, 3, 0.375)
    """
    h, w = shape
    n = max(h, w)
    ky = (np.arange(h) - h // 2) / h
    kx = (np.arange(w) - w // 2) / w
    qq = np.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2)
    idx = np.rint(qq * n).astype(int)
    return idx, np.arange(idx.max() + 1) / n


def shell_sum(values: np.ndarray, idx: np.ndarray, valid: np.ndarray, nshell: int
              ) -> np.ndarray:
    """Sum of ``values`` over the ``valid`` pixels of each shell (``idx`` from
    :func:`shell_index`), ``(nshell,)``."""
    return np.bincount(idx[valid], weights=values[valid], minlength=nshell)[:nshell]


# -- chi^2 --------------------------------------------------------------------------------
def chi2(objects, intensity, mask=None) -> np.ndarray:
    """chi^2 of eq. (5) of Wu et al. (2021) for each object.

    ``chi2 = sum_n (sqrt(I_p) - sqrt(I_g))^2 / sum_n I_g`` over measured pixels, with
    ``I_p = |F(o)|^2`` (unitary FFT) and ``I_g`` the measured intensity.

    Example
    -------
    >>> o = np.zeros((8, 8), complex); o[3:5, 3:5] = 1
    >>> I = np.abs(np.fft.fftshift(np.fft.fft2(o, norm="ortho")))**2
    >>> float(chi2(o, I)[0]) < 1e-12, round(float(chi2(2 * o, I)[0]), 6)
    (True, 1.0)
    """
    objs = as_objects(objects)
    arr = as_array(intensity, "intensity", ndim=2, nonnegative=True, dtype=np.float64)
    if objs.shape[-2:] != arr.shape:
        raise ValueError(f"objects have shape {objs.shape[-2:]}, intensity {arr.shape}")
    valid = ~as_mask(mask, arr.shape)
    amp = np.abs(farfield(objs.astype(np.complex128)))
    num = ((amp - np.sqrt(arr)) ** 2 * valid).sum(axis=(-2, -1))
    return num / max(arr[valid].sum(), 1e-300)
