"""Bragg CDI post-processing: from a phased 3D crystal to its displacement and strain.

- :mod:`~cdi_plugins.bragg.geometry`: the scan's geometry (:class:`BraggGeometry`), the
  detector-to-laboratory transform and :func:`orthogonalise`;
- :mod:`~cdi_plugins.bragg.postprocess`: centring, phase ramp and offset
  (:func:`remove_phase_ramp`), displacement and strain along ``Q``
  (:func:`postprocess`);
- :mod:`~cdi_plugins.bragg.files`: the results in HDF5 (:func:`write_bragg`,
  :func:`read_bragg`);
- :mod:`~cdi_plugins.bragg.report`: the three central slices as a PNG
  (:func:`save_bragg_report`).
"""

from .files import read_bragg, write_bragg
from .geometry import BraggGeometry, orthogonalise
from .postprocess import (
    BraggResult,
    PhaseRamp,
    centre_object,
    displacement,
    postprocess,
    remove_phase_ramp,
    strain,
    support_from_amplitude,
    unwrapped_phase,
)
from .report import save_bragg_report

__all__ = [
    "BraggGeometry", "orthogonalise", "BraggResult", "PhaseRamp", "postprocess",
    "remove_phase_ramp", "centre_object", "displacement", "strain",
    "support_from_amplitude", "unwrapped_phase", "write_bragg", "read_bragg",
    "save_bragg_report",
]
