"""Coherent diffraction imaging: phase retrieval, ConvRe clustering, PRTF, complex CNN.

The subpackages follow the data path: :mod:`~cdi_plugins.io` (files),
:mod:`~cdi_plugins.physics` (the far-field forward model and the data conventions),
:mod:`~cdi_plugins.simulate` (objects and patterns), :mod:`~cdi_plugins.phasing`
(iterative phase retrieval), :mod:`~cdi_plugins.metrics` (chi^2, PRTF, resolution),
:mod:`cdi_plugins.convre` (clustering of runs), :mod:`~cdi_plugins.cnn` (the complex
CNN) and :mod:`~cdi_plugins.cli` (the ``cdi-plugins`` command).

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

from . import cnn, io, metrics, simulate
from .cnn import unwrap_phase
from .convre import ConvReResult, convre
from .metrics import prtf, resolution
from .phasing import (
    ER,
    HIO,
    OSS,
    RAAR,
    Algorithm,
    LowResolution,
    PhasingResult,
    Schedule,
    ShrinkWrap,
    algorithms,
    as_schedule,
    auto_support,
    parse_schedule,
    phase_retrieval,
    random_start,
    support_from_autocorrelation,
)
from .simulate import superellipsoid

__all__ = [
    "__version__", "algorithms", "io", "metrics", "simulate",
    "phase_retrieval", "PhasingResult", "random_start", "support_from_autocorrelation",
    "auto_support",
    "prtf", "resolution", "ShrinkWrap", "LowResolution",
    "cnn", "superellipsoid", "unwrap_phase",
    "Algorithm", "Schedule", "ER", "HIO", "RAAR", "OSS", "as_schedule", "parse_schedule",
    "convre", "ConvReResult",
]
