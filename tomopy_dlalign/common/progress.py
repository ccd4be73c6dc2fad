"""Progress bars that can be turned off, shared by every long-running loop.

Whether a bar shows is decided, in order, by the ``enabled`` argument of the loop's
function (``show_progress=`` of the public functions), by :func:`showing_progress`
around the call (what ``--progress/--no-progress`` sets on both command lines), and
otherwise by whether standard error is a terminal.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
from collections.abc import Iterable, Iterator

from tqdm.auto import tqdm

_DEFAULT: contextvars.ContextVar[bool | None] = contextvars.ContextVar("show_progress",
                                                                        default=None)


@contextlib.contextmanager
def showing_progress(enabled: bool | None) -> Iterator[None]:
    """Within the block, bars whose ``enabled`` is None show when ``enabled`` is True and
    stay hidden when it is False; ``None`` keeps the terminal test.

    Example
    -------
    >>> with showing_progress(False):
    ...     bar = progress(range(3), "quiet")
    >>> bar.disable
    True
    """
    token = _DEFAULT.set(enabled)
    try:
        yield
    finally:
        _DEFAULT.reset(token)


def progress_enabled(enabled: bool | None = None) -> bool:
    """Whether a bar shows: ``enabled`` when given, else the :func:`showing_progress`
    setting, else whether standard error is a terminal (scripts and CI logs stay
    clean, interactive sessions see progress)."""
    if enabled is None:
        enabled = _DEFAULT.get()
    if enabled is None:
        enabled = sys.stderr.isatty()
    return bool(enabled)


def progress(iterable: Iterable, desc: str, enabled: bool | None = None, total: int | None = None):
    """Wrap ``iterable`` in a tqdm bar, shown as :func:`progress_enabled` decides."""
    return tqdm(iterable, desc=desc, total=total, disable=not progress_enabled(enabled),
                leave=False)
