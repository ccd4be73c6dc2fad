"""Safe output files, shared by every writer of both packages.

One policy for every file the packages write (HDF5, TIFF, weights, JSON, PNG):

- **Atomic.** The file is written under a unique temporary name in the destination
  folder and renamed over the target only once complete, so a reader (or a kill at any
  instant) sees either the old file or the complete new one. Each writer gets its own
  temporary name, so two writers never share one.
- **Permissions from the umask**, as for any new file the user creates (``0o666 &
  ~umask``): results on a shared machine are readable by the colleagues the umask allows.
- **Read-only outputs are refused** (an existing file with no write permission bit) unless
  ``overwrite=True`` (``--overwrite`` on the command lines).
- **Symbolic links are written through**: a link at the output path is kept and its
  target is replaced (atomically, in the target's folder).
- **One writer at a time.** A second writer to the same output fails at once with
  :class:`OutputBusyError` (an ``OSError``) naming the file, instead of two processes
  racing to rename over each other. The lock is an exclusive ``flock`` on a hidden
  ``.<name>.lock`` file beside the output.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import fcntl
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

_OVERWRITE = contextvars.ContextVar("overwrite_read_only", default=False)


class OutputBusyError(BlockingIOError):
    """Another process is writing the same output file."""


@contextlib.contextmanager
def overwriting(enabled: bool = True) -> Iterator[None]:
    """Within the block, writers whose ``overwrite`` is None replace read-only outputs
    (what ``--overwrite`` does for every file a command writes)."""
    token = _OVERWRITE.set(bool(enabled))
    try:
        yield
    finally:
        _OVERWRITE.reset(token)


def new_file_mode() -> int:
    """The permissions the umask gives a new file (``0o666 & ~umask``)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def output_target(path: str | os.PathLike, overwrite: bool | None = None) -> Path:
    """Where writing ``path`` really goes, after the checks every writer makes.

    A symbolic link resolves to its target (written through); the folder must exist; a
    folder at ``path`` or an existing read-only file is refused (the latter unless
    ``overwrite``; ``None``: the setting of :func:`overwriting`).

    Raises
    ------
    FileNotFoundError
        The destination folder does not exist.
    IsADirectoryError
        ``path`` is a folder.
    PermissionError
        ``path`` is an existing read-only file and ``overwrite`` is not set.
    """
    given = Path(path)
    target = Path(os.path.realpath(given)) if given.is_symlink() else given
    if not target.parent.is_dir():
        raise FileNotFoundError(f"output folder {str(target.parent)!r} does not exist")
    if target.is_dir():
        raise IsADirectoryError(f"output {str(given)!r} is a folder, expected a file name")
    overwrite = _OVERWRITE.get() if overwrite is None else overwrite
    if target.exists() and is_read_only(target) and not overwrite:
        raise PermissionError(errno.EACCES, f"output {str(given)!r} exists and is read-only; "
                              "pass --overwrite (overwrite=True) to replace it", str(given))
    return target


@contextlib.contextmanager
def output_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold the exclusive writer's lock of ``path`` for the block.

    Raises :class:`OutputBusyError` at once when another process holds it.
    """
    path = Path(path)
    lock = path.with_name(f".{path.name}.lock")
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, new_file_mode())
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputBusyError(errno.EWOULDBLOCK, f"{str(path)!r} is being written by "
                                  "another process; wait for it to finish", str(path)) from None
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
    pattern = re.compile(re.escape(f".{path.name}.") + r"[a-z0-9_]{8}\.tmp")
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
    done on the copy). The checks, the lock and the permissions are those of the module
    docstring; a symbolic link at ``path`` keeps pointing at the new file. ``lock=False``
    is for a caller that holds :func:`output_lock` already.

    Example
    -------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> with atomic_output(out) as tmp:
    ...     _ = tmp.write_text("done")
    >>> out.read_text()
    'done'
    """
    import shutil

    target = output_target(path, overwrite)
    with output_lock(target) if lock else contextlib.nullcontext():
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                    dir=target.parent)
        os.close(fd)
        tmp = Path(name)
        try:
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
