"""Bragg post-processing results in HDF5, in the Data Exchange layout of the phasing
results (:mod:`cdi_plugins.io.results`).

``/exchange``: ``object`` (complex64, centred, ramp removed), ``object_amplitude``,
``object_phase`` (rad, unwrapped, NaN outside the support), ``support``,
``displacement`` (m, along ``Q``) and ``strain`` (along ``Q``, dimensionless), NaN
outside the support, each with ``units`` and the frame's ``axes``: volumes ready for an
isosurface of the amplitude (ParaView, Mayavi, ``skimage.measure.marching_cubes``)
coloured by the others. ``/exchange/bragg``: the ``frame``, the voxel ``basis`` (m) and
``voxel_size``, the ``ramp_gradient`` (rad/voxel) and ``ramp_offset`` (rad) removed and
the centring ``shift`` (voxels). ``/measurement/instrument/bragg``: the geometry's fields
with units. ``/process``: the parameters and a ``bragg`` step. Written atomically;
every array reads back bit for bit.
"""

from __future__ import annotations

import json
import logging
import os

import numpy as np

from .geometry import BraggGeometry
from .postprocess import BraggResult, PhaseRamp

logger = logging.getLogger(__name__)

#: units of each geometry field as written
_UNITS = {"energy": "eV", "wavelength": "m", "d_spacing": "m", "q_norm": "1/m",
          "two_theta": "deg", "distance": "m", "pixel_size": "m", "rocking_step": "deg"}
_AXES = {"detector": "frame, row, column", "lab": "x (downstream), y (horizontal), z (up)"}
_VOLUMES = ("object", "object_amplitude", "object_phase", "support", "displacement",
            "strain")


def write_bragg(path: str | os.PathLike, result: BraggResult, history=None) -> None:
    """Write a :class:`~cdi_plugins.bragg.BraggResult` (module docstring), atomically.

    ``history``: the phasing result that was read, whose ``/process`` steps come first.

    Example
    -------
    >>> import tempfile, pathlib
    >>> from cdi_plugins.bragg import postprocess
    >>> from cdi_plugins.simulate import crystal_object_3d
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "strain.h5"
    >>> write_bragg(p, postprocess(crystal_object_3d(16, seed=0)))
    >>> read_bragg(p).object.shape
    (16, 16, 16)
    """
    from tomopy_dlalign.common import __version__
    from tomopy_dlalign.common.h5files import atomic_h5, write_provenance
    from tomopy_dlalign.common.process import copy_history, record_step

    if not isinstance(result, BraggResult):
        raise TypeError(f"result must be a BraggResult, got {type(result).__name__}")
    volumes = {"object": result.object.astype(np.complex64),
               "object_amplitude": result.amplitude.astype(np.float32),
               "object_phase": result.phase, "support": result.support,
               "displacement": result.displacement, "strain": result.strain}
    units = {"object_amplitude": "a.u.", "object_phase": "rad", "displacement": "m",
             "strain": "1"}
    nbytes = sum(v.nbytes for v in volumes.values() if v is not None)
    with atomic_h5(path, "w", nbytes=nbytes) as f:
        if history is not None:
            copy_history(f, history)
        ex = f.require_group("exchange")
        for name, data in volumes.items():
            if data is None:
                continue
            ds = ex.create_dataset(name, data=data, compression="gzip", shuffle=True)
            ds.attrs["axes"] = _AXES[result.frame]
            if name in units:
                ds.attrs["units"] = units[name]
        g = ex.create_group("bragg")
        g.attrs["frame"] = result.frame
        g.attrs["outside_support"] = "NaN in object_phase, displacement and strain"
        g.create_dataset("ramp_gradient", data=result.ramp.gradient).attrs["units"] = "rad/voxel"
        g.create_dataset("ramp_offset", data=result.ramp.offset).attrs["units"] = "rad"
        g.create_dataset("ramp_centre", data=np.array(result.ramp.centre))
        g.create_dataset("shift", data=result.shift).attrs["units"] = "voxel"
        if result.basis is not None:
            g.create_dataset("basis", data=result.basis).attrs["units"] = "m"
            g.create_dataset("voxel_size", data=result.voxel_size).attrs["units"] = "m"
        if result.geometry is not None:
            geo = f.require_group("measurement/instrument/bragg")
            for name, value in result.geometry.as_dict().items():
                geo.create_dataset(name, data=np.asarray(value, float)).attrs["units"] = \
                    _UNITS[name]
        params = {**result.parameters, "frame": result.frame,
                  "geometry": None if result.geometry is None else result.geometry.as_dict()}
        write_provenance(f, "cdi_plugins_bragg", __version__, params)
        record_step(f, "bragg", "phased", params, package="cdi_plugins", source=history)
    logger.info("wrote the Bragg post-processing to %s", path)


def read_bragg(path: str | os.PathLike, allow_external: bool | None = None) -> BraggResult:
    """Read what :func:`write_bragg` wrote; ``allow_external`` as for
    :func:`~cdi_plugins.io.read_cxi`."""
    from tomopy_dlalign.common.h5files import open_h5, require_dataset

    with open_h5(path, allow_external=allow_external) as f:
        ex = f["exchange"] if "exchange" in f else None
        data = {name: ex[name][()] for name in _VOLUMES if ex is not None and name in ex}
        g = require_dataset(f, "exchange/bragg/shift").parent
        ramp = PhaseRamp(g["ramp_gradient"][()], float(g["ramp_offset"][()]),
                         tuple(int(c) for c in g["ramp_centre"][()]))
        basis = g["basis"][()] if "basis" in g else None
        geo = f.get("measurement/instrument/bragg")
        geometry = None
        if geo is not None:
            fields = {k: v[()] for k, v in geo.items()}
            fields["pixel_size"] = tuple(float(p) for p in fields["pixel_size"])
            geometry = BraggGeometry(**{k: v if k == "pixel_size" else float(v)
                                        for k, v in fields.items()})
        shift, frame = g["shift"][()], str(g.attrs["frame"])
        proc = f.get("process/cdi_plugins_bragg")
        params = json.loads(proc.attrs.get("parameters", "{}")) if proc is not None else {}
    for name in ("object", "support", "object_phase"):
        if name not in data:
            raise ValueError(f"{str(path)!r} holds no /exchange/{name}: not a Bragg "
                             "post-processing result (write one with write_bragg)")
    return BraggResult(data["object"], data["support"].astype(bool), data["object_phase"],
                       ramp, shift, data.get("displacement"), data.get("strain"), geometry,
                       frame, basis, params)
