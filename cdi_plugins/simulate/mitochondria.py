"""Simulated mitochondrion-like objects and their low-signal diffraction patterns.

The ConvRe paper (Pan et al., IUCrJ 2022) images single mitochondria: weakly scattering,
elongated organelles (about 0.5 um by 1 to 2 um) with a double outer membrane and inner
membrane folds (cristae) running across the short axis, at 5.5 keV, 1.496 m, with 60 um
effective pixels after 3 x 3 binning. :func:`mitochondrion_object` draws such an object;
:func:`mitochondrion_pattern` records it the way the paper's detector did: Poisson noise
for a given photon budget, a central beamstop, then 3 x 3 binning.

Example
-------
>>> from cdi_plugins.simulate import mitochondria
>>> o = mitochondria.mitochondrion_object(128, seed=0)
>>> sim = mitochondria.mitochondrion_pattern(o, photons=1e7, background=0.5, seed=0)
>>> sim.intensity.shape, o.dtype
((128, 128), dtype('complex64'))
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .objects import check_extent, check_shape
from .patterns import SimulatedPattern, simulate_pattern

#: the paper's geometry: 5.5 keV, 1.496 m, 20 um pixels binned 3 x 3 (Pan et al. 2022)
PAPER_GEOMETRY = {"wavelength": 12.398419843320026e-10 / 5.5, "distance": 1.496,
                  "pixel_size": 60e-6}


def paper_pixel_nm(n_pixels: int) -> float:
    """Real-space pixel in nm of an ``n_pixels`` pattern in the paper's geometry.

    Example
    -------
    >>> round(paper_pixel_nm(411), 2)
    13.68
    """
    g = PAPER_GEOMETRY
    return g["wavelength"] * g["distance"] / (int(n_pixels) * g["pixel_size"]) * 1e9


def mitochondrion_object(shape=128, extent: float = 0.42, phase_contrast: float = 0.1,
                         seed: int | None = None) -> np.ndarray:
    """A weakly scattering, mitochondrion-like object.

    A rotated capsule (aspect 0.35 to 0.55) bounded by a double membrane, filled with a
    low-contrast matrix whose density fluctuates smoothly, crossed by 5 to 9 thin, wavy
    cristae (membrane folds from the boundary inwards, of varying length). The exit wave
    of a weak scatterer departs from the incident wave by a term proportional to the
    projected density ``rho`` times ``(delta - i beta)``; a constant factor is a global
    phase, so the object is ``rho exp(i phase_contrast * rho)``: nearly real, with a weak
    phase that follows the density.

    Parameters
    ----------
    shape, extent
        As for :func:`cdi_plugins.simulate.biological_object` (even sizes; long axis at
        most half the array, so that the pattern is oversampled at least twice).
    phase_contrast : float
        Phase in radians at the densest point (0: a real object).
    seed : int, optional
        Seed of the shape, orientation and inner structure.

    Returns
    -------
    numpy.ndarray
        complex64 ``(H, W)``, centred, maximum amplitude 1.

    Example
    -------
    >>> o = mitochondrion_object(64, seed=1)
    >>> round(float(abs(o).max()), 6), float(np.angle(o[abs(o) > 0]).max()) <= 0.1 + 1e-6
    (1.0, True)
    """
    shape = check_shape(shape)
    extent = check_extent(extent)
    rng = np.random.default_rng(seed)
    h, w = shape
    y, x = np.mgrid[:h, :w].astype(np.float64)
    y -= h // 2
    x -= w // 2
    angle = rng.uniform(0, np.pi)
    aspect = rng.uniform(0.35, 0.55)
    # a capsule of length 2 * half spans at most 2 * half along any axis, whatever the angle
    half = 0.5 * extent * min(shape) * 0.97
    radius = aspect * half
    c, s = np.cos(angle), np.sin(angle)
    u = c * x + s * y            # along the long axis
    v = -s * x + c * y           # across it
    bend = rng.uniform(-0.15, 0.15) * radius * (u / half) ** 2
    v = v - bend
    core = max(half - radius, 0.0)
    # signed distance to a capsule of half-length `half` and radius `radius` (< 0 inside)
    du = np.clip(np.abs(u) - core, 0, None)
    dist = np.sqrt(du ** 2 + v ** 2) - radius
    body = np.clip(-dist / 1.2, 0, 1)
    membrane = np.exp(-((dist + 1.0) ** 2) / 0.8) + np.exp(-((dist + 2.6) ** 2) / 0.8)
    texture = ndimage.gaussian_filter(rng.standard_normal(shape), 3.0)
    texture /= np.abs(texture).max() + 1e-12
    cristae = np.zeros(shape)
    n_cristae = int(rng.integers(5, 10))
    for pos in np.linspace(-0.8, 0.8, n_cristae) * core + rng.normal(0, 1.0, n_cristae):
        side = rng.choice([-1.0, 1.0])
        length = rng.uniform(0.5, 1.6) * radius      # from one wall inwards or across
        tilt = rng.uniform(-0.4, 0.4)
        wave = rng.uniform(0.5, 1.5) * np.sin(v / radius * np.pi * rng.uniform(0.5, 1.5))
        cu = u - pos - tilt * v - wave
        # the fold starts at the wall (v = side * radius) and runs `length` inwards
        reach = (side * v) > (radius - length)
        cristae += np.exp(-(cu ** 2) / 1.0) * reach * rng.uniform(0.5, 0.9)
    dens = body * (0.35 + 0.08 * texture + 0.45 * cristae) + 0.55 * membrane * (dist < 0.5)
    dens = np.clip(dens * (dist < 0.5), 0, None)
    dens = ndimage.gaussian_filter(dens, 0.5)
    dens[np.abs(dens) < 1e-3 * dens.max()] = 0
    dens /= dens.max()
    return (dens * np.exp(1j * phase_contrast * dens)).astype(np.complex64)


def mitochondrion_pattern(obj, photons: float | None, beamstop: float = 2.0,
                          background: float = 0.0, seed: int | None = None
                          ) -> SimulatedPattern:
    """Background-subtracted, low-signal diffraction pattern of ``obj``.

    The pattern is sampled on the effective pixels of the paper's detector (20 um pixels
    binned 3 x 3 and deconvolved for the binning, as Pan et al. did after Song et al.
    2007): ``photons`` expected scattered counts with Poisson noise, plus a diffuse
    background of ``background`` photons per pixel (parasitic scattering, dark current
    and read-out of the binned CCD) that is drawn with its own Poisson noise and then
    subtracted, as a measured pattern is; negative values are clipped to zero. Pixels
    within ``beamstop`` pixels of the centre are missing.

    The background leaves a photon-independent noise floor at high frequency, which is
    what the Wiener filter of the wPRTF (eq. 2 of Pan et al. 2022) estimates.

    Parameters
    ----------
    obj : array_like
        Complex ``(H, W)`` object, centred, oversampled at least twice per axis.
    photons : float or None
        Expected scattered photons (before the beamstop); None for a noiseless pattern.
    beamstop : float
        Beamstop radius in pixels.
    background : float
        Mean background photons per pixel (0: Poisson noise of the signal alone).
    seed : int, optional
        Seed of the noise.

    Returns
    -------
    cdi_plugins.simulate.SimulatedPattern

    Example
    -------
    >>> sim = mitochondrion_pattern(mitochondrion_object(64, seed=0), 1e6, background=1,
    ...                             seed=0)
    >>> sim.intensity.shape, bool(sim.mask[32, 32]), float(sim.intensity.min()) >= 0
    ((64, 64), True, True)
    """
    if background < 0:
        raise ValueError(f"background must be >= 0 photons per pixel, got {background}")
    sim = simulate_pattern(obj, photons=photons, beamstop=beamstop, seed=seed)
    if background > 0 and photons is not None:
        rng = np.random.default_rng(None if seed is None else seed + 1_000_003)
        noise = rng.poisson(background, sim.intensity.shape) - background
        sim.intensity = np.where(sim.mask, 0, np.clip(sim.intensity + noise, 0, None)
                                 ).astype(np.float32)
    return sim
