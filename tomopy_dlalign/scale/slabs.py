"""MLEM, FBP and reprojection over slabs of slices, for stacks larger than memory.

In parallel-beam geometry each slice (detector row) is reconstructed and reprojected
on its own: :func:`tomopy_dlalign.mlem` of a slab of rows is exactly those rows of the
MLEM of the whole stack (its starting level is set per slice, its system matrix is
shared by all slices). :func:`mlem_slabs`, :func:`fbp_slabs` and
:func:`reproject_slabs` run the public functions of :mod:`tomopy_dlalign.recon` on one
slab per task, in this process or on a Dask cluster, read each slab from where the
stack lives (an array, a :class:`~tomopy_dlalign.io.LazyStack`, a Dask array or a scan
file) and either return the whole result or write it slab by slab into one HDF5 file,
so that no process ever holds more than a slab.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import numpy as np

from ..common.cluster import open_cluster, parse_cluster, run_tasks, worker_memory_limit
from ..common.validation import as_theta
from .blocks import (
    CHUNK_BYTES,
    ScanSource,
    bounds,
    check_size,
    h5_output,
    projections_per_block,
    read_window,
    rows_per_slab,
    window_spec,
)

logger = logging.getLogger(__name__)


def projector(theta, ncol: int, center: float, backend: str = "auto", device: str = "auto"):
    """The projector a slab task builds: :func:`tomopy_dlalign.make_projector`, except
    that ``backend="auto"`` also weighs the worker's memory limit: the ``cpu`` backend's
    system matrix must take under a third of it, else the matrix-free ``torch``
    backend is used (without a limit, the machine's free memory decides as usual)."""
    from ..recon import make_projector
    from ..recon.projectors import system_matrix_bytes

    limit = worker_memory_limit()
    if backend in (None, "auto") and limit and device in ("auto", "cpu"):
        if system_matrix_bytes(len(theta), ncol) > limit / 3:
            backend = "torch"
    return make_projector(theta, ncol, center, backend=backend, device=device)


def as_source(tomo, name: str = "tomo"):
    """``tomo`` as something a task can read windows of: an array stays an array; a path
    becomes a :class:`ScanSource` (line integrals); a LazyStack, h5py-like or Dask array
    is kept as it is. Returns ``(source, shape)``."""
    if isinstance(tomo, (str, os.PathLike)):
        src = ScanSource(tomo)
        return src, src.shape
    if isinstance(tomo, np.ndarray) or not hasattr(tomo, "shape"):
        arr = np.asarray(tomo, np.float32)
        if arr.ndim != 3:
            raise ValueError(f"{name} must be 3D, got shape {arr.shape}")
        return arr, arr.shape
    if len(tomo.shape) != 3:
        raise ValueError(f"{name} must be 3D, got shape {tuple(tomo.shape)}")
    return tomo, tuple(int(n) for n in tomo.shape)


def _mlem_task(spec, theta, center, num_iter, init, backend, device):
    from ..recon import mlem

    y = read_window(spec)
    A = projector(theta, y.shape[2], center, backend, device)
    x0 = None if init is None else read_window(init)
    return mlem(y, theta, num_iter=num_iter, init_recon=x0, projector=A, show_progress=False)


def _fbp_task(spec, theta, center, filter_name, backend, device):
    from ..recon import fbp

    y = read_window(spec)
    A = projector(theta, y.shape[2], center, backend, device)
    return fbp(y, theta, filter_name=filter_name, projector=A)


def _reproject_task(spec, theta, center, backend, device):
    from ..recon import reproject

    vol = read_window(spec)
    A = projector(theta, vol.shape[2], center, backend, device)
    return reproject(vol, theta, projector=A)


def _theta(src, theta):
    """``theta``, or the angles of the scan file ``src`` when it is None."""
    return src.theta if theta is None and isinstance(src, ScanSource) else theta


def _check(theta, nproj, center, ncol):
    th = as_theta(theta, nproj, distinct=2)  # as mlem and fbp: one direction reconstructs nothing
    if center is None:
        return th, ncol / 2.0
    if isinstance(center, str):
        raise ValueError(f"center must be a number of pixels or None (ncol / 2) for slab-wise "
                         f"work, got {center!r}; find it first with tda.find_center or "
                         "tomopy_dlalign.scale.find_center_lazy")
    from ..common.validation import as_center

    return th, as_center(center, ncol)


def _gather_slabs(task: Callable, tasks: list, cuts, out_shape, axis: int, cluster, output,
                  desc: str, show_progress, memory_limit, history=None, state="reconstruction",
                  step="recon", parameters=None, units="1/pixel"):
    """Run one task per slab and put each result at its place along ``axis``: in an
    array returned, or with ``output`` in that HDF5 file, written slab by slab."""
    parse_cluster(cluster)
    with open_cluster(cluster, memory_limit=memory_limit) as client:
        if output is None:
            out = np.empty(out_shape, np.float32)
            for res in run_tasks(task, tasks, client, desc=desc, show_progress=show_progress):
                a, b = cuts[res.index]
                out[(slice(None),) * axis + (slice(a, b),)] = res.value
            return out
        with h5_output(output, out_shape, units, state, step, parameters, history) as f:
            ds = f["exchange/data"]
            for res in run_tasks(task, tasks, client, desc=desc, show_progress=show_progress):
                a, b = cuts[res.index]
                ds[(slice(None),) * axis + (slice(a, b),)] = res.value
        return os.fspath(output)


def mlem_slabs(tomo, theta, center: float | None = None, num_iter: int = 20, init_recon=None,
               cluster=None, slab: int | None = None, output: str | os.PathLike | None = None,
               backend: str = "auto", device: str = "auto", memory_limit=None,
               show_progress: bool | None = None):
    """:func:`tomopy_dlalign.mlem` one slab of slices per task.

    Parameters
    ----------
    tomo : ndarray, LazyStack, Dask array or path
        Line integrals ``(nproj, nslice, ncol)``; a scan file is read window by window
        (:class:`~tomopy_dlalign.scale.blocks.ScanSource`, normalised as its
        ``/process/state`` says).
    theta : ndarray
        Angles in radians.
    center : float or None
        Rotation axis in pixels; None is ``ncol / 2``. ``"auto"`` is not taken here:
        find it first (:func:`find_center_lazy` reads only the row sums).
    num_iter, init_recon
        As for :func:`tomopy_dlalign.mlem` (``init_recon`` of the whole volume, any
        array-like; each task reads its slab of it).
    cluster
        Where the slabs run (:mod:`tomopy_dlalign.common.cluster`); None: here.
    slab : int, optional
        Slices per task; default about 32 MB of projections and slices per task.
    output : str or Path, optional
        Write the volume slab by slab into this HDF5 file (``/exchange/data``,
        atomically) and return its path, instead of returning an array.
    backend, device
        Projector of each task (:func:`projector`).

    Returns
    -------
    ndarray (nslice, ncol, ncol) or str
        The reconstruction, equal to ``tda.mlem`` of the whole stack to float
        precision, or the path of ``output``.

    Example
    -------
    >>> import numpy as np
    >>> theta = np.linspace(0, np.pi, 30, endpoint=False)
    >>> mlem_slabs(np.ones((30, 4, 16), np.float32), theta, num_iter=2, slab=2).shape
    (4, 16, 16)
    """
    src, (nproj, nslice, ncol) = as_source(tomo)
    th, c = _check(_theta(src, theta), nproj, center, ncol)
    if isinstance(num_iter, bool) or not isinstance(num_iter, (int, np.integer)) or num_iter < 1:
        raise ValueError(f"num_iter must be a positive integer (0 iterations would return "
                         f"the starting image), got {num_iter!r}")
    rows = check_size(slab, "slab") or rows_per_slab(nproj, ncol, CHUNK_BYTES)
    cuts = bounds(nslice, rows)
    init = None if init_recon is None else as_source(init_recon, "init_recon")[0]
    tasks = [(window_spec(src, (0, nproj), cut),
              th, c, int(num_iter),
              None if init is None else window_spec(init, cut, (0, ncol)), backend, device)
             for cut in cuts]
    return _gather_slabs(_mlem_task, tasks, cuts, (nslice, ncol, ncol), 0, cluster, output,
                         "mlem slabs", show_progress, memory_limit,
                         history=src.path if isinstance(src, ScanSource) else None,
                         parameters={"command": "recon", "algorithm": "mlem",
                                     "num_iter": int(num_iter), "center": c})


def fbp_slabs(tomo, theta, center: float | None = None, filter_name: str = "shepp",
              cluster=None, slab: int | None = None, output: str | os.PathLike | None = None,
              backend: str = "auto", device: str = "auto", memory_limit=None,
              show_progress: bool | None = None):
    """:func:`tomopy_dlalign.fbp` one slab of slices per task; arguments and result as
    :func:`mlem_slabs` (each row is filtered on its own, so slabs are exact)."""
    from ..recon.fbp import FILTERS

    if filter_name not in FILTERS:
        raise ValueError(f"filter_name must be one of {FILTERS}, got {filter_name!r}")
    src, (nproj, nslice, ncol) = as_source(tomo)
    th, c = _check(_theta(src, theta), nproj, center, ncol)
    rows = check_size(slab, "slab") or rows_per_slab(nproj, ncol, CHUNK_BYTES)
    cuts = bounds(nslice, rows)
    tasks = [(window_spec(src, (0, nproj), cut), th, c, filter_name, backend, device)
             for cut in cuts]
    return _gather_slabs(_fbp_task, tasks, cuts, (nslice, ncol, ncol), 0, cluster, output,
                         "fbp slabs", show_progress, memory_limit,
                         history=src.path if isinstance(src, ScanSource) else None,
                         parameters={"command": "recon", "algorithm": "fbp",
                                     "filter_name": filter_name, "center": c})


def reproject_slabs(rec, theta, center: float | None = None, cluster=None,
                    slab: int | None = None, output: str | os.PathLike | None = None,
                    backend: str = "auto", device: str = "auto", memory_limit=None,
                    show_progress: bool | None = None):
    """:func:`tomopy_dlalign.reproject` of a volume ``(nslice, ncol, ncol)`` one slab of
    slices per task; returns ``(nproj, nslice, ncol)`` (or writes it to ``output``)."""
    src, (nslice, ny, ncol) = as_source(rec, "rec")
    if ny != ncol:
        raise ValueError(f"rec must have shape (nslice, ncol, ncol), got {(nslice, ny, ncol)}")
    th, c = _check(theta, len(np.atleast_1d(theta)), center, ncol)
    rows = check_size(slab, "slab") or rows_per_slab(len(th), ncol, CHUNK_BYTES)
    cuts = bounds(nslice, rows)
    tasks = [(window_spec(src, cut, (0, ncol)), th, c, backend, device) for cut in cuts]
    return _gather_slabs(_reproject_task, tasks, cuts, (len(th), nslice, ncol), 1, cluster,
                         output, "reproject slabs", show_progress, memory_limit,
                         state="line_integrals", step="reproject",
                         parameters={"command": "reproject", "center": c}, units="1/pixel")


def _row_sums_task(spec):
    return read_window(spec).sum(axis=1, dtype=np.float64)


def find_center_lazy(tomo, theta=None, cluster=None, block: int | None = None,
                     show_progress: bool | None = None) -> float:
    """:func:`tomopy_dlalign.find_center` of a stack too large to load: both of its
    estimators use only the projections summed over detector rows, which are read here
    one block of projections per task."""
    from ..recon.center import resolve_center

    src, (nproj, nslice, ncol) = as_source(tomo)
    th = as_theta(_theta(src, theta), nproj)
    size = check_size(block, "block") or projections_per_block(nslice, ncol, CHUNK_BYTES)
    cuts = bounds(nproj, size)
    sums = np.empty((nproj, ncol), np.float64)
    with open_cluster(cluster) as cl:
        for res in run_tasks(_row_sums_task, [(window_spec(src, cut, (0, nslice)),)
                                              for cut in cuts], cl, desc="row sums",
                             show_progress=show_progress):
            a, b = cuts[res.index]
            sums[a:b] = res.value
    return resolve_center("auto", sums[:, None, :].astype(np.float32), th)

