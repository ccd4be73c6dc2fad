"""Files in and out for diffraction: detector frames, CXI, Data Exchange, results.

- :mod:`~cdi_plugins.io.cxi`: CXI patterns (:func:`read_cxi`, :func:`write_cxi`) and the
  far-field :class:`Geometry`;
- :mod:`~cdi_plugins.io.results`: Data Exchange patterns (:func:`read_dx`,
  :func:`write_dx`) and phasing results (:func:`write_result`, :func:`read_result`);
- :mod:`~cdi_plugins.io.detector`: detector frames from EDF, TIFF, NeXus/HDF5
  (:func:`read_frames`);
- :mod:`~cdi_plugins.io.prepare`: frames to a phasing-ready pattern (:func:`prepare`:
  masks, centre, crop, binning, Friedel fill) and its figure (:func:`save_prepare_report`);
- :mod:`~cdi_plugins.io.corrections`: dark, flat-field and threshold corrections
  (:func:`read_calibration`, :func:`correct_frames`);
- :mod:`~cdi_plugins.io.rocking`: a Bragg rocking-curve scan to a 3D pattern
  (:func:`prepare_3d`), with its SPEC metadata (:mod:`~cdi_plugins.io.spec`:
  :func:`read_spec_scan`).
"""

from .corrections import Calibration, correct_frames, read_calibration
from .cxi import MASK_MISSING, PLANCK_C, Geometry, read_cxi, read_cxi_geometry, write_cxi
from .detector import NEXUS_DATA, Frames, read_frames
from .prepare import (
    PreparedPattern,
    bin_pattern,
    crop_box,
    data_mask,
    fft_size,
    fill_friedel,
    find_centre,
    hot_pixels,
    prepare,
)
from .report import save_prepare_report
from .results import read_dx, read_result, write_dx, write_result
from .rocking import PreparedPattern3D, prepare_3d
from .spec import SpecScan, read_spec_scan, spec_scans

__all__ = [
    "Geometry", "PLANCK_C", "MASK_MISSING", "read_cxi", "write_cxi", "read_cxi_geometry",
    "read_dx", "write_dx", "read_result", "write_result",
    "Frames", "NEXUS_DATA", "read_frames",
    "PreparedPattern", "prepare", "find_centre", "data_mask", "bin_pattern", "fill_friedel",
    "fft_size", "save_prepare_report", "crop_box", "hot_pixels",
    "Calibration", "read_calibration", "correct_frames",
    "PreparedPattern3D", "prepare_3d", "SpecScan", "read_spec_scan", "spec_scans",
]
