"""Fourier-space shells and the data misfit chi^2 of reconstructions.

Spatial frequency ``q`` is in cycles per real-space pixel (0.5 at the edge of the array
along an axis); shells are one Fourier pixel wide (:func:`shell_index`): rings of a 2D
pattern, spherical shells of a 3D one. The other metrics modules sum per shell with
:func:`shell_sum`.

A stack of objects is ambiguous in 3D: ``(n, H, W)`` may be ``n`` 2D runs or one 3D
object. The functions that take a pattern read the spatial dimensions from it; those
that take objects alone (:func:`as_objects` with ``ndim=None``) read a 3D array as a
stack of 2D runs, as always, and a 4D one as a stack of 3D runs.
"""

from __future__ import annotations

import numpy as np

from tomopy_dlalign.common.validation import as_array

from ..physics import SPATIAL_NDIMS, farfield


def as_objects(objects, name: str = "objects", ndim: int | None = None) -> np.ndarray:
    """Complex ``(n, *shape)`` objects from one object or a stack, validated.

    ``ndim``: the spatial dimensions (2 or 3, from the pattern). None: a 2D array is one
    2D object, a 3D array a stack of 2D objects, a 4D array a stack of 3D objects.

    Example
    -------
    >>> as_objects(np.ones((3, 8, 8))).shape, as_objects(np.ones((8, 8, 8)), ndim=3).shape
    ((3, 8, 8), (1, 8, 8, 8))
    """
    if ndim is None:
        a = as_array(objects, name, ndim=(2, 3, 4), dtype=np.complex64)
        return a[None] if a.ndim == 2 else a
    if ndim not in SPATIAL_NDIMS:
        raise ValueError(f"ndim must be 2 or 3, got {ndim!r}")
    a = as_array(objects, name, ndim=(ndim, ndim + 1), dtype=np.complex64)
    return a[None] if a.ndim == ndim else a


def objects_and_pattern(objects, intensity, mask=None
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated ``(objects, intensity, valid)`` for a misfit: the objects a stack of the
    intensity's shape (:func:`as_objects`), the intensity float64 and non-negative, and
    ``valid`` True on its measured pixels (``mask`` True where missing)."""
    arr = as_array(intensity, "intensity", ndim=SPATIAL_NDIMS, nonnegative=True,
                   dtype=np.float64)
    objs = as_objects(objects, ndim=arr.ndim)
    if objs.shape[1:] != arr.shape:
        raise ValueError(f"objects have shape {objs.shape[1:]}, intensity {arr.shape}")
    return objs, arr, ~as_mask(mask, arr.shape)


def spatial_ndim(objects: np.ndarray) -> int:
    """The spatial dimensions of a stack from :func:`as_objects`: its rank less one."""
    return objects.ndim - 1


def as_mask(mask, shape) -> np.ndarray:
    """bool mask of ``shape`` (True = missing); all False when ``mask`` is None."""
    if mask is None:
        return np.zeros(shape, bool)
    m = np.asarray(mask)
    if m.shape != tuple(shape):
        raise ValueError(f"mask must have shape {tuple(shape)}, got {m.shape}")
    return m.astype(bool)


def shell_index(shape) -> tuple[np.ndarray, np.ndarray]:
    """Shell number of every pixel of a centred ``(H, W)`` or ``(D, H, W)`` array, and
    each shell's ``q``.

    ``q = sqrt((ky/H)^2 + (kx/W)^2)`` (plus ``(kz/D)^2`` in 3D) cycles per pixel, binned
    in steps of ``1/max(shape)``; shell ``i`` has centre ``q[i] = i / max(shape)``.

    Example
    -------
    >>> idx, q = shell_index((8, 8)); int(idx[4, 4]), int(idx[4, 7]), float(q[3])
    (0, 3, 0.375)
    >>> idx, q = shell_index((8, 8, 8)); int(idx[4, 4, 4]), int(idx[1, 4, 4])
    (0, 3)
    """
    shape = tuple(shape)
    if len(shape) not in SPATIAL_NDIMS:
        raise ValueError(f"shape must be 2D or 3D, got {shape}")
    n = max(shape)
    q2 = 0.0
    for axis, m in enumerate(shape):
        k = (np.arange(m) - m // 2) / m
        q2 = q2 + k.reshape([-1 if a == axis else 1 for a in range(len(shape))]) ** 2
    idx = np.rint(np.sqrt(q2) * n).astype(int)
    return idx, np.arange(idx.max() + 1) / n


def shell_sum(values: np.ndarray, idx: np.ndarray, valid: np.ndarray, nshell: int
              ) -> np.ndarray:
    """Sum of ``values`` over the ``valid`` pixels of each shell (``idx`` from
    :func:`shell_index`), ``(nshell,)``."""
    return np.bincount(idx[valid], weights=values[valid], minlength=nshell)[:nshell]


# -- chi^2 --------------------------------------------------------------------------------
def chi2(objects, intensity, mask=None) -> np.ndarray:
    """chi^2 of eq. (5) of Wu et al. (2021) for each object (2D or 3D, as ``intensity``).

    ``chi2 = sum_n (sqrt(I_p) - sqrt(I_g))^2 / sum_n I_g`` over measured pixels, with
    ``I_p = |F(o)|^2`` (unitary FFT) and ``I_g`` the measured intensity.

    Example
    -------
    >>> o = np.zeros((8, 8), complex); o[3:5, 3:5] = 1
    >>> I = np.abs(np.fft.fftshift(np.fft.fft2(o, norm="ortho")))**2
    >>> float(chi2(o, I)[0]) < 1e-12, round(float(chi2(2 * o, I)[0]), 6)
    (True, 1.0)
    """
    objs, arr, valid = objects_and_pattern(objects, intensity, mask)
    amp = np.abs(farfield(objs.astype(np.complex128), ndim=arr.ndim))
    num = ((amp - np.sqrt(arr)) ** 2 * valid).sum(axis=tuple(range(1, arr.ndim + 1)))
    return num / max(arr[valid].sum(), 1e-300)
