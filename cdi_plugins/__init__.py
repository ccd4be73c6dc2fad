"""Coherent diffraction imaging: phase retrieval, ConvRe clustering, PRTF, complex CNN.

The subpackages follow the data path: :mod:`~cdi_plugins.io` (files),
:mod:`~cdi_plugins.physics` (the far-field forward model and the data conventions),
:mod:`~cdi_plugins.simulate` (objects and patterns), :mod:`~cdi_plugins.phasing`
(iterative phase retrieval), :mod:`~cdi_plugins.metrics` (chi^2, PRTF, resolution),
:mod:`cdi_plugins.convre` (clustering of runs), :mod:`~cdi_plugins.cnn` (the complex
CNN) and :mod:`~cdi_plugins.cli` (the ``cdi-plugins`` command).

The public names are imported at first use (PEP 562), so that ``cdi-plugins --help``
answers before torch loads. ``cdi_plugins.convre`` is the function
:func:`~cdi_plugins.convre.convre`, as it always was; its subpackage is
``import cdi_plugins.convre`` (or ``from cdi_plugins.convre import ...``) as usual.

Example
-------
>>> import cdi_plugins as cdi
>>> sim = cdi.simulate.simulate_pattern(cdi.simulate.biological_object(64, seed=0),
...                                     photons=None)
>>> res = cdi.phase_retrieval(sim.intensity, algorithm="hio", n_iter=20, seed=0, device="cpu")
>>> res.objects.shape
(1, 64, 64)
"""

import sys
import types

from tomopy_dlalign.common.launch import lazy_exports

#: public name -> the module that defines it (relative to this package)
_EXPORTS = {
    "__version__": "tomopy_dlalign.common",
    "unwrap_phase": ".cnn", "convre": ".convre", "ConvReResult": ".convre",
    "prtf": ".metrics", "resolution": ".metrics", "superellipsoid": ".simulate",
    **dict.fromkeys(
        ("ER", "HIO", "OSS", "RAAR", "Algorithm", "LowResolution", "PhasingResult",
         "Schedule", "ShrinkWrap", "SupportGrowth", "algorithms", "as_schedule", "auto_support",
         "parse_schedule", "phase_retrieval", "random_start",
         "support_from_autocorrelation"), ".phasing"),
}
#: subpackages reachable as attributes of the package once it is imported
_SUBPACKAGES = ("bragg", "cli", "cnn", "hooks", "io", "metrics", "phasing", "physics", "simulate")

__all__ = [
    "__version__", "algorithms", "io", "metrics", "simulate",
    "phase_retrieval", "PhasingResult", "random_start", "support_from_autocorrelation",
    "auto_support",
    "prtf", "resolution", "ShrinkWrap", "LowResolution", "SupportGrowth",
    "cnn", "superellipsoid", "unwrap_phase",
    "Algorithm", "Schedule", "ER", "HIO", "RAAR", "OSS", "as_schedule", "parse_schedule",
    "convre", "ConvReResult",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, _SUBPACKAGES)


class _Package(types.ModuleType):
    """This package's module type: the import system binds every subpackage it loads
    as an attribute of its parent, which would make ``cdi_plugins.convre`` the
    subpackage once anything imports ``cdi_plugins.convre.<module>`` first; the public
    name is the function (``cdi.convre(runs, ...)``), so the subpackage is not bound
    over it (it stays reachable in ``sys.modules``)."""

    def __setattr__(self, name: str, value) -> None:
        if name == "convre" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
