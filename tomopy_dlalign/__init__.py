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

from importlib import import_module

#: public name -> the subpackage that defines it
_EXPORTS = {
    "__version__": "common",
    "JitterNet": "models", "load_model": "models",
    "add_jitter": "prep", "align": "prep", "align_pc": "prep",
    "align_reprojection": "prep", "minus_log": "prep", "normalize": "prep", "shift": "prep",
    "Projector": "recon", "fbp": "recon", "find_center": "recon", "make_projector": "recon",
    "mlem": "recon", "reproject": "recon",
    "align_many": "scale",
    "adapt": "training", "train": "training",
}
#: subpackages reachable as attributes of the package once it is imported
_SUBPACKAGES = ("common", "compat", "io", "models", "plugins", "prep", "recon", "scale",
                "simulate", "training")

__all__ = sorted([*_EXPORTS, "compat", "io", "plugins", "simulate"])


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    elif name in _SUBPACKAGES:
        value = import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS, *_SUBPACKAGES})
