"""Reconstruction and reprojection: the projector operators, MLEM and FBP.

:mod:`.projectors` holds the forward/adjoint operators built once per geometry (and
:func:`reproject`), :mod:`.center` finds the rotation axis (:func:`find_center`),
:mod:`.mlem` and :mod:`.fbp` are the two reconstructions, with TomoPy's argument names.
"""

from .center import find_center
from .fbp import fbp, ramp_filter
from .mlem import mlem
from .projectors import Projector, make_projector, reproject

__all__ = ["Projector", "fbp", "find_center", "make_projector", "mlem", "ramp_filter", "reproject"]
