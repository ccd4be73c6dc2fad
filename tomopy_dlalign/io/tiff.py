"""TIFF stacks in and out: one multi-page file, or a folder of single-page files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..common.validation import as_array


def read_tiff_stack(path: str | os.PathLike) -> np.ndarray:
    """Read a multi-page TIFF file, or a folder of single-page TIFFs sorted by name."""
    import tifffile

    p = Path(path)
    if p.is_dir():
        files = sorted(list(p.glob("*.tif")) + list(p.glob("*.tiff")))
        if not files:
            raise FileNotFoundError(f"no .tif or .tiff files in folder {str(p)!r}")
        return np.stack([tifffile.imread(fp) for fp in files])
    if not p.exists():
        raise FileNotFoundError(f"file {str(p)!r} does not exist")
    return np.asarray(tifffile.imread(p))


def write_tiff_stack(path: str | os.PathLike, data) -> None:
    """Write a 3D array as one multi-page TIFF, atomically."""
    import tempfile

    import tifffile

    arr = as_array(data, "data", ndim=3, dtype=None)
    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent or ".")
    os.close(fd)
    try:
        tifffile.imwrite(tmp, arr)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

