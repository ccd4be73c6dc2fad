"""Pieces of stacks that do not fit in memory: where they come from and where they wait.

A stack ``(nproj, nslice, ncol)`` is cut two ways. **Blocks** of projections (all rows of
a few projections) serve the steps that work per projection: binning, shifting, the
network, registration. **Slabs** of slices (all projections of a few detector rows) serve
the steps that work per slice: in parallel-beam geometry every slice reconstructs and
reprojects on its own, so a slab's MLEM, FBP or reprojection is exactly the rows of the
whole stack's.

- :func:`bounds` cuts an axis into ranges; :func:`rows_per_slab` and
  :func:`projections_per_block` size them from a memory budget.
- :class:`ScanSource` reads any window of a scan file as line integrals, on the worker
  that needs it (only that window is read from disk).
- :class:`BlockStore` keeps an intermediate stack on disk as one ``.npy`` file per block
  or slab, each written atomically by the task that made it, and reads any window back
  (memory-mapped, only the part asked for). It is how a stack cut in blocks becomes one
  cut in slabs. Its folder must be visible to the client and every worker (a local disk
  for a ``LocalCluster``, the shared file system on a SLURM/PBS cluster).
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from pathlib import Path

import numpy as np

#: bytes of data one task holds at a time, by default (its working copies come on top)
CHUNK_BYTES = 32 << 20


def bounds(n: int, size: int) -> list[tuple[int, int]]:
    """``[(0, size), (size, 2 size), ..., (.., n)]``: ``n`` items cut ``size`` at a time.

    >>> bounds(5, 2)
    [(0, 2), (2, 4), (4, 5)]
    """
    size = max(1, int(size))
    return [(a, min(a + size, n)) for a in range(0, n, size)]


def rows_per_slab(nproj: int, ncol: int, budget: int = CHUNK_BYTES) -> int:
    """Detector rows per slab such that its projections and its slices (float32) take
    about ``budget`` bytes, at least one."""
    per_row = 4 * (nproj * ncol + ncol * ncol)
    return max(1, int(budget) // per_row)


def projections_per_block(nslice: int, ncol: int, budget: int = CHUNK_BYTES) -> int:
    """Projections per block such that the block (float32) takes about ``budget`` bytes,
    at least one."""
    return max(1, int(budget) // (4 * nslice * ncol))


def check_size(value, name: str) -> int | None:
    """``value`` as a positive int (or None), or a ValueError naming ``name``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
    return int(value)


class ScanSource:
    """Line integrals of a scan file, read window by window where they are needed.

    Parameters
    ----------
    path : str or Path
        Any file :func:`tomopy_dlalign.io.read` reads with ranges (Data Exchange,
        NXtomo, TIFF, TXM).
    prep : bool
        Normalise and ``-log`` the data as the file's ``/process/state`` says
        (:func:`tomopy_dlalign.scale.many.line_integrals`); False reads them as line
        integrals. Raw counts have the defective pixels of the whole detector replaced,
        as found from the flats and darks (:func:`tomopy_dlalign.prep.find_defects`).

    Attributes
    ----------
    shape : tuple
        ``(nproj, nslice, ncol)``.
    theta : ndarray
        Angles in radians.
    center : float or None
        The rotation axis the file records.

    Notes
    -----
    The object holds the file name only, so it pickles to workers; each
    :meth:`window` opens the file, reads the projections and rows asked for (and the
    flats and darks of those rows) and closes it.
    """

    def __init__(self, path: str | os.PathLike, prep: bool = True):
        from .. import io

        self.path = os.fspath(path)
        self.prep = bool(prep)
        scan = io.read(self.path, lazy=Path(self.path).suffix.lower() in _HDF5)
        if scan.theta is None:
            raise ValueError(f"{self.path} holds no rotation angles: not a tomographic scan")
        self.shape = tuple(int(n) for n in scan.data.shape)
        self.theta = np.asarray(scan.theta, np.float64)
        self.center = scan.center
        # one map for every window, from the flats and darks: over the few consecutive
        # angles of a window the sample barely moves, and the data's outlier test would
        # take its detail for defects
        self.defects = None
        if self.prep and scan.state == "raw" and scan.flat is not None:
            from ..prep import find_defects

            dark = scan.dark if scan.dark is not None else np.zeros_like(scan.flat[:1])
            self.defects = find_defects(scan.flat, dark).mask

    def __repr__(self) -> str:
        return f"ScanSource({self.path!r}, shape={self.shape}, prep={self.prep})"

    def window(self, proj: tuple[int, int], rows: tuple[int, int]) -> np.ndarray:
        """Line integrals ``[proj[0]:proj[1], rows[0]:rows[1], :]``, float32."""
        from .. import io
        from .many import line_integrals

        with _quiet("tomopy_dlalign.io"):  # what a window lacks was logged on opening
            scan = io.read(self.path, proj=tuple(proj), sino=tuple(rows))
        defects = True if self.defects is None else self.defects[rows[0]:rows[1]]
        return line_integrals(scan, self.prep, defects)


@contextlib.contextmanager
def _quiet(name: str):
    """Only errors from logger ``name`` (and its children) during the block."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


_HDF5 = (".h5", ".hdf5", ".hdf", ".nx", ".nxs", ".cxi")


class BlockStore:
    """A float32 stack on disk as ``.npy`` pieces cut along one axis.

    Parameters
    ----------
    folder : Path
        Where the pieces go (``<name>_<k>.npy``); created if missing.
    name : str
        Prefix of the pieces' files.
    shape : tuple of int
        Shape of the whole stack.
    cuts : list of (start, stop)
        The pieces along ``axis`` (:func:`bounds`).
    axis : int
        0: blocks of projections (or slices of a volume); 1: slabs of rows of a
        projection stack.
    """

    def __init__(self, folder: str | os.PathLike, name: str, shape, cuts, axis: int):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.shape = tuple(int(n) for n in shape)
        self.cuts = [(int(a), int(b)) for a, b in cuts]
        self.axis = int(axis)

    def path(self, k: int) -> Path:
        return self.folder / f"{self.name}_{k:05d}.npy"

    def write(self, k: int, piece: np.ndarray) -> None:
        """Store piece ``k`` (atomically: a reader never sees half of it)."""
        a, b = self.cuts[k]
        want = list(self.shape)
        want[self.axis] = b - a
        if tuple(piece.shape) != tuple(want):
            raise ValueError(f"piece {k} of {self.name} must have shape {tuple(want)}, got "
                             f"{piece.shape}")
        tmp = self.path(k).with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            np.save(fh, np.ascontiguousarray(piece, np.float32))
        os.replace(tmp, self.path(k))

    def piece(self, k: int) -> np.ndarray:
        """Piece ``k`` read whole."""
        return np.load(self.path(k))

    def read(self, *ranges: tuple[int, int] | None) -> np.ndarray:
        """The window ``ranges`` (one ``(start, stop)`` or None per leading axis) of the
        stack; only the pieces it crosses are opened, only the part asked for is read."""
        sel = [slice(*r) if r is not None else slice(None) for r in ranges]
        sel += [slice(None)] * (len(self.shape) - len(sel))
        lo, hi, _ = sel[self.axis].indices(self.shape[self.axis])
        parts = []
        for k, (a, b) in enumerate(self.cuts):
            if b <= lo or a >= hi:
                continue
            local = list(sel)
            local[self.axis] = slice(max(lo, a) - a, min(hi, b) - a)
            mm = np.load(self.path(k), mmap_mode="r")
            parts.append(np.array(mm[tuple(local)]))
            del mm
        if not parts:
            raise ValueError(f"window {ranges} of {self.name} holds no data")
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=self.axis)

    def remove(self) -> None:
        """Delete the pieces."""
        for k in range(len(self.cuts)):
            with contextlib.suppress(FileNotFoundError):
                self.path(k).unlink()


def read_window(spec) -> np.ndarray:
    """The float32 array a task was given: an array itself, or ``(source, proj, rows)``
    read here from a :class:`ScanSource`, a Dask array (computed in this task, without
    a scheduler of its own) or any array-like that slices lazily (a
    :class:`~tomopy_dlalign.io.LazyStack`)."""
    if not isinstance(spec, tuple):
        return np.asarray(spec, np.float32)
    source, proj, rows = spec
    if isinstance(source, ScanSource):
        return source.window(proj, rows)
    piece = source[proj[0]:proj[1], rows[0]:rows[1]]
    if hasattr(piece, "compute") and hasattr(piece, "dask"):
        with warnings.catch_warnings():  # on purpose: the task computes its own piece
            warnings.filterwarnings("ignore", "Running on a single-machine scheduler")
            piece = piece.compute(scheduler="synchronous")
    return np.asarray(piece, np.float32)


def window_spec(source, proj: tuple[int, int], rows: tuple[int, int]):
    """What a task is handed to read a window of ``source``: the window itself for an
    array in this process's memory, else ``(source, proj, rows)``, read on the worker."""
    if isinstance(source, np.ndarray):
        return np.ascontiguousarray(source[proj[0]:proj[1], rows[0]:rows[1]], np.float32)
    return (source, tuple(proj), tuple(rows))


@contextlib.contextmanager
def h5_output(path: str | os.PathLike, shape, units: str, state: str, step: str,
              parameters: dict | None = None, history: str | os.PathLike | None = None,
              chunks=None, extras: dict | None = None):
    """Open a new Data Exchange file whose ``/exchange/data`` (float32, ``shape``) is
    filled piece by piece; yields the HDF5 file. The file is written under a temporary
    name and renamed when the block ends without error (an interrupted run leaves no
    partial file); its ``/process`` record says ``state`` and ``step``, after the steps
    of ``history`` (the input file). ``extras`` ``{name: (array, units)}`` are written
    under ``/exchange`` too."""
    from ..common import __version__
    from ..common.h5files import atomic_h5, write_provenance
    from ..common.process import copy_history, record_step

    with atomic_h5(path, nbytes=4 * int(np.prod(shape))) as f:
        if history is not None:
            copy_history(f, history)
        grp = f.require_group("exchange")
        ds = grp.create_dataset("data", shape=tuple(shape), dtype=np.float32,
                                chunks=chunks or (1, *tuple(shape)[1:]))
        ds.attrs["units"] = units
        for name, (value, unit) in (extras or {}).items():
            grp.create_dataset(name, data=np.asarray(value)).attrs["units"] = unit
        yield f
        write_provenance(f, "tomopy_dlalign", __version__, dict(parameters or {}))
        record_step(f, step, state, parameters, source=history,
                    links=[f"/exchange/{name}" for name in (extras or {})])
