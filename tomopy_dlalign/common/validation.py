"""Input checks shared by the public functions of both packages.

Every public function validates its arguments once, at its boundary, with messages
that name the argument, what was expected and what came in.
"""

from __future__ import annotations

import numpy as np


def as_array(
    value,
    name: str,
    ndim: int | tuple[int, ...] | None = None,
    dtype=np.float32,
    allow_nan: bool = False,
    nonnegative: bool = False,
) -> np.ndarray:
    """Convert ``value`` to an array of ``dtype`` and check its rank and values."""
    if value is None:
        raise ValueError(f"{name} is required, got None")
    try:
        arr = np.asarray(value)
    except Exception as exc:  # pragma: no cover - numpy raises many things here
        raise TypeError(f"{name} must be array-like, got {type(value).__name__}") from exc
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(f"{d}D" for d in allowed)
            raise ValueError(f"{name} must be {want}, got shape {arr.shape}")
    if dtype is not None:
        arr = _cast(arr, name, np.dtype(dtype))
    if not allow_nan and np.issubdtype(arr.dtype, np.inexact):
        bad = ~np.isfinite(arr)
        if bad.any():
            raise ValueError(
                f"{name} contains {int(bad.sum())} NaN or infinite values "
                f"(first at index {tuple(int(i) for i in np.argwhere(bad)[0])})"
            )
    if nonnegative and np.issubdtype(arr.dtype, np.number) and arr.size and arr.min() < 0:
        raise ValueError(f"{name} must be non-negative, got a minimum of {arr.min()}")
    return arr


def _cast(arr: np.ndarray, name: str, dtype: np.dtype) -> np.ndarray:
    """``arr`` as ``dtype``, refusing what the cast would lose silently: the imaginary
    part of complex values, and finite values too large for a float type."""
    if np.iscomplexobj(arr) and dtype.kind != "c":
        raise TypeError(f"{name} must be real, got complex values (dtype {arr.dtype}); pass "
                        "its real part, modulus or phase explicitly")
    if dtype.kind in "fc" and arr.dtype.kind in "fc" and arr.dtype.itemsize > dtype.itemsize:
        limit = np.finfo(dtype).max
        with np.errstate(invalid="ignore"):
            big = np.isfinite(arr) & (np.abs(arr) > limit)
        if big.any():
            raise ValueError(f"{name} holds {int(big.sum())} values beyond the {dtype} range "
                             f"(+-{limit:.3g}), the largest {np.abs(arr[big]).max():.3g}: they "
                             "would overflow; rescale the data")
    return arr.astype(dtype, copy=False)


def check_seed(seed, name: str = "seed") -> int | None:
    """``seed`` for ``numpy.random.SeedSequence``: None (fresh entropy) or a whole number,
    0 or more (NumPy's own error for a negative one names neither the argument nor the
    function)."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"{name} must be None or a whole number, 0 or more, got {seed!r}")
    return int(seed)


#: angles closer than this (radians) are one direction for ``as_theta(..., distinct=)``
SAME_ANGLE = 1e-6


def as_theta(theta, nproj: int | None = None, name: str = "theta",
             distinct: int = 1) -> np.ndarray:
    """Check projection angles (radians, 1D, finite) and their count against ``nproj``.

    ``distinct`` is the fewest different directions accepted (angles closer than
    :data:`SAME_ANGLE` count as one): 2 for a reconstruction, an alignment or a rotation
    axis, which one projection, or one angle repeated, cannot give; 1 where one
    projection is meaningful (a reprojection, a simulation).
    """
    th = as_array(theta, name, ndim=1, dtype=np.float64)
    if th.size == 0:
        raise ValueError(f"{name} must hold at least one angle, got an empty array")
    if nproj is not None and th.size != nproj:
        raise ValueError(
            f"{name} has {th.size} angles but the projections hold {nproj} "
            f"(axis 0 of an (nproj, nslice, ncol) stack)"
        )
    if np.abs(th).max() > 8 * np.pi:
        raise ValueError(
            f"{name} must be in radians; its largest value is {np.abs(th).max():.1f}, "
            "which looks like degrees (use numpy.deg2rad)"
        )
    found = 1 + int(np.count_nonzero(np.diff(np.sort(th)) > SAME_ANGLE))
    if found < distinct:
        got = ("1 angle" if th.size == 1 else
               f"{th.size} angles, all equal to {th[0]:.6g} rad" if found == 1 else
               f"{th.size} angles in only {found} directions")
        raise ValueError(
            f"{name} must hold at least {distinct} different angles: tomography needs "
            f"views of the sample from several directions, got {got}"
        )
    return th


def as_center(center, ncol: int, name: str = "center") -> float:
    """Rotation centre in pixels along ``ncol`` (TomoPy's default ``ncol / 2``)."""
    if center is None:
        return ncol / 2.0
    c = np.asarray(center, dtype=np.float64)
    if c.ndim > 0:
        if c.size == 0 or not np.allclose(c, c.flat[0]):
            raise ValueError(
                f"{name} must be one number for the whole stack (a parallel-beam scan has "
                f"one rotation axis), got {c.size} different values"
            )
        c = c.flat[0]
    c = float(c)
    if not np.isfinite(c):
        raise ValueError(f"{name} must be finite, got {c}")
    if not -ncol <= c <= 2 * ncol:
        raise ValueError(f"{name}={c} lies far outside the detector of {ncol} columns")
    return c
