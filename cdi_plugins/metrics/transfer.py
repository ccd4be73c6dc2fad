"""The phase retrieval transfer function (PRTF), its Wiener-weighted form (wPRTF) and
the resolution where a curve crosses a threshold.

The full-period resolution is ``1/q`` pixels, or ``pixel_size / q`` in length units
with :func:`real_space_pixel_size`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tomopy_dlalign.common.validation import as_array

from ..physics import SPATIAL_NDIMS, farfield
from .alignment import align_runs
from .fourier import as_mask, as_objects, shell_index, shell_sum

INV_E = float(np.exp(-1.0))
#: the last complete shell: beyond q = 0.5 cycles per pixel (the edge of the array along
#: an axis) a shell is only the corners of the array, a few pixels in four directions
Q_COMPLETE = 0.5


def complete_shells(q: np.ndarray) -> np.ndarray:
    """Which shells are complete rings, or spheres in 3D (``q <= 0.5``); the corner
    shells beyond hold a handful of pixels each (one in the last), too few for a PRTF or
    a Wiener filter.

    Example
    -------
    >>> complete_shells(np.array([0.0, 0.25, 0.5, 0.6])).tolist()
    [True, True, True, False]
    """
    return np.asarray(q) <= Q_COMPLETE + 1e-9


def noise_level(intensity, mask=None, plateau: float = 0.4) -> float:
    """Noise power ``|N|^2`` per pixel from the high-frequency plateau of the pattern.

    The median of the shell means of the measured intensity over the shells with
    ``q >= plateau`` (cycles per pixel; the corners of the array included), where the
    power spectrum of a noisy pattern flattens out to its noise floor (Pan et al. 2022).
    ``intensity`` is one 2D or 3D pattern.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> I = rng.poisson(2.0, (64, 64)).astype(float)   # pure noise of mean 2
    >>> abs(noise_level(I) - 2.0) < 0.2
    True
    """
    arr = as_array(intensity, "intensity", ndim=SPATIAL_NDIMS, nonnegative=True,
                   dtype=np.float64)
    if not 0 < plateau < 0.7:
        raise ValueError(f"plateau must be in (0, 0.7) cycles per pixel, got {plateau}")
    valid = ~as_mask(mask, arr.shape)
    idx, q = shell_index(arr.shape)
    n = len(q)
    cnt = shell_sum(np.ones_like(arr), idx, valid, n)
    mean = shell_sum(arr, idx, valid, n) / np.maximum(cnt, 1)
    sel = (q >= plateau) & (cnt > 0)
    if not sel.any():
        raise ValueError(f"no measured pixel at q >= {plateau}")
    return float(np.median(mean[sel]))


def wiener_filter(intensity, mask=None, noise: float | None = None,
                  plateau: float = 0.4) -> tuple[np.ndarray, np.ndarray]:
    """Wiener filter per shell, eq. (2) of Pan et al. (2022) after Steinbrener et al.
    (2010): ``W(q) = |S|^2 / (|S|^2 + |N|^2)``.

    ``|S|^2 + |N|^2`` is the shell mean of the measured intensity, ``|N|^2`` a constant,
    the high-frequency plateau (:func:`noise_level`) unless ``noise`` is given, and
    ``|S|^2 = max(mean - |N|^2, 0)``.

    Returns
    -------
    q, w : numpy.ndarray
        Shell frequencies (cycles per pixel) and the filter, over the complete shells
        (:func:`complete_shells`: up to 0.5).

    Example
    -------
    >>> I = np.full((16, 16), 4.0)
    >>> q, w = wiener_filter(I, noise=1.0); float(w[1])
    0.75
    """
    arr = as_array(intensity, "intensity", ndim=SPATIAL_NDIMS, nonnegative=True,
                   dtype=np.float64)
    valid = ~as_mask(mask, arr.shape)
    if noise is None:
        noise = noise_level(arr, ~valid, plateau)
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    idx, q = shell_index(arr.shape)
    n = len(q)
    cnt = shell_sum(np.ones_like(arr), idx, valid, n)
    total = shell_sum(arr, idx, valid, n) / np.maximum(cnt, 1)
    signal = np.clip(total - noise, 0, None)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(total > 0, signal / (signal + noise), 0.0)
    keep = complete_shells(q)
    return q[keep], w[keep]


def prtf(objects, intensity, mask=None, wiener: bool = False, noise: float | None = None,
         align: bool = True, reference: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Phase retrieval transfer function per resolution shell (rings of a 2D pattern,
    spherical shells of a 3D one).

    Convention (Chapman et al. 2006; eq. (1) of Pan et al. 2022)::

        PRTF(q) = sum_shell |F(mean_r o_r)| / sum_shell sqrt(I)

    over the measured pixels of each shell, where the runs ``o_r`` are first aligned to
    run ``reference`` (translation, twin, global phase; :func:`align_runs`) and then
    averaged. It is not renormalised to its maximum (PyNX normalises; libspimage
    averages unit phasors instead): identical runs that fit the data give exactly 1.
    With ``wiener=True`` the curve is multiplied by the Wiener filter of eq. (2)
    (:func:`wiener_filter`), giving the wPRTF.

    Parameters
    ----------
    objects : array_like
        complex ``(n_runs, H, W)`` (or one ``(H, W)``) centred reconstructions;
        ``(n_runs, D, H, W)`` (or one ``(D, H, W)``) with a 3D pattern.
    intensity : array_like
        The measured ``(H, W)`` or ``(D, H, W)`` intensity they were phased from.
    mask : array_like of bool, optional
        True = missing pixels, left out of both sums.
    wiener : bool
        Return the Wiener-weighted PRTF.
    noise : float, optional
        Noise power for the Wiener filter (default: the high-frequency plateau).
    align : bool
        Align the runs before averaging (skip if already aligned).
    reference : int
        Index of the run the others are aligned to, from 0 to ``n_runs - 1``.

    Returns
    -------
    q, curve : numpy.ndarray
        Shell frequencies in cycles per pixel and the (w)PRTF, over the complete shells
        (:func:`complete_shells`, up to ``q = 0.5``): the corner shells beyond hold a few
        pixels each, whose noise made the wPRTF jump back up at the last one.

    Raises
    ------
    ValueError
        Every pixel masked, zero intensity on every measured pixel (the curve would be
        undefined everywhere), or a ``reference`` that is not the index of a run.

    Example
    -------
    >>> o = np.zeros((32, 32), complex); o[12:20, 10:22] = 1
    >>> I = np.abs(np.fft.fftshift(np.fft.fft2(o, norm="ortho")))**2
    >>> q, c = prtf(np.stack([o, np.roll(o, 3, axis=1)]), I)
    >>> bool(np.allclose(c[:5], 1))
    True
    """
    arr = as_array(intensity, "intensity", ndim=SPATIAL_NDIMS, nonnegative=True,
                   dtype=np.float64)
    objs = as_objects(objects, ndim=arr.ndim)
    if objs.shape[1:] != arr.shape:
        raise ValueError(f"objects have shape {objs.shape[1:]}, intensity {arr.shape}")
    if (isinstance(reference, bool) or not isinstance(reference, (int, np.integer))
            or not 0 <= reference < len(objs)):
        raise ValueError(f"reference must be the index of a run, from 0 to {len(objs) - 1} "
                         f"for {len(objs)} runs, got {reference!r}")
    valid = ~as_mask(mask, arr.shape)
    if not valid.any():
        raise ValueError("mask marks every pixel as missing: the PRTF has no measured pixel")
    if not arr[valid].any():
        raise ValueError("intensity is zero on every measured pixel: the PRTF is undefined")
    if align and len(objs) > 1:
        objs = align_runs(objs, objs[reference])
    mean_amp = np.abs(farfield(objs.astype(np.complex128).mean(axis=0), ndim=arr.ndim))
    idx, q = shell_index(arr.shape)
    n = len(q)
    num = shell_sum(mean_amp, idx, valid, n)
    den = shell_sum(np.sqrt(arr), idx, valid, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        curve = np.where(den > 0, num / den, np.nan)
    keep = complete_shells(q)
    q, curve = q[keep], curve[keep]
    if wiener:
        curve = curve * wiener_filter(arr, ~valid, noise)[1]
    return q, curve


@dataclass
class Resolution:
    """Where a PRTF-like curve crosses its threshold.

    Attributes
    ----------
    q : float
        Crossing frequency, cycles per pixel.
    pixels : float
        Full-period resolution ``1/q`` in real-space pixels.
    length : float or None
        The same in length units (``pixel_size / q``) when a pixel size was given.
    unit : str
        Unit of ``length``.
    crossed : bool
        False when the curve stays above the threshold up to the last shell (the
        resolution is then limited by the detector edge).
    """

    q: float
    pixels: float
    length: float | None = None
    unit: str = "nm"
    crossed: bool = True

    def __str__(self) -> str:
        s = f"{self.pixels:.2f} px (q = {self.q:.4f} cycles/px)"
        if self.length is not None:
            s = f"{self.length:.1f} {self.unit}, " + s
        return s + ("" if self.crossed else ", curve never crossed: limited by the edge")


def resolution(q, curve, threshold: float = INV_E, pixel_size: float | None = None,
               unit: str = "nm") -> Resolution:
    """Resolution where ``curve`` first falls below ``threshold`` (default 1/e).

    The crossing is linearly interpolated between the last shell at or above the
    threshold and the first one below; shell 0 and NaN shells are skipped.

    Parameters
    ----------
    q, curve : array_like
        Shell frequencies (cycles per pixel) and values, e.g. from :func:`prtf`.
    threshold : float
        Criterion; 1/e as in Pan et al. (2022).
    pixel_size : float, optional
        Real-space pixel size (:func:`real_space_pixel_size`), in ``unit``.
    unit : str
        Unit of ``pixel_size``.

    Returns
    -------
    Resolution

    Example
    -------
    >>> q = np.linspace(0, 0.5, 51); c = 1 - q / 0.5
    >>> r = resolution(q, c, threshold=0.5); round(r.q, 6), round(r.pixels, 6)
    (0.25, 4.0)
    """
    qq = as_array(q, "q", ndim=1, dtype=np.float64)
    cc = as_array(curve, "curve", ndim=1, dtype=np.float64, allow_nan=True)
    if qq.shape != cc.shape:
        raise ValueError(f"q and curve must have the same length, got {qq.size} and {cc.size}")
    ok = np.isfinite(cc) & (qq > 0)
    qs, cs = qq[ok], cc[ok]
    if qs.size == 0:
        raise ValueError("curve has no finite value at q > 0")
    below = np.flatnonzero(cs < threshold)
    crossed = below.size > 0
    if not crossed:
        qc = float(qs[-1])
    elif below[0] == 0:
        qc = float(qs[0])
    else:
        i = below[0]
        q0, q1, c0, c1 = qs[i - 1], qs[i], cs[i - 1], cs[i]
        qc = float(q0 + (c0 - threshold) / (c0 - c1) * (q1 - q0))
    length = None if pixel_size is None else float(pixel_size) / qc
    return Resolution(q=qc, pixels=1.0 / qc, length=length, unit=unit, crossed=crossed)


def real_space_pixel_size(wavelength: float, distance: float, detector_pixel: float,
                          n_pixels: int) -> float:
    """Real-space pixel of a far-field reconstruction, ``lambda z / (N p)``.

    All lengths in the same unit (e.g. metres); ``N`` is the pattern size along the axis.

    Example
    -------
    >>> round(real_space_pixel_size(1e-9, 1.0, 75e-6, 512) * 1e9, 3)   # nm
    26.042
    """
    for name, v in (("wavelength", wavelength), ("distance", distance),
                    ("detector_pixel", detector_pixel), ("n_pixels", n_pixels)):
        if not v > 0:
            raise ValueError(f"{name} must be positive, got {v}")
    return float(wavelength) * float(distance) / (int(n_pixels) * float(detector_pixel))
