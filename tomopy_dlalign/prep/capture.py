"""A capture pre-pass for large jitter, from two invariants of parallel-beam projections.

A network or a phase correlation against a reprojection captures shifts up to a fraction
of its field; +-20 px on a 160 px detector is beyond it. Two properties of the
projections themselves hold whatever the jitter, and give every projection's shift to
about a pixel in one step:

- **Vertical:** the sum of a projection over its columns is, row by row, the mass of
  each slice, the same at every angle (for an object inside the horizontal field of
  view). Each projection's row profile is registered against the median profile of all,
  twice, the median taken again after the first correction.
- **Horizontal:** the centre of mass of a projection follows
  ``center + x0 cos(theta) + y0 sin(theta)`` (Azevedo et al., IEEE TNS 37, 1990); the
  departure of each projection from the least-squares fit is its jitter. That holds
  only for an object inside the field of view: otherwise ``dx`` is left at 0.

The pre-pass only brings the jitter into the capture range of the cycles that follow,
which refine it and are scored against it (:func:`tomopy_dlalign.align`).
"""

from __future__ import annotations

import numpy as np

from .registration import phase_correlation


def mass_prepass(view: np.ndarray, theta: np.ndarray, center: float,
                 inside: bool) -> tuple[np.ndarray, np.ndarray]:
    """Jitter ``(dx, dy)`` of each projection of ``view`` (nproj, nslice, ncol) from the
    invariants of the module's notes; ``dx`` is measured against ``center`` and is 0
    unless ``inside`` (the object stays inside the field of view). ``dy`` has zero mean.

    Example
    -------
    >>> import numpy as np, tomopy_dlalign as tda
    >>> th = np.linspace(0, np.pi, 90, endpoint=False)
    >>> vol = tda.simulate.phantom("nanoparticles", 64, 48, seed=0)
    >>> prj, dx, dy = tda.add_jitter(tda.reproject(vol, th), -12, 12, seed=1)
    >>> ex, ey = mass_prepass(prj, th, 32.0, inside=True)
    >>> bool(np.abs(ey - (dy - dy.mean())).max() < 2.0)
    True
    """
    n, rows, _ = view.shape
    dy = np.zeros(n)
    if rows >= 8:
        profile = view.sum(axis=2, dtype=np.float64)            # (n, rows)
        for _ in range(2):
            current = _shift_profiles(profile, -dy)
            ref = np.median(current, axis=0)
            _, ey = phase_correlation(current[:, :, None].astype(np.float32),
                                      np.repeat(ref[None, :, None], n, 0).astype(np.float32),
                                      denoise=False)
            dy = dy + ey
            dy -= dy.mean()
    dx = np.zeros(n)
    if inside:
        sino = view.sum(axis=1, dtype=np.float64)
        sino = np.clip(sino, 0, None)
        cols = np.arange(sino.shape[1]) + 0.5
        mass = sino.sum(axis=1)
        ok = mass > 1e-6 * mass.max()
        com = np.where(ok, sino @ cols / np.where(ok, mass, 1.0), center)
        basis = np.stack([np.cos(theta), np.sin(theta)], axis=1)
        coef, *_ = np.linalg.lstsq(basis[ok], com[ok] - center, rcond=None)
        dx = np.where(ok, com - center - basis @ coef, 0.0)
    return dx, dy


def _shift_profiles(profile: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Each row profile shifted by ``s`` (linear interpolation, edges held)."""
    rows = np.arange(profile.shape[1], dtype=np.float64)
    return np.stack([np.interp(rows - si, rows, p) for p, si in zip(profile, s, strict=True)])
