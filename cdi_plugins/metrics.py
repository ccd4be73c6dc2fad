"""Quality measures of phase retrieval: chi^2, run alignment, PRTF, wPRTF, resolution,
variance and correlations per resolution shell.

Spatial frequency ``q`` is in cycles per real-space pixel (0.5 at the edge of the array
along an axis); the full-period resolution is ``1/q`` pixels, or ``pixel_size / q`` in
length units with :func:`real_space_pixel_size`. Shells are one Fourier pixel wide.

Run alignment (:func:`align_to`, :func:`align_runs`) removes the three ambiguities of
the phase problem: the translation (integer pixels, by cross-correlation), the twin
image (``conj(o(-r))``, kept when it correlates better with the reference) and the
global phase. ConvRe clustering reuses these helpers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from tomopy_dlalign.common.validation import as_array

logger = logging.getLogger(__name__)

INV_E = float(np.exp(-1.0))


# -- shapes and checks ------------------------------------------------------------------
def _objects(objects, name="objects") -> np.ndarray:
    a = as_array(objects, name, ndim=(2, 3), dtype=np.complex64)
    return a[None] if a.ndim == 2 else a


def _mask(mask, shape) -> np.ndarray:
    if mask is None:
        return np.zeros(shape, bool)
    m = np.asarray(mask)
    if m.shape != tuple(shape):
        raise ValueError(f"mask must have shape {tuple(shape)}, got {m.shape}")
    return m.astype(bool)


def _fourier(objects: np.ndarray) -> np.ndarray:
    """Centred unitary transform of centred objects (the convention of the patterns)."""
    return np.fft.fftshift(
        np.fft.fft2(np.fft.ifftshift(objects, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))


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


def _shell_sum(values: np.ndarray, idx: np.ndarray, valid: np.ndarray, nshell: int):
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
    objs = _objects(objects)
    arr = as_array(intensity, "intensity", ndim=2, nonnegative=True, dtype=np.float64)
    if objs.shape[-2:] != arr.shape:
        raise ValueError(f"objects have shape {objs.shape[-2:]}, intensity {arr.shape}")
    valid = ~_mask(mask, arr.shape)
    amp = np.abs(_fourier(objs.astype(np.complex128)))
    num = ((amp - np.sqrt(arr)) ** 2 * valid).sum(axis=(-2, -1))
    return num / max(arr[valid].sum(), 1e-300)


# -- alignment ----------------------------------------------------------------------------
def twin(obj) -> np.ndarray:
    """The twin image ``conj(o(-r))`` about the array centre (same diffraction pattern).

    Example
    -------
    >>> o = np.zeros((4, 4), complex); o[1, 2] = 1j
    >>> t = twin(o); complex(t[3, 2])
    -1j
    """
    a = np.asarray(obj)
    return np.conj(np.roll(np.flip(a, axis=(-2, -1)), 1, axis=(-2, -1)))


def _xcorr(ref: np.ndarray, obj: np.ndarray) -> np.ndarray:
    """Circular cross-correlation ``c[s] = sum_r conj(obj[r - s]) ref[r]``, zero shift at 0."""
    return np.fft.ifft2(np.fft.fft2(ref) * np.conj(np.fft.fft2(obj)))


def translation(ref, obj) -> tuple[int, int]:
    """Integer shift ``(dy, dx)`` that best aligns ``obj`` to ``ref``: ``np.roll(obj,
    (dy, dx), axis=(0, 1))`` matches ``ref`` (cross-correlation peak of the complex
    images).

    Example
    -------
    >>> r = np.zeros((16, 16)); r[4:7, 5:9] = 1
    >>> translation(r, np.roll(r, (2, -3), axis=(0, 1)))
    (-2, 3)
    """
    r = as_array(ref, "ref", ndim=2, dtype=np.complex128)
    o = as_array(obj, "obj", ndim=2, dtype=np.complex128)
    if r.shape != o.shape:
        raise ValueError(f"ref and obj must have the same shape, got {r.shape} and {o.shape}")
    c = np.abs(_xcorr(r, o))
    dy, dx = np.unravel_index(np.argmax(c), c.shape)
    h, w = c.shape
    return int((dy + h // 2) % h - h // 2), int((dx + w // 2) % w - w // 2)


def global_phase(ref, obj) -> float:
    """Phase ``phi`` that minimises ``|ref - exp(i phi) obj|``: ``angle(<obj, ref>)``.

    Example
    -------
    >>> o = np.ones((4, 4)) * np.exp(0.3j)
    >>> round(global_phase(np.ones((4, 4)), o), 6)
    -0.3
    """
    r = np.asarray(ref, dtype=np.complex128)
    o = np.asarray(obj, dtype=np.complex128)
    return float(np.angle(np.vdot(o, r)))


@dataclass
class Alignment:
    """How one object was aligned to a reference: ``shift`` (dy, dx) applied with
    ``np.roll`` after taking the twin if ``twin`` is True, then multiplied by
    ``exp(1j * phase)``; ``correlation`` is the normalised overlap after alignment."""

    shift: tuple[int, int]
    twin: bool
    phase: float
    correlation: float


def align_to(ref, obj) -> tuple[np.ndarray, Alignment]:
    """Align ``obj`` to ``ref``: twin image, translation and global phase.

    Both the object and its twin are cross-correlated with the reference; the one with
    the higher peak is kept, rolled to the peak and given the reference's global phase.

    Returns
    -------
    aligned : numpy.ndarray
        complex64, ``obj`` aligned.
    alignment : Alignment

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> r = np.zeros((16, 16), complex); r[5:10, 4:8] = rng.random((5, 4)) + 1j
    >>> a, al = align_to(r, 1j * np.roll(twin(r), (1, 2), axis=(0, 1)))
    >>> al.twin, bool(np.allclose(a, r, atol=1e-6))
    (True, True)
    """
    r = as_array(ref, "ref", ndim=2, dtype=np.complex128)
    o = as_array(obj, "obj", ndim=2, dtype=np.complex128)
    if r.shape != o.shape:
        raise ValueError(f"ref and obj must have the same shape, got {r.shape} and {o.shape}")
    best = None
    for is_twin, cand in ((False, o), (True, twin(o))):
        c = _xcorr(r, cand)
        peak = np.unravel_index(np.argmax(np.abs(c)), c.shape)
        if best is None or abs(c[peak]) > abs(best[2]) * (1 + 1e-9):
            best = (is_twin, cand, c[peak], peak)
    is_twin, cand, value, (dy, dx) = best
    h, w = r.shape
    shift = (int((dy + h // 2) % h - h // 2), int((dx + w // 2) % w - w // 2))
    phase = float(np.angle(value))
    aligned = np.roll(cand, shift, axis=(0, 1)) * np.exp(1j * phase)
    denom = np.linalg.norm(r) * np.linalg.norm(o)
    corr = float(abs(value) / denom) if denom > 0 else 0.0
    return aligned.astype(np.complex64), Alignment(shift, is_twin, phase, corr)


def align_runs(objects, reference: int | np.ndarray = 0) -> np.ndarray:
    """Align every run to a reference run (an index) or a reference image.

    Example
    -------
    >>> r = np.zeros((8, 8), complex); r[2:5, 3:5] = [[1, 2], [3, 4], [5, 6]]
    >>> runs = np.stack([r, -np.roll(r, 1, axis=1), twin(r)])
    >>> bool(np.allclose(align_runs(runs), r))
    True
    """
    objs = _objects(objects)
    ref = objs[int(reference)] if np.ndim(reference) == 0 else np.asarray(reference)
    return np.stack([align_to(ref, o)[0] for o in objs])


def real_space_error(obj, truth) -> float:
    """Relative error ``min_g |g obj_aligned - truth| / |truth|`` after alignment.

    ``obj`` is aligned to ``truth`` (translation, twin, global phase, :func:`align_to`),
    then scaled by the complex least-squares factor ``g``; 0 is perfect, ~1.4 is
    unrelated.

    Example
    -------
    >>> t = np.zeros((16, 16), complex); t[4:9, 6:10] = 1 + np.arange(4)
    >>> round(real_space_error(3j * np.roll(t, 2, axis=0), t), 6)
    0.0
    """
    t = as_array(truth, "truth", ndim=2, dtype=np.complex128)
    a, _ = align_to(t, obj)
    a = a.astype(np.complex128)
    g = np.vdot(a, t) / max(np.vdot(a, a).real, 1e-300)
    return float(np.linalg.norm(g * a - t) / np.linalg.norm(t))


# -- PRTF and friends ---------------------------------------------------------------------
def noise_level(intensity, mask=None, plateau: float = 0.4) -> float:
    """Noise power ``|N|^2`` per pixel from the high-frequency plateau of the pattern.

    The median of the shell means of the measured intensity over the shells with
    ``q >= plateau`` (cycles per pixel; the corners of the array included), where the
    power spectrum of a noisy pattern flattens out to its noise floor (Pan et al. 2022).

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> I = rng.poisson(2.0, (64, 64)).astype(float)   # pure noise of mean 2
    >>> abs(noise_level(I) - 2.0) < 0.2
    True
    """
    arr = as_array(intensity, "intensity", ndim=2, nonnegative=True, dtype=np.float64)
    if not 0 < plateau < 0.7:
        raise ValueError(f"plateau must be in (0, 0.7) cycles per pixel, got {plateau}")
    valid = ~_mask(mask, arr.shape)
    idx, q = shell_index(arr.shape)
    n = len(q)
    cnt = _shell_sum(np.ones_like(arr), idx, valid, n)
    mean = _shell_sum(arr, idx, valid, n) / np.maximum(cnt, 1)
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
        Shell frequencies (cycles per pixel) and the filter.

    Example
    -------
    >>> I = np.full((16, 16), 4.0)
    >>> q, w = wiener_filter(I, noise=1.0); float(w[1])
    0.75
    """
    arr = as_array(intensity, "intensity", ndim=2, nonnegative=True, dtype=np.float64)
    valid = ~_mask(mask, arr.shape)
    if noise is None:
        noise = noise_level(arr, ~valid, plateau)
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    idx, q = shell_index(arr.shape)
    n = len(q)
    cnt = _shell_sum(np.ones_like(arr), idx, valid, n)
    total = _shell_sum(arr, idx, valid, n) / np.maximum(cnt, 1)
    signal = np.clip(total - noise, 0, None)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(total > 0, signal / (signal + noise), 0.0)
    return q, w


def prtf(objects, intensity, mask=None, wiener: bool = False, noise: float | None = None,
         align: bool = True, reference: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Phase retrieval transfer function per resolution shell.

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
        complex ``(n_runs, H, W)`` (or one ``(H, W)``) centred reconstructions.
    intensity : array_like
        The measured ``(H, W)`` intensity they were phased from.
    mask : array_like of bool, optional
        True = missing pixels, left out of both sums.
    wiener : bool
        Return the Wiener-weighted PRTF.
    noise : float, optional
        Noise power for the Wiener filter (default: the high-frequency plateau).
    align : bool
        Align the runs before averaging (skip if already aligned).
    reference : int
        Index of the run the others are aligned to.

    Returns
    -------
    q, curve : numpy.ndarray
        Shell frequencies in cycles per pixel and the (w)PRTF.

    Example
    -------
    >>> o = np.zeros((32, 32), complex); o[12:20, 10:22] = 1
    >>> I = np.abs(np.fft.fftshift(np.fft.fft2(o, norm="ortho")))**2
    >>> q, c = prtf(np.stack([o, np.roll(o, 3, axis=1)]), I)
    >>> bool(np.allclose(c[:5], 1))
    True
    """
    objs = _objects(objects)
    arr = as_array(intensity, "intensity", ndim=2, nonnegative=True, dtype=np.float64)
    if objs.shape[-2:] != arr.shape:
        raise ValueError(f"objects have shape {objs.shape[-2:]}, intensity {arr.shape}")
    valid = ~_mask(mask, arr.shape)
    if align and len(objs) > 1:
        objs = align_runs(objs, reference)
    mean_amp = np.abs(_fourier(objs.astype(np.complex128).mean(axis=0)))
    idx, q = shell_index(arr.shape)
    n = len(q)
    num = _shell_sum(mean_amp, idx, valid, n)
    den = _shell_sum(np.sqrt(arr), idx, valid, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        curve = np.where(den > 0, num / den, np.nan)
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


def amplitude_variance(objects, mask=None, align: bool = True,
                       reference: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Variance over runs of the Fourier amplitude ``|F(o_r)|``, averaged per shell.

    As in Fig. 4(c, d) of Pan et al. (2022): low where the runs agree on the structure.

    Example
    -------
    >>> o = np.zeros((16, 16), complex); o[6:10, 6:10] = 1
    >>> q, v = amplitude_variance(np.stack([o, o, o])); float(np.nanmax(v)) < 1e-12
    True
    """
    objs = _objects(objects)
    if align and len(objs) > 1:
        objs = align_runs(objs, reference)
    amp = np.abs(_fourier(objs.astype(np.complex128)))
    var = amp.var(axis=0)
    valid = ~_mask(mask, var.shape)
    idx, q = shell_index(var.shape)
    n = len(q)
    cnt = _shell_sum(np.ones_like(var), idx, valid, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return q, np.where(cnt > 0, _shell_sum(var, idx, valid, n) / cnt, np.nan)


def shell_correlation(a, b, mask=None) -> tuple[np.ndarray, np.ndarray]:
    """Pearson cross-correlation of two real patterns in each resolution shell.

    ``CC(q) = sum (a - <a>)(b - <b>) / sqrt(sum (a - <a>)^2 sum (b - <b>)^2)`` over the
    measured pixels of the shell (Fig. 5(e) of Pan et al. 2022).

    Example
    -------
    >>> rng = np.random.default_rng(0); a = rng.random((16, 16))
    >>> q, cc = shell_correlation(a, 2 * a + 1); bool(np.allclose(cc[1:], 1))
    True
    """
    x = as_array(a, "a", ndim=2, dtype=np.float64)
    y = as_array(b, "b", ndim=2, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"a and b must have the same shape, got {x.shape} and {y.shape}")
    valid = ~_mask(mask, x.shape)
    idx, q = shell_index(x.shape)
    n = len(q)
    cnt = np.maximum(_shell_sum(np.ones_like(x), idx, valid, n), 1)
    mx = (_shell_sum(x, idx, valid, n) / cnt)[idx]
    my = (_shell_sum(y, idx, valid, n) / cnt)[idx]
    dx, dy = x - mx, y - my
    num = _shell_sum(dx * dy, idx, valid, n)
    den = np.sqrt(_shell_sum(dx * dx, idx, valid, n) * _shell_sum(dy * dy, idx, valid, n))
    with np.errstate(invalid="ignore", divide="ignore"):
        return q, np.where(den > 0, num / den, np.nan)


def frc(a, b) -> tuple[np.ndarray, np.ndarray]:
    """Fourier ring correlation of two complex images,
    ``Re sum F_a conj(F_b) / sqrt(sum |F_a|^2 sum |F_b|^2)`` per shell.

    Example
    -------
    >>> rng = np.random.default_rng(0); a = rng.random((16, 16)) + 0j
    >>> q, c = frc(a, a); bool(np.allclose(c, 1))
    True
    """
    x = as_array(a, "a", ndim=2, dtype=np.complex128)
    y = as_array(b, "b", ndim=2, dtype=np.complex128)
    if x.shape != y.shape:
        raise ValueError(f"a and b must have the same shape, got {x.shape} and {y.shape}")
    fa, fb = _fourier(x), _fourier(y)
    idx, q = shell_index(x.shape)
    n = len(q)
    valid = np.ones(x.shape, bool)
    num = _shell_sum((fa * np.conj(fb)).real, idx, valid, n)
    den = np.sqrt(_shell_sum(np.abs(fa) ** 2, idx, valid, n)
                  * _shell_sum(np.abs(fb) ** 2, idx, valid, n))
    with np.errstate(invalid="ignore", divide="ignore"):
        return q, np.where(den > 0, num / den, np.nan)


def halfset_frc(objects, seed: int | None = None,
                reference: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """FRC between the averages of two random halves of the (aligned) runs.

    Example
    -------
    >>> o = np.zeros((16, 16), complex); o[6:10, 5:11] = 1
    >>> q, c = halfset_frc(np.stack([o] * 4), seed=0); bool(np.allclose(c[:4], 1))
    True
    """
    objs = _objects(objects)
    if len(objs) < 2:
        raise ValueError(f"halfset_frc needs at least 2 runs, got {len(objs)}")
    objs = align_runs(objs, reference)
    order = np.random.default_rng(seed).permutation(len(objs))
    half = len(objs) // 2
    return frc(objs[order[:half]].mean(axis=0), objs[order[half:]].mean(axis=0))
