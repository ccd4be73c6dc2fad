"""Deep-learning jitter correction for nano-tomography, with TomoPy's conventions.

Arrays are ``(nproj, nslice, ncol)`` projections, ``theta`` in radians and ``center`` in
pixels, exactly as in TomoPy, so the functions here sit beside ``tomopy.recon``::

    import tomopy_dlalign as tda
    prj, flat, dark, theta = tda.io.read_dx("scan.h5")
    prj = tda.minus_log(tda.normalize(prj, flat, dark))
    rec = tda.mlem(prj, theta, num_iter=20)
"""

from . import compat, io, plugins, simulate
from .common import __version__
from .models import JitterNet, load_model
from .prep import add_jitter, align, align_pc, align_reprojection, minus_log, normalize, shift
from .recon import Projector, fbp, find_center, make_projector, mlem, reproject
from .scale import align_many
from .training import adapt, train

__all__ = [
    "JitterNet",
    "Projector",
    "adapt",
    "align",
    "align_pc",
    "align_reprojection",
    "align_many",
    "load_model",
    "train",
    "__version__",
    "add_jitter",
    "compat",
    "fbp",
    "find_center",
    "io",
    "make_projector",
    "minus_log",
    "mlem",
    "normalize",
    "plugins",
    "reproject",
    "shift",
    "simulate",
]
