"""Alignment of reconstructions: translation, twin image and global phase.

:func:`align_to` and :func:`align_runs` remove the three ambiguities of the phase
problem: the translation (integer pixels, by cross-correlation), the twin image
(``conj(o(-r))``, kept when it correlates better with the reference) and the global
phase. ConvRe's preparation and every average of runs rely on them;
:func:`real_space_error` scores a reconstruction against a known truth after them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tomopy_dlalign.common.validation import as_array

from .fourier import as_objects


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
    ``np.roll`` (whole pixels; a Fourier phase ramp for the fraction with ``subpixel``)
    after taking the twin if ``twin`` is True, then multiplied by
    ``exp(1j * phase)``; ``correlation`` is the normalised overlap after alignment."""

    shift: tuple[float, float]
    twin: bool
    phase: float
    correlation: float


def align_to(ref, obj, subpixel: int = 1) -> tuple[np.ndarray, Alignment]:
    """Align ``obj`` to ``ref``: twin image, translation and global phase.

    Both the object and its twin are cross-correlated with the reference; the one with
    the higher peak is kept, rolled to the peak and given the reference's global phase.
    With ``subpixel > 1`` the translation is refined to ``1 / subpixel`` pixel around
    that peak (upsampled cross-correlation, Guizar-Sicairos et al. 2008) and applied as
    a Fourier phase ramp: runs of one pattern differ by sub-pixel translations that a
    whole-pixel alignment leaves as a real-space error.

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
    aligned = np.roll(cand, shift, axis=(0, 1))
    if int(subpixel) > 1:
        aligned, fine = _subpixel_shift(r, aligned, int(subpixel))
        shift = (shift[0] + fine[0], shift[1] + fine[1])
        value = np.vdot(aligned, r)
    phase = float(np.angle(value))
    aligned = aligned * np.exp(1j * phase)
    denom = np.linalg.norm(r) * np.linalg.norm(o)
    corr = float(abs(value) / denom) if denom > 0 else 0.0
    return aligned.astype(np.complex64), Alignment(shift, is_twin, phase, corr)


def _subpixel_shift(ref: np.ndarray, obj: np.ndarray, upsample: int):
    """``obj`` translated by the sub-pixel shift (within one pixel) that best matches
    ``ref``, and that shift ``(dy, dx)``."""
    from skimage.registration import phase_cross_correlation

    fine = phase_cross_correlation(ref, obj, upsample_factor=upsample, normalization=None)[0]
    fine = np.clip(fine, -1.0, 1.0)
    h, w = obj.shape
    ky = np.fft.fftfreq(h)[:, None]
    kx = np.fft.fftfreq(w)[None, :]
    ramp = np.exp(-2j * np.pi * (ky * fine[0] + kx * fine[1]))
    return np.fft.ifft2(np.fft.fft2(obj) * ramp), (float(fine[0]), float(fine[1]))


def align_runs(objects, reference: int | np.ndarray = 0, subpixel: int = 1) -> np.ndarray:
    """Align every run to a reference run (an index) or a reference image.

    Example
    -------
    >>> r = np.zeros((8, 8), complex); r[2:5, 3:5] = [[1, 2], [3, 4], [5, 6]]
    >>> runs = np.stack([r, -np.roll(r, 1, axis=1), twin(r)])
    >>> bool(np.allclose(align_runs(runs), r))
    True
    """
    objs = as_objects(objects)
    ref = objs[int(reference)] if np.ndim(reference) == 0 else np.asarray(reference)
    return np.stack([align_to(ref, o, subpixel=subpixel)[0] for o in objs])


def real_space_error(obj, truth, subpixel: int = 1) -> float:
    """Relative error ``min_g |g obj_aligned - truth| / |truth|`` after alignment.

    ``obj`` is aligned to ``truth`` (translation, twin, global phase, :func:`align_to`),
    then scaled by the complex least-squares factor ``g``; 0 is perfect, ~1.4 is
    unrelated. ``subpixel``: the translation's precision, ``1 / subpixel`` pixel.

    Example
    -------
    >>> t = np.zeros((16, 16), complex); t[4:9, 6:10] = 1 + np.arange(4)
    >>> round(real_space_error(3j * np.roll(t, 2, axis=0), t), 6)
    0.0
    """
    t = as_array(truth, "truth", ndim=2, dtype=np.complex128)
    a, _ = align_to(t, obj, subpixel=subpixel)
    a = a.astype(np.complex128)
    g = np.vdot(a, t) / max(np.vdot(a, a).real, 1e-300)
    return float(np.linalg.norm(g * a - t) / np.linalg.norm(t))
