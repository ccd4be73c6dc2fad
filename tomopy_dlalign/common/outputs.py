"""Safe output files, shared by every writer of both packages.

One policy for every file the packages write (HDF5, TIFF, weights, JSON, PNG):

- **Atomic.** The file is written under a unique temporary name in the destination
  folder and renamed over the target only once complete, so a reader (or a kill at any
  instant) sees either the old file or the complete new one. Each writer gets its own
  temporary name, so two writers never share one. A name so long that the temporary
  name would pass the file system's limit (``PC_NAME_MAX``, usually 255 bytes) gets a
  shortened temporary name, made unique by a hash of the full name.
- **Never over an input.** An output that is the same file (device and inode, so links
  of either kind count) as a file the command reads (:func:`reading`, :func:`reads`) is
  refused, naming both.
- **Regular files only.** An existing output that is a device, a FIFO or a socket is
  refused, never replaced: ``-o /dev/null`` does not replace the system's.
- **A writable folder**, checked when the output is, before any work.
- **Permissions from the umask**, as for any new file the user creates (``0o666 &
  ~umask``): results on a shared machine are readable by the colleagues the umask allows.
- **Read-only outputs are refused** (an existing file with no write permission bit) unless
  ``overwrite=True`` (``--overwrite`` on the command lines).
- **The command lines replace nothing unasked.** Every output of a command (:func:`writes`)
  that exists already is refused with one line naming ``--overwrite``, before any work
  (:func:`check_outputs`); the outputs a command resumes (a dataset being made, a
  training run's weights beside its checkpoint, the finished alignments of a multi-scan
  ``align``) are continued instead. Library calls replace an existing writable file, as
  a Python function that is asked to write a file does.
- **Symbolic links are written through**: a link at the output path is kept and its
  target is replaced (atomically, in the target's folder).
- **One writer at a time.** A second writer to the same output fails at once with
  :class:`OutputBusyError` (an ``OSError``) naming the file, instead of two processes
  racing to rename over each other. The lock is an exclusive ``flock`` on a hidden
  ``.<name>.lock`` file beside the output.
- **A full disk is one error.** Running out of space while writing
  (``ENOSPC``/``EDQUOT``, raised or only reported by h5py while it closes a dataset) ends
  the block with :class:`DiskFullError` naming the file and the space free, and the
  temporary file is removed: the output is the old file or none. Writers that know their
  size check it first (:func:`require_space`); writers that append in place reserve the
  room for each part before computing it (:func:`reserve_space`).
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import fcntl
import hashlib
import os
import re
import shutil
import stat
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

_OVERWRITE = contextvars.ContextVar("overwrite_read_only", default=False)
_INPUTS: contextvars.ContextVar[tuple[Path, ...]] = contextvars.ContextVar("inputs", default=())
# the full-disk errors h5py reported while a block of :func:`full_disk_errors` ran
_SWALLOWED: contextvars.ContextVar[list | None] = contextvars.ContextVar("full_disk",
                                                                         default=None)
_HOOK_LOCK = threading.Lock()
_previous_hook = sys.unraisablehook

_FULL_DISK = (errno.ENOSPC, errno.EDQUOT)
_FULL_DISK_TEXT = ("No space left on device", "Disk quota exceeded")
# what the hidden names add to an output's name: "." + name + ".XXXXXXXX.tmp"
_HIDDEN_EXTRA = 14
_FILE_KINDS = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
               (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"))


class OutputBusyError(BlockingIOError):
    """Another process is writing the same output file."""


class OutputExistsError(FileExistsError):
    """A command's output exists and ``--overwrite`` was not given (:func:`check_outputs`)."""


class OutputIsInputError(ValueError):
    """An output is the same file as one of the command's inputs."""


class DiskFullError(OSError):
    """Not enough space on the file system of an output (``errno`` is ``ENOSPC``)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.errno = errno.ENOSPC


def _os_error(cls: type[OSError], code: int, message: str) -> OSError:
    """``cls(message)`` with ``errno`` set: its text is the message alone (no
    ``[Errno N]``, no repeated file name) for the command lines' one-line errors."""
    exc = cls(message)
    exc.errno = code
    return exc


@contextlib.contextmanager
def overwriting(enabled: bool = True) -> Iterator[None]:
    """Within the block, writers whose ``overwrite`` is None replace read-only outputs
    (what ``--overwrite`` does for every file a command writes)."""
    token = _OVERWRITE.set(bool(enabled))
    try:
        yield
    finally:
        _OVERWRITE.reset(token)


@contextlib.contextmanager
def reading(paths: str | os.PathLike | Iterable[str | os.PathLike | None] | None
            ) -> Iterator[None]:
    """Within the block, ``paths`` are inputs: :func:`output_target` (so every writer)
    refuses an output that is the same file as one of them.

    Blocks nest (the inputs add up). ``None`` entries, and files that do not exist, are
    ignored; the comparison is made when an output is checked, by device and inode, so a
    symbolic or hard link to an input is the input.

    Example
    -------
    >>> import tempfile, pathlib
    >>> scan = pathlib.Path(tempfile.mkdtemp()) / "scan.h5"
    >>> _ = scan.write_bytes(b"measured")
    >>> with reading([scan]):
    ...     output_target(scan)
    Traceback (most recent call last):
    ...
    tomopy_dlalign.common.outputs.OutputIsInputError: output ... is the input ...
    """
    if paths is None or isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    token = _INPUTS.set(_INPUTS.get() + tuple(Path(p) for p in paths if p is not None))
    try:
        yield
    finally:
        _INPUTS.reset(token)


def reads(*names: str) -> Callable:
    """Mark a command ``func(args)`` of an argparse command line as reading the files
    named by the attributes ``names`` of ``args`` (a path, a list of paths or None).

    :func:`~tomopy_dlalign.common.cli.run_cli` runs a marked command within
    :func:`reading` of those files (:func:`command_inputs`), and checks its
    ``args.output`` there, before any work: ``recon scan.h5 -o scan.h5`` is refused
    before the scan is read.

    Example
    -------
    >>> import argparse
    >>> @reads("input")
    ... def command(args):
    ...     return 0
    >>> command_inputs(command, argparse.Namespace(input="scan.h5"))
    ['scan.h5']
    """
    def decorate(func: Callable) -> Callable:
        func.reads = names
        return func
    return decorate


def command_inputs(func: Callable, args) -> list:
    """The files a command marked with :func:`reads` reads, from its ``args``."""
    paths = []
    for name in getattr(func, "reads", ()):
        value = getattr(args, name, None)
        paths += list(value) if isinstance(value, (list, tuple)) else [value]
    return paths


def writes(*files: str | Callable, folders: tuple[str | Callable, ...] = (),
           resumes: Callable | None = None) -> Callable:
    """Mark a command ``func(args)`` of an argparse command line with the outputs it
    writes, which :func:`~tomopy_dlalign.common.cli.run_cli` checks before any work
    (:func:`check_outputs`).

    ``files`` and ``folders`` are attribute names of ``args`` (a path, a list of paths or
    None) or callables ``f(args)`` returning paths. An existing file is refused unless
    ``--overwrite``, and so is a folder that holds anything (a report's folder); a file
    for which ``resumes(args, path)`` is true is one the command continues (a resumable
    dataset, a training run's best weights beside its checkpoint) and is accepted. A
    command that is not marked writes ``args.output``.

    Example
    -------
    >>> import argparse
    >>> @writes("output", folders=("report",))
    ... def command(args):
    ...     return 0
    >>> command_outputs(command, argparse.Namespace(output="a.h5", report=None))
    ([PosixPath('a.h5')], [])
    """
    def decorate(func: Callable) -> Callable:
        func.writes, func.writes_folders, func.resumes = files, folders, resumes
        return func
    return decorate


def _paths(func_or_name: str | Callable, args) -> list[Path]:
    value = (func_or_name(args) if callable(func_or_name)
             else getattr(args, func_or_name, None))
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    return [Path(v) for v in values if v is not None]


def command_outputs(func: Callable, args) -> tuple[list[Path], list[Path]]:
    """``(files, folders)`` that a command marked with :func:`writes` writes, from its
    ``args``."""
    files = [p for spec in getattr(func, "writes", ("output",)) for p in _paths(spec, args)]
    folders = [p for spec in getattr(func, "writes_folders", ()) for p in _paths(spec, args)]
    return files, folders


def check_outputs(func: Callable, args, overwrite: bool = False) -> None:
    """Refuse the outputs of a command (:func:`writes`) that cannot be written, before
    any work: each file as :func:`output_target` checks it, an existing file unless
    ``overwrite`` (or the command resumes it), a folder that holds anything unless
    ``overwrite``.

    Raises
    ------
    OutputExistsError
        An output exists and ``overwrite`` is not set; the message names ``--overwrite``.
    OSError, ValueError
        As :func:`output_target`.
    """
    files, folders = command_outputs(func, args)
    resumes = getattr(func, "resumes", None)
    for path in files:
        target = output_target(path, overwrite)
        if (target.exists() and not overwrite
                and not (resumes is not None and resumes(args, path))):
            raise _os_error(OutputExistsError, errno.EEXIST, f"output {str(path)!r} exists; "
                            "pass --overwrite to replace it")
    for folder in folders:
        if folder.is_dir() and not overwrite and any(folder.iterdir()):
            raise _os_error(OutputExistsError, errno.EEXIST, f"output folder {str(folder)!r} "
                            "holds files already; pass --overwrite to write over them")
        if folder.exists() and not folder.is_dir():
            raise NotADirectoryError(f"output folder {str(folder)!r} is a file")


def new_file_mode() -> int:
    """The permissions the umask gives a new file (``0o666 & ~umask``)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def output_target(path: str | os.PathLike, overwrite: bool | None = None) -> Path:
    """Where writing ``path`` really goes, after the checks every writer makes.

    A symbolic link resolves to its target (written through). The folder must exist and
    be writable; the name must fit the file system's limit; an existing ``path`` must be
    a regular file, not one of the inputs declared with :func:`reading`, and not
    read-only (unless ``overwrite``; ``None``: the setting of :func:`overwriting`).

    Raises
    ------
    FileNotFoundError
        The destination folder does not exist.
    IsADirectoryError
        ``path`` is a folder.
    PermissionError
        The folder is not writable, or ``path`` is an existing read-only file and
        ``overwrite`` is not set.
    OSError
        The name is longer than the file system allows (``ENAMETOOLONG``).
    OutputIsInputError
        ``path`` is the same file as an input (a ``ValueError``).
    ValueError
        ``path`` is a device, a FIFO or a socket.
    """
    given = Path(path)
    _check_name_length(given)
    target = Path(os.path.realpath(given)) if given.is_symlink() else given
    if not target.parent.is_dir():
        raise FileNotFoundError(f"output folder {str(target.parent)!r} does not exist")
    if target.is_dir():
        raise IsADirectoryError(f"output {str(given)!r} is a folder, expected a file name")
    _check_name_length(target)
    if target.exists():
        _check_existing(target, given, _OVERWRITE.get() if overwrite is None else overwrite)
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise _os_error(PermissionError, errno.EACCES, f"cannot write {str(given)!r}: no "
                        f"write permission in its folder {str(target.parent)!r}")
    return target


def _check_name_length(path: Path) -> None:
    """Refuse a file name longer than the file system of its folder allows."""
    length, limit = len(os.fsencode(path.name)), _name_max(path.parent)
    if length > limit:
        raise _os_error(OSError, errno.ENAMETOOLONG, f"output name {path.name!r} is {length} "
                        f"bytes long; the file system of {str(path.parent)!r} allows {limit}")


def _check_existing(target: Path, given: Path, overwrite: bool) -> None:
    """The checks of :func:`output_target` on an output that exists."""
    st = os.stat(target)
    for is_kind, kind in _FILE_KINDS:
        if is_kind(st.st_mode):
            raise ValueError(f"output {str(given)!r} is {kind}, not a regular file: outputs "
                             "are written as new files renamed into place, so it would be "
                             "replaced; give the name of a file")
    for source in _INPUTS.get():
        try:
            same = os.path.samestat(os.stat(source), st)
        except OSError:
            continue
        if same:
            alias = "" if os.path.abspath(source) == os.path.abspath(given) else (
                " (the same file under another name or through a link)")
            raise OutputIsInputError(
                f"output {str(given)!r} is the input {str(source)!r}{alias}: writing it would "
                "replace the data being read; choose another output name")
    if is_read_only(target) and not overwrite:
        raise _os_error(PermissionError, errno.EACCES, f"output {str(given)!r} exists and is "
                        "read-only; pass --overwrite (overwrite=True) to replace it")


def _name_max(folder: Path) -> int:
    """The longest file name, in bytes, that the file system of ``folder`` allows."""
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return 255


def _hidden_stem(target: Path) -> str:
    """The name that the hidden files of ``target`` (temporaries, lock) start with: its
    own name, or, when that would make them too long for the file system, the start of
    it and a hash of all of it (the same for every writer of ``target``)."""
    room = _name_max(target.parent) - _HIDDEN_EXTRA
    name = target.name
    if len(os.fsencode(name)) <= room:
        return name
    digest = hashlib.sha256(os.fsencode(name)).hexdigest()[:16]
    head = name
    while len(os.fsencode(head)) > room - len(digest) - 1:
        head = head[:-1]
    return f"{head}~{digest}"


@contextlib.contextmanager
def output_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold the exclusive writer's lock of ``path`` for the block.

    Raises :class:`OutputBusyError` at once when another process holds it.
    """
    path = Path(path)
    lock = path.with_name(f".{_hidden_stem(path)}.lock")
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, new_file_mode())
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise _os_error(OutputBusyError, errno.EWOULDBLOCK, f"{str(path)!r} is being "
                            "written by another process; wait for it to finish") from None
        # the previous holder may have removed the lock file between our open and flock:
        # then we hold a lock nobody else sees, so start again with the current file
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        _remove_stale_temporaries(path)
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
        os.close(fd)


def _remove_stale_temporaries(path: Path) -> None:
    """Remove what writers of ``path`` killed mid-write left (the caller holds the lock,
    so no writer is using them)."""
    pattern = re.compile(re.escape(f".{_hidden_stem(path)}.") + r"[a-z0-9_]{8}\.tmp")
    for entry in os.scandir(path.parent):
        if pattern.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, overwrite: bool | None = None,
                  copy_from: str | os.PathLike | None = None,
                  lock: bool = True) -> Iterator[Path]:
    """Yield a unique temporary path to write; it replaces ``path`` when the block ends
    without an error, and is removed otherwise.

    ``copy_from`` starts the temporary file as a copy of that file (an in-place update
    done on the copy; its size is checked against the free space first). The checks, the
    lock, the permissions and the full-disk error are those of the module docstring; a
    symbolic link at ``path`` keeps pointing at the new file. ``lock=False`` is for a
    caller that holds :func:`output_lock` already.

    Example
    -------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> with atomic_output(out) as tmp:
    ...     _ = tmp.write_text("done")
    >>> out.read_text()
    'done'
    """
    target = output_target(path, overwrite)
    with output_lock(target) if lock else contextlib.nullcontext():
        if copy_from is not None:
            require_space(target, os.stat(copy_from).st_size)
        fd, name = tempfile.mkstemp(prefix=f".{_hidden_stem(target)}.", suffix=".tmp",
                                    dir=target.parent)
        os.close(fd)
        tmp = Path(name)
        try:
            with full_disk_errors(target, f"{str(target)!r} was not written (an existing "
                                          "file of that name is unchanged)", partial=tmp):
                if copy_from is not None:
                    shutil.copyfile(copy_from, tmp)
                yield tmp
            os.chmod(tmp, new_file_mode())
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)


def is_read_only(path: str | os.PathLike) -> bool:
    """Whether an existing ``path`` has no write permission bit at all."""
    return not os.stat(path).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def _size(nbytes: float) -> str:
    """``nbytes`` for a message: ``"96.0 KiB"``."""
    if nbytes < 1024:
        return f"{nbytes:.0f} bytes"
    for unit in ("KiB", "MiB", "GiB"):
        nbytes /= 1024
        if nbytes < 1024:
            return f"{nbytes:.1f} {unit}"
    return f"{nbytes / 1024:.1f} TiB"


def _free(path: Path) -> int:
    """Bytes free for this user on the file system that holds (or will hold) ``path``."""
    return shutil.disk_usage(path if path.is_dir() else path.parent).free


def _not_enough(path: str | os.PathLike, nbytes: int, free: int, note: str) -> DiskFullError:
    return DiskFullError(f"not enough space for {str(path)!r}: {_size(nbytes)} needed, "
                         f"{_size(free)} free on its file system" + (f"; {note}" if note else ""))


def require_space(path: str | os.PathLike, nbytes: int, note: str = "") -> None:
    """Refuse to write ``nbytes`` to ``path`` when its file system has less room free
    (``shutil.disk_usage``), before anything is written.

    Raises
    ------
    DiskFullError
        Naming ``path``, the space needed and the space free, then ``note`` (what is
        kept, how to go on).

    Example
    -------
    >>> import tempfile, os
    >>> out = os.path.join(tempfile.mkdtemp(), "big.h5")
    >>> require_space(out, 1024)
    >>> require_space(out, 2 ** 60)
    Traceback (most recent call last):
    ...
    tomopy_dlalign.common.outputs.DiskFullError: not enough space for ...: 1048576.0 TiB needed, ...
    """
    if nbytes <= 0:
        return
    free = _free(Path(path))
    if nbytes > free:
        raise _not_enough(path, nbytes, free, note)


def reserve_space(path: str | os.PathLike, offset: int, nbytes: int, note: str = "") -> None:
    """Make room on disk for ``nbytes`` to be written at ``offset`` of the existing file
    ``path`` (a writer that appends in place, before it computes the part it appends).

    The space is allocated (``posix_fallocate``, which extends the file with zeros past
    its end), so what the writer then puts there cannot fail for want of space, even if
    another process fills the disk meanwhile. On a file system without ``fallocate`` the
    free space is only checked (:func:`require_space`).

    Raises
    ------
    DiskFullError
        Naming ``path``, the space needed and free, then ``note``; the file is unchanged.
    """
    size = os.stat(path).st_size
    require_space(path, offset + nbytes - size, note)
    allocate = getattr(os, "posix_fallocate", None)
    if allocate is None or nbytes <= 0:
        return
    fd = os.open(path, os.O_WRONLY)
    try:
        allocate(fd, offset, nbytes)
    except OSError as exc:
        if os.fstat(fd).st_size > size:
            os.ftruncate(fd, size)  # what a failed allocation added
        if exc.errno in _FULL_DISK:
            raise _not_enough(path, offset + nbytes - size, _free(Path(path)), note) from None
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise
    finally:
        os.close(fd)


def _is_full_disk(exc: BaseException | None) -> bool:
    """Whether ``exc``, or an error it was raised from or while handling, says the disk
    is full (h5py puts the OS's words in the text of its own errors)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if (getattr(exc, "errno", None) in _FULL_DISK
                or any(text in str(exc) for text in _FULL_DISK_TEXT)):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _unraisable(args) -> None:
    """``sys.unraisablehook`` once :func:`full_disk_errors` has been used: h5py can only
    report a write that fails while it closes a dataset (in ``__dealloc__``), so such a
    full-disk error is kept for the block that wrote, instead of printed and forgotten."""
    found = _SWALLOWED.get()
    if found is not None and _is_full_disk(args.exc_value):
        found.append(args.exc_value)
    else:
        _previous_hook(args)


@contextlib.contextmanager
def full_disk_errors(path: str | os.PathLike, note: str = "",
                     partial: str | os.PathLike | None = None) -> Iterator[None]:
    """Turn running out of space within the block into one :class:`DiskFullError` naming
    ``path``, the space it took and the space free, then ``note`` (what became of the
    file).

    Both kinds count: an ``OSError`` raised with ``ENOSPC``/``EDQUOT`` (or an error raised
    while handling one, as h5py does when it closes the file), and one that h5py could
    only report as unraisable (a chunk written when a dataset is closed), which is raised
    when the block ends, so that a writer never takes such a file for complete.
    ``partial`` is a temporary file that the failure makes worthless: it is removed
    before the space free is measured.
    """
    global _previous_hook
    with _HOOK_LOCK:
        if sys.unraisablehook is not _unraisable:
            _previous_hook, sys.unraisablehook = sys.unraisablehook, _unraisable
    found: list = []
    token = _SWALLOWED.set(found)
    try:
        yield
    except DiskFullError:
        raise
    except Exception as exc:
        if not _is_full_disk(exc):
            raise
        raise _disk_full(path, note, partial) from exc
    finally:
        _SWALLOWED.reset(token)
    if found:
        raise _disk_full(path, note, partial) from found[0]


def _disk_full(path: str | os.PathLike, note: str,
               partial: str | os.PathLike | None) -> DiskFullError:
    written = ""
    if partial is not None and os.path.exists(partial):
        st = os.stat(partial)
        # the space it holds: a file that failed to grow is often sparse past that
        written = f" after {_size(min(st.st_size, st.st_blocks * 512))} of it were written"
        os.unlink(partial)
    return DiskFullError(f"the file system of {str(path)!r} is full{written} "
                         f"({_size(_free(Path(path)))} free now)" + (f": {note}" if note else ""))
