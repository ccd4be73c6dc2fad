"""Data Exchange HDF5 and TIFF stacks in and out.

Layout (Data Exchange, as written by APS beamlines and read by ``dxchange``)::

    /exchange/data        (nproj, nslice, ncol) projections
    /exchange/data_white  (nflat, nslice, ncol) flat fields
    /exchange/data_dark   (ndark, nslice, ncol) dark fields
    /exchange/theta       (nproj,) angles in DEGREES on disk

In memory ``theta`` is in radians: the conversion happens here, at the I/O boundary,
and nowhere else. Incomplete beamline files are handled as ``dxchange``'s
``read_aps_tomoscan_hdf5`` does: missing flats, darks or angles are taken from
``/process/acquisition/...`` and what was assumed is logged.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping

import h5py
import numpy as np

from tomopy_dlalign.common import __version__

from ..common.h5files import atomic_h5, open_h5, require_dataset, write_provenance
from ..common.process import check_state, copy_history, record_step
from ..common.validation import as_array
from .lazy import LazyStack
from .selection import index_range
from .units import is_radians, theta_in_degrees

logger = logging.getLogger(__name__)

_ACQ = "/process/acquisition"


def _group_name(exchange_rank: int) -> str:
    if not isinstance(exchange_rank, (int, np.integer)) or exchange_rank < 0:
        raise ValueError(f"exchange_rank must be a non-negative integer, got {exchange_rank!r}")
    return "/exchange" if exchange_rank == 0 else f"/exchange{exchange_rank}"


def _check_finite(arr: np.ndarray, what: str, path) -> None:
    as_array(arr, f"{what} in {str(path)!r} (pass allow_nan=True to read it anyway)",
             dtype=None)


def _check_stored(ds: h5py.Dataset, path) -> None:
    """Refuse, naming the file and dataset, frames that are not real numbers or empty."""
    if not isinstance(ds, h5py.Dataset):
        raise KeyError(f"{ds.name} in {str(path)!r} is a group, expected a dataset")
    if ds.dtype.kind not in "iuf":
        raise TypeError(f"{ds.name} in {str(path)!r} must hold real numbers, got {ds.dtype}")
    if ds.ndim == 3 and 0 in ds.shape:
        raise ValueError(f"{ds.name} in {str(path)!r} is empty (shape {ds.shape})")


def _read_field(f, grp, name, fallback, sino, shape, path, allow_nan):
    if name in grp:
        ds = grp[name]
        _check_stored(ds, path)
        if ds.ndim != 3:
            raise ValueError(f"{grp.name}/{name} in {str(path)!r} must be 3D "
                             f"(nframes, nslice, ncol), got shape {ds.shape}")
        arr = ds[:, sino, :]
        if not allow_nan:
            _check_finite(arr, f"{grp.name}/{name}", path)
        return arr
    if fallback in f:
        value = np.asarray(f[fallback][()], dtype=np.float32)
        logger.warning("%s has no %s/%s: using the constant %s from %s", path, grp.name, name,
                       value.ravel()[:1], fallback)
        return np.full((1, *shape), value.ravel()[0], dtype=np.float32)
    logger.warning("%s has no %s/%s and no %s: returning None", path, grp.name, name, fallback)
    return None


def _stored_degrees(ds: h5py.Dataset, where: str) -> np.ndarray:
    """``/exchange/theta`` in degrees: as stored (Data Exchange's unit), converted when
    its ``units`` attribute says radians, with a warning when it holds no such attribute
    and yet looks like radians (every angle within +-2 pi, spread over more than one)."""
    if ds.dtype.kind not in "iuf":
        raise TypeError(f"{where} must hold numbers, got {ds.dtype}")
    values = np.asarray(ds[()], dtype=np.float64).ravel()
    units = ds.attrs.get("units")
    if units is not None:
        return np.rad2deg(values) if is_radians(units, where) else values
    if values.size > 2 and np.ptp(values) > 1 and np.abs(values).max() <= 2 * np.pi + 1e-6:
        msg = (f"{where} spans only {np.ptp(values):.3g} degrees with every angle within "
               "+-2 pi: it looks like radians, but Data Exchange stores degrees and it is "
               "read as degrees; give the dataset a units='rad' attribute if it holds radians")
        logger.warning(msg)
        warnings.warn(msg, UserWarning, stacklevel=4)
    return values


def _read_theta(f, grp, nproj_total, proj, path):
    if "theta" in grp:
        source = f"{grp.name}/theta"
        deg = _stored_degrees(grp["theta"], f"{source} in {str(path)!r}")
    elif f"{_ACQ}/rotation/rotation_start" in f:
        rot = f[f"{_ACQ}/rotation"]
        start = float(np.asarray(rot["rotation_start"][()]).ravel()[0])
        step = float(np.asarray(rot["rotation_step"][()]).ravel()[0])
        num = int(np.asarray(rot["num_angles"][()]).ravel()[0]) if "num_angles" in rot \
            else nproj_total
        deg = start + step * np.arange(num)
        source = f"{_ACQ}/rotation (start {start}, step {step}, {num} angles)"
        logger.warning("%s has no %s/theta: angles from %s", path, grp.name, source)
    else:
        deg = np.linspace(0.0, 180.0, nproj_total, endpoint=False)
        source = "an assumed even spread over 180 degrees"
        logger.warning("%s has no angles at all: assuming %d evenly over [0, 180) degrees",
                       path, nproj_total)
    if deg.size != nproj_total:
        raise ValueError(f"theta from {source} in {str(path)!r} has {deg.size} angles but "
                         f"{grp.name}/data holds {nproj_total} projections")
    return np.deg2rad(deg[proj])


def read_dx(path: str | os.PathLike, proj=None, sino=None, exchange_rank: int = 0,
            allow_nan: bool = False, lazy: bool = False, allow_external: bool | None = None):
    """Read a Data Exchange file: ``(prj, flat, dark, theta)``, theta in radians.

    Parameters
    ----------
    path : str or Path
        The HDF5 file.
    proj : (start, end[, step]), optional
        Range of projections to read.
    sino : (start, end[, step]), optional
        Range of slices (detector rows) to read; only that part of a large file is
        read from disk (HDF5 hyperslab selection).
    exchange_rank : int
        0 reads ``/exchange``, ``n`` reads ``/exchange{n}`` (other ranks of a file).
    allow_nan : bool
        By default NaN or infinite values are an error naming the dataset.
    lazy : bool
        Return ``prj`` as a :class:`~tomopy_dlalign.io.LazyStack` that reads from the
        file only when indexed (not checked for NaN).
    allow_external : bool, optional
        Follow external links, virtual datasets and external storage that lead outside
        the file's folder; by default (None: the setting of
        :func:`~tomopy_dlalign.common.h5files.allowing_external`, ``--allow-external``)
        they are refused (:func:`~tomopy_dlalign.common.h5files.check_external`).

    Returns
    -------
    prj : ndarray (nproj, nslice, ncol), the stored dtype, or a LazyStack
    flat, dark : ndarray (nframes, nslice, ncol) or None
    theta : ndarray (nproj,), float64 radians

    Raises
    ------
    FileNotFoundError, ValueError, KeyError
        Missing file; not HDF5, truncated, wrong rank, NaN, angle count mismatch, a
        reference to a file outside its folder; missing ``/exchange/data``.

    Example
    -------
    >>> import numpy as np, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "scan.h5")
    >>> write_dx(p, np.ones((4, 2, 8), np.float32), theta=np.linspace(0, np.pi, 4))
    >>> prj, flat, dark, theta = read_dx(p)
    >>> prj.shape, round(float(theta[-1]), 6)
    ((4, 2, 8), 3.141593)
    """
    with open_h5(path, allow_external=allow_external) as f:
        gname = _group_name(exchange_rank)
        if gname not in f:
            raise KeyError(f"group {gname!r} is missing from {str(path)!r}")
        grp = f[gname]
        ds = require_dataset(f, f"{gname}/data")
        _check_stored(ds, path)
        if ds.ndim != 3:
            raise ValueError(f"{gname}/data in {str(path)!r} must be 3D (nproj, nslice, ncol), "
                             f"got shape {ds.shape}")
        nproj, nslice, ncol = ds.shape
        p_sel = index_range(proj, "proj", nproj)
        s_sel = index_range(sino, "sino", nslice)
        if lazy:
            prj = LazyStack(path, f"{gname}/data", np.arange(nproj)[p_sel], s_sel,
                            allow_external)
        else:
            prj = ds[p_sel, s_sel, :]
            if not allow_nan:
                _check_finite(prj, f"{gname}/data", path)
        shape = (prj.shape[1], ncol)
        flat = _read_field(f, grp, "data_white", f"{_ACQ}/flat_fields/flat_field_value",
                           s_sel, shape, path, allow_nan)
        dark = _read_field(f, grp, "data_dark", f"{_ACQ}/dark_fields/dark_field_value",
                           s_sel, shape, path, allow_nan)
        theta = _read_theta(f, grp, nproj, p_sel, path)
    return prj, flat, dark, theta


def read_dataset(path: str | os.PathLike, name: str,
                 allow_external: bool | None = None) -> np.ndarray:
    """Read one dataset (for example ``/exchange/shift_x``) with a clear error if absent;
    ``allow_external`` as for :func:`read_dx`."""
    with open_h5(path, allow_external=allow_external) as f:
        return require_dataset(f, name)[()]


def _check_stack(value, name, ncol=None, nslice=None):
    arr = as_array(value, name, ndim=3, dtype=None)  # rank, dtype and NaN checks
    if ncol is not None and arr.shape[2] != ncol:
        raise ValueError(f"{name} must have {ncol} columns like data, got shape {arr.shape}")
    if nslice is not None and arr.shape[1] != nslice:
        raise ValueError(f"{name} must have {nslice} rows like data, got shape {arr.shape}")
    return arr


def write_dx(path: str | os.PathLike, data, flat=None, dark=None, theta=None,
             extras: Mapping[str, tuple] | None = None, parameters: Mapping | None = None,
             data_units: str = "counts", model: str | None = None, template=None,
             compression: str | None = None, overwrite: bool | None = None,
             state: str | None = None, step: str | None = None, history=None) -> None:
    """Write a Data Exchange file atomically (temporary file, then rename).

    Parameters
    ----------
    path : str or Path
        Output file; an existing file is replaced only once the new one is complete.
    data : ndarray (nproj, nslice, ncol) or (nslice, ncol, ncol)
        Projections, or a reconstruction (stored as ``/exchange/data`` too, as TomoPy's
        ``dxchange.write_hdf5`` does).
    flat, dark : ndarray (nframes, nslice, ncol), optional
    theta : ndarray (nproj,), optional
        Radians in memory; written in degrees with ``units="degrees"``.
    extras : {name: (array, units)}, optional
        More datasets under ``/exchange`` (``shift_x``, ``shift_y``, ...).
    parameters : dict, optional
        Recorded as JSON under ``/process/tomopy_dlalign`` with the version and date.
    data_units : str
        Units attribute of ``/exchange/data``.
    model : str, optional
        Name or path of the model used, recorded in the provenance.
    template : str or Path, optional
        An input file to start from (results go beside the input data): its content is
        copied and the datasets given here replace its own.
    compression : str, optional
        h5py compression filter for the large datasets (``"gzip"``, ``"lzf"``).
    overwrite : bool, optional
        Replace a read-only ``path`` (default: the ``--overwrite`` setting). The file
        gets the permissions of the umask; a symbolic link at ``path`` is written
        through to its target; a second writer of the same file fails at once
        (:mod:`tomopy_dlalign.common.outputs`).
    state : str, optional
        What ``data`` hold (:data:`tomopy_dlalign.common.process.STATES`), recorded in
        ``/process/state``: ``"raw"``, ``"normalized"``, ``"line_integrals"``,
        ``"aligned"`` or ``"reconstruction"``. Default: ``"raw"`` when ``data_units`` is
        ``"counts"``, else ``"line_integrals"`` when ``theta`` is given, else
        ``"reconstruction"``.
    step : str, optional
        The processing step recorded under ``/process/steps`` (default: the
        ``"command"`` of ``parameters``, else ``"write_dx"``), with ``parameters``,
        ``model``, and hard links to the ``extras`` it wrote.
    history : str or Path, optional
        A file whose recorded steps come first (the input of the step); with
        ``template=`` they are in the copy already.

    Example
    -------
    >>> import numpy as np, tempfile, os
    >>> write_dx(os.path.join(tempfile.mkdtemp(), "a.h5"), np.zeros((2, 1, 4), np.uint16))
    """
    arr = _check_stack(data, "data")
    fields = (("data_white", "flat", flat), ("data_dark", "dark", dark))
    checked = {key: _check_stack(value, name, arr.shape[2], arr.shape[1])
               for key, name, value in fields if value is not None}
    deg = theta_in_degrees(theta, arr.shape[0])
    extra_arrays = {}
    for name, spec in (extras or {}).items():
        if not (isinstance(spec, tuple) and len(spec) == 2):
            raise TypeError(f"extras[{name!r}] must be (array, units), got {type(spec).__name__}")
        extra_arrays[name] = (as_array(spec[0], f"extras[{name!r}]", dtype=None), str(spec[1]))
    if state is None:
        state = "raw" if data_units == "counts" else (
            "line_integrals" if deg is not None else "reconstruction")
    check_state(state)
    params = dict(parameters or {})
    step = step or str(params.get("command") or "write_dx")
    if template is not None:
        with open_h5(template):
            pass  # a clear error now rather than a failed copy later
    size = arr.nbytes + sum(a.nbytes for a, _ in extra_arrays.values()) + sum(
        np.asarray(a).nbytes for a in (flat, dark) if a is not None)
    with atomic_h5(path, source=template, overwrite=overwrite, nbytes=size) as f:
        if history is not None:
            copy_history(f, history)
        grp = f.require_group("exchange")
        _put(grp, "data", arr, data_units, compression)
        for key, value in checked.items():
            _put(grp, key, value, data_units, compression)
        if deg is not None:
            _put(grp, "theta", deg, "degrees", None)
        for name, (value, units) in extra_arrays.items():
            _put(grp, name, value, units, None)
        write_provenance(f, "tomopy_dlalign", __version__, params, model)
        record_step(f, step, state, params, model=model,
                    source=template if template is not None else history,
                    links=[f"/exchange/{name}" for name in extra_arrays])


def _put(grp: h5py.Group, name: str, value: np.ndarray, units: str, compression) -> None:
    if name in grp:
        del grp[name]
    kwargs = {}
    if compression and value.ndim == 3:
        kwargs = {"compression": compression, "chunks": (1, *value.shape[1:])}
    ds = grp.create_dataset(name, data=value, **kwargs)
    ds.attrs["units"] = units




