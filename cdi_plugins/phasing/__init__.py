"""Iterative phase retrieval: the step from a measured pattern to many reconstructions.

- :mod:`~cdi_plugins.phasing.constraints`: the Fourier-modulus and support projections,
  in PyTorch, on a batch of runs;
- :mod:`~cdi_plugins.phasing.algorithms`: ER, HIO, RAAR, OSS and the schedules that
  chain them (a plugin adds more), scaled to another length by :func:`scale_schedule`;
- :mod:`~cdi_plugins.phasing.shrinkwrap`: support updates;
- :mod:`~cdi_plugins.phasing.starts`: starting supports and random starting objects;
- :mod:`~cdi_plugins.phasing.lowres`: the low-resolution start of the default schedule;
- :mod:`~cdi_plugins.phasing.growth`: the support growth judged by the free
  log-likelihood, after the default schedule of a 3D pattern;
- :mod:`~cdi_plugins.phasing.engine`: :func:`phase_retrieval`, the host loop, and its
  :class:`PhasingResult`;
- :mod:`~cdi_plugins.phasing.distributed`: the runs in batches over Dask workers
  (``phase_retrieval(..., cluster=...)``);
- :mod:`~cdi_plugins.phasing.verdict`: whether a phasing is to be believed
  (:func:`assess`, :class:`Verdict`, ``result.quality``);
- :mod:`~cdi_plugins.phasing.report`: the figures of a phasing run.
"""

from .algorithms import (
    ER,
    HIO,
    OSS,
    RAAR,
    Algorithm,
    Schedule,
    as_schedule,
    parse_schedule,
    scale_schedule,
)
from .engine import DEFAULT_SCHEDULE, FREE_FRACTION, PhasingResult, phase_retrieval
from .growth import SupportGrowth
from .lowres import LowResolution
from .shrinkwrap import ShrinkWrap
from .starts import (
    AUTO_SUPPORTS,
    auto_support,
    centred_box,
    random_start,
    support_from_autocorrelation,
)
from .verdict import Verdict, assess

__all__ = [
    "phase_retrieval", "PhasingResult", "DEFAULT_SCHEDULE", "FREE_FRACTION",
    "random_start", "support_from_autocorrelation", "auto_support", "AUTO_SUPPORTS",
    "centred_box", "ShrinkWrap", "LowResolution", "SupportGrowth", "Verdict", "assess",
    "Algorithm", "Schedule", "ER", "HIO", "RAAR", "OSS", "as_schedule", "parse_schedule",
    "scale_schedule",
]
