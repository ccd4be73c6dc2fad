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
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np

from .outputs import OutputBusyError, atomic_output, output_lock, output_target


@contextlib.contextmanager
def atomic_h5(path: str | os.PathLike, mode: str = "w",
              source: str | os.PathLike | None = None,
              overwrite: bool | None = None, lock: bool = True) -> Iterator[h5py.File]:
    """Open a new HDF5 file that replaces ``path`` only if the block completes.

    ``mode="w"`` starts empty; ``mode="a"`` starts from a copy of the existing ``path``;
    ``source`` starts from a copy of another file (results written beside the input
    data). Either way the file is written under a unique temporary name in the
    destination folder and renamed at the end, so an existing ``path`` is never left
    half-written, even if the block raises or the process is interrupted. Permissions,
    read-only outputs (refused unless ``overwrite``), symbolic links and concurrent
    writers follow :mod:`~tomopy_dlalign.common.outputs` (``lock=False``: the caller
    holds the writer's lock).
    """
    if mode not in ("w", "a"):
        raise ValueError(f"mode must be 'w' or 'a', got {mode!r}")
    path = Path(path)
    if mode == "a" and source is None and path.exists():
        source = path
    if source is not None:
        open_h5(source).close()  # a clear error for a source that is not HDF5
    with atomic_output(path, overwrite, copy_from=source, lock=lock) as tmp:
        with h5py.File(tmp, "r+" if source is not None else "w") as f:
            yield f


def jsonable(value):
    """``json.dumps(..., default=jsonable)``: arrays and NumPy scalars as their values,
    paths and anything else as strings."""
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
    grp.attrs["parameters"] = json.dumps(parameters or {}, default=jsonable, sort_keys=True)
    if model is not None:
        grp.attrs["model"] = model
    return grp


def open_h5(path: str | os.PathLike, mode: str = "r") -> h5py.File:
    """Open an existing HDF5 file for reading (``mode="r+"``: and writing), with errors
    that say what is wrong."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"file {str(path)!r} does not exist")
    if path.is_dir():
        raise IsADirectoryError(f"{str(path)!r} is a folder, expected an HDF5 file")
    if not h5py.is_hdf5(path):
        raise ValueError(f"{str(path)!r} is not an HDF5 file (no HDF5 signature found)")
    try:
        return h5py.File(path, mode)
    except BlockingIOError as exc:
        raise OutputBusyError(exc.errno, f"{str(path)!r} is open for writing in another "
                              "process; wait for it to finish", str(path)) from None
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


#: the attribute that marks a file made by a resumable generator, and by which one
MARKER = "created_by"


@contextlib.contextmanager
def resumable_h5(path: str | os.PathLike, marker: str, skeleton,
                 layout: tuple[str, ...] = (), overwrite: bool | None = None
                 ) -> Iterator[h5py.File]:
    """Open the file a resumable generator appends to (``make-dataset``), creating it
    first if needed; the writer's lock is held for the block.

    A new file gets its skeleton (``skeleton(f)``: empty datasets and the parameters) in
    a temporary file renamed into place, so the file at ``path`` is complete and
    resumable from its first instant; units are then appended in place and each is
    complete once the generator's ``done`` attribute counts it. An existing file is only
    written if its ``created_by`` attribute is ``marker`` (or, for a file made before the
    marker, if it holds the ``config`` and ``done`` attributes and every dataset of
    ``layout``): a measured scan or any other file is refused.

    Raises
    ------
    ValueError
        ``path`` is not HDF5, or is a file this generator did not create.
    OutputBusyError
        Another process is writing ``path``.
    """
    target = output_target(path, overwrite)
    with output_lock(target):
        if not target.exists():
            with atomic_h5(target, "w", lock=False) as f:
                f.attrs[MARKER] = marker
                skeleton(f)
        try:
            f = open_h5(target, "r+")
        except ValueError as exc:
            raise ValueError(f"{exc}; refusing to write {marker} data into it") from None
        with f:
            made_by = f.attrs.get(MARKER)
            legacy = made_by is None and {"config", "done"} <= set(f.attrs) and all(
                isinstance(f.get(name), h5py.Dataset) for name in layout)
            if made_by != marker and not legacy:
                raise ValueError(f"{str(path)!r} exists and was not made by {marker} "
                                 f"({MARKER}={made_by!r}); refusing to write into it: "
                                 "choose a new file name")
            yield f
