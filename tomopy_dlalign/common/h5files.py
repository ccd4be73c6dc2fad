"""Safe HDF5 reading and writing, and provenance, shared by every reader and writer.

Files are written to a temporary file in the destination folder and renamed over the
target only once complete, so an existing output is never left half-written. Files are
read only within their own folder: :func:`open_h5` refuses a file whose external links,
virtual datasets or external storage lead elsewhere (:func:`check_external`).
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import glob
import json
import os
import platform
import stat
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
from h5py import h5d, h5l, h5o

from .outputs import OutputBusyError, atomic_output, output_lock, output_target


@contextlib.contextmanager
def atomic_h5(path: str | os.PathLike, mode: str = "w",
              source: str | os.PathLike | None = None,
              overwrite: bool | None = None, lock: bool = True,
              nbytes: int = 0) -> Iterator[h5py.File]:
    """Open a new HDF5 file that replaces ``path`` only if the block completes.

    ``mode="w"`` starts empty; ``mode="a"`` starts from a copy of the existing ``path``;
    ``source`` starts from a copy of another file (results written beside the input
    data). Either way the file is written under a unique temporary name in the
    destination folder and renamed at the end, so an existing ``path`` is never left
    half-written, even if the block raises or the process is interrupted. Permissions,
    read-only outputs (refused unless ``overwrite``), symbolic links and concurrent
    writers follow :mod:`~tomopy_dlalign.common.outputs` (``lock=False``: the caller
    holds the writer's lock). ``nbytes``, what the writer will add, is checked against
    the free space first (:func:`~tomopy_dlalign.common.outputs.require_space`): HDF5
    cannot recover from a disk that fills under it (it may crash after the error), so a
    writer that knows its size refuses before it starts.
    """
    from .outputs import require_space

    if mode not in ("w", "a"):
        raise ValueError(f"mode must be 'w' or 'a', got {mode!r}")
    path = Path(path)
    if mode == "a" and source is None and path.exists():
        source = path
    if source is not None:
        open_h5(source).close()  # a clear error for a source that is not HDF5
    with atomic_output(path, overwrite, copy_from=source, lock=lock) as tmp:
        require_space(tmp, int(nbytes))
        with h5py.File(tmp, "r+" if source is not None else "w") as f:
            yield f


def jsonable(value):
    """``json.dumps(..., default=jsonable)``: arrays and NumPy scalars as their values,
    paths and anything else as strings."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.generic,)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return str(value)


def write_provenance(f: h5py.File, package: str, version: str, parameters: dict | None = None,
                     model: str | None = None) -> h5py.Group:
    """Record what produced the file under ``/process/<package>``.

    Stores the software version, the time, the host's Python, the parameters (as JSON)
    and, when a network was used, the model's name or weights file.
    """
    grp = f.require_group("process").require_group(package)
    grp.attrs["version"] = version
    grp.attrs["date"] = datetime.datetime.now(datetime.timezone.utc).isoformat()
    grp.attrs["python"] = platform.python_version()
    grp.attrs["parameters"] = json.dumps(parameters or {}, default=jsonable, sort_keys=True)
    if model is not None:
        grp.attrs["model"] = model
    return grp


def open_h5(path: str | os.PathLike, mode: str = "r",
            allow_external: bool | None = None) -> h5py.File:
    """Open an existing HDF5 file for reading (``mode="r+"``: and writing), with errors
    that say what is wrong.

    For reading, the file's external links, virtual datasets and external storage must
    stay within its folder (:func:`check_external`) unless ``allow_external`` is True
    (None: the setting of :func:`allowing_external`, off by default).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"file {str(path)!r} does not exist")
    if path.is_dir():
        raise IsADirectoryError(f"{str(path)!r} is a folder, expected an HDF5 file")
    if not h5py.is_hdf5(path):
        raise ValueError(f"{str(path)!r} is not an HDF5 file (no HDF5 signature found)")
    try:
        f = h5py.File(path, mode)
    except BlockingIOError as exc:
        raise OutputBusyError(exc.errno, f"{str(path)!r} is open for writing in another "
                              "process; wait for it to finish", str(path)) from None
    except OSError as exc:
        raise ValueError(
            f"{str(path)!r} could not be opened as HDF5; it may be truncated or corrupt ({exc})"
        ) from exc
    if mode == "r":
        try:
            check_external(f, allow_external)
        except BaseException:
            f.close()
            raise
    return f


def require_dataset(f: h5py.File, name: str) -> h5py.Dataset:
    """Return dataset ``name`` or raise an error naming the file and the missing path."""
    obj = f.get(name)
    if obj is None:
        raise KeyError(f"dataset {name!r} is missing from {f.filename!r}")
    if not isinstance(obj, h5py.Dataset):
        raise KeyError(f"{name!r} in {f.filename!r} is a group, expected a dataset")
    return obj


_ALLOW_EXTERNAL = contextvars.ContextVar("allow_external_hdf5", default=False)

#: the environment variables through which HDF5 redirects each kind of reference
_PREFIX_ENV = {"external link": "HDF5_EXT_PREFIX", "virtual dataset": "HDF5_VDS_PREFIX",
               "external storage": "HDF5_EXTFILE_PREFIX"}


@contextlib.contextmanager
def allowing_external(enabled: bool | None = True) -> Iterator[None]:
    """Within the block, HDF5 readers whose ``allow_external`` is None follow references
    outside the file's folder (what ``--allow-external`` does on the command lines);
    ``enabled=None`` leaves the setting as it is."""
    if enabled is None:
        yield
        return
    token = _ALLOW_EXTERNAL.set(bool(enabled))
    try:
        yield
    finally:
        _ALLOW_EXTERNAL.reset(token)


def check_external(f: h5py.File, allow_external: bool | None = None) -> None:
    """Refuse an HDF5 file whose references to other files lead outside its folder.

    HDF5 reads data from other files in three ways, all of which NeXus master files use
    to point at their frames (Eiger, Diamond, ESRF): external links
    (:class:`h5py.ExternalLink`), virtual datasets (``Dataset.virtual_sources()``;
    ``"."`` is the file itself) and external storage (``Dataset.external``: raw bytes in
    another file). Every such reference of ``f``, whether or not a reader goes on to use
    it, must lead to a regular file beside ``f`` or below its folder, after symbolic
    links are resolved; the HDF5 files reached are checked in turn, against the same
    folder. A reference to a file elsewhere (an absolute path, ``..`` out of the folder,
    a link out of it) or to a device, FIFO or folder is refused, and so is external
    storage in a file that does not exist (HDF5 would fail without naming it).

    Parameters
    ----------
    f : h5py.File
        An open file.
    allow_external : bool, optional
        True follows every reference unchecked; None (default): the setting of
        :func:`allowing_external` (``--allow-external``), off unless set.

    Raises
    ------
    ValueError
        One line naming the file, the link or dataset, and its target.

    Notes
    -----
    Targets are located as HDF5 locates them, so that the file checked is the file
    read. External links and virtual-dataset sources with a relative name are looked up
    under the prefixes of ``HDF5_EXT_PREFIX`` and ``HDF5_VDS_PREFIX`` (``${ORIGIN}``: the
    holding file's folder), then beside the file that holds the reference, then in the
    current folder; an absolute name that does not exist is looked up again by its base
    name the same way; printf-style virtual sources (``%b``) stand for every file that
    matches them. Every candidate that exists, up to the first HDF5 can open, is checked,
    so a fallback cannot lead out of the folder. A relative external-storage name is
    taken by HDF5 from the current folder, not the file's (or under
    ``HDF5_EXTFILE_PREFIX``): such a file reads only when run from its folder, and is
    otherwise refused. HDF5 reads these variables once, when it starts; the check reads
    them when it runs, so change them only before the program starts. The references
    are read without opening any target (no link is followed to find them); each file
    reached is opened once, read-only, to check its own.

    Example
    -------
    >>> import h5py, tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> with h5py.File(os.path.join(d, "frames.h5"), "w") as g:
    ...     g["data"] = [1, 2]
    >>> with h5py.File(os.path.join(d, "master.h5"), "w") as f:
    ...     f["data"] = h5py.ExternalLink("frames.h5", "/data")
    ...     check_external(f)  # beside the file: followed
    ...     f["other"] = h5py.ExternalLink("/etc/passwd", "/")
    ...     check_external(f)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: ...external link /other points to '/etc/passwd', outside the folder...
    """
    if _ALLOW_EXTERNAL.get() if allow_external is None else allow_external:
        return
    top = os.path.abspath(f.filename)
    root = os.path.realpath(os.path.dirname(top))
    _check_file(f, top, root, top, {os.path.realpath(top)})


def _check_file(f: h5py.File, holder: str, root: str, top: str, seen: set) -> None:
    """Check the references of ``f`` (opened as ``holder``) and the files they reach."""
    checked = set()
    for kind, name, target in _references(f):
        if (kind, target) in checked:
            continue  # the same target from another link or dataset: the same answer
        checked.add((kind, target))
        for candidate in _candidates(kind, target, os.path.dirname(holder)):
            if not _check_target(kind, name, target, candidate, holder, root, top):
                continue  # absent: HDF5 tries the next candidate
            if kind == "external storage":
                break
            if _check_reached(candidate, root, top, seen) and "%b" not in target:
                break  # the file HDF5 opens: it never tries the later candidates


def _check_reached(candidate: str, root: str, top: str, seen: set) -> bool:
    """Check an HDF5 file that a reference reaches; False when HDF5 cannot open it."""
    real = os.path.realpath(candidate)
    if real in seen:
        return True
    try:
        g = h5py.File(candidate, "r")
    except OSError:
        return False
    seen.add(real)
    with g:
        _check_file(g, os.path.abspath(candidate), root, top, seen)
    return True


def _references(f: h5py.File) -> list[tuple[str, str, str]]:
    """``(kind, link or dataset path, target file name)`` of every reference of ``f``."""
    refs = []

    def link(name: bytes, info) -> None:
        if info.type == h5l.TYPE_EXTERNAL:
            target = f.id.links.get_val(name)[0]
            refs.append(("external link", _path(name), os.fsdecode(target)))

    def dataset(name: bytes, info) -> None:
        if info.type != h5o.TYPE_DATASET:
            return
        dcpl = h5d.open(f.id, name).get_create_plist()
        if dcpl.get_layout() == h5d.VIRTUAL:
            refs.extend(("virtual dataset", _path(name), os.fsdecode(dcpl.get_virtual_filename(i)))
                        for i in range(dcpl.get_virtual_count()))
        else:
            refs.extend(("external storage", _path(name), os.fsdecode(dcpl.get_external(i)[0]))
                        for i in range(dcpl.get_external_count()))

    try:
        # neither visit follows soft or external links: nothing outside is opened here
        f.id.links.visit(link, info=True)
        h5o.visit(f.id, dataset, info=True)
    except (OSError, RuntimeError, KeyError) as exc:
        raise ValueError(f"{f.filename!r} could not be read as HDF5; it may be truncated or "
                         f"corrupt ({exc})") from exc
    return [r for r in dict.fromkeys(refs) if r[2] != "."]  # ".": the file itself


def _path(name: bytes) -> str:
    return "/" + name.decode("utf-8", "replace")


def _check_target(kind: str, name: str, target: str, candidate: str, holder: str,
                  root: str, top: str) -> bool:
    """Refuse ``candidate`` outside ``root`` or not a regular file (or, for external
    storage, missing); whether it exists."""
    exists = os.path.exists(candidate)
    if not exists and kind != "external storage":
        return False
    real = os.path.realpath(candidate)
    if real != root and not real.startswith(root.rstrip(os.sep) + os.sep):
        why = f"outside the folder {root!r} of {top!r}"
        if (kind == "external storage" and not os.path.isabs(target)
                and not os.environ.get(_PREFIX_ENV[kind])):
            why += ("; HDF5 looks up relative external-storage names in the current folder, "
                    "so run from the file's folder")
    elif exists and not stat.S_ISREG(os.stat(real).st_mode):
        why = "which is not a regular file (a device, FIFO, socket or folder)"
    elif not exists and kind == "external storage":
        why = "which does not exist"  # HDF5 would fail on reading it, naming nothing
    else:
        return exists
    shown = repr(target) + (f" ({candidate!r})" if candidate != target else "")
    if exists or why.startswith("outside"):
        why += "; refusing to read it (allow_external=True or --allow-external follows it)"
    raise ValueError(f"{holder!r}: {kind} {name} points to {shown}, {why}")


def _candidates(kind: str, target: str, here: str) -> list[str]:
    """Where HDF5 looks for ``target`` of a reference held by a file in folder ``here``,
    in its order (:func:`check_external`, Notes)."""
    prefixes = [here + p[len("${ORIGIN}"):] if p.startswith("${ORIGIN}") else p
                for p in os.environ.get(_PREFIX_ENV[kind], "").split(os.pathsep) if p]
    if kind == "external storage":
        base = prefixes[0] if prefixes else os.getcwd()
        return [os.path.join(base, target)]
    names = [target] if os.path.isabs(target) else []
    base = os.path.basename(target) if names else target
    names += [os.path.join(p, base) for p in prefixes]
    names += [os.path.join(here, base), os.path.join(os.getcwd(), base)]
    if kind == "virtual dataset" and "%b" in target:
        # printf-style source names: %b is the block number, %% a percent sign
        patterns = [glob.escape(n).replace("%%", "\0").replace("%b", "*").replace("\0", "%")
                    for n in names]
        return sorted({m for p in patterns for m in glob.glob(p)})
    return names


#: the attribute that marks a file made by a resumable generator, and by which one
MARKER = "created_by"


def made_by(path: str | os.PathLike, marker: str) -> bool:
    """Whether ``path`` is an HDF5 file that the resumable generator ``marker`` created
    (:func:`resumable_h5`): one its command resumes rather than refuses as an existing
    output.

    Example
    -------
    >>> made_by("no-such-file.h5", "tomopy_dlalign make-dataset")
    False
    """
    if not (Path(path).is_file() and h5py.is_hdf5(path)):
        return False
    with open_h5(path) as f:
        return f.attrs.get(MARKER) == marker


@contextlib.contextmanager
def resumable_h5(path: str | os.PathLike, marker: str, skeleton,
                 layout: tuple[str, ...] = (), overwrite: bool | None = None
                 ) -> Iterator[h5py.File]:
    """Open the file a resumable generator appends to (``make-dataset``), creating it
    first if needed; the writer's lock is held for the block.

    A new file gets its skeleton (``skeleton(f)``: empty datasets and the parameters) in
    a temporary file renamed into place, so the file at ``path`` is complete and
    resumable from its first instant; units are then appended in place and each is
    complete once the generator's ``done`` attribute counts it. An existing file is only
    written if its ``created_by`` attribute is ``marker`` (or, for a file made before the
    marker, if it holds the ``config`` and ``done`` attributes and every dataset of
    ``layout``): a measured scan or any other file is refused.

    Raises
    ------
    ValueError
        ``path`` is not HDF5, or is a file this generator did not create.
    OutputBusyError
        Another process is writing ``path``.
    """
    target = output_target(path, overwrite)
    with output_lock(target):
        if not target.exists():
            with atomic_h5(target, "w", lock=False) as f:
                f.attrs[MARKER] = marker
                skeleton(f)
        try:
            f = open_h5(target, "r+")
        except ValueError as exc:
            raise ValueError(f"{exc}; refusing to write {marker} data into it") from None
        with f:
            made_by = f.attrs.get(MARKER)
            legacy = made_by is None and {"config", "done"} <= set(f.attrs) and all(
                isinstance(f.get(name), h5py.Dataset) for name in layout)
            if made_by != marker and not legacy:
                raise ValueError(f"{str(path)!r} exists and was not made by {marker} "
                                 f"({MARKER}={made_by!r}); refusing to write into it: "
                                 "choose a new file name")
            yield f
