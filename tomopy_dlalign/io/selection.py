"""Projection and slice ranges (the ``proj=`` and ``sino=`` arguments of every reader)."""

from __future__ import annotations

import numpy as np


def index_range(value, name: str, size: int) -> slice:
    """Turn a ``proj=`` or ``sino=`` argument into a slice over ``size`` items.

    Parameters
    ----------
    value : None, slice or (start, end[, step])
        ``None`` selects everything; a tuple follows ``read_dx``'s convention.
    name : str
        The argument's name, for the error message.
    size : int
        How many items (projections or detector rows) the file holds.

    Returns
    -------
    slice

    Raises
    ------
    TypeError, ValueError
        Not a range, or a range outside the ``size`` available.

    Example
    -------
    >>> index_range((2, 10, 2), "proj", 12)
    slice(2, 10, 2)
    """
    if value is None:
        return slice(None)
    if isinstance(value, slice):
        return value
    try:
        parts = [int(v) for v in value]
    except TypeError as exc:
        raise TypeError(f"{name} must be (start, end) or (start, end, step), got {value!r}") \
            from exc
    if len(parts) not in (2, 3):
        raise ValueError(f"{name} must be (start, end) or (start, end, step), got {value!r}")
    start, end = parts[0], parts[1]
    if not 0 <= start < end <= size:
        raise ValueError(f"{name}={tuple(parts)} is outside the {size} available")
    if len(parts) == 3 and parts[2] <= 0:
        raise ValueError(f"{name} step must be positive, got {parts[2]}")
    return slice(*parts)


def selected(sel: slice, size: int) -> np.ndarray:
    """The indices that ``sel`` picks out of ``range(size)``, as an int64 array."""
    return np.arange(size, dtype=np.int64)[sel]
