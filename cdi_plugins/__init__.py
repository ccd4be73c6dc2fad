"""Coherent diffraction imaging: phase retrieval, ConvRe clustering, PRTF, complex CNN.

Example
-------
>>> import cdi_plugins as cdi
>>> sim = cdi.simulate.simulate_pattern(cdi.simulate.biological_object(64, seed=0),
...                                     photons=None)
>>> res = cdi.phase_retrieval(sim.intensity, algorithm="hio", n_iter=20, seed=0, device="cpu")
>>> res.objects.shape
(1, 64, 64)
"""

from tomopy_dlalign.common import __version__

from . import algorithms, cnn, io, metrics, simulate, superellipsoid
from .algorithms import ER, HIO, OSS, RAAR, Algorithm, Schedule, as_schedule, parse_schedule
from .clustering import ConvReResult, convre
from .cnn import unwrap_phase
from .metrics import prtf, resolution
from .phasing import PhasingResult, phase_retrieval, random_start, support_from_autocorrelation
from .shrinkwrap import ShrinkWrap

__all__ = [
    "__version__", "algorithms", "io", "metrics", "simulate",
    "phase_retrieval", "PhasingResult", "random_start", "support_from_autocorrelation",
    "prtf", "resolution", "ShrinkWrap",
    "cnn", "superellipsoid", "unwrap_phase",
    "Algorithm", "Schedule", "ER", "HIO", "RAAR", "OSS", "as_schedule", "parse_schedule",
    "convre", "ConvReResult",
]
