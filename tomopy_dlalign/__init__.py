"""Deep-learning jitter correction for nano-tomography, with TomoPy's conventions.

Arrays are ``(nproj, nslice, ncol)`` projections, ``theta`` in radians and ``center`` in
pixels, exactly as in TomoPy, so the functions here sit beside ``tomopy.recon``::

    import tomopy_dlalign as tda
    prj, flat, dark, theta = tda.io.read_dx("scan.h5")
    prj = tda.minus_log(tda.normalize(prj, flat, dark))
    rec = tda.mlem(prj, theta, num_iter=20)

The public names are imported at first use (PEP 562), so that the command lines can
install their Ctrl-C handling (:mod:`tomopy_dlalign.common.launch`) and answer ``--help``
before torch, ASTRA and h5py load.
"""

from .common.launch import lazy_exports

#: public name -> the subpackage that defines it
_EXPORTS = {
    "__version__": ".common",
    "JitterNet": ".models", "load_model": ".models",
    "add_jitter": ".prep", "align": ".prep", "align_pc": ".prep",
    "align_reprojection": ".prep", "minus_log": ".prep", "normalize": ".prep",
    "shift": ".prep",
    "Projector": ".recon", "fbp": ".recon", "find_center": ".recon",
    "make_projector": ".recon", "mlem": ".recon", "reproject": ".recon",
    "align_many": ".scale",
    "adapt": ".training", "train": ".training",
}
#: subpackages reachable as attributes of the package once it is imported
_SUBPACKAGES = ("common", "compat", "io", "models", "plugins", "prep", "recon", "scale",
                "simulate", "training")

__all__ = sorted([*_EXPORTS, "compat", "io", "plugins", "simulate"])


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, _SUBPACKAGES)
