"""Zeiss/Xradia transmission X-ray microscope files: ``.txrm`` (a tomography) and ``.xrm``.

Both are OLE2 compound files ("structured storage"), read here with ``olefile``. The
streams used, as the instruments write them (all little-endian)::

    ImageInfo/ImageWidth, ImageHeight     int32      image size in pixels
    ImageInfo/DataType                    int32      5 = uint16, 10 = float32
    ImageInfo/NoOfImages, ImagesTaken     int32      planned and recorded image counts
    ImageInfo/HorizontalBin, VerticalalBin int32     detector binning (sic: "Verticalal")
    ImageInfo/Angles                      float32[]  rotation angle of each image, DEGREES
    ImageInfo/PixelSize                   float32    micrometres in the sample plane
    ImageInfo/Energy                      float32[]  eV (padded with zeros in some files)
    ImageInfo/ExpTimes                    float32[]  exposure of each image, seconds
    ImageInfo/XrayMagnification           float32[]
    ImageData{k}/Image{i}                 the i-th image (1-based), 100 images per k
    ReferenceData/Image, DataType, ...    the reference (flat) image, when stored

Angles become radians, the pixel size metres and the energy keV at this boundary; the
file's own values, names and units are kept in ``Scan.metadata``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from .scan import Scan
from .selection import index_range, selected

logger = logging.getLogger(__name__)

DATA_TYPES = {5: np.dtype("<u2"), 10: np.dtype("<f4")}
"""Xradia ``DataType`` codes and the NumPy dtypes they mean."""

_INTS = ("ImageWidth", "ImageHeight", "DataType", "NoOfImages", "ImagesTaken",
         "HorizontalBin", "OriginalDataRefCorrected")
_PER_IMAGE = ("Angles", "ExpTimes", "XrayMagnification", "Energy", "XPosition", "YPosition",
              "ZPosition")


def read_txrm(path: str | os.PathLike, proj=None, sino=None) -> Scan:
    """Read a Zeiss/Xradia tomography (``.txrm``): images, angles, reference and metadata.

    Parameters
    ----------
    path : str or Path
        The ``.txrm`` file.
    proj : (start, end[, step]), optional
        Range of images to read; the others are not decoded.
    sino : (start, end[, step]), optional
        Range of detector rows to keep.

    Returns
    -------
    Scan
        ``data`` ``(nproj, nslice, ncol)`` in the stored dtype (``uint16`` for
        ``DataType`` 5, ``float32`` for 10); ``flat`` the reference image
        ``(1, nslice, ncol)`` when the file stores one, else None; ``dark`` None (TXM files
        hold none); ``theta`` radians; ``pixel_size`` metres; ``energy`` keV; ``center``
        None; ``metadata`` the ``ImageInfo`` fields in the file's own units (``Angles``
        degrees, ``PixelSize`` micrometres, ``Energy`` eV, ``ExpTimes`` seconds).

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Not an OLE2 compound file, a truncated file, a missing stream (named), an unknown
        data type.

    Example
    -------
    >>> scan = read_txrm("tests/data/txrm_test_chip_tomo.txrm")  # doctest: +SKIP
    >>> scan.data.shape, scan.data.dtype                           # doctest: +SKIP
    ((7, 256, 256), dtype('uint16'))
    """
    return _read_ole(path, proj, sino, kind="txrm")


def read_xrm(path: str | os.PathLike, sino=None) -> Scan:
    """Read a single Zeiss/Xradia image (``.xrm``), for example a reference.

    Parameters
    ----------
    path : str or Path
        The ``.xrm`` file.
    sino : (start, end[, step]), optional
        Range of detector rows to keep.

    Returns
    -------
    Scan
        As :func:`read_txrm`, with ``data`` of shape ``(1, nslice, ncol)`` and
        ``theta`` None (the stage angle is in ``metadata["Angles"]``, degrees).

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`read_txrm`; also a file that holds more than one image.

    Example
    -------
    >>> scan = read_xrm("tests/data/test_chip00.xrm")  # doctest: +SKIP
    >>> scan.data.shape                                 # doctest: +SKIP
    (1, 512, 512)
    """
    return _read_ole(path, None, sino, kind="xrm")


def _open(path: Path):
    import olefile

    if not path.exists():
        raise FileNotFoundError(f"file {str(path)!r} does not exist")
    if path.is_dir():
        raise IsADirectoryError(f"{str(path)!r} is a folder, expected a .txrm or .xrm file")
    if not olefile.isOleFile(str(path)):
        raise ValueError(f"{str(path)!r} is not an OLE2 compound file (expected a Zeiss/Xradia "
                         ".txrm or .xrm file)")
    try:
        ole = olefile.OleFileIO(str(path))
    except Exception as exc:  # olefile raises OSError, struct.error, IndexError, ...
        raise ValueError(f"{str(path)!r} could not be read as an OLE2 compound file; it may be "
                         f"truncated or corrupt ({exc})") from exc
    _check_complete(ole, path)
    return ole


def _check_complete(ole, path: Path) -> None:
    # olefile opens a truncated file without complaint and returns short or missing
    # streams; a sector chain that points past the end of the file gives it away.
    sectors = getattr(ole, "nb_sect", None)
    fat = np.asarray(getattr(ole, "fat", []), dtype=np.int64)
    links = fat[(fat >= 0) & (fat < 0xFFFFFFFA)]
    if sectors is not None and links.size and links.max() >= sectors:
        ole.close()
        raise ValueError(f"{str(path)!r} is truncated: its allocation table refers to sector "
                         f"{int(links.max())} but the file ends after {sectors} sectors")


def _stream(ole, name: str, path: Path) -> bytes:
    if not ole.exists(name):
        raise ValueError(f"{str(path)!r} has no stream {name}")
    try:
        declared = ole.get_size(name)
        raw = ole.openstream(name).read()
    except Exception as exc:  # a damaged sector chain surfaces as many exception types
        raise ValueError(f"stream {name} of {str(path)!r} could not be read; the file may be "
                         f"truncated or corrupt ({exc})") from exc
    if len(raw) < declared:
        raise ValueError(f"stream {name} of {str(path)!r} holds {len(raw)} of its {declared} "
                         "bytes: the file is truncated")
    return raw


def _numbers(ole, name: str, path: Path, fmt: str) -> np.ndarray:
    raw = _stream(ole, name, path)
    size = np.dtype(fmt).itemsize
    if len(raw) < size:
        raise ValueError(f"stream {name} of {str(path)!r} is empty ({len(raw)} bytes)")
    return np.frombuffer(raw[: len(raw) // size * size], dtype=fmt)


def _text(ole, name: str, path: Path) -> str:
    raw = _stream(ole, name, path)
    return raw.split(b"\x00", 1)[0].decode("latin-1").strip()


def _per_image(values: np.ndarray, n: int) -> np.ndarray:
    # Some streams (Energy, XrayMagnification) are longer than the image count and padded
    # with zeros between the values; when exactly n values are non-zero, those are them.
    nonzero = values[values != 0]
    if values.size != n and nonzero.size == n:
        return nonzero.astype(np.float64)
    return values[:n].astype(np.float64)


def _image_info(ole, path: Path) -> dict:
    info: dict = {}
    for name in _INTS:
        stream = f"ImageInfo/{name}"
        if ole.exists(stream):
            info[name] = int(_numbers(ole, stream, path, "<i4")[0])
    for required in ("ImageWidth", "ImageHeight", "DataType"):
        if required not in info:
            raise ValueError(f"{str(path)!r} has no stream ImageInfo/{required}")
    for spelling in ("VerticalBin", "VerticalalBin"):  # Xradia writes "VerticalalBin"
        if ole.exists(f"ImageInfo/{spelling}"):
            info["VerticalBin"] = int(_numbers(ole, f"ImageInfo/{spelling}", path, "<i4")[0])
    for name in ("PixelSize", "OpticalMagnification"):
        if ole.exists(f"ImageInfo/{name}"):
            info[name] = float(_numbers(ole, f"ImageInfo/{name}", path, "<f4")[0])
    for name in ("ReferenceFile", "ObjectiveName"):
        if ole.exists(f"ImageInfo/{name}"):
            info[name] = _text(ole, f"ImageInfo/{name}", path)
    return info


def _image_count(info: dict, path: Path) -> int:
    planned = info.get("NoOfImages")
    taken = info.get("ImagesTaken")
    if planned is None and taken is None:
        raise ValueError(f"{str(path)!r} has no stream ImageInfo/NoOfImages")
    interrupted = planned is not None and taken is not None and taken < planned
    n = taken if interrupted or planned is None else planned
    if n < 1:
        raise ValueError(f"{str(path)!r} holds no image (ImageInfo/NoOfImages {planned}, "
                         f"ImagesTaken {taken})")
    if interrupted:
        logger.warning("%s: only %d of %d planned images were taken; reading those",
                       path, taken, planned)
    return n


def _per_image_fields(ole, path: Path, n: int, kind: str) -> dict:
    fields = {}
    for name in _PER_IMAGE:
        stream = f"ImageInfo/{name}"
        if not ole.exists(stream):
            if name == "Angles" and kind == "txrm":
                raise ValueError(f"{str(path)!r} has no stream {stream}")
            continue
        fields[name] = _per_image(_numbers(ole, stream, path, "<f4"), n)
    if "Angles" in fields and fields["Angles"].size < n:
        raise ValueError(f"stream ImageInfo/Angles of {str(path)!r} holds "
                         f"{fields['Angles'].size} angles but the file has {n} images")
    for name in ("X-Shifts", "Y-Shifts"):
        if ole.exists(f"Alignment/{name}"):
            fields[f"Alignment/{name}"] = _per_image(
                _numbers(ole, f"Alignment/{name}", path, "<f4"), n)
    return fields


def _dtype(code: int, stream: str, path: Path) -> np.dtype:
    if code not in DATA_TYPES:
        known = ", ".join(f"{k} ({v.name})" for k, v in sorted(DATA_TYPES.items()))
        raise ValueError(f"{stream} of {str(path)!r} is {code}; known data types are {known}")
    return DATA_TYPES[code]


def _image(ole, name: str, path: Path, dtype: np.dtype, height: int, width: int) -> np.ndarray:
    raw = _stream(ole, name, path)
    expected = height * width * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"stream {name} of {str(path)!r} holds {len(raw)} bytes, expected "
                         f"{expected} ({height} x {width} {dtype.name}): truncated or corrupt")
    return np.frombuffer(raw, dtype=dtype).reshape(height, width)


def _reference(ole, path: Path, dtype: np.dtype, shape: tuple, rows: slice, meta: dict):
    if not ole.exists("ReferenceData/Image"):
        logger.info("%s stores no reference image: flat is None", path)
        return None
    if ole.exists("ReferenceData/DataType"):
        code = int(_numbers(ole, "ReferenceData/DataType", path, "<i4")[0])
        meta["ReferenceData/DataType"] = code
        dtype = _dtype(code, "ReferenceData/DataType", path)
    else:
        logger.warning("%s has no ReferenceData/DataType: assuming the images' %s", path,
                       dtype.name)
    for name, fmt in (("ExpTime", "<f4"), ("Binning", "<i4"), ("IonCurrent", "<f4")):
        if ole.exists(f"ReferenceData/{name}"):
            meta[f"ReferenceData/{name}"] = _numbers(ole, f"ReferenceData/{name}", path,
                                                     fmt)[0].item()
    raw = _stream(ole, "ReferenceData/Image", path)
    if len(raw) != shape[0] * shape[1] * dtype.itemsize:
        logger.warning("%s: ReferenceData/Image holds %d bytes, which is not one %d x %d %s "
                       "image (another binning?): flat is None", path, len(raw), shape[0],
                       shape[1], dtype.name)
        return None
    return np.frombuffer(raw, dtype=dtype).reshape(1, *shape)[:, rows, :].copy()


def _summary(fields: dict, info: dict, path: Path) -> tuple:
    pixel = info.get("PixelSize")
    pixel_size = pixel * 1e-6 if pixel is not None and np.isfinite(pixel) and pixel > 0 else None
    if pixel_size is None:
        logger.warning("%s has no usable ImageInfo/PixelSize: pixel_size is None", path)
    energy = None
    ev = fields.get("Energy")
    if ev is not None:
        good = ev[np.isfinite(ev) & (ev > 0)]
        if good.size:
            energy = float(np.median(good)) / 1000.0
            if np.ptp(good) > 1.0:
                logger.warning("%s: the energy varies from %.1f to %.1f eV over the images; "
                               "Scan.energy is the median, metadata['Energy'] holds each",
                               path, good.min(), good.max())
    return pixel_size, energy


def _read_ole(path, proj, sino, kind: str) -> Scan:
    path = Path(path)
    ole = _open(path)
    try:
        info = _image_info(ole, path)
        n = _image_count(info, path)
        if kind == "xrm" and n != 1:
            raise ValueError(f"{str(path)!r} holds {n} images; read it with read_txrm")
        height, width = info["ImageHeight"], info["ImageWidth"]
        dtype = _dtype(info["DataType"], "ImageInfo/DataType", path)
        fields = _per_image_fields(ole, path, n, kind)
        p_sel = index_range(proj, "proj", n)
        rows = index_range(sino, "sino", height)
        data = np.stack([
            _image(ole, f"ImageData{i // 100 + 1}/Image{i + 1}", path, dtype, height,
                   width)[rows]
            for i in selected(p_sel, n)
        ])
        meta = {**info, **fields, "dtype": dtype.name}
        flat = _reference(ole, path, dtype, (height, width), rows, meta)
    finally:
        ole.close()
    if info.get("OriginalDataRefCorrected"):
        logger.warning("%s: ImageInfo/OriginalDataRefCorrected is set; the images are "
                       "already divided by the reference", path)
    theta = np.deg2rad(fields["Angles"][p_sel]) if kind == "txrm" else None
    pixel_size, energy = _summary(fields, info, path)
    logger.info("read %s: %d images of %d x %d %s", path, data.shape[0], height, width,
                dtype.name)
    return Scan(data=data, flat=flat, dark=None, theta=theta, pixel_size=pixel_size,
                energy=energy, center=None, metadata=meta, source=str(path), format=kind)
