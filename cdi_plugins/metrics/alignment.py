"""Alignment of reconstructions: translation, twin image and global phase.

:func:`align_to` and :func:`align_runs` remove the three ambiguities of the phase
problem: the translation (integer pixels, by cross-correlation, refined to a fraction
of a pixel on request), the twin image (``conj(o(-r))``, kept when it correlates better
with the reference) and the global phase. ConvRe's preparation and every average of
runs rely on them; :func:`real_space_error` scores a reconstruction against a known
truth after them. Objects are 2D ``(H, W)`` or 3D ``(D, H, W)``: the twin flips every
axis and the translation has one component per axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tomopy_dlalign.common.validation import as_array

from ..physics import SPATIAL_NDIMS, friedel_mate
from .fourier import as_objects


def twin(obj, ndim: int = 2) -> np.ndarray:
    """The twin image ``conj(o(-r))`` about the array centre (same diffraction pattern),
    over the last ``ndim`` axes (3 for a ``(D, H, W)`` object; 2, the default, also
    takes a ``(n, H, W)`` stack of 2D objects).

    Example
    -------
    >>> o = np.zeros((4, 4), complex); o[1, 2] = 1j
    >>> t = twin(o); complex(t[3, 2])
    -1j
    >>> v = np.zeros((4, 4, 4), complex); v[1, 2, 3] = 1j
    >>> complex(twin(v, ndim=3)[3, 2, 1])
    -1j
    """
    return np.conj(friedel_mate(np.asarray(obj), ndim=ndim))


def _pair(ref, obj) -> tuple[np.ndarray, np.ndarray]:
    """``ref`` and ``obj`` as complex128 objects of one shape, 2D or 3D."""
    r = as_array(ref, "ref", ndim=SPATIAL_NDIMS, dtype=np.complex128)
    o = as_array(obj, "obj", ndim=SPATIAL_NDIMS, dtype=np.complex128)
    if r.shape != o.shape:
        raise ValueError(f"ref and obj must have the same shape, got {r.shape} and {o.shape}")
    return r, o


def _xcorr(ref: np.ndarray, obj: np.ndarray) -> np.ndarray:
    """Circular cross-correlation ``c[s] = sum_r conj(obj[r - s]) ref[r]``, zero shift at 0."""
    return np.fft.ifftn(np.fft.fftn(ref) * np.conj(np.fft.fftn(obj)))


def _signed(peak, shape) -> tuple[int, ...]:
    """A cross-correlation peak's index as a shift in ``[-N/2, N/2)`` along each axis."""
    return tuple(int((p + n // 2) % n - n // 2) for p, n in zip(peak, shape, strict=True))


def translation(ref, obj) -> tuple[int, ...]:
    """Integer shift ``(dy, dx)`` (``(dz, dy, dx)`` in 3D) that best aligns ``obj`` to
    ``ref``: ``np.roll(obj, shift, axis=(0, 1))`` (``(0, 1, 2)``) matches ``ref``
    (cross-correlation peak of the complex images).

    Example
    -------
    >>> r = np.zeros((16, 16)); r[4:7, 5:9] = 1
    >>> translation(r, np.roll(r, (2, -3), axis=(0, 1)))
    (-2, 3)
    """
    r, o = _pair(ref, obj)
    c = np.abs(_xcorr(r, o))
    return _signed(np.unravel_index(np.argmax(c), c.shape), c.shape)


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
    """How one object was aligned to a reference: ``shift`` (dy, dx), or (dz, dy, dx) in
    3D, applied with ``np.roll`` (whole pixels; a Fourier phase ramp for the fraction
    with ``subpixel``) after taking the twin if ``twin`` is True, then multiplied by
    ``exp(1j * phase)``; ``correlation`` is the normalised overlap after alignment."""

    shift: tuple[float, ...]
    twin: bool
    phase: float
    correlation: float


def align_to(ref, obj, subpixel: int = 1) -> tuple[np.ndarray, Alignment]:
    """Align ``obj`` to ``ref`` (both 2D or both 3D): twin image, translation and global
    phase.

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
    r, o = _pair(ref, obj)
    best = None
    for is_twin, cand in ((False, o), (True, twin(o, ndim=r.ndim))):
        c = _xcorr(r, cand)
        peak = np.unravel_index(np.argmax(np.abs(c)), c.shape)
        if best is None or abs(c[peak]) > abs(best[2]) * (1 + 1e-9):
            best = (is_twin, cand, c[peak], peak)
    is_twin, cand, value, peak = best
    shift = _signed(peak, r.shape)
    aligned = np.roll(cand, shift, axis=tuple(range(r.ndim)))
    if int(subpixel) > 1:
        aligned, fine = _subpixel_shift(r, aligned, int(subpixel))
        shift = tuple(s + f for s, f in zip(shift, fine, strict=True))
        value = np.vdot(aligned, r)
    phase = float(np.angle(value))
    aligned = aligned * np.exp(1j * phase)
    denom = np.linalg.norm(r) * np.linalg.norm(o)
    corr = float(abs(value) / denom) if denom > 0 else 0.0
    return aligned.astype(np.complex64), Alignment(shift, is_twin, phase, corr)


def _subpixel_shift(ref: np.ndarray, obj: np.ndarray, upsample: int):
    """``obj`` translated by the sub-pixel shift (within one pixel along each axis) that
    best matches ``ref``, and that shift, one component per axis."""
    from skimage.registration import phase_cross_correlation

    fine = phase_cross_correlation(ref, obj, upsample_factor=upsample, normalization=None)[0]
    fine = np.clip(fine, -1.0, 1.0)
    ramp = 0.0
    for axis, (n, s) in enumerate(zip(obj.shape, fine, strict=True)):
        k = np.fft.fftfreq(n).reshape([-1 if a == axis else 1 for a in range(obj.ndim)])
        ramp = ramp + k * s
    ramp = np.exp(-2j * np.pi * ramp)
    return np.fft.ifftn(np.fft.fftn(obj) * ramp), tuple(float(s) for s in fine)


def align_runs(objects, reference: int | np.ndarray = 0, subpixel: int = 1) -> np.ndarray:
    """Align every run to a reference run (an index) or a reference image.

    ``objects``: ``(n, H, W)`` 2D runs or ``(n, D, H, W)`` 3D ones; with a reference
    image, its rank says which (so that one ``(D, H, W)`` object is not read as ``D``
    2D runs).

    Example
    -------
    >>> r = np.zeros((8, 8), complex); r[2:5, 3:5] = [[1, 2], [3, 4], [5, 6]]
    >>> runs = np.stack([r, -np.roll(r, 1, axis=1), twin(r)])
    >>> bool(np.allclose(align_runs(runs), r))
    True
    """
    if np.ndim(reference) == 0:
        objs = as_objects(objects)
        ref = objs[int(reference)]
    else:
        ref = np.asarray(reference)
        objs = as_objects(objects, ndim=ref.ndim)
    return np.stack([align_to(ref, o, subpixel=subpixel)[0] for o in objs])


def real_space_error(obj, truth, subpixel: int = 1) -> float:
    """Relative error ``min_g |g obj_aligned - truth| / |truth|`` after alignment.

    ``obj`` is aligned to ``truth`` (translation, twin, global phase, :func:`align_to`),
    then scaled by the complex least-squares factor ``g``; 0 is perfect, ~1.4 is
    unrelated. ``subpixel``: the translation's precision, ``1 / subpixel`` pixel. Both
    are 2D or both 3D.

    Example
    -------
    >>> t = np.zeros((16, 16), complex); t[4:9, 6:10] = 1 + np.arange(4)
    >>> round(real_space_error(3j * np.roll(t, 2, axis=0), t), 6)
    0.0
    """
    t = as_array(truth, "truth", ndim=SPATIAL_NDIMS, dtype=np.complex128)
    a, _ = align_to(t, obj, subpixel=subpixel)
    a = a.astype(np.complex128)
    g = np.vdot(a, t) / max(np.vdot(a, a).real, 1e-300)
    return float(np.linalg.norm(g * a - t) / np.linalg.norm(t))
