"""Files in and out: Data Exchange HDF5 (:mod:`.dxchange`) and TIFF stacks (:mod:`.tiff`).

Angles are radians in memory and degrees on disk; the conversion happens here and
nowhere else.
"""

from .dxchange import read_dataset, read_dx, write_dx
from .tiff import read_tiff_stack, write_tiff_stack

__all__ = ["read_dataset", "read_dx", "read_tiff_stack", "write_dx", "write_tiff_stack"]
