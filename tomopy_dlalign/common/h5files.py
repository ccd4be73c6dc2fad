"""Safe HDF5 writing and provenance, shared by the Data Exchange and CXI writers.

Files are written to a temporary file in the destination folder and renamed over the
target only once complete, so an existing output is never left half-written.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np


@contextlib.contextmanager
def atomic_h5(path: str | os.PathLike, mode: str = "w",
              source: str | os.PathLike | None = None) -> Iterator[h5py.File]:
    """Open a new HDF5 file that replaces ``path`` only if the block completes.

    ``mode="w"`` starts empty; ``mode="a"`` starts from a copy of the existing ``path``;
    ``source`` starts from a copy of another file (results written beside the input
    data). Either way the file is written under a temporary name in the destination
    folder and renamed at the end, so an existing ``path`` is never left half-written,
    even if the block raises or the process is interrupted.
    """
    if mode not in ("w", "a"):
        raise ValueError(f"mode must be 'w' or 'a', got {mode!r}")
    path = Path(path)
    if mode == "a" and source is None and path.exists():
        source = path
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"output folder {str(folder)!r} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        if source is not None:
            shutil.copyfile(source, tmp)
            f = h5py.File(tmp, "r+")
        else:
            f = h5py.File(tmp, "w")
        try:
            yield f
        finally:
            f.close()
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.generic,)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return str(value)


def write_provenance(f: h5py.File, package: str, version: str, parameters: dict | None = None,
                     model: str | None = None) -> h5py.Group:
    """Record what produced the file under ``/process/<package>``.

    Stores the software version, the time, the host's Python, the parameters (as JSON)
    and, when a network was used, the model's name or weights file.
    """
    grp = f.require_group("process").require_group(package)
    grp.attrs["version"] = version
    grp.attrs["date"] = datetime.datetime.now(datetime.timezone.utc).isoformat()
    grp.attrs["python"] = platform.python_version()
    grp.attrs["parameters"] = json.dumps(parameters or {}, default=_jsonable, sort_keys=True)
    if model is not None:
        grp.attrs["model"] = model
    return grp


def open_h5(path: str | os.PathLike) -> h5py.File:
    """Open an existing HDF5 file for reading, with errors that say what is wrong."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"file {str(path)!r} does not exist")
    if path.is_dir():
        raise IsADirectoryError(f"{str(path)!r} is a folder, expected an HDF5 file")
    if not h5py.is_hdf5(path):
        raise ValueError(f"{str(path)!r} is not an HDF5 file (no HDF5 signature found)")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise ValueError(
            f"{str(path)!r} could not be opened as HDF5; it may be truncated or corrupt ({exc})"
        ) from exc


def require_dataset(f: h5py.File, name: str) -> h5py.Dataset:
    """Return dataset ``name`` or raise an error naming the file and the missing path."""
    obj = f.get(name)
    if obj is None:
        raise KeyError(f"dataset {name!r} is missing from {f.filename!r}")
    if not isinstance(obj, h5py.Dataset):
        raise KeyError(f"{name!r} in {f.filename!r} is a group, expected a dataset")
    return obj
