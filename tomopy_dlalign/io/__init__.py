"""Files in and out, behind one entry point: :func:`read` returns a :class:`Scan`.

Formats: Zeiss/Xradia ``.txrm``/``.xrm`` (:mod:`.txm`), NeXus NXtomo (:mod:`.nexus`),
Data Exchange HDF5 (:mod:`.dxchange`) and TIFF stacks (:mod:`.tiff`). Angles are radians
in memory and degrees on disk, pixel sizes metres and energies keV; the conversions
happen here and nowhere else. See ``docs/readers.md``.
"""

from .dispatch import read
from .dxchange import read_dataset, read_dx, write_dx
from .lazy import LazyStack
from .nexus import find_nxtomo_entries, read_nxtomo, write_nxtomo
from .scan import Scan
from .selection import index_range
from .tiff import read_tiff, read_tiff_stack, write_tiff_stack
from .txm import read_txrm, read_xrm

__all__ = [
    "LazyStack",
    "Scan",
    "find_nxtomo_entries",
    "index_range",
    "read",
    "read_dataset",
    "read_dx",
    "read_nxtomo",
    "read_tiff",
    "read_tiff_stack",
    "read_txrm",
    "read_xrm",
    "write_dx",
    "write_nxtomo",
    "write_tiff_stack",
]
