"""Data Exchange files for diffraction patterns and phasing results.

Data Exchange (:func:`write_dx` / :func:`read_dx`) holds the pattern in
``/exchange/data`` and ``/exchange/mask``; a phasing result (:func:`write_result` /
:func:`read_result`) adds ``/exchange/object`` (complex64), ``object_amplitude``,
``object_phase`` (rad), ``support``, ``chi2``, the log-likelihoods of every run
(``/exchange/llk/{poisson, gaussian, euclidean, free_poisson, ...}``) and the free pixels
(``/exchange/free_mask``), with a ``/process/cdi_plugins`` provenance group. Every writer
is atomic (temporary file, then rename) and every array reads back bit for bit.
"""

from __future__ import annotations

import logging
import os

import h5py
import numpy as np

from tomopy_dlalign.common import __version__
from tomopy_dlalign.common.h5files import atomic_h5, open_h5, require_dataset, write_provenance
from tomopy_dlalign.common.process import copy_history, record_step

from ..phasing.engine import PhasingResult
from ..phasing.verdict import Verdict
from .cxi import Geometry, check_finite_pattern, check_pattern, check_stored_pattern

logger = logging.getLogger(__name__)


def _write_geometry_dx(f: h5py.File, geometry: Geometry | None) -> None:
    if geometry is None:
        return
    det = f.require_group("measurement/instrument/detector")
    det.create_dataset("distance", data=geometry.distance).attrs["units"] = "m"
    det.create_dataset("pixel_size", data=geometry.pixel_size).attrs["units"] = "m"
    src = f.require_group("measurement/instrument/source")
    src.create_dataset("wavelength", data=geometry.wavelength).attrs["units"] = "m"
    src.create_dataset("energy", data=geometry.energy).attrs["units"] = "J"


def _read_geometry_dx(f: h5py.File) -> Geometry | None:
    try:
        return Geometry(
            wavelength=float(f["measurement/instrument/source/wavelength"][()]),
            distance=float(f["measurement/instrument/detector/distance"][()]),
            pixel_size=float(f["measurement/instrument/detector/pixel_size"][()]),
        )
    except KeyError:
        return None


def write_dx(path: str | os.PathLike, intensity, mask=None, geometry: Geometry | None = None,
             parameters: dict | None = None) -> None:
    """Write a diffraction pattern in the Data Exchange layout, atomically.

    ``/exchange/data`` (intensity, centred), ``/exchange/mask`` (bool, True = missing),
    ``/measurement/instrument/...`` (geometry, SI units) and ``/process/cdi_plugins``.

    Example
    -------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "p.h5"
    >>> write_dx(p, np.ones((8, 8), np.float32))
    >>> read_dx(p)[0].shape
    (8, 8)
    """
    arr, m = check_pattern(intensity, mask)
    with atomic_h5(path, "w", nbytes=arr.nbytes + (0 if m is None else m.nbytes)) as f:
        ex = f.require_group("exchange")
        ex.create_dataset("data", data=arr, compression="gzip", shuffle=True)
        ex["data"].attrs["units"] = "counts"
        ex.create_dataset("mask", data=np.zeros(arr.shape[-2:], bool) if m is None else m)
        _write_geometry_dx(f, geometry)
        write_provenance(f, "cdi_plugins", __version__, parameters)
        record_step(f, "write_dx", "pattern", parameters, package="cdi_plugins")


def read_dx(path: str | os.PathLike,
            allow_external: bool | None = None) -> tuple[np.ndarray, np.ndarray, Geometry | None]:
    """Read a Data Exchange diffraction file: ``(intensity, mask, geometry or None)``;
    ``allow_external`` as for :func:`~cdi_plugins.io.read_cxi`."""
    with open_h5(path, allow_external=allow_external) as f:
        ds = require_dataset(f, "exchange/data")
        check_stored_pattern(ds, path)
        data = ds[()]
        mds = f.get("exchange/mask")
        mask = np.zeros(data.shape[-2:], bool) if mds is None else mds[()].astype(bool)
        geom = _read_geometry_dx(f)
    if mask.shape != data.shape[-2:] and mask.shape != data.shape:
        raise ValueError(f"{str(path)!r}: /exchange/mask shape {mask.shape} does not match "
                         f"the data {data.shape}")
    return check_finite_pattern(data, mask, f"/exchange/data in {str(path)!r}"), mask, geom


def write_result(path: str | os.PathLike, result: PhasingResult, intensity=None, mask=None,
                 geometry: Geometry | None = None, mode: str = "w",
                 step: str | None = "phase", history=None) -> None:
    """Write a phasing result in the Data Exchange layout, atomically.

    With ``mode="a"`` the result is added beside the data of an existing Data Exchange
    file (replacing an earlier result); with ``mode="w"`` a new file is written, holding
    ``intensity`` and ``mask`` too when given.

    Datasets: ``/exchange/object`` complex64 ``(n_runs, H, W)``, ``object_amplitude``,
    ``object_phase`` (rad), ``support``, ``chi2`` ``(n_runs, n_iter)``, ``llk/<name>``
    ``(n_runs,)`` (:attr:`PhasingResult.llk`), ``free_mask`` when pixels were withheld,
    ``quality``, a group whose attributes hold the verdict (``ok``, ``summary`` and the
    whole :class:`~cdi_plugins.phasing.verdict.Verdict` as JSON in ``verdict``); the
    schedule, the ranking and all parameters are in ``/process/cdi_plugins``.

    ``/process/state`` becomes ``"phased"`` and ``step`` (None: no step, for a writer
    that records its own) is added to ``/process/steps``, after the steps of the
    ``history`` file (the pattern that was phased) when one is given
    (:mod:`tomopy_dlalign.common.process`).
    """
    if not isinstance(result, PhasingResult):
        raise TypeError(f"result must be a PhasingResult, got {type(result).__name__}")
    with atomic_h5(path, mode) as f:
        if history is not None:
            copy_history(f, history)
        ex = f.require_group("exchange")
        for name in ("object", "object_amplitude", "object_phase", "support", "chi2", "llk",
                     "free_mask", "quality"):
            if name in ex:
                del ex[name]
        if intensity is not None:
            arr, m = check_pattern(intensity, mask)
            for name in ("data", "mask"):
                if name in ex:
                    del ex[name]
            ex.create_dataset("data", data=arr, compression="gzip", shuffle=True)
            ex.create_dataset("mask", data=np.zeros(arr.shape[-2:], bool) if m is None else m)
        ex.create_dataset("object", data=result.objects.astype(np.complex64))
        ex.create_dataset("object_amplitude", data=np.abs(result.objects)).attrs["units"] = "a.u."
        ex.create_dataset("object_phase", data=np.angle(result.objects)).attrs["units"] = "rad"
        ex.create_dataset("support", data=result.supports)
        ex.create_dataset("chi2", data=result.chi2).attrs["definition"] = (
            "sum (|F(o)| - sqrt(I))^2 / sum I over measured pixels (Wu et al. 2021, eq. 5)")
        _write_llk(ex, result)
        if result.quality is not None:
            result.quality.write(ex.create_group("quality"))
        if geometry is not None and "measurement" not in f:
            _write_geometry_dx(f, geometry)
        grp = write_provenance(f, "cdi_plugins", __version__,
                               {**result.parameters, "schedule": result.schedule})
        grp.attrs["schedule"] = result.schedule
        grp.attrs["rank_by"] = result.rank_by
        grp.attrs["best"] = result.best
        if result.seed is not None:
            grp.attrs["seed"] = int(result.seed)
        if step is not None:
            record_step(f, step, "phased", {**result.parameters, "schedule": result.schedule,
                                            "best": result.best, "rank_by": result.rank_by},
                        package="cdi_plugins", source=history)
    logger.info("wrote %d reconstruction(s) to %s", len(result.objects), path)


def _write_llk(ex: h5py.Group, result: PhasingResult) -> None:
    """The log-likelihoods of every run and the free pixels, beside the objects."""
    llk = ex.create_group("llk")
    llk.attrs["definition"] = ("mean per pixel of 2 [I_c - I_o + I_o ln(I_o/I_c)] (poisson), "
                               "(I_c - I_o)^2 / (I_o + 1) (gaussian), 4 (sqrt I_c - sqrt I_o)^2 "
                               "(euclidean); free_*: on the pixels withheld from the fit")
    for name, values in result.llk.items():
        llk.create_dataset(name, data=np.asarray(values, dtype=np.float64))
    if result.free_mask is not None:
        ex.create_dataset("free_mask", data=result.free_mask)


def read_result(path: str | os.PathLike, allow_external: bool | None = None) -> PhasingResult:
    """Read a phasing result written by :func:`write_result`; ``allow_external`` as for
    :func:`~cdi_plugins.io.read_cxi`."""
    import json

    with open_h5(path, allow_external=allow_external) as f:
        objects = require_dataset(f, "exchange/object")[()]
        supports = require_dataset(f, "exchange/support")[()]
        chi2 = require_dataset(f, "exchange/chi2")[()]
        llk = {k: v[()] for k, v in f["exchange/llk"].items()} if "exchange/llk" in f else {}
        free = f["exchange/free_mask"][()] if "exchange/free_mask" in f else None
        quality = Verdict.read(f["exchange/quality"]) if "exchange/quality" in f else None
        grp = f.get("process/cdi_plugins")
        attrs = dict(grp.attrs) if grp is not None else {}
    params = json.loads(attrs.get("parameters", "{}"))
    seed = attrs.get("seed")
    return PhasingResult(objects=objects, supports=supports, chi2=chi2,
                         schedule=str(attrs.get("schedule", "")),
                         seed=None if seed is None else int(seed), parameters=params,
                         llk=llk, free_mask=free, quality=quality)
