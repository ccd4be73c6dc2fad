"""Projection stacks that stay on disk until indexed (HDF5 readers, ``lazy=True``).

A :class:`LazyStack` holds a file name, a dataset path, the frames that belong to the
stack and the detector rows selected; indexing it opens the file, reads only the frames
and rows asked for (HDF5 hyperslab selection) and closes the file again, so no file
handle outlives the call and the object can be pickled to worker processes.
"""

from __future__ import annotations

import os

import h5py
import numpy as np

from ..common.h5files import open_h5


class LazyStack:
    """An ``(nproj, nslice, ncol)`` stack read from an HDF5 dataset on demand.

    Parameters
    ----------
    filename : str or Path
        The HDF5 file.
    name : str
        Path of the 3D dataset ``(nframes, nrows, ncol)`` inside the file.
    frames : array of int
        The dataset frames that make up the stack, in stack order (for NXtomo, the frames
        whose ``image_key`` is 0).
    rows : slice, optional
        The detector rows (slices) of the stack; all by default.
    allow_external : bool, optional
        Follow external links, virtual datasets and external storage that lead outside
        the file's folder (None: the setting of
        :func:`~tomopy_dlalign.common.h5files.allowing_external`, off by default).

    Notes
    -----
    ``stack[i]``, ``stack[a:b]``, ``stack[[i, j]]`` and any further indices on the row
    and column axes work as on a NumPy array; ``numpy.asarray(stack)`` reads it all.

    Example
    -------
    >>> import numpy as np, h5py, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "s.h5")
    >>> with h5py.File(p, "w") as f:
    ...     f["d"] = np.arange(24, dtype=np.uint16).reshape(4, 2, 3)
    >>> stack = LazyStack(p, "d", frames=[1, 3], rows=slice(1, 2))
    >>> stack.shape, stack[1].tolist()
    ((2, 1, 3), [[21, 22, 23]])
    """

    def __init__(self, filename: str | os.PathLike, name: str, frames, rows: slice | None = None,
                 allow_external: bool | None = None):
        self.filename = os.fspath(filename)
        self.name = name
        self.frames = np.asarray(frames, dtype=np.int64).ravel()
        self.rows = slice(None) if rows is None else rows
        with open_h5(self.filename, allow_external=allow_external) as f:
            ds = f[name]
            if ds.ndim != 3:
                raise ValueError(f"{name} in {self.filename!r} must be 3D, got shape {ds.shape}")
            nframes, nrows, ncol = ds.shape
            self.dtype = ds.dtype
        if self.frames.size and (self.frames.min() < 0 or self.frames.max() >= nframes):
            raise ValueError(f"frames must lie in [0, {nframes}) for {name} in "
                             f"{self.filename!r}")
        self.shape = (int(self.frames.size), len(range(nrows)[self.rows]), int(ncol))

    @property
    def ndim(self) -> int:
        return 3

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return (f"LazyStack({self.filename!r}, {self.name!r}, shape={self.shape}, "
                f"dtype={self.dtype})")

    def __array__(self, dtype=None, copy=None):
        arr = self[:]
        return arr if dtype is None else arr.astype(dtype, copy=False)

    def __getitem__(self, key) -> np.ndarray:
        key = _expand(key)
        picked = self.frames[key[0]]
        scalar = picked.ndim == 0
        picked = np.atleast_1d(picked)
        unique, inverse = np.unique(picked, return_inverse=True)
        with h5py.File(self.filename, "r") as f:
            ds = f[self.name]
            if unique.size == 0:
                block = np.empty((0, *self.shape[1:]), dtype=self.dtype)
            elif unique[-1] - unique[0] + 1 == unique.size:  # contiguous: one hyperslab
                block = ds[int(unique[0]):int(unique[-1]) + 1, self.rows, :]
            else:
                block = ds[unique.tolist(), self.rows, :]
        out = block[inverse.ravel()]
        if scalar:
            return out[0][key[1:]]
        return out[(slice(None), *key[1:])]


def _expand(key) -> tuple:
    key = key if isinstance(key, tuple) else (key,)
    if any(k is Ellipsis for k in key):
        i = next(i for i, k in enumerate(key) if k is Ellipsis)
        fill = 3 - (len(key) - 1)
        key = key[:i] + (slice(None),) * fill + key[i + 1:]
    if len(key) > 3:
        raise IndexError(f"too many indices for a 3D stack: {len(key)}")
    return key + (slice(None),) * (3 - len(key))
