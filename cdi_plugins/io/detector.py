"""Detector frames from files: ESRF EDF, TIFF, NeXus/HDF5 (Eiger, Maxipix), CXI and NumPy.

:func:`read_frames` returns the frames as float32 ``(n_frames, H, W)`` with the mask the
file carries (True = bad pixel), whatever the format:

- EDF (``.edf``, ``.edf.gz``) through ``fabio``; a multi-frame EDF gives every frame;
- TIFF (``.tif``, ``.tiff``) through ``tifffile``; a multi-page TIFF gives every page;
- NeXus/HDF5 (``.h5``, ``.hdf5``, ``.nxs``, ``.nx5``): the first of ``dataset`` (when
  given), ``/entry/instrument/detector/data``, ``/entry/data/data``,
  ``/entry_1/instrument_1/detector_1/data``, ``/entry/measurement/data``, else the only
  2D or 3D dataset of the file; the mask is the NeXus ``pixel_mask`` (or ``mask``) beside
  the data or under the detector group, a bit field read as ``> 0`` = bad;
- CXI (``.cxi``) through :func:`cdi_plugins.io.read_cxi` (its bit-field mask);
- NumPy (``.npy``).

Pixels at the maximum of an unsigned integer type (how Eiger and Maxipix files mark gaps
and dead pixels) join the mask. Measured zeros are values like any other: nothing here
masks them.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from .cxi import read_cxi

logger = logging.getLogger(__name__)

#: where :func:`read_frames` looks for frames in a NeXus/HDF5 file, in order
NEXUS_DATA = ("/entry/instrument/detector/data", "/entry/data/data",
              "/entry_1/instrument_1/detector_1/data", "/entry/measurement/data")
_HDF5 = (".h5", ".hdf5", ".hdf", ".nxs", ".nx5", ".nx")


@dataclass
class Frames:
    """Frames read from one or more files.

    Attributes
    ----------
    data : numpy.ndarray
        float32 ``(n_frames, H, W)``, as measured.
    mask : numpy.ndarray
        bool ``(H, W)``: True where the file marks a pixel bad (all False when it says
        nothing).
    sources : list of str
        The files read.
    """

    data: np.ndarray
    mask: np.ndarray
    sources: list = field(default_factory=list)


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".edf" if name.endswith((".edf", ".edf.gz")) else path.suffix.lower()


def _read_edf(path: Path) -> np.ndarray:
    import fabio

    img = fabio.open(str(path))
    frames = [np.asarray(img.getframe(i).data) for i in range(img.nframes)] \
        if img.nframes > 1 else [np.asarray(img.data)]
    return np.stack(frames)


def _read_tiff(path: Path) -> np.ndarray:
    import tifffile

    data = tifffile.imread(str(path))
    return data.reshape(-1, *data.shape[-2:])


def _nexus_mask(f: h5py.File, ds: h5py.Dataset) -> np.ndarray | None:
    parent = ds.parent
    names = [parent.name + "/pixel_mask", parent.name + "/mask",
             "/entry/instrument/detector/pixel_mask", "/entry/instrument/detector/mask"]
    for n in names:
        obj = f.get(n)
        if isinstance(obj, h5py.Dataset) and obj.shape[-2:] == ds.shape[-2:]:
            m = obj[()]
            return (m.reshape(-1, *m.shape[-2:]) > 0).any(axis=0)
    return None


def _read_hdf5(path: Path, dataset: str | None) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ValueError(f"{str(path)!r} is not a readable HDF5/NeXus file: {exc}") from None
    with f:
        names = (dataset,) if dataset else NEXUS_DATA
        ds = next((f[n] for n in names if isinstance(f.get(n), h5py.Dataset)), None)
        if ds is None and dataset is None:
            found = []
            f.visititems(lambda n, o: found.append(o) if isinstance(o, h5py.Dataset)
                         and o.ndim in (2, 3) and o.shape[-1] > 1 else None)
            ds = found[0] if len(found) == 1 else None
        if ds is None:
            raise KeyError(f"no detector frames in {str(path)!r}: looked for "
                           f"{', '.join(names)}; give dataset=")
        data = ds[()]
        return data.reshape(-1, *data.shape[-2:]), _nexus_mask(f, ds)


def _read_one(path: Path, dataset: str | None) -> tuple[np.ndarray, np.ndarray | None]:
    kind = _suffix(path)
    try:
        if kind == ".edf":
            return _read_edf(path), None
        if kind in (".tif", ".tiff"):
            return _read_tiff(path), None
        if kind == ".npy":
            data = np.load(path)
            return data.reshape(-1, *data.shape[-2:]), None
    except (OSError, ValueError, IndexError, KeyError) as exc:
        raise ValueError(f"could not read {kind[1:].upper()} file {str(path)!r}: {exc}") from None
    if kind == ".cxi":
        data, mask = read_cxi(path)
        return data.reshape(-1, *data.shape[-2:]), mask
    if kind in _HDF5:
        return _read_hdf5(path, dataset)
    raise ValueError(f"unknown detector file type {path.suffix!r} for {str(path)!r}: expected "
                     f".edf, .tif/.tiff, .h5/.hdf5/.nxs, .cxi or .npy")


def read_frames(paths, dataset: str | None = None) -> Frames:
    """Read detector frames from one file or several (same detector, stacked).

    Parameters
    ----------
    paths : str, PathLike or list of them
        EDF, TIFF, NeXus/HDF5, CXI or NumPy files (module docstring).
    dataset : str, optional
        The dataset holding the frames in an HDF5 file.

    Returns
    -------
    Frames
        float32 ``(n_frames, H, W)`` frames and the union of the files' masks.

    Raises
    ------
    FileNotFoundError
        A file does not exist.
    ValueError
        An unknown or unreadable file, frames that are not 2D, frames of different shapes.
    KeyError
        An HDF5 file without detector frames where they were looked for.

    Example
    -------
    >>> import tempfile, pathlib, tifffile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "f.tif"
    >>> tifffile.imwrite(p, np.ones((2, 8, 8), np.uint16))
    >>> read_frames(p).data.shape
    (2, 8, 8)
    """
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not paths:
        raise ValueError("paths is empty: give at least one detector file")
    stacks, mask = [], None
    for p in map(Path, paths):
        if not p.is_file():
            raise FileNotFoundError(f"detector file {str(p)!r} does not exist")
        data, m = _read_one(p, dataset)
        if data.ndim != 3 or data.shape[-1] < 2 or data.shape[-2] < 2:
            raise ValueError(f"{str(p)!r} holds data of shape {data.shape}, not 2D frames")
        if stacks and data.shape[-2:] != stacks[0].shape[-2:]:
            raise ValueError(f"{str(p)!r} has frames of shape {data.shape[-2:]}, the first file "
                             f"{stacks[0].shape[-2:]}")
        if np.issubdtype(data.dtype, np.unsignedinteger):
            # Eiger and Maxipix files mark gaps and dead pixels with the type's maximum
            flagged = (data == np.iinfo(data.dtype).max).any(axis=0)
            m = flagged if m is None else m | flagged
        stacks.append(data.astype(np.float32))
        if m is not None:
            mask = m if mask is None else mask | m
        logger.info("read %d frame(s) of %s from %s", len(data), data.shape[-2:], p)
    data = np.concatenate(stacks)
    return Frames(data=data, mask=np.zeros(data.shape[-2:], bool) if mask is None else mask,
                  sources=[str(p) for p in paths])
