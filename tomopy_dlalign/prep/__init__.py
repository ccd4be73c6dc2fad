"""From raw projections to aligned line integrals.

:mod:`.normalize` (flat/dark correction, ``-log``), :mod:`.defects` (dead, hot,
saturated and zero-count pixels found and replaced), :mod:`.shifts` (sub-pixel shifts and
synthetic jitter), :mod:`.registration` (phase correlation), :mod:`.alignment` (the jitter
correction cycle and its classic baselines), :mod:`.scoring` (residuals against known
jitter) and :mod:`.report` (the alignment QA plots).
"""

from .alignment import AlignInfo, align, align_pc, align_reprojection
from .defects import DefectMap, find_defects, replace_defects
from .normalize import minus_log, normalize
from .registration import phase_correlation
from .scoring import fraction_within, residual_rmse, residuals
from .shifts import add_jitter, shift

__all__ = ["AlignInfo", "DefectMap", "add_jitter", "align", "align_pc", "align_reprojection",
           "find_defects", "fraction_within", "minus_log", "normalize", "phase_correlation",
           "replace_defects", "residual_rmse", "residuals", "shift"]
