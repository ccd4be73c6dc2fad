"""On-disk cache of the ``cpu`` projector's sparse system matrices, keyed by geometry.

Building ASTRA's ``linear`` system matrix costs seconds per geometry (about 2 s for 181
angles x 128 columns, 8-10 s at 256 on two cores), far more than a reconstruction with
it. The matrix and its transpose are therefore kept in memory (``projectors``) and, so
that a new process (the command line, a scale-out worker) pays that cost once per
geometry, on disk:

* in ``$TOMOPY_DLALIGN_CACHE`` when set, else ``$XDG_CACHE_HOME/tomopy_dlalign/matrices``
  (``~/.cache/...`` without ``XDG_CACHE_HOME``); ``TOMOPY_DLALIGN_CACHE=off`` (or ``0``,
  or empty) turns the disk cache off;
* one folder of ``.npy`` files per geometry, named by a SHA-256 of the angles, the
  columns, the axis, the projector and ASTRA's version (a new ASTRA never reuses an old
  matrix); the full key is stored inside too and checked on reading;
* written atomically (a temporary folder beside it, renamed into place), so concurrent
  processes never read half an entry; an entry that cannot be read or does not match is
  logged, removed and rebuilt;
* at most ``MAX_FILES`` entries (the least recently used go first) and none over
  ``MAX_BYTES``; read memory-mapped, so only the pages a product touches are read.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

#: environment variable naming the cache folder, or turning the cache off
CACHE_ENV = "TOMOPY_DLALIGN_CACHE"
#: files kept (least recently used removed first)
MAX_FILES = 16
#: matrices larger than this (both together, in bytes) are not written
MAX_BYTES = 2 << 30
#: bump when the file layout changes
FORMAT = 1
_OFF = ("", "0", "off", "false", "no", "none")


def cache_dir() -> Path | None:
    """The folder of the disk cache, or ``None`` when it is turned off."""
    value = os.environ.get(CACHE_ENV)
    if value is not None:
        return None if value.strip().lower() in _OFF else Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tomopy_dlalign" / "matrices"


def geometry_key(theta: np.ndarray, ncol: int, center: float, version: str) -> str:
    """SHA-256 (hex) of everything the matrix depends on."""
    h = hashlib.sha256(f"format {FORMAT}; astra {version}; linear; ncol {int(ncol)}; "
                       f"center {float(center)!r}; ".encode())
    h.update(np.ascontiguousarray(theta, dtype=np.float64).tobytes())
    return h.hexdigest()


def load(key: str):
    """``(A, AT)`` as SciPy CSR matrices from the disk cache, or ``None``.

    The arrays are memory-mapped copy-on-write: pages are read when a product first
    touches them, so a caller that needs only one of the two reads only that one."""
    folder = cache_dir()
    if folder is None:
        return None
    path = folder / key[:40]
    if not path.is_dir():
        return None
    try:
        if (path / "key.txt").read_text() != key:
            raise ValueError("its key does not match the geometry")
        mats = tuple(_csr(path, p) for p in ("a", "at"))
        if mats[0].shape != mats[1].shape[::-1]:
            raise ValueError("A and its transpose disagree in shape")
    except (OSError, ValueError, EOFError) as err:
        logger.warning("system matrix cache entry %s is unreadable (%s): rebuilding it",
                       path, err)
        shutil.rmtree(path, ignore_errors=True)
        return None
    os.utime(path)
    logger.debug("read system matrix %s from %s", mats[0].shape, path)
    return mats


def _csr(path: Path, prefix: str):
    from scipy.sparse import csr_matrix

    data, indices, indptr = (np.load(path / f"{prefix}_{n}.npy", mmap_mode="c",
                                     allow_pickle=False)
                             for n in ("data", "indices", "indptr"))
    shape = tuple(int(v) for v in np.load(path / f"{prefix}_shape.npy"))
    if indptr.size != shape[0] + 1 or indptr[-1] != data.size or indices.size != data.size:
        raise ValueError("its arrays are inconsistent")
    mat = csr_matrix(shape, dtype=data.dtype)
    mat.data, mat.indices, mat.indptr = data, indices, indptr  # no copy, no full check
    return mat


def save(key: str, a, at) -> None:
    """Write ``(A, AT)`` atomically (a folder renamed into place); failures are logged,
    never raised."""
    folder = cache_dir()
    nbytes = sum(m.data.nbytes + m.indices.nbytes + m.indptr.nbytes for m in (a, at))
    if folder is None or nbytes > MAX_BYTES:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder, prefix=".part-"))
        try:
            for prefix, m in (("a", a), ("at", at)):
                for name, arr in (("data", m.data), ("indices", m.indices),
                                  ("indptr", m.indptr), ("shape", np.array(m.shape))):
                    np.save(tmp / f"{prefix}_{name}.npy", arr)
            (tmp / "key.txt").write_text(key)  # last: an entry without it is incomplete
            os.replace(tmp, folder / key[:40])
        except OSError:
            if not (folder / key[:40] / "key.txt").exists():
                raise
            logger.debug("another process wrote %s first", key[:40])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        _evict(folder)
    except OSError as err:
        logger.warning("could not write the system matrix cache in %s: %s", folder, err)


def _evict(folder: Path) -> None:
    entries = sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")),
                     key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[MAX_FILES:]:
        shutil.rmtree(old, ignore_errors=True)
