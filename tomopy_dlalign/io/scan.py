"""The one result every reader returns: :class:`Scan`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..common.process import ProcessRecord
from .lazy import LazyStack


@dataclass
class Scan:
    """A tomographic scan as read from a file, in TomoPy's conventions.

    Attributes
    ----------
    data : ndarray or LazyStack, shape (nproj, nslice, ncol)
        Projections in the dtype the file stores (``uint16`` for most detectors; use
        ``tda.normalize`` to get ``float32``). A :class:`LazyStack` when read with
        ``lazy=True`` from HDF5; a ``numpy.memmap`` for uncompressed TIFF.
    flat, dark : ndarray (n, nslice, ncol) or None
        Flat (reference, white) and dark fields, stored dtype; None when the file has none.
    theta : ndarray (nproj,) float64 or None
        Rotation angles in **radians**; None for a single image or a file without angles.
    pixel_size : float or None
        Detector pixel size in the sample plane, in **metres**.
    energy : float or None
        X-ray energy in **keV**.
    center : float or None
        Rotation axis position in pixels along ``ncol`` when the file records one.
    metadata : dict
        The file's own fields, in the file's own names and units.
    source : str
        The file or folder read.
    format : str
        ``"txrm"``, ``"xrm"``, ``"nxtomo"``, ``"dxchange"`` or ``"tiff"``.
    state : str
        What ``data`` hold, from the file's ``/process/state``
        (:mod:`tomopy_dlalign.common.process`): ``"raw"`` counts (flats and darks apply),
        ``"normalized"``, ``"line_integrals"``, ``"aligned"`` or ``"reconstruction"``.
        A file that records none is read as ``"raw"`` (logged); TXM files always are.
    process : ProcessRecord or None
        The file's whole record (its steps and their parameters), None when it has none.
    """

    data: np.ndarray | LazyStack
    flat: np.ndarray | None = None
    dark: np.ndarray | None = None
    theta: np.ndarray | None = None
    pixel_size: float | None = None
    energy: float | None = None
    center: float | None = None
    metadata: dict = field(default_factory=dict)
    source: str = ""
    format: str = ""
    state: str = "raw"
    process: ProcessRecord | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(nproj, nslice, ncol)`` of ``data``."""
        return tuple(self.data.shape)

    def __repr__(self) -> str:
        def desc(a):
            return "None" if a is None else f"{tuple(a.shape)} {a.dtype}"
        return (f"Scan({self.format} {self.source!r}: data {desc(self.data)}, "
                f"flat {desc(self.flat)}, dark {desc(self.dark)}, "
                f"theta {desc(self.theta)}, pixel_size={self.pixel_size}, "
                f"energy={self.energy}, center={self.center}, state={self.state!r})")
