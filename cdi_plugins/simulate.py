"""Simulated objects and noisy far-field diffraction patterns with missing data.

Objects are complex64, centred, and fill at most half of the array along each axis, so
their patterns are oversampled at least twice per axis. :func:`simulate_pattern` turns
one into a measured-like intensity: photon budget and Poisson noise, a central beamstop
and detector gaps as a missing-data mask (True = missing), binning, and optional
centrosymmetric filling of missing pixels (valid for real objects, whose patterns obey
Friedel's law ``I(q) = I(-q)``).

Example
-------
>>> from cdi_plugins import simulate
>>> obj = simulate.biological_object(128, seed=0)
>>> sim = simulate.simulate_pattern(obj, photons=1e7, beamstop=3, gaps=2, seed=0)
>>> sim.intensity.shape, sim.mask.dtype, min(simulate.oversampling_ratio(obj)) >= 2
((128, 128), dtype('bool'), True)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from tomopy_dlalign.common.validation import as_array

logger = logging.getLogger(__name__)


def _shape2(shape) -> tuple[int, int]:
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape), int(shape))
    shape = tuple(int(s) for s in shape)
    if len(shape) != 2 or min(shape) < 8 or any(s % 2 for s in shape):
        raise ValueError(f"shape must be an even size >= 8 or a pair of them, got {shape}")
    return shape


def _check_extent(extent: float) -> float:
    if not 0 < extent <= 0.5:
        raise ValueError(f"extent must be in (0, 0.5] of the array (oversampling >= 2 per "
                         f"axis), got {extent}")
    return float(extent)


def _grid(shape):
    h, w = shape
    y, x = np.mgrid[:h, :w].astype(np.float64)
    return y - h // 2, x - w // 2


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
    shape = _shape2(shape)
    extent = _check_extent(extent)
    if not 0 < aspect <= 1:
        raise ValueError(f"aspect must be in (0, 1], got {aspect}")
    rng = np.random.default_rng(seed)
    y, x = _grid(shape)
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
    shape = _shape2(shape)
    extent = _check_extent(extent)
    if int(n_particles) < 1:
        raise ValueError(f"n_particles must be at least 1, got {n_particles}")
    rng = np.random.default_rng(seed)
    y, x = _grid(shape)
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


def oversampling_ratio(obj) -> tuple[float, float]:
    """Array size over the object's extent (non-zero pixels) along each axis.

    Example
    -------
    >>> o = np.zeros((64, 64)); o[20:36, 30:38] = 1
    >>> oversampling_ratio(o)
    (4.0, 8.0)
    """
    a = as_array(obj, "obj", ndim=2, dtype=None)
    nz = np.argwhere(np.abs(a) > 0)
    if nz.size == 0:
        raise ValueError("obj is zero everywhere")
    ext = nz.max(axis=0) - nz.min(axis=0) + 1
    return float(a.shape[0] / ext[0]), float(a.shape[1] / ext[1])


def diffraction(obj) -> np.ndarray:
    """Noiseless far-field intensity ``|F(obj)|^2``, unitary FFT, zero frequency centred.

    Example
    -------
    >>> o = np.zeros((16, 16), np.complex64); o[8, 8] = 2
    >>> I = diffraction(o); float(I.sum()), I.dtype
    (4.0, dtype('float32'))
    """
    a = as_array(obj, "obj", ndim=2, dtype=np.complex128)
    f = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(a), norm="ortho"))
    return (np.abs(f) ** 2).astype(np.float32)


def beamstop_mask(shape, radius: float) -> np.ndarray:
    """Disc of ``radius`` pixels around the zero frequency (True = missing).

    Example
    -------
    >>> int(beamstop_mask((16, 16), 1.5).sum())
    9
    """
    shape = _shape2(shape)
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    y, x = _grid(shape)
    return (y**2 + x**2) <= radius**2 if radius > 0 else np.zeros(shape, bool)


def gap_mask(shape, width: int, rows=None, cols=None) -> np.ndarray:
    """Detector gaps: horizontal bands at ``rows`` and vertical bands at ``cols``.

    By default one horizontal gap starts ``H/6`` below the centre and one vertical gap
    ``W/5`` left of it, off-centre as between the modules of a real detector, so that
    their Friedel mates are measured.

    Example
    -------
    >>> int(gap_mask((20, 20), 1, rows=[3], cols=[]).sum())
    20
    """
    shape = _shape2(shape)
    h, w = shape
    m = np.zeros(shape, dtype=bool)
    if width <= 0:
        return m
    rows = [h // 2 + h // 6] if rows is None else rows
    cols = [w // 2 - w // 5] if cols is None else cols
    for r in rows:
        m[int(r): int(r) + int(width), :] = True
    for c in cols:
        m[:, int(c): int(c) + int(width)] = True
    return m


def bin_pattern(intensity, mask=None, factor: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Sum ``factor x factor`` detector pixels; a binned pixel is missing if any of its
    pixels is.

    Binning keeps the real-space pixel size (``lambda z / (N p)``: ``N`` shrinks as ``p``
    grows) and divides the field of view by ``factor``.

    Example
    -------
    >>> I, m = bin_pattern(np.ones((8, 8)), factor=2); I.shape, float(I[0, 0])
    ((4, 4), 4.0)
    """
    arr = as_array(intensity, "intensity", ndim=2, dtype=np.float32)
    if int(factor) != factor or factor < 1:
        raise ValueError(f"factor must be a positive integer, got {factor}")
    factor = int(factor)
    h, w = arr.shape
    if h % factor or w % factor:
        raise ValueError(f"intensity shape {arr.shape} is not divisible by the binning factor "
                         f"{factor}")
    m = np.zeros(arr.shape, bool) if mask is None else np.asarray(mask, bool)
    if m.shape != arr.shape:
        raise ValueError(f"mask must have the intensity's shape {arr.shape}, got {m.shape}")
    blocks = (h // factor, factor, w // factor, factor)
    binned = np.where(m, 0, arr).reshape(blocks).sum(axis=(1, 3)).astype(np.float32)
    return binned, m.reshape(blocks).any(axis=(1, 3))


def friedel_mate(a: np.ndarray) -> np.ndarray:
    """``a`` at ``-q``: index ``n`` maps to ``(-n) mod N`` about the centre ``N//2``."""
    return np.roll(np.flip(a, axis=(-2, -1)), 1, axis=(-2, -1))


def centrosymmetric_fill(intensity, mask) -> tuple[np.ndarray, np.ndarray]:
    """Fill missing pixels from their measured Friedel mates (real objects only).

    Returns the filled intensity and the mask of pixels still missing (both the pixel
    and its mate missing).

    Example
    -------
    >>> I = np.arange(16, dtype=float).reshape(4, 4); m = np.zeros((4, 4), bool); m[1, 1] = True
    >>> J, m2 = centrosymmetric_fill(I, m); bool(J[1, 1] == I[3, 3]), bool(m2.any())
    (True, False)
    """
    arr = as_array(intensity, "intensity", ndim=2, dtype=np.float32)
    m = np.asarray(mask, bool)
    if m.shape != arr.shape:
        raise ValueError(f"mask must have the intensity's shape {arr.shape}, got {m.shape}")
    mate, mate_m = friedel_mate(arr), friedel_mate(m)
    fill = m & ~mate_m
    out = arr.copy()
    out[fill] = mate[fill]
    logger.info("centrosymmetric fill: %d of %d missing pixels filled", int(fill.sum()),
                int(m.sum()))
    return out, m & mate_m


@dataclass
class SimulatedPattern:
    """A simulated measurement and its truth.

    Attributes
    ----------
    intensity : numpy.ndarray
        float32 ``(H, W)``, centred; zero on missing pixels.
    mask : numpy.ndarray
        bool ``(H, W)``, True = missing.
    object : numpy.ndarray
        complex64, the truth on the real-space grid of ``intensity``.
    support : numpy.ndarray
        bool, the truth's non-zero pixels.
    photons : float or None
        Photon budget (expected total counts before masking), None if noiseless.
    """

    intensity: np.ndarray
    mask: np.ndarray
    object: np.ndarray
    support: np.ndarray
    photons: float | None


def simulate_pattern(obj, photons: float | None = 1e7, beamstop: float = 0.0, gaps: int = 0,
                     binning: int = 1, centrosymmetric: bool = False,
                     seed: int | None = None) -> SimulatedPattern:
    """Diffraction pattern of ``obj`` as a detector would record it.

    Parameters
    ----------
    obj : array_like
        Complex object ``(H, W)``, centred, oversampled at least twice per axis.
    photons : float, optional
        Expected total photon count; Poisson noise is drawn. ``None``: noiseless.
    beamstop : float
        Beamstop radius in (unbinned) pixels, 0 for none.
    gaps : int
        Detector gap width in (unbinned) pixels, 0 for none (see :func:`gap_mask`).
    binning : int
        Detector binning factor; the truth is cropped to the new field of view.
    centrosymmetric : bool
        Fill missing pixels from their Friedel mates (for real objects).
    seed : int, optional
        Seed of the Poisson noise.

    Returns
    -------
    SimulatedPattern

    Example
    -------
    >>> sim = simulate_pattern(biological_object(64, seed=0), photons=1e6, seed=0)
    >>> abs(float(sim.intensity.sum()) / 1e6 - 1) < 0.01
    True
    """
    o = as_array(obj, "obj", ndim=2, dtype=np.complex64)
    _shape2(o.shape)
    os_y, os_x = oversampling_ratio(o)
    if min(os_y, os_x) < 2 * binning:
        logger.warning("oversampling %.2f x %.2f after binning by %d is below 2",
                       os_y / binning, os_x / binning, binning)
    if photons is not None and not photons > 0:
        raise ValueError(f"photons must be positive or None, got {photons}")
    intensity = diffraction(o).astype(np.float64)
    if photons is not None:
        intensity *= photons / intensity.sum()
        intensity = np.random.default_rng(seed).poisson(intensity).astype(np.float64)
    mask = beamstop_mask(o.shape, beamstop) | gap_mask(o.shape, gaps)
    intensity = np.where(mask, 0.0, intensity).astype(np.float32)
    truth = o
    if binning > 1:
        intensity, mask = bin_pattern(intensity, mask, binning)
        h, w = intensity.shape
        cy, cx = o.shape[0] // 2, o.shape[1] // 2
        truth = o[cy - h // 2: cy + h // 2, cx - w // 2: cx + w // 2]
    if centrosymmetric:
        intensity, mask = centrosymmetric_fill(intensity, mask)
    return SimulatedPattern(intensity=intensity, mask=mask, object=truth.astype(np.complex64),
                            support=np.abs(truth) > 0, photons=photons)


def superellipsoid_patterns(n: int, seed: int | None = 0, **config):
    """Strong-phase superellipsoid particles and their 64x64 patterns (Wu et al. 2021):
    :func:`cdi_plugins.superellipsoid.generate` with a
    :class:`~cdi_plugins.superellipsoid.SuperellipsoidConfig` built from ``config``
    (``photons=...`` adds Poisson noise).

    Example
    -------
    >>> b = superellipsoid_patterns(2, seed=0, photons=1e6)
    >>> b.intensity.shape
    (2, 64, 64)
    """
    from .superellipsoid import SuperellipsoidConfig, generate

    return generate(n, SuperellipsoidConfig(**config), seed=seed)
