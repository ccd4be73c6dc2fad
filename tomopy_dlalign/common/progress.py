"""Progress bars that can be turned off, shared by every long-running loop."""

from __future__ import annotations

import sys
from collections.abc import Iterable

from tqdm.auto import tqdm


def progress(iterable: Iterable, desc: str, enabled: bool | None = None, total: int | None = None):
    """Wrap ``iterable`` in a tqdm bar.

    ``enabled=None`` shows the bar only when standard error is a terminal, so that
    scripts and CI logs stay clean while interactive sessions see progress.
    """
    if enabled is None:
        enabled = sys.stderr.isatty()
    return tqdm(iterable, desc=desc, total=total, disable=not enabled, leave=False)
