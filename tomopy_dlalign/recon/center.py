"""The rotation axis of a parallel-beam scan, found from the projections themselves.

Two estimators, chosen by the angular range:

- ``"mirror"`` (scans covering at least half a turn): a projection at ``theta + pi`` is
  the mirror image, about the axis, of the projection at ``theta``. Appending the
  mirrored half-turn sinogram to the measured one gives a full-turn sinogram that is
  smooth in ``theta`` only when the mirror is taken about the true axis; a wrong axis
  leaves two seams whose energy lies outside the double wedge where the spectrum of a
  sinogram of an object inside the field of view lives. The axis minimising that energy
  is the estimate (the idea of Vo, Atwood & Drakopoulos, Opt. Express 22, 19078, 2014).
  Strong jitter breaks the mirror symmetry itself; when the minimum lands on the edge of
  the search, ``"auto"`` says so and takes the centre of mass instead.
- ``"mass"`` (any range, the object wholly inside the field of view): the centre of mass
  of each projection follows ``center + x0 cos(theta) + y0 sin(theta)`` for an object
  whose centre of mass sits at ``(x0, y0)``; a least-squares fit gives the axis.

Both work on the projections summed over detector rows, so vertical jitter and thin
slabs (down to one row) do not matter; salt-and-pepper noise is median-filtered first
(:func:`tomopy_dlalign.common.impulsive.despeckle`), as alignment does. Horizontal
jitter of the form ``a + b cos(theta) + c sin(theta)`` is indistinguishable from an axis
offset ``a`` and a translation of the sample: the centre-of-mass estimate returns the
axis plus the ``a`` of the jitter's least-squares fit, the only axis the projections
define. The mirror
estimate needs projections whose jitter is small against the features of the sample:
for a sample wider than the field of view with strong jitter, give the axis, or let
:func:`tomopy_dlalign.align` re-estimate it once its first cycles have removed most of
the jitter (it does so with ``center="auto"``, and reports the estimates).
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from ..common.impulsive import despeckle
from ..common.validation import as_array, as_center, as_theta

logger = logging.getLogger(__name__)

METHODS = ("auto", "mirror", "mass")


def find_center(tomo, theta, method: str = "auto", search: float | None = None,
                init: float | None = None) -> float:
    """Estimate the rotation axis, in pixels along ``ncol`` (TomoPy's convention).

    Parameters
    ----------
    tomo : ndarray (nproj, nslice, ncol)
        Line integrals (after ``normalize`` and ``minus_log``).
    theta : ndarray (nproj,)
        Angles in radians, in any order.
    method : {"auto", "mirror", "mass"}
        ``"auto"`` uses ``"mass"`` when the object stays inside the field of view (the
        projections fall to zero at both edges) and ``"mirror"`` otherwise, which needs
        at least half a turn (see the module's notes).
    search : float, optional
        Half-width in pixels of the search around ``init`` (``"mirror"`` only); default a
        quarter of the width.
    init : float, optional
        Centre of the search; default ``ncol / 2``.

    Returns
    -------
    float
        The axis position, such that ``mlem(tomo, theta, center=find_center(tomo,
        theta))`` reconstructs without the arcs of a wrong axis.

    Raises
    ------
    ValueError
        When ``method="mirror"`` is asked for less than half a turn, or the projections
        carry no signal.

    Example
    -------
    >>> import numpy as np, tomopy_dlalign as tda
    >>> theta = np.linspace(0, np.pi, 90, endpoint=False)
    >>> vol = tda.simulate.phantom("nanoparticles", 64, 4, seed=0)
    >>> prj = tda.reproject(vol, theta, center=35.0)
    >>> round(find_center(prj, theta), 1)
    35.0
    """
    arr = as_array(tomo, "tomo", ndim=3)
    th = as_theta(theta, arr.shape[0], distinct=2)  # without rotation there is no axis
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    # salt-and-pepper noise at the detector edges would hide that the object lies inside
    # the field of view, and pulls the mirror's seams: the same 5 x 5 median as align's
    sino = despeckle(arr).sum(axis=1, dtype=np.float64)
    if not np.abs(sino).max() > 0:
        raise ValueError("tomo holds no signal (all zero): the rotation axis cannot be found")
    ncol = arr.shape[2]
    half_turn = _covers_half_turn(th)
    if method == "mirror" and not half_turn:
        raise ValueError(f"method='mirror' needs angles over at least half a turn; theta "
                         f"spans {np.degrees(np.ptp(th)):.1f} degrees (use method='mass')")
    auto = method == "auto"
    if auto:
        method = "mass" if inside_field_of_view(sino) or not half_turn else "mirror"
    if method == "mass":
        c = _by_mass(sino, th)
    else:
        c0 = ncol / 2.0 if init is None else float(init)
        half = ncol / 4.0 if search is None else float(search)
        c = _by_mirror(sino, th, c0, half)
        if auto and abs(c - c0) > half - 1.0:
            # a minimum at the edge of the search is no minimum: strong jitter breaks the
            # mirror symmetry; the centre of mass is unbiased by jitter
            mass = _by_mass(sino, th)
            logger.warning("rotation axis: the mirror search ended at the edge of its "
                           "range (%.1f px, jitter or noise?); taking the centre-of-mass "
                           "estimate %.2f px instead", c, mass)
            c, method = mass, "mass"
    logger.info("rotation axis found at %.2f px (%s method)", c, method)
    return c


def inside_field_of_view(sino: np.ndarray, edge: int = 2, level: float = 0.02) -> bool:
    """Whether the projections (rows of ``sino``, summed over detector rows) fall to
    about zero at both edges: the median over angles of the edges' share of the peak is
    below ``level``."""
    peak = np.abs(sino).max(axis=1)
    ends = np.maximum(np.abs(sino[:, :edge]).mean(axis=1), np.abs(sino[:, -edge:]).mean(axis=1))
    return bool(np.median(ends / np.maximum(peak, 1e-30)) < level)


def resolve_center(center, tomo: np.ndarray, theta: np.ndarray, name: str = "center") -> float:
    """The rotation axis meant by ``center`` for checked projections ``tomo``:
    ``"auto"`` finds it (:func:`find_center`), ``None`` is ``ncol / 2`` (TomoPy's
    default) and a number is checked. Raises when the axis leaves the projections'
    signal outside the reconstruction circle (:func:`check_center_covers`), and when
    ``theta`` holds fewer than two different angles: without rotation there is no axis,
    and nothing to reconstruct or align (every caller, reconstruction or alignment,
    checks this here)."""
    as_theta(theta, tomo.shape[0], distinct=2)
    if isinstance(center, str):
        if center != "auto":
            raise ValueError(f"{name} must be a number, 'auto' or None, got {center!r}")
        if not np.abs(tomo).max() > 0:
            logger.info("%s='auto' on projections without signal: using ncol / 2", name)
            return tomo.shape[2] / 2.0
        c = find_center(tomo, theta)
    else:
        c = as_center(center, tomo.shape[2], name)
    check_center_covers(tomo, c, name, theta=theta)
    return c


#: an angular span (degrees) below which a scan's angles are more likely radians read
#: as degrees than a real scan: the error on the axis names theta then
NARROW_SPAN = 10.0


def check_center_covers(tomo: np.ndarray, center: float, name: str = "center",
                        theta: np.ndarray | None = None) -> None:
    """Refuse an axis that puts (almost) all of the signal outside the reconstruction
    circle, where it would give an empty (zero or NaN) reconstruction.

    The reconstruction grid is ``ncol`` wide and centred on the axis, so detector
    columns farther than ``ncol / 2`` from ``center`` fall outside its circle. With
    ``theta`` spanning less than ``NARROW_SPAN`` degrees, the message names theta as the
    likely cause: radians read as degrees give an axis far off the detector."""
    ncol = tomo.shape[2]
    rows = tomo.reshape(-1, ncol)
    profile = np.zeros(ncol)
    # in blocks of under 4 MB: NumPy asks for huge pages from there on, which a machine
    # with fragmented memory must first compact (tenths of a second for a large stack)
    step = max(1, (1 << 21) // (4 * ncol))
    for start in range(0, rows.shape[0], step):
        profile += np.abs(rows[start:start + step]).sum(axis=0)
    total = profile.sum()
    if total == 0:
        return
    cols = np.arange(ncol) + 0.5
    inside = profile[np.abs(cols - center) <= ncol / 2].sum() / total
    if inside < 0.01:
        raise ValueError(
            f"{name}={center:g} leaves the object outside the reconstruction circle: the "
            f"detector columns within {ncol / 2:g} px of it hold {100 * inside:.2g} % of the "
            f"signal; the axis should lie near the object (center='auto' estimates it)"
            f"{_narrow_theta(theta)}")


def _narrow_theta(theta) -> str:
    """The hint on theta that :func:`check_center_covers` appends, or ''."""
    if theta is None or np.size(theta) < 2:
        return ""
    span = float(np.degrees(np.ptp(np.asarray(theta, np.float64))))
    if span >= NARROW_SPAN:
        return ""
    return (f". The likely cause is theta: its angles span only {span:.3g} degrees, as "
            f"radians read as degrees would (a Data Exchange theta in radians needs the "
            f"attribute units='rad'; in Python, theta is in radians)")


def _covers_half_turn(th: np.ndarray) -> bool:
    step = np.pi / max(th.size, 1)
    wrapped = np.sort(np.mod(th, np.pi))
    gaps = np.diff(np.concatenate([wrapped, wrapped[:1] + np.pi]))
    return bool(gaps.max() < 4 * step + np.radians(2.0))


def _by_mass(sino: np.ndarray, th: np.ndarray) -> float:
    cols = np.arange(sino.shape[1]) + 0.5
    mass = sino.sum(axis=1)
    ok = np.abs(mass) > 1e-6 * np.abs(mass).max()
    com = (sino[ok] @ cols) / mass[ok]
    basis = np.stack([np.ones(ok.sum()), np.cos(th[ok]), np.sin(th[ok])], axis=1)
    coef, *_ = np.linalg.lstsq(basis, com, rcond=None)
    return float(coef[0])


def _half_turn_sinogram(sino: np.ndarray, th: np.ndarray) -> np.ndarray:
    """The sinogram over exactly ``[t0, t0 + pi)`` on a uniform grid: rows from the second
    half-turn are kept as they are only if the first half-turn lacks that angle."""
    order = np.argsort(th)
    th, sino = th[order], sino[order]
    keep = th < th[0] + np.pi - 1e-9
    th, sino = th[keep], sino[keep]
    n = th.size
    grid = th[0] + np.arange(n) * np.pi / n
    out = np.empty((n, sino.shape[1]))
    for j in range(sino.shape[1]):
        out[:, j] = np.interp(grid, th, sino[:, j])
    return out


def _mirror_cost(sino: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Energy outside the sinogram's double wedge of the full-turn sinogram made with
    each candidate axis in ``centers``."""
    n, ncol = sino.shape
    pad = ncol  # room for the mirror's shift, filled with edge values
    padded = torch.nn.functional.pad(sino[None], (pad, pad), mode="replicate")[0]
    m = padded.shape[1]
    freq = torch.fft.rfftfreq(m, dtype=torch.float64)
    spec = torch.fft.rfft(padded.flip(-1), dim=-1)
    # mirror about c: position u -> 2c - u, i.e. the flipped row shifted by 2c - ncol
    ramp = torch.exp(-2j * torch.pi * freq[None, :] * (2 * centers[:, None] - ncol))
    mirrored = torch.fft.irfft(spec[None] * ramp[:, None, :], n=m, dim=-1)[..., pad:pad + ncol]
    full = torch.cat([sino.expand(len(centers), n, ncol), mirrored], dim=1)
    full = full - full.mean(dim=1, keepdim=True)
    power = torch.fft.fft2(full).abs()
    k_t = torch.fft.fftfreq(2 * n, dtype=torch.float64) * 2 * n   # cycles per turn
    k_s = torch.fft.fftfreq(ncol, dtype=torch.float64) * ncol      # cycles per width
    outside = (k_t[:, None].abs() > np.pi * k_s[None, :].abs()) & (k_s[None, :] != 0)
    return (power * outside).sum(dim=(1, 2)) / outside.sum()


def _by_mirror(sino: np.ndarray, th: np.ndarray, c0: float, search: float) -> float:
    half = torch.from_numpy(_half_turn_sinogram(sino, th))
    coarse = torch.arange(c0 - search, c0 + search + 1e-9, 0.5, dtype=torch.float64)
    cost = torch.cat([_mirror_cost(half, chunk) for chunk in coarse.split(16)])
    best = float(coarse[int(cost.argmin())])
    fine = torch.arange(best - 0.6, best + 0.6 + 1e-9, 0.05, dtype=torch.float64)
    cost = _mirror_cost(half, fine).numpy()
    k = int(np.argmin(cost))
    if 0 < k < len(cost) - 1:  # parabola through the minimum and its neighbours
        a, b, c = cost[k - 1:k + 2]
        denom = a - 2 * b + c
        offset = 0.5 * (a - c) / denom if denom > 0 else 0.0
        return float(fine[k]) + 0.05 * offset
    return float(fine[k])
