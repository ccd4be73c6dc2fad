"""A user's pattern of any even size, brought to the network's 64 x 64 input.

The network was trained on 64 x 64 patterns of particles that fill at most the central
32 x 32 of the real-space field of view: an oversampling of 2 per axis. Two operations
bring a larger pattern to that size, and they do different things in real space:

- **cropping** the central ``64 x 64`` pixels of an ``N x N`` pattern keeps the
  detector's pixel and throws away the high frequencies: the field of view is unchanged
  and each real-space pixel becomes ``N / 64`` times coarser. The oversampling, and so
  the share of the field the particle fills, is kept.
- **binning** ``b x b`` detector pixels keeps the real-space pixel and shrinks the field
  of view ``b`` times: the oversampling falls from ``s`` to ``s / b``. Only a particle
  that is small in its field of view (``s >= 2 b``) survives it; a larger one aliases.

:func:`fit_pattern` (``method="auto"``) estimates the pattern's oversampling ``s`` from
its autocorrelation (which spans twice the particle), bins by
``b = floor(s / (2 * 1.2))`` (bounded by ``N / 64``; the estimate runs up to 20 % high on
small particles, and a beamstop's missing centre only lowers it) so that the particle
fills at most about half the field as in training, and crops the rest around the zero
frequency: a pattern of a particle at oversampling 2 is cropped, one of a small particle
in a wide field is binned first. The crop keeps bin
``32`` on the zero frequency (:func:`cdi_plugins.io.prepare` does the same). The
network's 32 x 32 output then spans the central half of the fitted field of view, in
pixels of :attr:`FittedPattern.pixel_scale` times the input's real-space pixel.

Example
-------
>>> from cdi_plugins import simulate
>>> sim = simulate.simulate_pattern(simulate.crystal_object(256, seed=0), photons=1e8)
>>> fit = fit_pattern(sim.intensity)
>>> fit.intensity.shape, fit.binning, fit.pixel_scale
((64, 64), 1, 4.0)
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from tomopy_dlalign.common.validation import as_array

from ..io import bin_pattern
from ..physics import autocorrelation

logger = logging.getLogger(__name__)

#: what a caller can ask :func:`fit_pattern` for
METHODS = ("auto", "crop", "bin")
#: margin on the estimated oversampling before binning (the estimate may run 20 % high)
OVERSAMPLING_MARGIN = 1.2
#: how to make a pattern the network can take, for error messages
MAKE_PATTERN = ("make one with `cdi-plugins simulate -o pattern.cxi --size 64 ...` or "
                "`cdi-plugins prepare FRAMES -o pattern.cxi --size 64`")


@dataclass
class FittedPattern:
    """A pattern brought to the network's input by :func:`fit_pattern`.

    Attributes
    ----------
    intensity : numpy.ndarray
        float32 ``(size, size)``, zero frequency at ``(size//2, size//2)``.
    mask : numpy.ndarray
        bool ``(size, size)``, True = missing (a binned pixel is missing if any of its
        pixels is).
    input_shape : tuple of int
        ``(H, W)`` of the pattern given.
    binning : int
        Detector pixels summed per axis.
    crop : int
        Side of the centred square of input pixels kept (``size * binning``).
    pixel_scale : float
        Real-space pixel of the fitted pattern over the input's (its finer one when
        ``H != W``), ``max(H, W) / crop``; 1 when the input was already ``size x size``.
        With the input's geometry the fitted pixel is ``geometry.real_space_pixel(crop)``.
    oversampling : float or None
        The input's estimated oversampling (smallest over the axes); None when it was
        not needed (``method="crop"`` or an input of the right size).
    """

    intensity: np.ndarray
    mask: np.ndarray
    input_shape: tuple
    binning: int
    crop: int
    pixel_scale: float
    oversampling: float | None = None

    def describe(self) -> str:
        """One sentence for the log: what was done to the pattern."""
        h, w = self.input_shape
        n = self.intensity.shape[0]
        if (h, w) == (n, n):
            return f"the {h}x{w} pattern is the network's input as it is"
        over = "" if self.oversampling is None else f" (oversampling {self.oversampling:.1f})"
        steps = []
        if self.crop < max(h, w):
            steps.append(f"cropped to its central {self.crop}x{self.crop}")
        if self.binning > 1:
            steps.append(f"binned {self.binning}x{self.binning}")
        into = "" if self.binning == 1 else f" to {n}x{n}"
        return (f"the {h}x{w} pattern{over} was {' and '.join(steps)}{into}: real-space "
                f"pixels {self.pixel_scale:.3g} times the input's, field of view "
                f"{n * self.pixel_scale:.4g} input pixels")

    def to_dict(self) -> dict:
        """The parameters of the fit, for provenance (no arrays)."""
        return {"input_shape": list(self.input_shape), "binning": self.binning,
                "crop": self.crop, "pixel_scale": self.pixel_scale,
                "oversampling": self.oversampling}


def check_input_shape(shape, size: int, name: str = "intensity") -> None:
    """An error naming the commands that make a usable pattern, for a pattern whose sides
    are odd or smaller than the network's input."""
    h, w = shape[-2:]
    if h % 2 or w % 2 or min(h, w) < size:
        raise ValueError(f"{name} must be {size}x{size} or larger with even sides (zero "
                         f"frequency at the centre), got {tuple(shape)}: {MAKE_PATTERN}")


def estimate_oversampling(intensity, mask=None, threshold: float = 0.04) -> float:
    """The pattern's oversampling: array size over particle size, smallest over the axes.

    The autocorrelation ``|F^-1(I)|`` spans twice the particle; its extent along each
    axis is that of the pixels above ``threshold`` of its maximum connected to the
    centre (missing pixels take the value of their nearest measured neighbour).

    Example
    -------
    >>> o = np.zeros((128, 128)); o[56:72, 60:68] = 1        # 16 x 8 pixels
    >>> I = np.abs(np.fft.fftshift(np.fft.fft2(o))) ** 2
    >>> round(estimate_oversampling(I), 1)        # 128 / 16, the autocorrelation 31 px wide
    8.3
    """
    arr = as_array(intensity, "intensity", ndim=2, nonnegative=True, dtype=np.float64)
    m = None if mask is None else np.asarray(mask, bool)
    auto = autocorrelation(arr, m)
    labels, _ = ndimage.label(auto > threshold * auto.max())
    h, w = arr.shape
    inside = labels == labels[h // 2, w // 2]
    ys, xs = np.nonzero(inside)
    extent_y, extent_x = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
    return float(min(2 * h / extent_y, 2 * w / extent_x))


def fit_pattern(intensity, mask=None, size: int = 64, method: str = "auto",
                binning: int | None = None) -> FittedPattern:
    """Bring a centred pattern of any even size to ``size x size`` (module docstring).

    Parameters
    ----------
    intensity : array_like
        ``(H, W)`` centred pattern, H and W even and at least ``size``.
    mask : array_like of bool, optional
        True where pixels are missing.
    size : int
        The network's input size.
    method : {"auto", "crop", "bin"}
        ``"auto"``: bin by half the estimated oversampling (with a margin), then crop;
        ``"crop"``: crop
        only (finer detail lost, field of view kept); ``"bin"``: bin by ``N // size``
        (field of view shrunk, real-space pixel kept), then crop the rest.
    binning : int, optional
        Bin by this factor instead of the method's choice (at most ``N // size``): the
        frames of one scan fitted alike, with the binning found on their sum.

    Returns
    -------
    FittedPattern

    Raises
    ------
    ValueError
        Odd sides or a pattern smaller than ``size`` (the message names the commands
        that make a usable one), an unknown method.
    """
    arr = as_array(intensity, "intensity", ndim=2, nonnegative=True, dtype=np.float32)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    check_input_shape(arr.shape, size)
    m = np.zeros(arr.shape, bool) if mask is None else np.asarray(mask, bool)
    if m.shape != arr.shape:
        raise ValueError(f"mask must have the intensity's shape {arr.shape}, got {m.shape}")
    h, w = arr.shape
    if (h, w) == (size, size):
        return FittedPattern(arr, m, (h, w), 1, size, 1.0)
    most = min(h, w) // size
    over = None
    if binning is not None:
        if isinstance(binning, bool) or int(binning) != binning or not 1 <= binning <= most:
            raise ValueError(f"binning must be an integer from 1 to {most} for a {h}x{w} "
                             f"pattern and a {size}x{size} input, got {binning!r}")
        b = int(binning)
    elif method == "bin":
        b = most
    elif method == "crop":
        b = 1
    else:
        over = estimate_oversampling(arr, m)
        b = int(min(max(math.floor(over / (2 * OVERSAMPLING_MARGIN)), 1), most))
    crop = size * b
    y0, x0 = h // 2 - (size // 2) * b, w // 2 - (size // 2) * b
    sl = (slice(y0, y0 + crop), slice(x0, x0 + crop))
    binned, bm = bin_pattern(arr[sl], m[sl], b)
    fit = FittedPattern(np.ascontiguousarray(binned, dtype=np.float32), np.ascontiguousarray(bm),
                        (h, w), b, crop, max(h, w) / crop, over)
    logger.info("CNN input: %s", fit.describe())
    return fit


def fit_frames(intensity, mask, size: int = 64, method: str = "auto"
               ) -> tuple[np.ndarray, np.ndarray, int]:
    """A series of frames (a rocking-curve scan's) brought to ``size x size`` alike, with
    the binning their sum calls for (:func:`fit_pattern`); frames already of that size
    are kept as they are.

    Parameters
    ----------
    intensity : numpy.ndarray
        ``(B, H, W)`` frames, validated by the caller.
    mask : numpy.ndarray
        bool, ``(B, H, W)``, True where pixels are missing.

    Returns
    -------
    frames : numpy.ndarray
        float32 ``(B, size, size)``.
    masks : numpy.ndarray
        bool, the same shape.
    binning : int
    """
    if intensity.shape[1:] == (size, size):
        return (np.ascontiguousarray(intensity, dtype=np.float32),
                np.ascontiguousarray(mask), 1)
    b = fit_pattern(intensity.sum(axis=0), mask.any(axis=0), size=size, method=method).binning
    fits = [fit_pattern(a, m, size=size, binning=b) for a, m in zip(intensity, mask, strict=True)]
    return (np.stack([f.intensity for f in fits]).astype(np.float32),
            np.stack([f.mask for f in fits]), b)
