"""Beyond one process: many scans, and scans larger than memory, here or on Dask.

- :mod:`~tomopy_dlalign.scale.many`: :func:`align_many`, one task per scan, resumable,
  with a summary table (:func:`summary_table`);
- :mod:`~tomopy_dlalign.scale.slabs`: :func:`mlem_slabs`, :func:`fbp_slabs`,
  :func:`reproject_slabs` one slab of slices per task, and :func:`find_center_lazy`;
- :mod:`~tomopy_dlalign.scale.large`: :func:`align_large`, the jitter correction of one
  scan larger than memory, block by block and slab by slab, into one HDF5 file;
- :mod:`~tomopy_dlalign.scale.blocks`: blocks, slabs, the lazy scan reader and the
  scratch stores they share.

Where the tasks run is the ``cluster`` argument of each function
(:mod:`tomopy_dlalign.common.cluster`): None for this process, ``"local:N"``,
``"tcp://host:port"``, a Dask ``Client`` or a cluster object. The whole guide:
``docs/scale.md``.
"""

from .large import LargeAlignResult, align_large
from .many import ScanResult, align_many, summary_table
from .slabs import fbp_slabs, find_center_lazy, mlem_slabs, reproject_slabs

__all__ = ["LargeAlignResult", "ScanResult", "align_large", "align_many", "fbp_slabs",
           "find_center_lazy", "mlem_slabs", "reproject_slabs", "summary_table"]
