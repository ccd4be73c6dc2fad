"""Detector frames from files: ESRF EDF, TIFF, NeXus/HDF5 (Eiger, Maxipix), CXI and NumPy.

:func:`read_frames` returns the frames as float32 ``(n_frames, H, W)`` with the mask the
file carries (True = bad pixel), whatever the format:

- EDF (``.edf``, ``.edf.gz``) through ``fabio``; a multi-frame EDF gives every frame; a
  header that declares more bytes than the file holds, or a ``Size`` or ``DataType``
  that disagrees with the payload, is refused (:func:`check_edf`);
- TIFF (``.tif``, ``.tiff``) through ``tifffile``; a multi-page TIFF gives every page;
- NeXus/HDF5 (``.h5``, ``.hdf5``, ``.nxs``, ``.nx5``): the first of ``dataset`` (when
  given), ``/entry/instrument/detector/data``, ``/entry/data/data``,
  ``/entry_1/instrument_1/detector_1/data``, ``/entry/measurement/data``, else the only
  2D or 3D dataset of the file; the mask is the NeXus ``pixel_mask`` (or ``mask``) beside
  the data or under the detector group, a bit field read as ``> 0`` = bad;
- CXI (``.cxi``) through :func:`cdi_plugins.io.read_cxi` (its bit-field mask);
- NumPy (``.npy``).

A folder stands for the detector files it holds (those with the suffixes above, in name
order with numbers compared by value, so that ``frame_2.tif`` comes before
``frame_10.tif``; :func:`detector_files`), so a folder of dark or flat-field frames is
read like one file, and a folder of a scan's frames gives them in the scan's order.
Pixels at the maximum of an unsigned integer type (how Eiger and Maxipix files mark gaps
and dead pixels) join the mask. Measured zeros are values like any other: nothing here
masks them. Frames must hold real numbers: complex frames are refused rather than cut
to their real part. An HDF5 file is read only within its folder
(:func:`tomopy_dlalign.common.h5files.check_external`).
"""

from __future__ import annotations

import gzip
import io
import logging
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from tomopy_dlalign.common.h5files import open_h5

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


#: the suffixes :func:`read_frames` reads (``.edf.gz`` too)
SUFFIXES = (".edf", ".tif", ".tiff", *_HDF5, ".cxi", ".npy")


def _natural_key(path: Path) -> list:
    """``path``'s name with its runs of digits as numbers: ``f2`` before ``f10``."""
    return [(0, int(part), part) if part.isdigit() else (1, 0, part)
            for part in re.split(r"(\d+)", path.name) if part]


def detector_files(paths) -> list[Path]:
    """The detector files that ``paths`` name: each file as given, each folder as the
    files in it whose suffix :func:`read_frames` reads, in name order with numbers
    compared by value (``f2.tif`` before ``f10.tif``; not recursive).

    Raises
    ------
    FileNotFoundError
        A path that does not exist.
    ValueError
        No paths, or a folder without detector files.

    Example
    -------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("b10.tif", "b2.tif", "a.edf", "notes.txt"):
    ...     (d / name).touch()
    >>> [p.name for p in detector_files(d)]
    ['a.edf', 'b2.tif', 'b10.tif']
    """
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not paths:
        raise ValueError("paths is empty: give at least one detector file")
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted((f for f in p.iterdir() if f.is_file() and _suffix(f) in SUFFIXES),
                           key=_natural_key)
            if not found:
                raise ValueError(f"folder {str(p)!r} holds no detector files "
                                 f"({', '.join(SUFFIXES)})")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(f"detector file {str(p)!r} does not exist")
    return out


#: EDF data types and their item sizes in bytes (ESRF's names, as fabio reads them)
_EDF_ITEM = {**dict.fromkeys(("SignedByte", "Signed8", "UnsignedByte", "Unsigned8"), 1),
             **dict.fromkeys(("SignedShort", "Signed16", "UnsignedShort", "Unsigned16",
                              "UnsignedShortInteger"), 2),
             **dict.fromkeys(("SignedInteger", "Signed32", "UnsignedInteger", "Unsigned32",
                              "SignedLong", "UnsignedLong", "FloatValue", "FLOATVALUE",
                              "FLOAT", "Float", "FloatIEEE32", "Float32"), 4),
             **dict.fromkeys(("Signed64", "Unsigned64", "Double", "DoubleValue",
                              "FloatIEEE64", "DoubleIEEE64"), 8)}
_EDF_HEADER_MAX = 1 << 16  # bytes: ESRF headers are a few 512-byte blocks
_EDF_KEY = re.compile(rb"^\s*([^=;{}]+?)\s*=\s*(.*?)\s*;", re.MULTILINE)


def _edf_blocks(path: Path) -> Iterator[tuple[dict, int]]:
    """``(header, payload bytes present)`` of each block of an EDF file (``.gz`` too).

    An EDF block is an ASCII header ``{ key = value ; ... }`` followed by its binary
    payload of ``Size`` bytes; without ``Size``, the payload runs to the next header
    (which follows the pixels the dimensions and ``DataType`` declare) or to the end.
    """
    try:
        if path.name.lower().endswith(".gz"):
            with gzip.open(path, "rb") as fh:
                stream = io.BytesIO(fh.read())  # fabio decompresses it whole too
        else:
            stream = open(path, "rb")
    except (OSError, EOFError) as exc:
        raise ValueError(f"could not read EDF file {str(path)!r}: {exc}") from None
    with stream as fh:
        total = fh.seek(0, os.SEEK_END)
        offset = 0
        while offset < total:
            fh.seek(offset)
            head = fh.read(_EDF_HEADER_MAX)
            start = head.find(b"{")
            end = head.find(b"}", start + 1)
            if start == -1 or end == -1:
                return  # no further complete header: fabio says what is wrong, if anything
            header = {k.decode("latin-1").strip(): v.decode("latin-1").strip()
                      for k, v in _EDF_KEY.findall(head[start + 1:end])}
            payload = offset + end + 1 + (2 if head[end + 1:end + 3] == b"\r\n" else 1)
            size = _edf_int(header.get("Size", header.get("EDF_BinarySize")))
            if size is None:  # up to the next header, if one follows the declared pixels
                size = _edf_pixels(header) * _EDF_ITEM.get(header.get("DataType", ""), 0)
                fh.seek(payload + size)
                if fh.read(1) != b"{":
                    size = total - payload
            yield header, max(0, min(size, total - payload))
            offset = payload + max(size, 1)


def _edf_int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _edf_pixels(header: dict) -> int:
    dims = [_edf_int(v) for k, v in header.items() if re.fullmatch(r"Dim_\d+", k)]
    return math.prod(d for d in dims if d is not None) if dims else 0


def check_edf(path: str | os.PathLike) -> None:
    """Refuse an EDF file whose headers do not describe their payloads.

    For each block, the header's dimensions (``Dim_1``, ``Dim_2``, ...) times the item
    size of its ``DataType`` are the bytes it declares. Refused, naming the file: a
    payload shorter than that (``fabio`` pads it with zeros), a ``Size`` other than
    that, and a ``DataType`` whose item size disagrees with the payload's bytes per
    pixel (``fabio`` believes the header). Without ``Size``, the payload is what the
    file holds up to the next header or its end. Compressed payloads and data types
    outside ESRF's list are left to ``fabio``.

    Raises
    ------
    ValueError
        One line naming the file, the frame, the declared and the actual bytes.
    """
    path = Path(path)
    for i, (header, present) in enumerate(_edf_blocks(path)):
        item = _EDF_ITEM.get(header.get("DataType", ""))
        pixels = _edf_pixels(header)
        if item is None or not pixels or header.get("Compression", "None").lower() not in (
                "none", "nocompression"):
            continue
        where, declared = f"{str(path)!r} frame {i}", pixels * item
        size = _edf_int(header.get("Size", header.get("EDF_BinarySize")))
        payload = size if size is not None else present
        if payload != declared and payload and payload % pixels == 0:
            raise ValueError(f"{where}: DataType {header['DataType']} has {item}-byte pixels, "
                             f"but its payload of {payload} bytes for {pixels} pixels is "
                             f"{payload // pixels} bytes per pixel")
        if size is not None and size != declared:
            raise ValueError(f"{where}: Size is {size} bytes, but {pixels} pixels of "
                             f"{header['DataType']} are {declared}")
        if present < declared:
            raise ValueError(f"{where}: the header declares {declared} bytes ({pixels} "
                             f"pixels of {header['DataType']}) but the file holds {present}")


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


def _read_hdf5(path: Path, dataset: str | None,
               allow_external: bool | None) -> tuple[np.ndarray, np.ndarray | None]:
    with open_h5(path, allow_external=allow_external) as f:
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


def _read_one(path: Path, dataset: str | None,
              allow_external: bool | None) -> tuple[np.ndarray, np.ndarray | None]:
    kind = _suffix(path)
    if kind == ".edf":
        check_edf(path)  # before fabio, which pads a short payload and logs it
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
        data, mask = read_cxi(path, allow_external)
        return data.reshape(-1, *data.shape[-2:]), mask
    if kind in _HDF5:
        return _read_hdf5(path, dataset, allow_external)
    raise ValueError(f"unknown detector file type {path.suffix!r} for {str(path)!r}: expected "
                     f".edf, .tif/.tiff, .h5/.hdf5/.nxs, .cxi or .npy")


def read_frames(paths, dataset: str | None = None,
                allow_external: bool | None = None) -> Frames:
    """Read detector frames from one file or several (same detector, stacked).

    Parameters
    ----------
    paths : str, PathLike or list of them
        EDF, TIFF, NeXus/HDF5, CXI or NumPy files (module docstring), or folders of them
        (:func:`detector_files`).
    dataset : str, optional
        The dataset holding the frames in an HDF5 file.
    allow_external : bool, optional
        HDF5 and CXI: follow external links, virtual datasets and external storage that
        lead outside the file's folder (None: the setting of
        :func:`tomopy_dlalign.common.h5files.allowing_external`, off by default).

    Returns
    -------
    Frames
        float32 ``(n_frames, H, W)`` frames and the union of the files' masks.

    Raises
    ------
    FileNotFoundError
        A file does not exist.
    ValueError
        A folder without detector files, an unknown or unreadable file (an EDF header
        that does not match its payload, an HDF5 reference outside the file's folder),
        frames that are not 2D, frames of different shapes, values beyond the float32
        range.
    TypeError
        Frames that are not real numbers (complex ones would lose their imaginary part).
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
    paths = detector_files(paths)
    stacks, mask = [], None
    for p in paths:
        data, m = _read_one(p, dataset, allow_external)
        if data.dtype.kind not in "biuf":
            raise TypeError(f"{str(p)!r} holds {data.dtype} frames; detector frames must be "
                            "real numbers (complex ones would lose their imaginary part)")
        if data.ndim != 3 or data.shape[-1] < 2 or data.shape[-2] < 2:
            raise ValueError(f"{str(p)!r} holds data of shape {data.shape}, not 2D frames")
        if stacks and data.shape[-2:] != stacks[0].shape[-2:]:
            raise ValueError(f"{str(p)!r} has frames of shape {data.shape[-2:]}, the first file "
                             f"{stacks[0].shape[-2:]}")
        if np.issubdtype(data.dtype, np.unsignedinteger):
            # Eiger and Maxipix files mark gaps and dead pixels with the type's maximum
            flagged = (data == np.iinfo(data.dtype).max).any(axis=0)
            m = flagged if m is None else m | flagged
        # an explicit test: NumPy before 1.24 casts an overflow to inf without a warning
        if np.issubdtype(data.dtype, np.floating) and data.itemsize > 4:
            finite = np.abs(data[np.isfinite(data)])
            if finite.size and finite.max() > np.finfo(np.float32).max:
                raise ValueError(f"{str(p)!r} holds values beyond the float32 range (up to "
                                 f"{finite.max():.3g}): not detector counts")
        stacks.append(data.astype(np.float32))
        if m is not None:
            mask = m if mask is None else mask | m
        logger.info("read %d frame(s) of %s from %s", len(data), data.shape[-2:], p)
    data = np.concatenate(stacks)
    return Frames(data=data, mask=np.zeros(data.shape[-2:], bool) if mask is None else mask,
                  sources=[str(p) for p in paths])
