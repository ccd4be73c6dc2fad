"""One entry point for every supported file: :func:`read`.

The kind of file is decided by its extension and, for HDF5, by its content (Data
Exchange has ``/exchange/data``; NXtomo has an entry whose ``definition`` is NXtomo);
a file with an unknown extension is recognised by its signature.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import h5py

from ..common.h5files import allowing_external, open_h5
from ..common.process import DIFFRACTION_STATES, STATES, ProcessRecord, read_process, state_of
from .dxchange import read_dx
from .nexus import find_nxtomo_entries, read_nxtomo
from .scan import Scan
from .tiff import read_tiff
from .txm import read_txrm, read_xrm
from .units import energy_in_kev, length_in_m

logger = logging.getLogger(__name__)

HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".nx", ".nxs")
TIFF_SUFFIXES = (".tif", ".tiff")

_OLE_MAGIC = bytes.fromhex("d0cf11e0a1b11ae1")
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"

# Data Exchange files from APS beamlines record these (DXfile layout), with units attributes.
_DX_PIXEL = "/measurement/instrument/detection_system/objective/resolution"
_DX_ENERGY = "/measurement/instrument/monochromator/energy"


def _kind(p: Path) -> str:
    if p.is_dir():
        return "tiff"
    suffix = p.suffix.lower()
    if suffix in (".txrm", ".xrm"):
        return suffix[1:]
    if suffix in TIFF_SUFFIXES:
        return "tiff"
    if suffix in HDF5_SUFFIXES:
        return "hdf5"
    with open(p, "rb") as fh:
        head = fh.read(8)
    if head == _OLE_MAGIC:
        return "txrm"
    if head[:4] in _TIFF_MAGIC:
        return "tiff"
    if head == _HDF5_MAGIC:
        return "hdf5"
    raise ValueError(f"{str(p)!r} is not a format read here (known: .txrm, .xrm, "
                     f"{', '.join(HDF5_SUFFIXES)} (NXtomo or Data Exchange), .tif, .tiff or "
                     "a folder of TIFF files), and its first bytes match none of them")


def _hdf5_kind(p: Path, allow_external: bool | None) -> str:
    with open_h5(p, allow_external=allow_external) as f:
        if isinstance(f.get("/exchange/data"), h5py.Dataset):
            return "dxchange"
        if find_nxtomo_entries(f):
            return "nxtomo"
    raise ValueError(f"{str(p)!r} is neither a Data Exchange file (no /exchange/data) nor "
                     "NXtomo (no entry with definition NXtomo, instrument/detector/data or "
                     "data/data)")


def _dx_quantity(f: h5py.File, name: str, convert, default: str):
    ds = f.get(name)
    if not isinstance(ds, h5py.Dataset):
        return None
    value = float(ds[()].ravel()[0]) if ds.shape else float(ds[()])
    return convert(value, ds.attrs.get("units"), f"{name} in {f.filename}", default)


def _read_dxchange(p: Path, proj, sino, lazy: bool) -> Scan:
    prj, flat, dark, theta = read_dx(p, proj=proj, sino=sino, lazy=lazy)
    with open_h5(p) as f:
        pixel_size = _dx_quantity(f, _DX_PIXEL, length_in_m, "um")
        energy = _dx_quantity(f, _DX_ENERGY, energy_in_kev, "keV")
    return Scan(data=prj, flat=flat, dark=dark, theta=theta, pixel_size=pixel_size,
                energy=energy, metadata={}, source=str(p), format="dxchange")


def read(path: str | os.PathLike, proj=None, sino=None, *, theta=None, lazy: bool = False,
         entry: str | None = None, allow_external: bool | None = None) -> Scan:
    """Read projections, flats, darks, angles and metadata from any supported file.

    Parameters
    ----------
    path : str or Path
        A Zeiss/Xradia ``.txrm`` or ``.xrm``; an HDF5 file (``.h5``, ``.hdf5``, ``.hdf``,
        ``.nx``, ``.nxs``) in Data Exchange or NXtomo layout, told apart by content; a
        ``.tif``/``.tiff`` stack or a folder of them.
    proj, sino : (start, end[, step]), optional
        Ranges of projections and detector rows to read (``read_dx``'s convention); the
        rest is not read where the format allows (all but compressed TIFF).
    theta : ndarray, optional
        Angles in radians, for TIFF stacks only (which hold none); by default TIFF angles
        come from the angle file beside the stack (see :mod:`.tiff`).
    lazy : bool
        HDF5 only: return ``data`` as a :class:`LazyStack` read on indexing.
    entry : str, optional
        NXtomo only: which entry, when a file holds several.
    allow_external : bool, optional
        HDF5 only: follow external links, virtual datasets and external storage that
        lead outside the file's folder; by default (None: the setting of
        :func:`~tomopy_dlalign.common.h5files.allowing_external`, ``--allow-external``)
        only those beside the file or below its folder are followed
        (:func:`~tomopy_dlalign.common.h5files.check_external`).

    Returns
    -------
    Scan
        ``data`` ``(nproj, nslice, ncol)`` in the stored dtype, ``flat``/``dark`` or None,
        ``theta`` radians (None for a single ``.xrm`` image), ``pixel_size`` metres,
        ``energy`` keV, ``center`` pixels when the file records it, ``metadata``,
        ``source``, ``format``, and ``state``, what the data hold (``"raw"``,
        ``"line_integrals"``, ``"aligned"``, ...: the file's ``/process/state``, ``"raw"``
        when it records none, which is logged; :mod:`tomopy_dlalign.common.process`).

    Raises
    ------
    FileNotFoundError
        No such file or folder.
    ValueError
        An unknown or damaged file, an argument that does not apply to its format, or an
        HDF5 file that refers to a file outside its folder.

    Example
    -------
    >>> import numpy as np, tempfile, os
    >>> from tomopy_dlalign.io import write_nxtomo
    >>> p = os.path.join(tempfile.mkdtemp(), "scan.nx")
    >>> write_nxtomo(p, np.ones((4, 2, 8), np.uint16), theta=np.linspace(0, np.pi, 4))
    >>> scan = read(p, sino=(0, 1))
    >>> scan.format, scan.data.shape
    ('nxtomo', (4, 1, 8))
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"file or folder {str(p)!r} does not exist")
    kind = _kind(p)
    if kind == "hdf5":
        kind = _hdf5_kind(p, allow_external)
    if theta is not None and kind != "tiff":
        raise ValueError(f"theta= applies to TIFF stacks only; {str(p)!r} is {kind} and "
                         "carries its own angles")
    if lazy and kind not in ("dxchange", "nxtomo"):
        raise ValueError(f"lazy=True applies to HDF5 files only; {str(p)!r} is {kind} "
                         "(TIFF files are memory-mapped anyway)")
    if entry is not None and kind != "nxtomo":
        raise ValueError(f"entry= applies to NXtomo files only; {str(p)!r} is {kind}")
    logger.info("reading %s as %s", p, kind)
    if kind == "txrm":
        return read_txrm(p, proj=proj, sino=sino)  # a microscope's own file: raw counts
    if kind == "xrm":
        if proj is not None:
            raise ValueError(f"{str(p)!r} is a single .xrm image: proj= does not apply")
        return read_xrm(p, sino=sino)
    if kind == "tiff":
        scan = read_tiff(p, theta=theta, proj=proj, sino=sino)
        scan.state = state_of(ProcessRecord(None, source=str(p)))
        return scan
    with allowing_external(allow_external):  # every HDF5 open below, /process included
        return _read_hdf5(p, kind, proj, sino, lazy, entry)


def _read_hdf5(p: Path, kind: str, proj, sino, lazy: bool, entry: str | None) -> Scan:
    """An NXtomo or Data Exchange scan with its ``/process`` record."""
    record = read_process(p)
    if record.state in DIFFRACTION_STATES:
        raise ValueError(f"{str(p)!r} holds {STATES[record.state]} (/process/state is "
                         f"{record.state!r}), not a tomographic scan")
    if kind == "nxtomo":
        scan = read_nxtomo(p, proj=proj, sino=sino, entry=entry, lazy=lazy)
    else:
        scan = _read_dxchange(p, proj, sino, lazy)
    scan.process = record if record.recorded or record.steps else None
    scan.state = state_of(record)
    return scan
