"""TIFF stacks in and out: one multi-page file, or a folder of single-page files.

TIFF holds no angles, so they travel beside the images in a text file of angles in
**degrees**, one per projection (whitespace- or newline-separated, ``#`` starts a
comment):

* a multi-page file ``scan.tif`` takes ``scan_theta.txt`` from the same folder, and its
  flats and darks from ``scan_flat.tif`` and ``scan_dark.tif`` when they exist;
* a folder takes ``theta.txt`` from inside it; its files whose names start with ``flat``
  or ``dark`` are the flats and darks, every other ``.tif``/``.tiff`` file is a
  projection, in the order of the sorted file names.

:func:`write_tiff_stack` writes that layout. Uncompressed contiguous files are
memory-mapped (``tifffile.memmap``), so a ``proj=``/``sino=`` range reads only those
bytes.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from ..common.outputs import atomic_output
from ..common.validation import as_array, as_theta
from .scan import Scan
from .selection import index_range

logger = logging.getLogger(__name__)

THETA_FILE = "theta.txt"
"""Name of the angle file inside a folder stack (degrees, one per projection)."""

_SUFFIXES = (".tif", ".tiff")


def sidecar(path: str | os.PathLike, kind: str) -> Path:
    """Where the angles (``kind="theta"``), flats or darks of a multi-page file live.

    ``scan.tif`` -> ``scan_theta.txt``, ``scan_flat.tif``, ``scan_dark.tif``; for a folder,
    ``theta`` is ``<folder>/theta.txt``.
    """
    if kind not in ("theta", "flat", "dark"):
        raise ValueError(f"kind must be 'theta', 'flat' or 'dark', got {kind!r}")
    p = Path(path)
    if p.is_dir():
        if kind != "theta":
            raise ValueError("a folder stack keeps its flats and darks inside it "
                             "(files named flat*.tif, dark*.tif)")
        return p / THETA_FILE
    suffix = ".txt" if kind == "theta" else p.suffix
    return p.with_name(f"{p.stem}_{kind}{suffix}")


def _declared_frames(tif) -> int | None:
    # tifffile and ImageJ record the stack's shape in the first page's description; a
    # truncated file yields fewer pages than that without raising.
    shaped = tif.shaped_metadata
    if shaped and shaped[0].get("shape"):
        shape = shaped[0]["shape"]
        return int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    imagej = tif.imagej_metadata
    if imagej and imagej.get("images"):
        return int(imagej["images"])
    return None


def _load(p: Path) -> np.ndarray:
    import tifffile

    try:
        with tifffile.TiffFile(p) as tif:
            declared = _declared_frames(tif)
            samples = tif.pages[0].samplesperpixel
            try:
                arr = tifffile.memmap(p, mode="r")
                logger.debug("%s is memory-mapped", p)
            except ValueError:  # compressed or not contiguous: tifffile cannot map it
                arr = tif.asarray()
    except Exception as exc:  # tifffile raises TiffFileError, ValueError, OSError, ...
        raise ValueError(f"{str(p)!r} could not be read as a TIFF file; it may be truncated, "
                         f"corrupt or another format ({exc})") from exc
    if samples > 1:
        raise ValueError(f"{str(p)!r} holds {samples} samples per pixel (colour); projections "
                         "must be greyscale")
    frames = int(np.prod(arr.shape[:-2])) if arr.ndim > 2 else 1
    if declared is not None and frames != declared:
        raise ValueError(f"{str(p)!r} is truncated: it declares {declared} images but only "
                         f"{frames} could be read")
    return arr


def _stack(p: Path) -> np.ndarray:
    arr = _load(p)
    if arr.ndim == 2:
        arr = arr[np.newaxis]
    if arr.ndim != 3:
        raise ValueError(f"{str(p)!r} must hold 2D pages (a 3D stack), got shape {arr.shape}")
    return arr


def _folder_files(folder: Path) -> dict:
    files = sorted(f for f in folder.iterdir() if f.suffix.lower() in _SUFFIXES)
    groups = {"data": [], "flat": [], "dark": []}
    for f in files:
        lower = f.name.lower()
        kind = "flat" if lower.startswith("flat") else "dark" if lower.startswith("dark") \
            else "data"
        groups[kind].append(f)
    if not groups["data"]:
        raise FileNotFoundError(f"no projection .tif or .tiff files in folder {str(folder)!r}")
    return groups


def _read_files(files: list, rows: slice) -> np.ndarray:
    pages, shape = [], None
    for f in files:
        page = _stack(f)
        if page.shape[0] != 1:
            raise ValueError(f"{str(f)!r} holds {page.shape[0]} pages; a folder stack takes "
                             "one image per file")
        shape = shape or page.shape[1:]
        if page.shape[1:] != shape:
            raise ValueError(f"{str(f)!r} is {page.shape[1]} x {page.shape[2]}, unlike the "
                             f"{shape[0]} x {shape[1]} of the first file of its folder")
        pages.append(np.asarray(page[0][rows]))
    return np.stack(pages)


def _theta_from_file(p: Path, nproj: int) -> np.ndarray | None:
    if not p.is_file():
        return None
    try:
        deg = np.loadtxt(p, comments="#", ndmin=2, dtype=np.float64)
    except ValueError as exc:
        raise ValueError(f"angle file {str(p)!r} must hold numbers (degrees): {exc}") from exc
    if min(deg.shape) > 1:
        raise ValueError(f"angle file {str(p)!r} must hold one column of angles in degrees, "
                         f"got a {deg.shape[0]} x {deg.shape[1]} table")
    deg = deg.ravel()
    if deg.size != nproj:
        raise ValueError(f"angle file {str(p)!r} holds {deg.size} angles but the stack has "
                         f"{nproj} projections")
    logger.info("angles (degrees) from %s", p)
    return np.deg2rad(deg)


def _reference(value, default, rows: slice, shape: tuple, name: str):
    if value is None:
        if default is None:
            return None
        value = default
    if isinstance(value, (str, os.PathLike)):
        p = Path(value)
        if not p.exists():
            raise FileNotFoundError(f"{name} file {str(p)!r} does not exist")
        value = _stack(p)
    elif isinstance(value, list):
        value = _read_files(value, slice(None))
    arr = as_array(value, name, ndim=3, dtype=None)
    if arr.shape[1:] != shape:
        raise ValueError(f"{name} frames must be {shape} like the projections, got {arr.shape}")
    return np.asarray(arr[:, rows, :])


def read_tiff(path: str | os.PathLike, theta=None, proj=None, sino=None, flat=None,
              dark=None) -> Scan:
    """Read a TIFF stack (multi-page file or folder) with its angles, flats and darks.

    Parameters
    ----------
    path : str or Path
        A multi-page ``.tif``/``.tiff`` file, or a folder of single-page files.
    theta : ndarray (nproj,), optional
        Angles in **radians**; by default read in degrees from the angle file (module
        docstring), else None (logged).
    proj, sino : (start, end[, step]), optional
        Ranges of projections and detector rows to read.
    flat, dark : ndarray or path, optional
        Flats and darks; by default the sidecar files, else None.

    Returns
    -------
    Scan
        ``data`` ``(nproj, nslice, ncol)`` in the stored dtype, a read-only
        ``numpy.memmap`` for an uncompressed multi-page file; ``theta`` radians;
        ``pixel_size``, ``energy`` and ``center`` None.

    Raises
    ------
    FileNotFoundError
        No such file or folder, or a folder with no TIFF files.
    ValueError
        Not a TIFF, truncated, pages of different sizes, an angle count that does not
        match.

    Example
    -------
    >>> import numpy as np, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "scan.tif")
    >>> write_tiff_stack(p, np.ones((3, 2, 4), np.uint16), theta=[0.0, 0.5, 1.0])
    >>> scan = read_tiff(p)
    >>> scan.data.shape, [round(float(t), 6) for t in scan.theta]
    ((3, 2, 4), [0.0, 0.5, 1.0])
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"file or folder {str(p)!r} does not exist")
    if p.is_dir():
        groups = _folder_files(p)
        nproj = len(groups["data"])
        first = _stack(groups["data"][0])
        shape = first.shape[1:]
        p_sel = index_range(proj, "proj", nproj)
        rows = index_range(sino, "sino", shape[0])
        data = _read_files(groups["data"][p_sel], rows)
        defaults = {k: groups[k] or None for k in ("flat", "dark")}
    else:
        stack = _stack(p)
        nproj, shape = stack.shape[0], stack.shape[1:]
        p_sel = index_range(proj, "proj", nproj)
        rows = index_range(sino, "sino", shape[0])
        data = stack[p_sel, rows, :]
        defaults = {k: sidecar(p, k) if sidecar(p, k).is_file() else None
                    for k in ("flat", "dark")}
    flat = _reference(flat, defaults["flat"], rows, shape, "flat")
    dark = _reference(dark, defaults["dark"], rows, shape, "dark")
    if theta is not None:
        th = as_theta(theta, nproj)
    else:
        th = _theta_from_file(sidecar(p, "theta"), nproj)
        if th is None:
            logger.warning("%s has no angle file %s and no theta was given: theta is None",
                           p, sidecar(p, "theta").name)
    return Scan(data=data, flat=flat, dark=dark, theta=None if th is None else th[p_sel],
                source=str(p), format="tiff",
                metadata={"theta_file": str(sidecar(p, "theta")) if theta is None else None})


def read_tiff_stack(path: str | os.PathLike) -> np.ndarray:
    """Read a multi-page TIFF file, or a folder of single-page TIFFs sorted by name.

    The plain array, every file of a folder included; :func:`read_tiff` also returns
    the angles, flats and darks.

    Raises
    ------
    FileNotFoundError
        No such file, or a folder without TIFF files.
    ValueError
        A file that is not a readable TIFF, or a folder whose images differ in shape,
        naming the file.
    """
    p = Path(path)
    if p.is_dir():
        files = sorted(list(p.glob("*.tif")) + list(p.glob("*.tiff")))
        if not files:
            raise FileNotFoundError(f"no .tif or .tiff files in folder {str(p)!r}")
        images = [_imread(fp) for fp in files]
        for fp, image in zip(files, images, strict=True):
            if image.shape != images[0].shape:
                raise ValueError(f"{str(fp)!r} has shape {image.shape}, unlike the "
                                 f"{images[0].shape} of the first file of its folder")
        return np.stack(images)
    if not p.exists():
        raise FileNotFoundError(f"file {str(p)!r} does not exist")
    return _imread(p)


def _imread(p: Path) -> np.ndarray:
    import tifffile

    try:
        return np.asarray(tifffile.imread(p))
    except Exception as exc:  # tifffile raises TiffFileError, ValueError, OSError, ...
        raise ValueError(f"{str(p)!r} could not be read as a TIFF file; it may be truncated, "
                         f"corrupt or another format ({exc})") from exc


def _atomic_write(p: Path, write, overwrite: bool | None) -> None:
    with atomic_output(p, overwrite) as tmp:
        write(str(tmp))


def write_tiff_stack(path: str | os.PathLike, data, theta=None, flat=None, dark=None,
                     overwrite: bool | None = None) -> None:
    """Write a 3D array as one uncompressed multi-page TIFF, atomically, with sidecars.

    Parameters
    ----------
    path : str or Path
        The ``.tif`` file.
    data : ndarray (nproj, nslice, ncol)
    theta : ndarray (nproj,), optional
        Radians; written in degrees to ``<stem>_theta.txt`` (full precision).
    flat, dark : ndarray (n, nslice, ncol), optional
        Written to ``<stem>_flat.tif`` and ``<stem>_dark.tif``.
    overwrite : bool, optional
        Replace read-only files (default: the ``--overwrite`` setting). Files get the
        permissions of the umask, links are written through, a second writer fails at
        once (:mod:`tomopy_dlalign.common.outputs`).

    Example
    -------
    >>> import numpy as np, tempfile, os
    >>> write_tiff_stack(os.path.join(tempfile.mkdtemp(), "a.tif"), np.zeros((2, 3, 4)))
    """
    import tifffile

    arr = as_array(data, "data", ndim=3, dtype=None)
    p = Path(path)
    refs = {}
    for name, value in (("flat", flat), ("dark", dark)):
        if value is not None:
            refs[name] = as_array(value, name, ndim=3, dtype=None)
            if refs[name].shape[1:] != arr.shape[1:]:
                raise ValueError(f"{name} frames must be {arr.shape[1:]} like data, got "
                                 f"shape {refs[name].shape}")
    th = None if theta is None else as_theta(theta, arr.shape[0])
    _atomic_write(p, lambda tmp: tifffile.imwrite(tmp, arr, photometric="minisblack"),
                  overwrite)
    for name, value in refs.items():
        _atomic_write(sidecar(p, name),
                      lambda tmp, v=value: tifffile.imwrite(tmp, v, photometric="minisblack"),
                      overwrite)
    if th is not None:
        _atomic_write(sidecar(p, "theta"), lambda tmp: np.savetxt(
            tmp, np.rad2deg(th), fmt="%.17g",
            header=f"rotation angles of {p.name} in degrees, one per projection"), overwrite)
