"""From raw projections to aligned line integrals.

:mod:`.normalize` (flat/dark correction, ``-log``), :mod:`.shifts` (sub-pixel shifts and
synthetic jitter), :mod:`.registration` (phase correlation), :mod:`.alignment` (the jitter
correction cycle and its classic baselines), :mod:`.scoring` (residuals against known
jitter) and :mod:`.report` (the alignment QA plots).
"""

from .alignment import AlignInfo, align, align_pc, align_reprojection
from .normalize import minus_log, normalize
from .registration import phase_correlation
from .scoring import fraction_within, residual_rmse, residuals
from .shifts import add_jitter, shift

__all__ = ["AlignInfo", "add_jitter", "align", "align_pc", "align_reprojection",
           "fraction_within", "minus_log", "normalize", "phase_correlation", "residual_rmse",
           "residuals", "shift"]
