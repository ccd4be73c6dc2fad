"""Simulated data: objects, their noisy diffraction patterns with missing data, and the
training data of the two networks.

- :mod:`~cdi_plugins.simulate.objects`: biological-like and crystalline objects, and a
  faceted 3D nanocrystal (:func:`crystal_object_3d`, Bragg CDI);
- :mod:`~cdi_plugins.simulate.patterns`: far-field patterns with photon noise, beamstop,
  detector gaps, binning and Friedel filling (:func:`simulate_pattern`);
- :mod:`~cdi_plugins.simulate.superellipsoid`: strong-phase superellipsoid particles, the
  complex CNN's training data (Wu et al. 2021);
- :mod:`~cdi_plugins.simulate.faceted`: faceted, strained crystals, whole in 3D
  (:func:`faceted_crystal_3d`, Bragg CDI) or as measured Bragg frames (the CNN's Bragg
  training data);
- :mod:`~cdi_plugins.simulate.mitochondria`: mitochondrion-like objects at low signal,
  ConvRe's training and benchmark objects (Pan et al. 2022).

Example
-------
>>> from cdi_plugins import simulate
>>> obj = simulate.biological_object(128, seed=0)
>>> sim = simulate.simulate_pattern(obj, photons=1e7, beamstop=3, gaps=2, seed=0)
>>> sim.intensity.shape, sim.mask.dtype, min(simulate.oversampling_ratio(obj)) >= 2
((128, 128), dtype('bool'), True)
"""

from .faceted import FacetedCrystal, faceted_crystal_3d
from .objects import biological_object, crystal_object, crystal_object_3d, oversampling_ratio
from .patterns import (
    SimulatedPattern,
    beamstop_mask,
    bin_pattern,
    centrosymmetric_fill,
    diffraction,
    friedel_mate,
    gap_mask,
    simulate_pattern,
    superellipsoid_patterns,
)

__all__ = [
    "biological_object", "crystal_object", "crystal_object_3d", "oversampling_ratio",
    "faceted_crystal_3d", "FacetedCrystal",
    "diffraction",
    "beamstop_mask", "gap_mask", "bin_pattern", "friedel_mate", "centrosymmetric_fill",
    "SimulatedPattern", "simulate_pattern", "superellipsoid_patterns",
]
