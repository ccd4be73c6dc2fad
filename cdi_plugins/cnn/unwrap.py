"""Phase unwrapping of complex images, for display and export."""

from __future__ import annotations

import numpy as np

from tomopy_dlalign.common.validation import as_array


def unwrap_phase(obj, mask=None, threshold: float = 0.1, seed: int | None = 0) -> np.ndarray:
    """Unwrapped phase of a complex image (Herraez et al. 2002), for display and export.

    Parameters
    ----------
    obj : array_like
        Complex ``(H, W)`` image, or a real phase map in radians (then ``mask`` or the
        whole image is used).
    mask : array_like of bool, optional
        True where the phase is meaningful (the particle). Default: amplitude above
        ``threshold`` times its maximum.
    threshold : float
        Relative amplitude threshold of the default mask.
    seed : int, optional
        Seed of the unwrapping path's tie-breaking (scikit-image's ``rng``).

    Returns
    -------
    numpy.ndarray
        float32 ``(H, W)``, the phase made continuous inside the mask by adding
        multiples of 2 pi, NaN outside.

    Notes
    -----
    M. A. Herraez, D. R. Burton, M. J. Lalor, M. A. Gdeisat, "Fast two-dimensional phase-
    unwrapping algorithm based on sorting by reliability following a noncontinuous
    path", Appl. Opt. 41, 7437 (2002), as implemented by
    :func:`skimage.restoration.unwrap_phase`.

    Example
    -------
    >>> y, x = np.mgrid[:32, :32]
    >>> o = np.exp(1j * 0.5 * x) * ((x - 16)**2 + (y - 16)**2 < 100)
    >>> u = unwrap_phase(o)
    >>> bool(np.nanmax(u) - np.nanmin(u) > 2 * np.pi)
    True
    """
    from skimage.restoration import unwrap_phase as _unwrap

    a = np.asarray(obj)
    if a.ndim != 2:
        raise ValueError(f"obj must be 2D, got shape {a.shape}")
    if np.iscomplexobj(a):
        arr = as_array(a, "obj", dtype=np.complex64)
        phase = np.angle(arr)
        amp = np.abs(arr)
        keep = amp > threshold * amp.max() if mask is None else np.asarray(mask, bool)
    else:
        phase = as_array(a, "obj", dtype=np.float64)
        keep = np.ones(a.shape, bool) if mask is None else np.asarray(mask, bool)
    if keep.shape != a.shape:
        raise ValueError(f"mask must have shape {a.shape}, got {keep.shape}")
    if not keep.any():
        raise ValueError("the mask is empty: no phase to unwrap")
    out = _unwrap(np.ma.masked_array(phase, mask=~keep), rng=seed)
    return np.ma.filled(out.astype(np.float32), np.nan)
