"""The far-field forward model and the conventions of diffraction data.

Every part of the package that goes between a real-space object and its diffraction
pattern goes through the functions here: :func:`farfield` (NumPy) and
:func:`farfield_torch` (PyTorch, differentiable), and their inverses. Objects are
centred in their array; patterns are centred too, zero frequency at index
``(H//2, W//2)`` (the ``fftshift`` convention, DESIGN.md section 2). The transform is
unitary (``norm="ortho"``), so ``sum |o|^2 == sum |F(o)|^2`` (Parseval) and a pattern's
total intensity is the object's energy.

The phasing loop works in FFT order instead (zero frequency at index 0, no shift per
iteration): with ``centred=False`` the same transforms skip the shifts. Only the modulus
of the transform is ever constrained, so where the real-space origin sits does not
matter there.

:func:`as_pattern` validates a measured pattern and its missing-data mask (True =
missing) once, at the public boundary of a computation (:func:`check_intensity`,
:func:`check_mask`); the :class:`Pattern` it returns is passed on inside without being
checked again.

Example
-------
>>> import numpy as np
>>> o = np.zeros((16, 16), np.complex64); o[8, 8] = 2
>>> f = farfield(o); float((abs(f) ** 2).sum()), bool(np.allclose(inverse_farfield(f), o))
(4.0, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from tomopy_dlalign.common.validation import as_array

_AXES = (-2, -1)


# -- NumPy ------------------------------------------------------------------------------
def farfield(obj: np.ndarray, centred: bool = True) -> np.ndarray:
    """Unitary 2D Fourier transform ``F(o)`` over the last two axes.

    Parameters
    ----------
    obj : numpy.ndarray
        Complex or real ``(..., H, W)`` objects, centred (``centred=True``).
    centred : bool
        Centred object in, centred field out; ``False``: FFT order in and out.

    Returns
    -------
    numpy.ndarray
        Complex ``(..., H, W)`` far field; ``|F(o)|^2`` is the diffraction intensity.
    """
    if not centred:
        return np.fft.fft2(obj, norm="ortho", axes=_AXES)
    f = np.fft.fft2(np.fft.ifftshift(obj, axes=_AXES), norm="ortho", axes=_AXES)
    return np.fft.fftshift(f, axes=_AXES)


def inverse_farfield(field: np.ndarray, centred: bool = True) -> np.ndarray:
    """Inverse of :func:`farfield`: the centred object whose far field is ``field``."""
    if not centred:
        return np.fft.ifft2(field, norm="ortho", axes=_AXES)
    o = np.fft.ifft2(np.fft.ifftshift(field, axes=_AXES), norm="ortho", axes=_AXES)
    return np.fft.fftshift(o, axes=_AXES)


def friedel_mate(a: np.ndarray) -> np.ndarray:
    """``a`` at ``-q``: index ``n`` maps to ``(-n) mod N`` about the centre ``N//2``.

    Example
    -------
    >>> friedel_mate(np.arange(4)[None, :] * np.ones((2, 1), int)).tolist()
    [[0, 3, 2, 1], [0, 3, 2, 1]]
    """
    return np.roll(np.flip(a, axis=(-2, -1)), 1, axis=(-2, -1))


def autocorrelation(intensity: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """``|F^-1(I)|``, centred, the pattern's autocorrelation (it spans twice the object).

    Missing pixels (``mask``) take the value of the nearest measured pixel: left at zero,
    a beamstop would remove the smooth low-frequency part of the autocorrelation. The
    result has the precision of ``intensity``.
    """
    arr = np.asarray(intensity)
    if mask is not None and np.any(mask) and not np.all(mask):
        from scipy import ndimage

        idx = ndimage.distance_transform_edt(mask, return_distances=False, return_indices=True)
        arr = arr[tuple(idx)]
    return np.abs(inverse_farfield(arr))


# -- PyTorch ----------------------------------------------------------------------------
def farfield_torch(obj: torch.Tensor, size: int | None = None,
                   centred: bool = True) -> torch.Tensor:
    """:func:`farfield` of a tensor, differentiable; on the tensor's device.

    Parameters
    ----------
    obj : torch.Tensor
        Complex or real ``(..., m, m)`` (or ``(..., H, W)``) objects.
    size : int, optional
        Zero-pad centred ``m x m`` objects to ``size x size`` first (the oversampled
        pattern of a small particle); default no padding.
    centred : bool
        As for :func:`farfield`.

    Example
    -------
    >>> o = torch.ones(1, 4, 4, dtype=torch.complex64)
    >>> f = farfield_torch(o, size=8); tuple(f.shape), round(float(f.abs().square().sum()), 4)
    ((1, 8, 8), 16.0)
    """
    if size is not None:
        h, w = obj.shape[-2:]
        top, left = size // 2 - h // 2, size // 2 - w // 2
        obj = torch.nn.functional.pad(obj, (left, size - w - left, top, size - h - top))
    if not centred:
        return torch.fft.fft2(obj, norm="ortho")
    f = torch.fft.fft2(torch.fft.ifftshift(obj, dim=_AXES), norm="ortho")
    return torch.fft.fftshift(f, dim=_AXES)


def inverse_farfield_torch(field: torch.Tensor, centred: bool = True) -> torch.Tensor:
    """Inverse of :func:`farfield_torch` (without padding)."""
    if not centred:
        return torch.fft.ifft2(field, norm="ortho")
    o = torch.fft.ifft2(torch.fft.ifftshift(field, dim=_AXES), norm="ortho")
    return torch.fft.fftshift(o, dim=_AXES)


def magnitude(z: torch.Tensor) -> torch.Tensor:
    """``|z|`` of a complex tensor from its real and imaginary parts: torch's complex
    ``abs`` kernel is the slow path on the CPU, and the phasing loop takes one per
    iteration."""
    return (z.real.square() + z.imag.square()).sqrt()


# -- the data conventions ---------------------------------------------------------------
#: the largest total intensity phased: float32 holds 3.4e38, and the transforms and sums
#: of a pattern reach its total times its number of pixels
MAX_TOTAL_INTENSITY = 1e30


def check_intensity(intensity, name: str = "intensity") -> np.ndarray:
    """Validate one diffraction pattern: 2D, finite, non-negative, even sizes.

    Returns
    -------
    numpy.ndarray
        float32 ``(H, W)``.

    Raises
    ------
    ValueError
        Not 2D, NaN or infinite or negative values, odd or small sizes, all zero, a
        total above :data:`MAX_TOTAL_INTENSITY` (float32 overflow).
    TypeError
        Complex or non-numeric values.
    """
    arr = as_array(intensity, name, ndim=2, dtype=np.float32, nonnegative=True)
    h, w = arr.shape
    if h < 8 or w < 8 or h % 2 or w % 2:
        raise ValueError(
            f"{name} must have even sizes of at least 8 along both axes (zero frequency at "
            f"index (H//2, W//2); the twin and Friedel mates assume even sizes), got shape "
            f"{arr.shape}"
        )
    if not arr.any():
        raise ValueError(f"{name} is zero everywhere: there is nothing to phase")
    total = float(arr.sum(dtype=np.float64))
    if total > MAX_TOTAL_INTENSITY:
        raise ValueError(f"{name} totals {total:.3g}, above {MAX_TOTAL_INTENSITY:.0e}: the "
                         "float32 Fourier transforms of phasing would overflow; rescale the "
                         "pattern (phasing does not depend on its scale)")
    return arr


def check_mask(mask, shape: tuple[int, int], name: str = "mask") -> np.ndarray:
    """Validate a missing-data mask (True = missing) against the pattern's shape.

    Returns
    -------
    numpy.ndarray
        bool ``shape``; all False when ``mask`` is None.
    """
    if mask is None:
        return np.zeros(shape, dtype=bool)
    m = np.asarray(mask)
    if m.shape != tuple(shape):
        raise ValueError(f"{name} must have the intensity's shape {tuple(shape)}, got {m.shape}")
    if m.dtype != bool:
        m = as_array(m, name, dtype=None)
        if not np.isin(m, (0, 1)).all():
            raise ValueError(f"{name} must be boolean (True = missing pixel) or 0/1, got values "
                             f"other than 0 and 1")
        m = m.astype(bool)
    if m.all():
        raise ValueError(f"{name} marks every pixel as missing")
    return m


@dataclass(frozen=True)
class Pattern:
    """A validated diffraction pattern: what :func:`as_pattern` returns.

    Attributes
    ----------
    intensity : numpy.ndarray
        float32 ``(H, W)``, centred, finite, non-negative, even sizes, not all zero.
    mask : numpy.ndarray
        bool ``(H, W)``, True = missing pixel.
    """

    intensity: np.ndarray
    mask: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.intensity.shape


def as_pattern(intensity, mask=None) -> Pattern:
    """Validate a pattern and its mask once (:func:`check_intensity`, :func:`check_mask`).

    A :class:`Pattern` is returned as it is (its mask travels with it), so functions
    that take ``intensity, mask`` also accept one that a caller validated already.

    Example
    -------
    >>> p = as_pattern(np.ones((8, 8))); p.intensity.dtype, int(p.mask.sum())
    (dtype('float32'), 0)
    >>> as_pattern(p) is p
    True
    """
    if isinstance(intensity, Pattern):
        if mask is not None:
            raise ValueError("mask must be None when intensity is a Pattern (it holds its mask)")
        return intensity
    arr = check_intensity(intensity)
    return Pattern(arr, check_mask(mask, arr.shape))
