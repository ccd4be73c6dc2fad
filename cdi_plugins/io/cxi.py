"""CXI files for diffraction patterns, and the far-field geometry.

CXI (as PyNX writes a 2D pattern; DESIGN.md section 5)::

    /cxi_version                                     140
    /entry_1/instrument_1/detector_1/data            float32 (H, W) or (B, H, W), centred
    /entry_1/instrument_1/detector_1/mask            uint32 bit field, > 0 = missing,
                                                     (H, W), or (B, H, W) for a 3D pattern
    /entry_1/instrument_1/detector_1/distance        m
    /entry_1/instrument_1/detector_1/{x,y}_pixel_size m
    /entry_1/instrument_1/source_1/energy            J
    /entry_1/instrument_1/beam_1/incident_wavelength m
    /entry_1/data_1/data                             soft link to the detector data

:func:`read_cxi` also accepts ``/entry_1/image_1/{data, mask}``. The writer is atomic
(temporary file, then rename) and every array reads back bit for bit.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import h5py
import numpy as np

from tomopy_dlalign.common import __version__
from tomopy_dlalign.common.h5files import atomic_h5, open_h5, write_provenance
from tomopy_dlalign.common.process import record_step
from tomopy_dlalign.common.validation import as_array

logger = logging.getLogger(__name__)

PLANCK_C = 6.62607015e-34 * 299792458.0  # h c in J m
MASK_MISSING = 1  # CXI bit "invalid"

_DET = "/entry_1/instrument_1/detector_1"
_CXI_DATA = ("/entry_1/data_1/data", f"{_DET}/data", "/entry_1/image_1/data")
_CXI_MASK = (f"{_DET}/mask", "/entry_1/data_1/mask", "/entry_1/image_1/mask")


@dataclass
class Geometry:
    """Far-field geometry in SI units.

    Attributes
    ----------
    wavelength : float
        X-ray wavelength, m.
    distance : float
        Sample-detector distance, m.
    pixel_size : float
        Detector pixel size, m (square pixels; ``y_pixel_size`` is used when they differ).

    Example
    -------
    >>> g = Geometry(wavelength=1e-9, distance=1.0, pixel_size=75e-6)
    >>> round(g.energy_ev), round(g.real_space_pixel(512) * 1e9, 2)
    (1240, 26.04)
    """

    wavelength: float
    distance: float
    pixel_size: float

    def __post_init__(self) -> None:
        for name in ("wavelength", "distance", "pixel_size"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float, np.floating)) and np.isfinite(v) and v > 0):
                raise ValueError(f"Geometry.{name} must be a positive number in SI units, "
                                 f"got {v!r}")

    @property
    def energy(self) -> float:
        """Photon energy, J."""
        return PLANCK_C / self.wavelength

    @property
    def energy_ev(self) -> float:
        """Photon energy, eV."""
        return self.energy / 1.602176634e-19

    def real_space_pixel(self, n_pixels: int) -> float:
        """Real-space pixel ``lambda z / (N p)`` in m for an ``N``-pixel pattern."""
        return self.wavelength * self.distance / (int(n_pixels) * self.pixel_size)


def check_pattern(intensity, mask) -> tuple[np.ndarray, np.ndarray | None]:
    """A pattern ``(H, W)`` or stack ``(B, H, W)`` as a float array, and its mask as bool
    ``(H, W)``, or ``(B, H, W)`` for a 3D pattern (or None), for the writers."""
    arr = as_array(intensity, "intensity", ndim=(2, 3), dtype=None)
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float32)
    if mask is None:
        return arr, None
    m = np.asarray(mask)
    if m.shape != arr.shape[-2:] and not (arr.ndim == 3 and m.shape == arr.shape):
        shapes = f"{arr.shape[-2:]}" + (f" or {arr.shape}" if arr.ndim == 3 else "")
        raise ValueError(f"mask must have shape {shapes}, got {m.shape}")
    return arr, m.astype(bool)


def write_cxi(path: str | os.PathLike, intensity, mask=None, geometry: Geometry | None = None,
              parameters: dict | None = None, extras: dict | None = None,
              overwrite: bool | None = None, step: str = "write_cxi") -> None:
    """Write a diffraction pattern as CXI (PyNX's layout), atomically.

    Parameters
    ----------
    path : str or PathLike
        Output file; replaced only once complete.
    intensity : array_like
        ``(H, W)`` or ``(B, H, W)``, centred. Its dtype is kept (float32 normally).
    mask : array_like of bool, optional
        True = missing, written as the CXI bit 1 ("invalid"): ``(H, W)``, or the
        intensity's shape ``(B, H, W)`` for a 3D pattern (a rocking-curve scan).
    geometry : Geometry, optional
        Written in SI units (distance, pixel sizes, energy in J, wavelength in m).
    parameters : dict, optional
        Recorded in the provenance group ``/process/cdi_plugins``.
    extras : dict, optional
        More datasets, ``{path in the file: array}`` (a simulation's truth, for
        example), written in the same atomic step.
    overwrite : bool, optional
        Replace a read-only ``path`` (default: the ``--overwrite`` setting); see
        :mod:`tomopy_dlalign.common.outputs` for permissions, links and locking.
    step : str
        The processing step recorded under ``/process/steps`` (``"simulate"``,
        ``"prepare"``, ...), with ``/process/state`` = ``"pattern"``
        (:mod:`tomopy_dlalign.common.process`).

    Example
    -------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "p.cxi"
    >>> write_cxi(p, np.ones((8, 8), np.float32), np.eye(8, dtype=bool))
    >>> I, m = read_cxi(p); int(m.sum()), I.dtype
    (8, dtype('float32'))
    """
    arr, m = check_pattern(intensity, mask)
    extra = {str(k): as_array(v, f"extras[{k!r}]", dtype=None) for k, v in (extras or {}).items()}
    size = arr.nbytes + (0 if m is None else m.nbytes) + sum(v.nbytes for v in extra.values())
    with atomic_h5(path, "w", overwrite=overwrite, nbytes=size) as f:
        f.create_dataset("cxi_version", data=140)
        det = f.require_group(_DET)
        det.create_dataset("data", data=arr, compression="gzip", shuffle=True)
        if m is not None:
            det.create_dataset("mask", data=m.astype(np.uint32) * MASK_MISSING,
                               compression="gzip")
        if geometry is not None:
            det.create_dataset("distance", data=float(geometry.distance)).attrs["units"] = "m"
            for ax in ("x", "y"):
                det.create_dataset(f"{ax}_pixel_size",
                                   data=float(geometry.pixel_size)).attrs["units"] = "m"
            src = f.require_group("/entry_1/instrument_1/source_1")
            src.create_dataset("energy", data=float(geometry.energy)).attrs["units"] = "J"
            beam = f.require_group("/entry_1/instrument_1/beam_1")
            beam.create_dataset("incident_wavelength",
                                data=float(geometry.wavelength)).attrs["units"] = "m"
        data1 = f.require_group("/entry_1/data_1")
        data1["data"] = h5py.SoftLink(f"{_DET}/data")
        if m is not None:
            data1["mask"] = h5py.SoftLink(f"{_DET}/mask")
        for name, value in extra.items():
            f.create_dataset(name, data=value)
        write_provenance(f, "cdi_plugins", __version__, parameters)
        record_step(f, step, "pattern", parameters, package="cdi_plugins")
    logger.info("wrote CXI pattern %s to %s", arr.shape, path)


def _first(f: h5py.File, names: tuple[str, ...]):
    for n in names:
        obj = f.get(n)
        if isinstance(obj, h5py.Dataset):
            return obj
    return None


def read_cxi(path: str | os.PathLike,
             allow_external: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read a CXI pattern and its missing-data mask.

    Looks for the data at ``/entry_1/data_1/data``, then the detector's data, then
    ``/entry_1/image_1/data``; the mask likewise (``mask > 0`` = missing, the CXI bit
    field). No mask in the file means nothing missing.

    Parameters
    ----------
    path : str or Path
        The CXI (HDF5) file.
    allow_external : bool, optional
        Follow external links, virtual datasets and external storage that lead outside
        the file's folder; by default (None: the setting of
        :func:`tomopy_dlalign.common.h5files.allowing_external`, ``--allow-external``)
        only those beside the file or below its folder are followed
        (:func:`tomopy_dlalign.common.h5files.check_external`).

    Returns
    -------
    intensity : numpy.ndarray
        As stored, ``(H, W)`` or ``(B, H, W)``.
    mask : numpy.ndarray
        bool ``(H, W)``, or ``(B, H, W)`` where the file stores one per frame (a 3D
        pattern), True = missing.

    Raises
    ------
    FileNotFoundError, ValueError, KeyError
        Missing, non-HDF5 or truncated file, a reference to a file outside its folder,
        or no CXI data in it.
    TypeError
        Data that are not real numbers (complex, strings, booleans, compound).
    ValueError
        Data neither 2D ``(H, W)`` nor 3D ``(B, H, W)``, or empty; values that are not
        finite at pixels the mask does not mark missing (at missing pixels they read as
        0: :func:`check_finite_pattern`).
    """
    with open_h5(path, allow_external=allow_external) as f:
        ds = _first(f, _CXI_DATA)
        if ds is None:
            raise KeyError(f"no CXI pattern in {str(path)!r}: looked for {', '.join(_CXI_DATA)}")
        check_stored_pattern(ds, path)
        data, where = ds[()], f"{ds.name} in {str(path)!r}"
        mds = _first(f, _CXI_MASK)
        if mds is not None and mds.dtype.kind not in "iufb":
            raise TypeError(f"{mds.name} in {str(path)!r} must be a bit field of integers, "
                            f"got {mds.dtype}")
        mask = np.zeros(data.shape[-2:], bool) if mds is None else mds[()] > 0
    if mask.shape != data.shape[-2:] and mask.shape != data.shape:
        raise ValueError(f"{str(path)!r}: mask shape {mask.shape} does not match the data "
                         f"{data.shape}")
    return check_finite_pattern(data, mask, where), mask


def check_stored_pattern(ds: h5py.Dataset, path) -> None:
    """Refuse, naming the file and the dataset, data no phasing can use."""
    where = f"{ds.name} in {str(path)!r}"
    kind = ds.dtype
    if kind.kind not in "iuf":
        what = {"c": "complex", "b": "boolean", "S": "string", "U": "string",
                "O": "object (string)", "V": "compound"}.get(kind.kind, str(kind))
        raise TypeError(f"{where} must hold real intensities, got {what} data ({kind})")
    if ds.ndim not in (2, 3) or 0 in ds.shape:
        raise ValueError(f"{where} must be a 2D pattern (H, W) or a 3D stack (B, H, W), "
                         f"got shape {ds.shape}")


def check_finite_pattern(data: np.ndarray, mask: np.ndarray, where: str) -> np.ndarray:
    """``data`` with the values that are not finite (NaN, infinite) set to 0 where
    ``mask`` (True = missing) marks them missing; refused where it does not.

    Raises
    ------
    ValueError
        Non-finite values at measured pixels, naming ``where`` and how many.
    """
    if data.dtype.kind != "f":
        return data
    bad = ~np.isfinite(data)
    if not bad.any():
        return data
    measured = int((bad & ~mask).sum())
    if measured:
        raise ValueError(f"{where} holds {measured} values that are not finite (NaN or "
                         "infinite) at pixels its mask does not mark missing")
    logger.info("%s: %d non-finite values at missing pixels set to 0", where, int(bad.sum()))
    return np.where(bad, 0, data).astype(data.dtype, copy=False)


def read_cxi_geometry(path: str | os.PathLike,
                      allow_external: bool | None = None) -> Geometry | None:
    """The geometry stored in a CXI file, or None when it is incomplete.

    The wavelength comes from ``beam_1/incident_wavelength`` or, failing that, from
    ``source_1/energy`` (J). ``allow_external`` as for :func:`read_cxi`.
    """
    with open_h5(path, allow_external=allow_external) as f:
        def get(name):
            ds = f.get(name)
            return float(ds[()]) if isinstance(ds, h5py.Dataset) else None

        dist = get(f"{_DET}/distance")
        pix = get(f"{_DET}/y_pixel_size") or get(f"{_DET}/x_pixel_size")
        wl = get("/entry_1/instrument_1/beam_1/incident_wavelength")
        if wl is None:
            energy = get("/entry_1/instrument_1/source_1/energy")
            wl = PLANCK_C / energy if energy else None
    if None in (dist, pix, wl):
        logger.info("%s holds no complete geometry (distance, pixel size, wavelength)", path)
        return None
    return Geometry(wavelength=wl, distance=dist, pixel_size=pix)


