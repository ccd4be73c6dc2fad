"""Simulated objects: complex64, centred, filling at most half of the array along each
axis, so that their patterns are oversampled at least twice per axis. All are 2D but
:func:`crystal_object_3d`, a faceted nanocrystal in a 3D box (Bragg CDI).

Example
-------
>>> from cdi_plugins import simulate
>>> obj = simulate.biological_object(128, seed=0)
>>> min(simulate.oversampling_ratio(obj)) >= 2
True
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from tomopy_dlalign.common.validation import as_array


def check_shape(shape, ndim: int = 2) -> tuple[int, ...]:
    """``(H, W)`` (``(D, H, W)`` with ``ndim=3``) from an even size >= 8 or ``ndim`` of
    them."""
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),) * ndim
    shape = tuple(int(s) for s in shape)
    if len(shape) != ndim or min(shape) < 8 or any(s % 2 for s in shape):
        what = "a pair" if ndim == 2 else f"{ndim}"
        raise ValueError(f"shape must be an even size >= 8 or {what} of them, got {shape}")
    return shape


def check_extent(extent: float) -> float:
    """An object's extent as a fraction of the array, in (0, 0.5] (oversampling >= 2)."""
    if not 0 < extent <= 0.5:
        raise ValueError(f"extent must be in (0, 0.5] of the array (oversampling >= 2 per "
                         f"axis), got {extent}")
    return float(extent)


def centred_grid(shape) -> tuple[np.ndarray, ...]:
    """Pixel coordinates ``(y, x)`` (``(z, y, x)`` in 3D) relative to the centre
    ``(H//2, W//2)``."""
    grid = np.mgrid[tuple(slice(n) for n in shape)].astype(np.float64)
    return tuple(g - n // 2 for g, n in zip(grid, shape, strict=True))


def _rotate(y, x, angle):
    c, s = np.cos(angle), np.sin(angle)
    return c * y - s * x, s * y + c * x


def biological_object(shape=128, extent: float = 0.45, aspect: float = 0.5,
                      seed: int | None = None) -> np.ndarray:
    """A weakly scattering, elongated, mitochondrion-like object with internal density.

    An ellipse with a denser membrane, blob-like inner density ("cristae") and smooth
    density fluctuations. The values are real and non-negative (electron density of a
    weak scatterer, whose exit wave deviates from 1 only by a small term proportional to
    it), stored as complex64.

    Parameters
    ----------
    shape : int or (int, int)
        Array shape, even sizes.
    extent : float
        Long axis as a fraction of the array, at most 0.5 (oversampling >= 2).
    aspect : float
        Short axis over long axis, in (0, 1].
    seed : int, optional
        Seed of the internal structure and the orientation.

    Returns
    -------
    numpy.ndarray
        complex64 ``(H, W)``, centred, maximum 1.

    Example
    -------
    >>> o = biological_object(64, seed=1)
    >>> o.dtype, bool(o.imag.any()), bool((o.real >= 0).all())
    (dtype('complex64'), False, True)
    """
    shape = check_shape(shape)
    extent = check_extent(extent)
    if not 0 < aspect <= 1:
        raise ValueError(f"aspect must be in (0, 1], got {aspect}")
    rng = np.random.default_rng(seed)
    y, x = centred_grid(shape)
    # an elongated object rotated by up to 45 degrees must still fit within `extent`
    angle = rng.uniform(-np.pi / 4, np.pi / 4)
    n = min(shape)
    a = 0.5 * extent * n / (np.cos(angle) ** 2 + (aspect * np.sin(angle)) ** 2) ** 0.5 * 0.95
    a = min(a, 0.5 * extent * n)
    b = aspect * a
    yr, xr = _rotate(y, x, angle)
    r = np.sqrt((yr / b) ** 2 + (xr / a) ** 2)
    body = np.clip((1.0 - r) * a / 1.5, 0, 1)  # soft edge of about 1.5 px
    membrane = np.exp(-(((1.0 - r) * a - 1.5) ** 2) / 2.0) * (r < 1)
    inner = np.zeros(shape)
    for _ in range(rng.integers(6, 12)):
        cy, cx = rng.uniform(-0.6, 0.6) * b, rng.uniform(-0.75, 0.75) * a
        sy, sx = rng.uniform(0.6, 1.5), rng.uniform(1.5, 4.0)
        th = rng.uniform(0, np.pi)
        by, bx = _rotate(yr - cy, xr - cx, th)
        inner += rng.uniform(0.3, 0.8) * np.exp(-0.5 * ((by / sy) ** 2 + (bx / sx) ** 2))
    texture = ndimage.gaussian_filter(rng.standard_normal(shape), 2.0)
    texture /= np.abs(texture).max() + 1e-12
    dens = body * (0.45 + 0.1 * texture + inner) + 0.6 * membrane
    dens = np.clip(dens * (r < 1), 0, None)
    return (dens / dens.max()).astype(np.complex64)


def crystal_object(shape=128, n_particles: int = 1, extent: float = 0.45,
                   phase_amplitude: float = 2.5, seed: int | None = None) -> np.ndarray:
    """Faceted crystalline particles with a strong, smoothly varying phase.

    Each particle is a rotated superellipse ``|x/a|^p + |y/b|^p <= 1`` (``p`` 4 to 8,
    flat facets with rounded corners) of nearly uniform amplitude; its phase is a smooth
    strain-like field of a few sinusoids reaching ``phase_amplitude`` radians, as in
    Bragg CDI of nanocrystals.

    Parameters
    ----------
    shape : int or (int, int)
        Array shape, even sizes.
    n_particles : int
        Particles, placed without overlap inside the central ``extent`` of the array.
    extent : float
        Fraction of the array holding all particles, at most 0.5.
    phase_amplitude : float
        Peak phase in radians.
    seed : int, optional
        Seed of shapes, positions and phases.

    Returns
    -------
    numpy.ndarray
        complex64 ``(H, W)``, centred.

    Example
    -------
    >>> o = crystal_object(64, seed=0)
    >>> float(np.abs(o).max()) <= 1.0, float(np.ptp(np.angle(o[np.abs(o) > 0.5]))) > 1
    (True, True)
    """
    shape = check_shape(shape)
    extent = check_extent(extent)
    if int(n_particles) < 1:
        raise ValueError(f"n_particles must be at least 1, got {n_particles}")
    rng = np.random.default_rng(seed)
    y, x = centred_grid(shape)
    half = 0.5 * extent * min(shape)
    k = int(np.ceil(np.sqrt(n_particles)))
    cell = 2 * half / k
    obj = np.zeros(shape, dtype=np.complex128)
    for i in range(int(n_particles)):
        cy = -half + cell * (i // k + 0.5)
        cx = -half + cell * (i % k + 0.5)
        a = 0.5 * cell * rng.uniform(0.55, 0.68)
        b = a * rng.uniform(0.6, 1.0)
        p = rng.uniform(4, 8)
        yr, xr = _rotate(y - cy, x - cx, rng.uniform(0, np.pi))
        inside = (np.abs(xr / a) ** p + np.abs(yr / b) ** p) <= 1
        phase = np.zeros(shape)
        for _ in range(3):
            ky, kx = rng.uniform(-1, 1, 2) * np.pi / (2 * a)
            phase += np.cos(ky * yr + kx * xr + rng.uniform(0, 2 * np.pi))
        phase *= phase_amplitude / 3
        amp = 0.9 + 0.1 * np.cos(yr / b + xr / a)
        obj += inside * amp * np.exp(1j * phase)
    return obj.astype(np.complex64)


def oversampling_ratio(obj) -> tuple[float, ...]:
    """Array size over the object's extent (non-zero pixels) along each axis (2D or 3D).

    Example
    -------
    >>> o = np.zeros((64, 64)); o[20:36, 30:38] = 1
    >>> oversampling_ratio(o)
    (4.0, 8.0)
    """
    a = as_array(obj, "obj", ndim=(2, 3), dtype=None)
    nz = np.argwhere(np.abs(a) > 0)
    if nz.size == 0:
        raise ValueError("obj is zero everywhere")
    ext = nz.max(axis=0) - nz.min(axis=0) + 1
    return tuple(float(n / e) for n, e in zip(a.shape, ext, strict=True))


def crystal_object_3d(shape=32, extent: float = 0.45, phase_amplitude: float = 1.5,
                      exponent: float = 6.0, seed: int | None = None) -> np.ndarray:
    """A faceted nanocrystal in a 3D box with a smooth strain-like phase (Bragg CDI).

    A randomly rotated superellipsoid ``|x/a|^p + |y/b|^p + |z/c|^p <= 1`` (``p =
    exponent``: flat facets with rounded edges and corners) of uniform amplitude, ``b``
    and ``c`` 0.75-0.95 and 0.6-0.8 of ``a``, scaled so that it spans ``extent`` of the
    box along its tightest axis; its phase, the projection of a displacement field on the
    scattering vector, is a sum of three plane waves of wavelength about ``4 a``
    reaching ``phase_amplitude`` radians.

    Parameters
    ----------
    shape : int or (int, int, int)
        Box shape, even sizes >= 8.
    extent : float
        Fraction of the box along each axis holding the crystal, at most 0.5
        (oversampling >= 2 per axis).
    phase_amplitude : float
        Peak phase in radians.
    exponent : float
        Superellipsoid exponent, >= 2 (2: an ellipsoid).
    seed : int, optional
        Seed of the orientation, the axes and the phase.

    Returns
    -------
    numpy.ndarray
        complex64 ``(D, H, W)``, centred, amplitude 1 inside.

    Example
    -------
    >>> o = crystal_object_3d(32, seed=0)
    >>> o.shape, min(oversampling_ratio(o)) >= 2, round(float(np.abs(o).max()), 6)
    ((32, 32, 32), True, 1.0)
    """
    shape = check_shape(shape, ndim=3)
    extent = check_extent(extent)
    if not exponent >= 2:
        raise ValueError(f"exponent must be >= 2, got {exponent}")
    rng = np.random.default_rng(seed)
    rotation, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    p = np.stack(centred_grid(shape), axis=-1) @ rotation
    axes = np.array([1.0, rng.uniform(0.75, 0.95), rng.uniform(0.6, 0.8)])
    # half its extent along box axis j is the support function of the body in the
    # direction rotation[j], the dual (q) norm of axes * rotation[j], 1/p + 1/q = 1
    q = exponent / (exponent - 1)
    half = ((np.abs(rotation * axes) ** q).sum(axis=1)) ** (1 / q)
    axes *= (0.5 * extent * np.asarray(shape) / half).min() - 0.5
    a = axes[0]
    inside = (np.abs(p / axes) ** exponent).sum(axis=-1) <= 1
    phase = np.zeros(shape)
    for _ in range(3):
        k = rng.uniform(-1, 1, 3) * np.pi / (2 * a)
        phase += np.cos(p @ k + rng.uniform(0, 2 * np.pi))
    phase *= phase_amplitude / 3
    return (inside * np.exp(1j * phase)).astype(np.complex64)
