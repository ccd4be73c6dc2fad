"""NeXus NXtomo files, as written at ESRF (``nxtomo``) and Diamond, read and written.

Layout (NXtomo application definition; ``entry`` is any NXtomo entry of the file)::

    /entry/definition = "NXtomo"
    /entry/instrument/detector/data        (nframes, nrows, ncol) every frame
    /entry/instrument/detector/image_key   (nframes,) 0 projection, 1 flat, 2 dark, 3 invalid
    /entry/instrument/detector/x_pixel_size, y_pixel_size   (units attribute, m by default)
    /entry/instrument/detector/x_rotation_axis_pixel_position   rotation axis, pixels
    /entry/instrument/beam/incident_energy (units attribute, keV by default)
    /entry/sample/rotation_angle           (nframes,) DEGREES unless units says rad
    /entry/data/{data, image_key, rotation_angle}   links to the above

Diamond nests the NXtomo entry one level down (``/entry1/tomo_entry``), ESRF writes
``/entry0000``; both are found by their ``definition``. Frames are split by
``image_key``: projections, flats and darks come back as separate stacks, angles in
radians, pixel size in metres and energy in keV.
"""

from __future__ import annotations

import logging
import os

import h5py
import numpy as np

from tomopy_dlalign.common import __version__

from ..common.h5files import atomic_h5, open_h5, write_provenance
from ..common.process import check_state, record_step
from ..common.validation import as_array
from .lazy import LazyStack
from .scan import Scan
from .selection import index_range
from .units import angles_in_rad, energy_in_kev, length_in_m, theta_in_degrees

logger = logging.getLogger(__name__)

IMAGE_KEYS = {"projection": 0, "flat": 1, "dark": 2, "invalid": 3}
"""NXtomo ``image_key`` values."""

_DATA = ("instrument/detector/data", "data/data")
_KEY = ("instrument/detector/image_key", "data/image_key")
_ANGLE = ("sample/rotation_angle", "data/rotation_angle", "sample/transformations/rotation_angle")
_PIXEL = ("sample/x_pixel_size", "instrument/detector/x_pixel_size")
_ENERGY = ("instrument/beam/incident_energy", "beam/incident_energy", "energy",
           "instrument/monochromator/energy")
_CENTER = "instrument/detector/x_rotation_axis_pixel_position"


def _is_nxtomo(group: h5py.Group) -> bool:
    value = group.attrs.get("definition")
    if "definition" in group and isinstance(group["definition"], h5py.Dataset):
        value = group["definition"][()]
    if isinstance(value, np.ndarray):
        value = value.ravel()[0] if value.size else None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return isinstance(value, str) and value.strip().lower() == "nxtomo"


def _first(group: h5py.Group, names) -> str | None:
    for name in names:
        if isinstance(group.get(name), h5py.Dataset):
            return name
    return None


def find_nxtomo_entries(f: h5py.File) -> list[str]:
    """Paths of the NXtomo entries of an open HDF5 file.

    Groups whose ``definition`` is ``NXtomo``, at the top level (ESRF's ``/entry0000``)
    or one level down (Diamond's ``/entry1/tomo_entry``); failing those, top-level
    ``entry*`` groups that hold ``instrument/detector/data`` or ``data/data``.
    """
    groups = []
    for top in f.values():
        if isinstance(top, h5py.Group):
            groups.append(top)
            groups.extend(g for g in top.values() if isinstance(g, h5py.Group))
    found = [g.name for g in groups if _is_nxtomo(g)]
    if found:
        return found
    loose = [g.name for g in f.values() if isinstance(g, h5py.Group)
             and g.name.lstrip("/").lower().startswith("entry") and _first(g, _DATA)]
    if loose:
        logger.warning("%s: no group declares definition NXtomo; reading %s as one",
                       f.filename, loose[0])
    return loose


def _no_entry_message(f: h5py.File) -> str:
    msg = (f"{f.filename!r} has no NXtomo entry (no group with definition 'NXtomo', nor an "
           "entry* group with instrument/detector/data or data/data)")
    if isinstance(f.get("/exchange/data"), h5py.Dataset):
        msg += "; it is a Data Exchange file: read it with read_dx or read"
    return msg


def _units(ds: h5py.Dataset):
    return ds.attrs.get("units", ds.attrs.get("unit"))


def _scalar(ds: h5py.Dataset) -> float:
    try:
        return float(np.asarray(ds[()], dtype=np.float64).ravel()[0])
    except (TypeError, ValueError, IndexError) as exc:
        raise ValueError(f"{ds.name} in {ds.file.filename!r} must be a number, got "
                         f"{ds[()]!r}") from exc


def _frame_keys(group, nframes: int, path) -> np.ndarray:
    name = _first(group, _KEY)
    if name is None:
        logger.warning("%s: %s has no image_key; taking all %d frames as projections",
                       path, group.name, nframes)
        return np.zeros(nframes, dtype=np.int64)
    keys = np.rint(np.asarray(group[name][()], dtype=np.float64)).astype(np.int64).ravel()
    if keys.size != nframes:
        raise ValueError(f"{group.name}/{name} in {str(path)!r} has {keys.size} values but "
                         f"the detector data holds {nframes} frames")
    control = group.get("instrument/detector/image_key_control")
    if isinstance(control, h5py.Dataset) and control.shape == (nframes,):
        alignment = np.asarray(control[()]).astype(np.int64) == -1
        if alignment.any():
            logger.info("%s: leaving out %d alignment frames (image_key_control -1)", path,
                        int(alignment.sum()))
            keys = np.where(alignment, IMAGE_KEYS["invalid"], keys)
    return keys


def _angles(group, keys: np.ndarray, path):
    name = _first(group, _ANGLE)
    projections = np.flatnonzero(keys == 0)
    if name is None:
        logger.warning("%s: %s has no rotation_angle; theta is None", path, group.name)
        return None
    ds = group[name]
    rad = angles_in_rad(ds[()], _units(ds), f"{group.name}/{name} in {path}")
    if rad.size == keys.size:
        return rad[projections]
    if rad.size == projections.size:
        return rad
    raise ValueError(f"{group.name}/{name} in {str(path)!r} has {rad.size} angles, but the "
                     f"entry holds {keys.size} frames of which {projections.size} projections")


def _physics(group, path) -> tuple:
    pixel_size = energy = center = None
    meta = {}
    name = _first(group, _PIXEL)
    if name is not None:
        ds = group[name]
        pixel_size = length_in_m(_scalar(ds), _units(ds), f"{group.name}/{name} in {path}")
        if pixel_size is not None:
            meta["pixel_size_from"] = f"{group.name}/{name}"
    name = _first(group, _ENERGY)
    if name is not None:
        ds = group[name]
        energy = energy_in_kev(_scalar(ds), _units(ds), f"{group.name}/{name} in {path}")
        if energy is not None:
            meta["energy_from"] = f"{group.name}/{name}"
    if isinstance(group.get(_CENTER), h5py.Dataset):
        center = _scalar(group[_CENTER])
        meta["center_from"] = f"{group.name}/{_CENTER}"
    return pixel_size, energy, center, meta


def read_nxtomo(path: str | os.PathLike, proj=None, sino=None, entry: str | None = None,
                lazy: bool = False, allow_external: bool | None = None) -> Scan:
    """Read an NXtomo file: projections, flats and darks split by ``image_key``.

    Parameters
    ----------
    path : str or Path
        The NeXus (HDF5) file.
    proj : (start, end[, step]), optional
        Range of projections (counted among the ``image_key`` 0 frames) to read.
    sino : (start, end[, step]), optional
        Range of detector rows; only those rows are read from disk, for the projections,
        flats and darks alike.
    entry : str, optional
        Path of the NXtomo entry (``"/entry0000"``, ``"/entry1/tomo_entry"``); by default
        the first one found.
    lazy : bool
        Return the projections as a :class:`LazyStack` that reads from the file only
        when indexed (flats and darks are read).
    allow_external : bool, optional
        Follow external links, virtual datasets and external storage (how master files
        point at their frames) that lead outside the file's folder; by default (None:
        the setting of :func:`~tomopy_dlalign.common.h5files.allowing_external`,
        ``--allow-external``) only those beside the file or below its folder are
        followed (:func:`~tomopy_dlalign.common.h5files.check_external`).

    Returns
    -------
    Scan
        ``data`` ``(nproj, nslice, ncol)`` in the stored dtype; ``flat``, ``dark``
        ``(n, nslice, ncol)`` or None; ``theta`` radians (None without
        ``rotation_angle``); ``pixel_size`` metres (``sample/x_pixel_size``, else the
        detector's); ``energy`` keV (a pixel size or energy that is not positive is
        left out, with a warning); ``center`` the ``x_rotation_axis_pixel_position``
        (pixels) when recorded; ``metadata`` the entry, the ``image_key`` of every frame
        and where each value came from.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Not HDF5, truncated, no NXtomo entry, no projection (``image_key`` 0), lengths
        that disagree, a reference to a file outside its folder.

    Example
    -------
    >>> import numpy as np, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "scan.nx")
    >>> write_nxtomo(p, np.ones((4, 2, 8), np.uint16), flat=np.ones((1, 2, 8), np.uint16),
    ...              theta=np.linspace(0, np.pi, 4), pixel_size=6.5e-6, energy=17.5)
    >>> scan = read_nxtomo(p)
    >>> scan.data.shape, scan.flat.shape, scan.dark, scan.energy
    ((4, 2, 8), (1, 2, 8), None, 17.5)
    """
    with open_h5(path, allow_external=allow_external) as f:
        entries = find_nxtomo_entries(f) if entry is None else [entry]
        if not entries:
            raise ValueError(_no_entry_message(f))
        group = f.get(entries[0])
        if not isinstance(group, h5py.Group):
            raise ValueError(f"{str(path)!r} has no group {entries[0]!r}")
        if len(entries) > 1:
            logger.info("%s holds NXtomo entries %s: reading %s", path, entries, entries[0])
        data_name = _first(group, _DATA)
        if data_name is None:
            raise ValueError(f"{str(path)!r} has no {group.name}/instrument/detector/data "
                             f"nor {group.name}/data/data")
        ds = group[data_name]
        if ds.ndim != 3:
            raise ValueError(f"{ds.name} in {str(path)!r} must be 3D (nframes, nrows, ncol), "
                             f"got shape {ds.shape}")
        keys = _frame_keys(group, ds.shape[0], path)
        theta = _angles(group, keys, path)
        pixel_size, energy, center, meta = _physics(group, path)
        # the path in this file: ds.name is the path in the file an external link
        # leads to
        name, nrows = f"{group.name}/{data_name}", ds.shape[1]
    projections = np.flatnonzero(keys == 0)
    if projections.size == 0:
        counts = {k: int((keys == v).sum()) for k, v in IMAGE_KEYS.items()}
        raise ValueError(f"{str(path)!r}: {entries[0]} has no projections (no frame with "
                         f"image_key 0; frames per kind: {counts})")
    p_sel = index_range(proj, "proj", projections.size)
    rows = index_range(sino, "sino", nrows)
    data = LazyStack(path, name, projections[p_sel], rows, allow_external)
    stacks = {kind: LazyStack(path, name, np.flatnonzero(keys == IMAGE_KEYS[kind]), rows,
                              allow_external) for kind in ("flat", "dark")}
    flat, dark = (np.asarray(s) if len(s) else None for s in stacks.values())
    meta.update(entry=entries[0], image_key=keys, data_path=name)
    return Scan(data=data if lazy else np.asarray(data), flat=flat, dark=dark,
                theta=None if theta is None else theta[p_sel], pixel_size=pixel_size,
                energy=energy, center=center, metadata=meta, source=str(path),
                format="nxtomo")


def _positive(value, name: str) -> float | None:
    if value is None:
        return None
    v = float(value)
    if not np.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return v


def _group(parent: h5py.Group, name: str, nx_class: str) -> h5py.Group:
    g = parent.require_group(name)
    g.attrs["NX_class"] = nx_class
    return g


def write_nxtomo(path: str | os.PathLike, data, flat=None, dark=None, theta=None,
                 pixel_size: float | None = None, energy: float | None = None,
                 center: float | None = None, entry: str = "entry0000",
                 state: str = "raw") -> None:
    """Write an NXtomo file atomically (temporary file, then rename), as ESRF lays it out.

    Parameters
    ----------
    path : str or Path
        Output file; an existing file is replaced only once the new one is complete.
    data : ndarray (nproj, nslice, ncol)
        Projections (``image_key`` 0).
    flat, dark : ndarray (n, nslice, ncol), optional
        Flats (``image_key`` 1) and darks (``image_key`` 2), stored before the
        projections as ESRF acquires them; all frames share one dataset, so mixed dtypes
        are promoted (logged).
    theta : ndarray (nproj,), optional
        Radians; written in degrees as ``sample/rotation_angle``, flats and darks taking
        the first projection's angle.
    pixel_size : float, optional
        Metres, written as the detector's ``x_pixel_size`` and ``y_pixel_size``.
    energy : float, optional
        keV, written as ``instrument/beam/incident_energy``.
    center : float, optional
        Rotation axis in pixels along ``ncol``, as ``x_rotation_axis_pixel_position``.
    entry : str
        Name of the NXentry.
    state : str
        What ``data`` hold, recorded in ``/process/state``
        (:mod:`tomopy_dlalign.common.process`): ``"raw"`` counts by default.

    Example
    -------
    >>> import numpy as np, tempfile, os
    >>> write_nxtomo(os.path.join(tempfile.mkdtemp(), "a.nx"), np.zeros((2, 1, 4), np.uint16))
    """
    arr = as_array(data, "data", ndim=3, dtype=None)
    check_state(state)
    parts = [(2, "dark", dark), (1, "flat", flat), (0, "data", arr)]
    stacks = []
    for key, name, value in parts:
        if value is None:
            continue
        v = as_array(value, name, ndim=3, dtype=None)
        if v.shape[1:] != arr.shape[1:]:
            raise ValueError(f"{name} frames must be {arr.shape[1:]} like data, got "
                             f"shape {v.shape}")
        stacks.append((key, v))
    dtype = np.result_type(*(v.dtype for _, v in stacks))
    if any(v.dtype != dtype for _, v in stacks):
        logger.warning("write_nxtomo: data, flat and dark share one dataset; storing all as %s",
                       dtype)
    deg = theta_in_degrees(theta, arr.shape[0])
    pixel_size = _positive(pixel_size, "pixel_size")
    energy = _positive(energy, "energy")
    keys = np.concatenate([np.full(len(v), k, dtype=np.int64) for k, v in stacks])
    with atomic_h5(path, nbytes=sum(v.nbytes for _, v in stacks)) as f:
        f.attrs["NX_class"] = "NXroot"
        f.attrs["default"] = entry
        e = _group(f, entry, "NXentry")
        e["definition"] = "NXtomo"
        e.attrs["default"] = "data"
        det = _group(_group(e, "instrument", "NXinstrument"), "detector", "NXdetector")
        ds = det.create_dataset("data", shape=(keys.size, *arr.shape[1:]), dtype=dtype,
                                chunks=(1, *arr.shape[1:]))
        start = 0
        for _, v in stacks:
            ds[start:start + len(v)] = v
            start += len(v)
        det["image_key"] = keys
        if pixel_size is not None:
            for axis in ("x", "y"):
                det[f"{axis}_pixel_size"] = pixel_size
                det[f"{axis}_pixel_size"].attrs["units"] = "m"
        if center is not None:
            det["x_rotation_axis_pixel_position"] = float(center)
        if energy is not None:
            beam = _group(e["instrument"], "beam", "NXbeam")
            beam["incident_energy"] = energy
            beam["incident_energy"].attrs["units"] = "keV"
        sample = _group(e, "sample", "NXsample")
        nxdata = _group(e, "data", "NXdata")
        nxdata.attrs["signal"] = "data"
        nxdata["data"] = h5py.SoftLink(ds.name)
        nxdata["image_key"] = h5py.SoftLink(det["image_key"].name)
        if deg is not None:
            angles = np.where(keys == 0, 0.0, deg[0])
            angles[keys == 0] = deg
            sample["rotation_angle"] = angles
            sample["rotation_angle"].attrs["units"] = "degree"
            nxdata["rotation_angle"] = h5py.SoftLink(sample["rotation_angle"].name)
        else:
            logger.warning("write_nxtomo: no theta given; %s has no rotation_angle", path)
        write_provenance(f, "tomopy_dlalign", __version__, {"writer": "write_nxtomo"})
        record_step(f, "write_nxtomo", state, {"entry": entry})
