"""The far-field forward model and the conventions of diffraction data.

Every part of the package that goes between a real-space object and its diffraction
pattern goes through the functions here: :func:`farfield` (NumPy) and
:func:`farfield_torch` (PyTorch, differentiable), and their inverses. Objects are
centred in their array; patterns are centred too, zero frequency at index
``(H//2, W//2)`` (the ``fftshift`` convention, DESIGN.md section 2). Patterns are 2D
``(H, W)`` or 3D ``(D, H, W)`` (Bragg CDI: the rocking curve stacks the detector frames
along ``D``); the transforms take ``ndim``, the number of trailing axes that are
spatial (2 by default: a ``(n, H, W)`` stack is a batch of 2D objects). The transform is
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

#: the spatial dimensions a pattern may have: 2D ``(H, W)`` or 3D ``(D, H, W)``
SPATIAL_NDIMS = (2, 3)


def spatial_axes(ndim: int = 2) -> tuple[int, ...]:
    """The last ``ndim`` axes, ``(-2, -1)`` or ``(-3, -2, -1)``: the spatial ones."""
    if ndim not in SPATIAL_NDIMS:
        raise ValueError(f"ndim must be 2 or 3 (spatial dimensions), got {ndim!r}")
    return tuple(range(-ndim, 0))


# -- NumPy ------------------------------------------------------------------------------
def farfield(obj: np.ndarray, centred: bool = True, ndim: int = 2) -> np.ndarray:
    """Unitary Fourier transform ``F(o)`` over the last ``ndim`` axes (2 or 3).

    Parameters
    ----------
    obj : numpy.ndarray
        Complex or real ``(..., H, W)`` (or ``(..., D, H, W)`` with ``ndim=3``) objects,
        centred (``centred=True``).
    centred : bool
        Centred object in, centred field out; ``False``: FFT order in and out.
    ndim : int
        Spatial dimensions: the trailing axes transformed.

    Returns
    -------
    numpy.ndarray
        Complex far field of ``obj``'s shape; ``|F(o)|^2`` is the diffraction intensity.
    """
    axes = spatial_axes(ndim)
    if not centred:
        return np.fft.fftn(obj, norm="ortho", axes=axes)
    f = np.fft.fftn(np.fft.ifftshift(obj, axes=axes), norm="ortho", axes=axes)
    return np.fft.fftshift(f, axes=axes)


def inverse_farfield(field: np.ndarray, centred: bool = True, ndim: int = 2) -> np.ndarray:
    """Inverse of :func:`farfield`: the centred object whose far field is ``field``."""
    axes = spatial_axes(ndim)
    if not centred:
        return np.fft.ifftn(field, norm="ortho", axes=axes)
    o = np.fft.ifftn(np.fft.ifftshift(field, axes=axes), norm="ortho", axes=axes)
    return np.fft.fftshift(o, axes=axes)


def friedel_mate(a: np.ndarray, ndim: int = 2) -> np.ndarray:
    """``a`` at ``-q``: index ``n`` maps to ``(-n) mod N`` about the centre ``N//2``, along
    each of the last ``ndim`` axes.

    Example
    -------
    >>> friedel_mate(np.arange(4)[None, :] * np.ones((2, 1), int)).tolist()
    [[0, 3, 2, 1], [0, 3, 2, 1]]
    """
    axes = spatial_axes(ndim)
    return np.roll(np.flip(a, axis=axes), 1, axis=axes)


def autocorrelation(intensity: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """``|F^-1(I)|``, centred, the pattern's autocorrelation (it spans twice the object).

    ``intensity`` is one 2D or 3D pattern (its own rank is the spatial one). Missing
    pixels (``mask``) take the value of the nearest measured pixel: left at zero, a
    beamstop would remove the smooth low-frequency part of the autocorrelation. The
    result has the precision of ``intensity``.
    """
    arr = np.asarray(intensity)
    if mask is not None and np.any(mask) and not np.all(mask):
        from scipy import ndimage

        idx = ndimage.distance_transform_edt(mask, return_distances=False, return_indices=True)
        arr = arr[tuple(idx)]
    return np.abs(inverse_farfield(arr, ndim=arr.ndim))


# -- PyTorch ----------------------------------------------------------------------------
def farfield_torch(obj: torch.Tensor, size: int | None = None,
                   centred: bool = True, ndim: int = 2) -> torch.Tensor:
    """:func:`farfield` of a tensor, differentiable; on the tensor's device.

    Parameters
    ----------
    obj : torch.Tensor
        Complex or real ``(..., m, m)`` (or ``(..., H, W)``; ``(..., D, H, W)`` with
        ``ndim=3``) objects.
    size : int, optional
        Zero-pad centred ``m x m`` objects to ``size x size`` first (the oversampled
        pattern of a small particle); default no padding.
    centred : bool
        As for :func:`farfield`.
    ndim : int
        Spatial dimensions, as for :func:`farfield`.

    Example
    -------
    >>> o = torch.ones(1, 4, 4, dtype=torch.complex64)
    >>> f = farfield_torch(o, size=8); tuple(f.shape), round(float(f.abs().square().sum()), 4)
    ((1, 8, 8), 16.0)
    """
    axes = spatial_axes(ndim)
    if size is not None:
        pad = []
        for m in reversed(obj.shape[-ndim:]):  # torch pads the last axis first
            before = size // 2 - m // 2
            pad += [before, size - m - before]
        obj = torch.nn.functional.pad(obj, tuple(pad))
    if not centred:
        return torch.fft.fftn(obj, dim=axes, norm="ortho")
    f = torch.fft.fftn(torch.fft.ifftshift(obj, dim=axes), dim=axes, norm="ortho")
    return torch.fft.fftshift(f, dim=axes)


def inverse_farfield_torch(field: torch.Tensor, centred: bool = True,
                           ndim: int = 2) -> torch.Tensor:
    """Inverse of :func:`farfield_torch` (without padding)."""
    axes = spatial_axes(ndim)
    if not centred:
        return torch.fft.ifftn(field, dim=axes, norm="ortho")
    o = torch.fft.ifftn(torch.fft.ifftshift(field, dim=axes), dim=axes, norm="ortho")
    return torch.fft.fftshift(o, dim=axes)


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
    """Validate one diffraction pattern: 2D or 3D, finite, non-negative, even sizes.

    Returns
    -------
    numpy.ndarray
        float32 ``(H, W)`` or ``(D, H, W)``.

    Raises
    ------
    ValueError
        Neither 2D nor 3D, NaN or infinite or negative values, odd or small sizes, all
        zero, a total above :data:`MAX_TOTAL_INTENSITY` (float32 overflow).
    TypeError
        Complex or non-numeric values.
    """
    arr = as_array(intensity, name, dtype=np.float32, nonnegative=True)
    if arr.ndim not in SPATIAL_NDIMS:
        raise ValueError(f"{name} must be one 2D pattern (H, W) or one 3D pattern (D, H, W), "
                         f"got shape {arr.shape} ({arr.ndim}D)")
    if min(arr.shape) < 8 or any(n % 2 for n in arr.shape):
        centre = "(D//2, H//2, W//2)" if arr.ndim == 3 else "(H//2, W//2)"
        raise ValueError(
            f"{name} must have even sizes of at least 8 along every axis (zero frequency at "
            f"index {centre}; the twin and Friedel mates assume even sizes), got shape "
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


def check_mask(mask, shape: tuple[int, ...], name: str = "mask") -> np.ndarray:
    """Validate a missing-data mask (True = missing) against the pattern's shape.

    A 3D pattern ``(D, H, W)`` also takes a detector mask ``(H, W)``, missing in every
    frame of the rocking curve.

    Returns
    -------
    numpy.ndarray
        bool ``shape``; all False when ``mask`` is None.
    """
    if mask is None:
        return np.zeros(shape, dtype=bool)
    m = np.asarray(mask)
    shape = tuple(shape)
    if len(shape) == 3 and m.shape == shape[1:]:
        m = np.broadcast_to(m, shape).copy()
    if m.shape != shape:
        frames = f" or one frame's {shape[1:]}" if len(shape) == 3 else ""
        raise ValueError(f"{name} must have the intensity's shape {shape}{frames}, got "
                         f"{m.shape}")
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
        float32 ``(H, W)`` or ``(D, H, W)``, centred, finite, non-negative, even sizes,
        not all zero.
    mask : numpy.ndarray
        bool, the intensity's shape, True = missing pixel.
    """

    intensity: np.ndarray
    mask: np.ndarray

    @property
    def shape(self) -> tuple[int, ...]:
        return self.intensity.shape

    @property
    def ndim(self) -> int:
        """Spatial dimensions: 2 or 3."""
        return self.intensity.ndim


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
