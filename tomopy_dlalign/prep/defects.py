"""Defective detector pixels: found from the flats, darks and data, replaced by their
neighbours before anything else sees them.

A measured scan carries pixels that do not measure the beam: dead (no response), hot
(a dark current far above their neighbours'), saturated (stuck at the largest count the
format holds), zero-count, and pixels whose reading is off by a fixed amount in every
projection. Left in, a dead pixel (``flat <= dark``) is divided by a tiny number and
turns into a line integral of 13.8 (``minus_log``'s floor) or a large negative one in
every projection: a stripe in the sinogram, a ring in the slice, and the strongest
feature registration sees. :func:`find_defects` maps them, :func:`replace_defects`
replaces them by the median of their good neighbours, and
:func:`~tomopy_dlalign.prep.normalize.normalize` does both by default.

Example
-------
>>> import numpy as np
>>> flat, dark = np.full((3, 8, 8), 1000, np.uint16), np.full((3, 8, 8), 10, np.uint16)
>>> flat[:, 2, 5] = 10                                    # no response: dead
>>> defects = find_defects(flat, dark)
>>> defects.counts["dead"], defects.coordinates("dead").tolist()
(1, [[2, 5]])

The criteria of :func:`find_defects`
-----------------------------------
Each criterion compares a pixel with its neighbours, because what is normal
varies over a detector (the beam's profile, the scintillator's gain), and measures
"far" robustly, with medians and median absolute deviations (MAD), which a few
percent of defects do not move:

- **dead**: ``flat - dark`` is the pixel's response to the open beam. Optics and
  scintillator blur make it vary smoothly, by a few percent from pixel to pixel;
  a pixel at under 20 % of its neighbourhood's median has lost its gain (and is
  usually non-linear): its normalised values carry more than twice the relative
  counting noise, and any drift of its small response five times the weight. The
  5 x 5 median is not moved by up to 12 defects in the window.
- **hot**: the dark level of a pixel with a high dark current, robustly above its
  neighbours (10 MADs: never reached by counting noise, for which a MAD is about
  the standard deviation) and by more than 1 % of the beam's response, below which
  even an unstable offset changes a transmission by less than the counting noise
  of a typical flat (10^4 counts).
- **saturated**: counts at the largest value of an integer dtype say only that the
  true value is at least that: the flat, hence the transmission, is unknown there.
  Occasional saturation (a bright moment of the beam) is not a fixed defect; a
  majority of frames is.
- **zero**: a pixel that reads 0 in most frames while its neighbours count.
- **outlier**: the residual ``r`` of each projection against the median of the
  pixel's four row neighbours (two either side) holds noise, the sample's fine
  detail and the defects. The rotation axis is vertical, so the sample moves along
  the rows as it turns, and the median of ``r`` over angles keeps, at each pixel,
  what is fixed on the detector. The neighbours are taken along the row because a
  row sees the same height of the sample at every angle: a layer one pixel thin
  (a battery's separator) would be fixed against the rows above and below. Left
  out of its own median, the pixel cannot pull its residual to exactly 0. What is
  fixed on flat-corrected data is the flat's own noise, about
  ``1 / sqrt(frames x counts)`` (0.45 % for 5 flats of 10^4 counts), plus the
  data's noise divided by the square root of the number of angles; the spread of
  the medians over the detector (MAD) measures it. On simulated scans of five
  phantom families (64 and 128 px, 60 and 181 projections, 3 seeds) the furthest
  clean pixel lies 8 MADs out, hence 10: a gain error of 5 % or more (10 times the
  flat's noise) is found.

What it cannot tell apart: anything fixed on the detector is "fixed across angles".
A scratch or dust on the scintillator is such a feature, but the flat sees it too,
and on flat-corrected transmissions it is gone (raw counts are corrected before the
test; normalised data passed with ``normalized=True`` must be corrected already). A
sample feature that stays at a pixel at most angles is flagged and replaced: detail
of a pixel or two on the rotation axis, and any fine detail when the projections
span a few degrees only, over which the sample barely moves (the test wants the
whole scan, not a block of consecutive angles). A defect fixed along a whole row
looks like a layer of the sample and is not found from the data (from the flats,
it is). A sharp edge of the beam or a shadow in the flat (a slit, a beamstop) is
dead along its dark side, as is every pixel of a detector region outside the beam.
Pass ``normalize(..., defects=False)`` when the beam does not fill the detector (or
crop the frames first), when the sample has pixel-sized detail on the axis, or when
the flats were recorded under other conditions than the projections (a pixel dead
in the flats may count in the data); or pass a mask of your own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import median_filter

from ..common.validation import as_array

logger = logging.getLogger(__name__)

#: the kinds of defect, in the order of precedence: a pixel meeting several criteria is
#: recorded under the first, the one that explains the others (a hot pixel's high dark
#: also lowers its response to the beam; a zero-count pixel is also an outlier)
KINDS = ("saturated", "hot", "dead", "zero", "outlier", "given")

# 1.4826 * MAD is the standard deviation of normally distributed values
_MAD_TO_SIGMA = 1.4826
# a zero-count pixel's neighbourhood (5 x 5 median) reads 0 in fewer frames than this:
# a photon-starved region, where every pixel often reads 0, is not a defect
_ZERO_NEIGHBOURS = 0.1
# the outlier test needs the sample to move between projections (see find_defects)
_MIN_ANGLES = 10
# a spread below float32's resolution of a transmission near 1 is no spread at all
_MIN_SPREAD = 1e-6
# elements of a working block (float32: 64 MB): the memory of the data passes
_BLOCK = 2 ** 24


@dataclass(frozen=True)
class DefectMap:
    """Defective detector pixels, with the reason each was flagged.

    Attributes
    ----------
    reason : ndarray of uint8, shape (nslice, ncol)
        0 for a good pixel, else ``1 + KINDS.index(kind)``.
    criteria : dict
        The thresholds used and the scales they were measured against (JSON-able).

    Example
    -------
    >>> import numpy as np
    >>> m = DefectMap.from_mask(np.eye(3, dtype=bool))
    >>> int(m.mask.sum()), m.counts["given"]
    (3, 3)
    """

    reason: np.ndarray
    criteria: dict = field(default_factory=dict)

    @classmethod
    def from_mask(cls, mask) -> DefectMap:
        """A map of the pixels ``mask`` marks (nonzero), all of kind ``"given"``."""
        m = as_array(mask, "mask", ndim=2, dtype=None).astype(bool)
        return cls(np.where(m, np.uint8(KINDS.index("given") + 1), np.uint8(0)),
                   {"given": True})

    @property
    def mask(self) -> np.ndarray:
        """Boolean map ``(nslice, ncol)``, True where the pixel is defective."""
        return self.reason > 0

    @property
    def counts(self) -> dict[str, int]:
        """Defective pixels per kind (``dead``, ``hot``, ``zero``, ``saturated``,
        ``outlier``, and ``given`` for a mask passed in)."""
        n = np.bincount(self.reason.ravel(), minlength=len(KINDS) + 1)
        return {kind: int(n[i + 1]) for i, kind in enumerate(KINDS)}

    @property
    def fraction(self) -> float:
        """The share of the detector's pixels that are defective."""
        return float(self.mask.mean()) if self.reason.size else 0.0

    def coordinates(self, kind: str) -> np.ndarray:
        """``(row, col)`` of the pixels of ``kind``, shape ``(n, 2)``, row-major order."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        return np.argwhere(self.reason == KINDS.index(kind) + 1)

    def to_record(self, max_coordinates: int = 50) -> dict:
        """What the ``/process`` record keeps: the counts per kind, the first
        ``max_coordinates`` ``[row, col]`` of each kind found, the share of defective
        pixels and the criteria (a JSON-able dict)."""
        counts = self.counts
        return {"pixels": int(self.mask.sum()), "fraction": round(self.fraction, 8),
                "counts": counts,
                "coordinates": {kind: self.coordinates(kind)[:max_coordinates].tolist()
                                for kind in KINDS if counts[kind]},
                "criteria": self.criteria}


def _frames(value, name: str) -> np.ndarray:
    arr = as_array(value, name, ndim=(2, 3), dtype=None)
    return arr[None] if arr.ndim == 2 else arr


def _check_range(value, name: str, low: float, high: float) -> float:
    if not (isinstance(value, (int, float, np.number)) and low < value < high):
        raise ValueError(f"{name} must be a number in ({low:g}, {high:g}), got {value!r}")
    return float(value)


def _spread(values: np.ndarray) -> float:
    """Robust standard deviation: 1.4826 times the median absolute deviation."""
    return _MAD_TO_SIGMA * float(np.median(np.abs(values - np.median(values))))


def _saturated_share(frames: np.ndarray) -> np.ndarray | None:
    """Share of the frames at the dtype's largest value, per pixel; None for floats,
    whose largest value says nothing about the detector."""
    if not np.issubdtype(frames.dtype, np.integer):
        return None
    return np.mean(frames == np.iinfo(frames.dtype).max, axis=0)


def _row_residual(t: np.ndarray) -> np.ndarray:
    """``t`` minus, at each pixel, the median of its four row neighbours (two either
    side), in place; edges mirrored."""
    ncol = t.shape[-1]
    pad = np.pad(t, ((0, 0), (0, 0), (2, 2)), mode="reflect")
    a, b, c, d = (pad[..., k:k + ncol] for k in (0, 1, 3, 4))
    # the middle two of four values are the larger of the two pairs' minima and the
    # smaller of their maxima; no sums, which a dead pixel's huge value would swamp
    middle = np.maximum(np.minimum(a, b), np.minimum(c, d))
    middle += np.minimum(np.maximum(a, b), np.maximum(c, d))
    t -= middle / 2
    return t


def _data_statistics(stack: np.ndarray, dark: np.ndarray, response: np.ndarray,
                     normalized: bool, max_angles: int):
    """One pass over the data in blocks of detector rows: the share of frames reading 0
    and reading the dtype's largest value, and the median over angles of each pixel's
    residual against its row neighbours (None with too few angles)."""
    nproj, nslice, ncol = stack.shape
    zero = np.empty((nslice, ncol))
    saturated = np.empty((nslice, ncol)) if np.issubdtype(stack.dtype, np.integer) else None
    residual = np.empty((nslice, ncol), np.float32) if nproj >= _MIN_ANGLES else None
    # a fixed defect is in every projection: evenly spaced angles estimate its median
    # residual as well as all of them, at a bounded cost
    angles = np.unique(np.linspace(0, nproj - 1, min(nproj, max_angles)).round().astype(int))
    d = dark.astype(np.float32)
    # pixels without response are dead already; a tiny divisor keeps their values finite
    r = np.maximum(response, 1e-6).astype(np.float32)
    rows = max(1, _BLOCK // (nproj * ncol))
    for r0 in range(0, nslice, rows):
        r1 = min(r0 + rows, nslice)
        block = stack[:, r0:r1]
        zero[r0:r1] = np.mean(block == 0, axis=0)
        if saturated is not None:
            saturated[r0:r1] = np.mean(block == np.iinfo(stack.dtype).max, axis=0)
        if residual is None:
            continue
        t = stack[angles, r0:r1].astype(np.float32)
        if not normalized:
            t -= d[r0:r1]
            t /= r[r0:r1]
        residual[r0:r1] = np.median(_row_residual(t), axis=0)
    return zero, saturated, residual


def _from_fields(flats, darks, dead_fraction, hot_mads, hot_fraction, saturated_share):
    """The flat/dark criteria of :func:`find_defects`: the mean dark, the response, the
    (saturated, hot, dead) maps and the criteria applied."""
    f = flats.mean(axis=0, dtype=np.float64)
    d = darks.mean(axis=0, dtype=np.float64)
    response = f - d
    local = np.maximum(median_filter(response, size=5, mode="nearest"), 0)
    dead = (response <= 0) | (response < dead_fraction * local)
    excess = d - median_filter(d, size=5, mode="nearest")
    dark_spread = _spread(excess)
    hot = (excess > hot_mads * dark_spread) & (excess > hot_fraction * local)
    share = _saturated_share(flats)
    saturated = share > saturated_share if share is not None else np.zeros(d.shape, bool)
    criteria = {"dead_fraction": dead_fraction, "hot_mads": hot_mads,
                "hot_fraction": hot_fraction, "dark_spread": round(dark_spread, 6),
                "saturated_share": saturated_share}
    return d, response, (saturated, hot, dead), criteria


def _from_data(data, shape, d, response, normalized, max_angles, zero_share,
               saturated_share, outlier_mads, criteria):
    """The data criteria of :func:`find_defects`: the (zero, outlier, saturated) maps;
    ``criteria`` is updated with what was applied."""
    stack = as_array(data, "data", ndim=3, dtype=None)
    if stack.shape[1:] != shape:
        raise ValueError(f"data frames must have shape {shape} like flat and dark, got "
                         f"{stack.shape[1:]}")
    zeros, sat, residual = _data_statistics(stack, d, response, normalized, max_angles)
    zero = (zeros > zero_share) & (
        median_filter(zeros, size=5, mode="nearest") < _ZERO_NEIGHBOURS)
    saturated = sat > saturated_share if sat is not None else np.zeros(shape, bool)
    criteria |= {"zero_share": zero_share, "normalized": bool(normalized)}
    outlier = np.zeros(shape, bool)
    if residual is None:
        logger.info("find_defects: %d projections, fewer than %d: no outlier test (the "
                    "sample must move between projections)", len(stack), _MIN_ANGLES)
    else:
        spread = max(_spread(residual), _MIN_SPREAD)
        outlier = np.abs(residual - np.median(residual)) > outlier_mads * spread
        criteria |= {"outlier_mads": outlier_mads, "outlier_spread": float(f"{spread:.4g}"),
                     "angles": int(min(len(stack), max_angles))}
    return zero, outlier, saturated


def find_defects(flat, dark, data=None, *, normalized: bool = False,
                 dead_fraction: float = 0.2, hot_mads: float = 10.0,
                 hot_fraction: float = 0.01, saturated_share: float = 0.5,
                 zero_share: float = 0.5, outlier_mads: float = 10.0,
                 max_angles: int = 128) -> DefectMap:
    """Map the defective pixels of a detector from its flats, darks and data.

    Parameters
    ----------
    flat, dark : ndarray, shape (nframes, nslice, ncol) or (nslice, ncol)
        White and dark fields as recorded (integer counts keep their dtype, which tells
        saturation); several frames are averaged.
    data : ndarray, shape (nproj, nslice, ncol), optional
        The projections, raw counts or (``normalized=True``) transmissions. Without
        them only the flat/dark criteria apply.
    normalized : bool
        Whether ``data`` are flat/dark-corrected already. Raw counts are corrected
        block by block for the outlier test, so that a fixed pattern the flat corrects
        (a scratch, a gain difference) is not taken for a defect.
    dead_fraction : float
        A pixel responding (``flat - dark``) less than this share of the median of its
        5 x 5 neighbourhood is dead; so is any pixel with ``flat <= dark``.
    hot_mads, hot_fraction : float
        A pixel whose dark exceeds the median of its 5 x 5 neighbourhood by more than
        ``hot_mads`` robust standard deviations of that excess over the detector, and
        by more than ``hot_fraction`` of its neighbourhood's response, is hot.
    saturated_share : float
        A pixel at the dtype's largest value (65535 for uint16) in more than this share
        of the flat frames, or of the projections, is saturated (integer input only).
    zero_share : float
        A pixel reading 0 in more than this share of the projections, where its 5 x 5
        neighbourhood reads 0 in fewer than 10 % of them, is a zero-count pixel.
    outlier_mads : float
        A pixel whose median over angles of its residual against the median of its
        four row neighbours lies further than this many robust standard deviations
        from the detector's median is an outlier.
    max_angles : int
        Projections, evenly spaced, that the outlier test reads (it is skipped with
        fewer than 10).

    Returns
    -------
    DefectMap
        The defective pixels and the kind of each, with the criteria applied.

    Raises
    ------
    ValueError
        Frames of different shapes, or a threshold out of its range.

    Notes
    -----
    The criteria, their thresholds and what they cannot tell apart are in the
    module's notes.

    Example
    -------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> flat = rng.poisson(1e4, (4, 16, 16)).astype(np.uint16)
    >>> dark = rng.poisson(100, (4, 16, 16)).astype(np.uint16)
    >>> dark[:, 3, 4] += 3000; flat[:, 3, 4] += 3000          # a hot pixel
    >>> find_defects(flat, dark).coordinates("hot").tolist()
    [[3, 4]]
    """
    flats, darks = _frames(flat, "flat"), _frames(dark, "dark")
    shape = flats.shape[1:]
    if darks.shape[1:] != shape:
        raise ValueError(f"dark frames must have shape {shape} like the flat frames, got "
                         f"{darks.shape[1:]}")
    dead_fraction = _check_range(dead_fraction, "dead_fraction", 0, 1)
    hot_mads = _check_range(hot_mads, "hot_mads", 0, np.inf)
    hot_fraction = _check_range(hot_fraction, "hot_fraction", 0, np.inf)
    saturated_share = _check_range(saturated_share, "saturated_share", 0, 1)
    zero_share = _check_range(zero_share, "zero_share", 0, 1)
    outlier_mads = _check_range(outlier_mads, "outlier_mads", 0, np.inf)
    if not (isinstance(max_angles, (int, np.integer)) and max_angles >= _MIN_ANGLES):
        raise ValueError(f"max_angles must be an integer >= {_MIN_ANGLES}, got {max_angles!r}")

    d, response, (saturated, hot, dead), criteria = _from_fields(
        flats, darks, dead_fraction, hot_mads, hot_fraction, saturated_share)
    zero = outlier = np.zeros(shape, bool)
    if data is not None:
        zero, outlier, sat = _from_data(data, shape, d, response, normalized, max_angles,
                                        zero_share, saturated_share, outlier_mads, criteria)
        saturated |= sat
    reason = np.zeros(shape, np.uint8)
    for code, found in reversed(list(enumerate((saturated, hot, dead, zero, outlier), 1))):
        reason[found] = code
    return DefectMap(reason, criteria)


def _fill(stack: np.ndarray, mask: np.ndarray) -> None:
    """Replace, in place, the pixels ``mask`` marks in every projection of ``stack``
    by the median of the good pixels of their 3 x 3, else 5 x 5, else 7 x 7
    neighbourhood, else by the median of the projection's good pixels."""
    nproj, nslice, ncol = stack.shape
    todo = np.argwhere(mask)
    for radius in (1, 2, 3):
        if not len(todo):
            return
        dy, dx = np.mgrid[-radius:radius + 1, -radius:radius + 1].reshape(2, -1)
        centre = (dy == 0) & (dx == 0)
        rr = todo[:, :1] + dy[~centre]
        cc = todo[:, 1:] + dx[~centre]
        good = (rr >= 0) & (rr < nslice) & (cc >= 0) & (cc < ncol)
        good[good] = ~mask[rr[good], cc[good]]
        count = good.sum(axis=1)
        # good neighbours first, so that a pixel with k of them takes the first k columns
        order = np.argsort(~good, axis=1, kind="stable")
        rr = np.take_along_axis(rr, order, axis=1)
        cc = np.take_along_axis(cc, order, axis=1)
        # pixels with as many good neighbours are replaced together, in chunks that
        # bound the gathered values to one working block
        for k in np.unique(count[count > 0]):
            sel = np.flatnonzero(count == k)
            step = max(1, _BLOCK // (nproj * k))
            for s in range(0, len(sel), step):
                i = sel[s:s + step]
                values = stack[:, rr[i, :k], cc[i, :k]]
                stack[:, todo[i, 0], todo[i, 1]] = np.median(values, axis=2)
        todo = todo[count == 0]
    if len(todo):
        logger.warning("replace_defects: %d defective pixels have no good pixel within 3 "
                       "pixels: replaced by the median of the projection's good pixels",
                       len(todo))
        good = ~mask
        for p in stack:
            p[todo[:, 0], todo[:, 1]] = np.median(p[good])


def replace_defects(stack, mask, out: np.ndarray | None = None) -> np.ndarray:
    """Replace defective pixels by the median of their good neighbours, in every
    projection.

    Parameters
    ----------
    stack : ndarray, shape (nproj, nslice, ncol)
        Projections (counts, transmissions or line integrals).
    mask : ndarray of bool, shape (nslice, ncol), or DefectMap
        The defective pixels (True or nonzero), as :func:`find_defects` finds them.
    out : ndarray of float32, shape (nproj, nslice, ncol), optional
        Where to write the result, as NumPy's ``out=``; ``stack`` itself replaces in
        place, without a copy of a large stack.

    Returns
    -------
    ndarray, float32
        A new stack (or ``out``); ``stack`` is not modified unless it is ``out``.

    Raises
    ------
    ValueError
        A mask whose shape is not the projections', or one that marks every pixel.

    Notes
    -----
    A pixel takes the median of the good pixels among its 8 neighbours; with none, of
    its 5 x 5 neighbourhood, then 7 x 7; a pixel with no good pixel within 3 pixels takes
    the median of the projection's good pixels (logged). The median keeps edges: a
    defect beside an edge of the sample takes the value of the side most of its
    neighbours are on, not a blur of both.

    Example
    -------
    >>> import numpy as np
    >>> p = np.arange(25, dtype=np.float32).reshape(1, 5, 5)
    >>> p[0, 2, 2] = 1e6
    >>> mask = np.zeros((5, 5), bool); mask[2, 2] = True
    >>> float(replace_defects(p, mask)[0, 2, 2])
    12.0
    """
    arr = as_array(stack, "stack", ndim=3, dtype=np.float32)
    m = mask.mask if isinstance(mask, DefectMap) else as_array(
        mask, "mask", ndim=2, dtype=None).astype(bool)
    if m.shape != arr.shape[1:]:
        raise ValueError(f"mask must have the projections' frame shape {arr.shape[1:]}, got "
                         f"{m.shape}")
    if m.size and m.all():
        raise ValueError("mask marks every pixel defective: nothing to replace them from")
    if out is None:
        out = np.array(arr, dtype=np.float32, copy=True)
    elif not (isinstance(out, np.ndarray) and out.dtype == np.float32
              and out.shape == arr.shape):
        raise ValueError(f"out must be a float32 array of shape {arr.shape}, got "
                         f"{getattr(out, 'dtype', type(out).__name__)} "
                         f"{getattr(out, 'shape', '')}")
    elif out is not arr:
        out[...] = arr
    _fill(out, m)
    return out
