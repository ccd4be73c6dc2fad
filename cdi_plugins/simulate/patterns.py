"""Far-field diffraction patterns of simulated objects, with noise and missing data.

:func:`simulate_pattern` turns an object (:mod:`cdi_plugins.simulate.objects`) into a
measured-like intensity: photon budget and Poisson noise, a central beamstop and
detector gaps as a missing-data mask (True = missing), binning, and optional
centrosymmetric filling of missing pixels (valid for real objects, whose patterns obey
Friedel's law ``I(q) = I(-q)``).

Example
-------
>>> from cdi_plugins import simulate
>>> obj = simulate.biological_object(128, seed=0)
>>> sim = simulate.simulate_pattern(obj, photons=1e7, beamstop=3, gaps=2, seed=0)
>>> sim.intensity.shape, sim.mask.dtype
((128, 128), dtype('bool'))
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from tomopy_dlalign.common.validation import as_array

from ..physics import farfield, friedel_mate
from .objects import centred_grid, check_shape, oversampling_ratio

logger = logging.getLogger(__name__)


def diffraction(obj) -> np.ndarray:
    """Noiseless far-field intensity ``|F(obj)|^2`` of one 2D or 3D object
    (:func:`cdi_plugins.physics.farfield`: unitary FFT, zero frequency centred).

    Example
    -------
    >>> o = np.zeros((16, 16), np.complex64); o[8, 8] = 2
    >>> I = diffraction(o); float(I.sum()), I.dtype
    (4.0, dtype('float32'))
    """
    a = as_array(obj, "obj", ndim=(2, 3), dtype=np.complex128)
    return (np.abs(farfield(a, ndim=a.ndim)) ** 2).astype(np.float32)


def beamstop_mask(shape, radius: float) -> np.ndarray:
    """Disc (a ball for a 3D ``shape``) of ``radius`` pixels around the zero frequency
    (True = missing).

    Example
    -------
    >>> int(beamstop_mask((16, 16), 1.5).sum()), int(beamstop_mask((16, 16, 16), 1).sum())
    (9, 7)
    """
    shape = check_shape(shape, ndim=3 if np.ndim(shape) == 1 and len(shape) == 3 else 2)
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    r2 = sum(g**2 for g in centred_grid(shape))
    return r2 <= radius**2 if radius > 0 else np.zeros(shape, bool)


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
    shape = check_shape(shape)
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


def _max_gap(shape: tuple[int, int]) -> int:
    """The widest gap :func:`gap_mask` places by default on a detector of ``shape``: the
    vertical gap starts ``W/5`` left of the centre, and a wider one would reach the zero
    frequency and the gap's own Friedel mates, which nothing would then measure; the
    horizontal one, ``H/6`` below the centre, must stay on the detector."""
    h, w = shape
    return min(w // 5, h - (h // 2 + h // 6))


def _whole(value) -> bool:
    """Whether ``value`` is a whole number (an int, or a float such as 2.0)."""
    return (isinstance(value, (int, float, np.integer, np.floating))
            and not isinstance(value, bool) and bool(np.isfinite(value))
            and float(value).is_integer())


def _check_detector(shape: tuple[int, int], gaps, binning) -> None:
    """Refuse a gap or a binning that :func:`simulate_pattern` cannot apply to ``shape``."""
    widest = _max_gap(shape)
    if not _whole(gaps) or not 0 <= gaps <= widest:
        raise ValueError(f"gaps must be a whole number of pixels from 0 (none) to {widest} "
                         f"for a {shape[0]} x {shape[1]} pattern (a wider gap reaches the "
                         f"pattern's centre), got {gaps!r}")
    size = int(np.gcd(*shape))
    allowed = [b for b in range(1, size + 1)
               if size % b == 0 and not (shape[0] // b) % 2 and not (shape[1] // b) % 2]
    if not _whole(binning) or int(binning) not in allowed:
        raise ValueError(f"binning must be one of {allowed} for a {shape[0]} x {shape[1]} "
                         f"pattern (1: none; it must divide the shape into an even one), "
                         f"got {binning!r}")


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


def centrosymmetric_fill(intensity, mask) -> tuple[np.ndarray, np.ndarray]:
    """Fill missing pixels from their measured Friedel mates (real objects only), in a 2D
    or 3D pattern.

    Returns the filled intensity and the mask of pixels still missing (both the pixel
    and its mate missing).

    Example
    -------
    >>> I = np.arange(16, dtype=float).reshape(4, 4); m = np.zeros((4, 4), bool); m[1, 1] = True
    >>> J, m2 = centrosymmetric_fill(I, m); bool(J[1, 1] == I[3, 3]), bool(m2.any())
    (True, False)
    """
    arr = as_array(intensity, "intensity", ndim=(2, 3), dtype=np.float32)
    m = np.asarray(mask, bool)
    if m.shape != arr.shape:
        raise ValueError(f"mask must have the intensity's shape {arr.shape}, got {m.shape}")
    mate, mate_m = friedel_mate(arr, ndim=arr.ndim), friedel_mate(m, ndim=arr.ndim)
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
        float32 ``(H, W)`` (``(D, H, W)`` for a 3D object), centred; zero on missing
        pixels.
    mask : numpy.ndarray
        bool, the intensity's shape, True = missing.
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
        Complex object ``(H, W)``, or ``(D, H, W)`` (a 3D pattern: no gaps nor binning),
        centred, oversampled at least twice per axis.
    photons : float, optional
        Expected total photon count; Poisson noise is drawn. ``None``: noiseless.
    beamstop : float
        Beamstop radius in (unbinned) pixels, 0 for none.
    gaps : int
        Detector gap width in (unbinned) pixels, 0 for none (see :func:`gap_mask`), at
        most a fifth of the width: a wider gap reaches the pattern's centre.
    binning : int
        Detector binning factor, 1 for none, dividing the shape into an even one; the
        truth is cropped to the new field of view.
    centrosymmetric : bool
        Fill missing pixels from their Friedel mates (for real objects).
    seed : int, optional
        Seed of the Poisson noise.

    Returns
    -------
    SimulatedPattern

    Raises
    ------
    ValueError
        ``gaps`` or ``binning`` outside their ranges (the message gives the range).

    Example
    -------
    >>> from cdi_plugins.simulate import biological_object
    >>> sim = simulate_pattern(biological_object(64, seed=0), photons=1e6, seed=0)
    >>> abs(float(sim.intensity.sum()) / 1e6 - 1) < 0.01
    True
    """
    o = as_array(obj, "obj", ndim=(2, 3), dtype=np.complex64)
    if o.ndim == 3:
        check_shape(o.shape, ndim=3)
        if gaps or binning != 1:
            raise ValueError(f"gaps and binning are simulated on 2D patterns only, got "
                             f"gaps={gaps!r}, binning={binning!r} for a 3D object")
    else:
        _check_detector(check_shape(o.shape), gaps, binning)
    ratios = oversampling_ratio(o)
    if min(ratios) < 2 * binning:
        logger.warning("oversampling %s after binning by %d is below 2",
                       " x ".join(f"{r / binning:.2f}" for r in ratios), binning)
    if photons is not None and not photons > 0:
        raise ValueError(f"photons must be positive or None, got {photons}")
    intensity = diffraction(o).astype(np.float64)
    if photons is not None:
        intensity *= photons / intensity.sum()
        intensity = np.random.default_rng(seed).poisson(intensity).astype(np.float64)
    mask = beamstop_mask(o.shape, beamstop)
    if o.ndim == 2:
        mask |= gap_mask(o.shape, gaps)
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
    :func:`cdi_plugins.simulate.superellipsoid.generate` with a
    :class:`~cdi_plugins.simulate.superellipsoid.SuperellipsoidConfig` built from ``config``
    (``photons=...`` adds Poisson noise).

    Example
    -------
    >>> b = superellipsoid_patterns(2, seed=0, photons=1e6)
    >>> b.intensity.shape
    (2, 64, 64)
    """
    from .superellipsoid import SuperellipsoidConfig, generate

    return generate(n, SuperellipsoidConfig(**config), seed=seed)
