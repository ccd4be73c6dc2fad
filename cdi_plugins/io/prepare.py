"""From detector frames to a phasing-ready pattern: masks, centre, crop, binning.

:func:`prepare` runs the steps a CDI user does by hand on a measured pattern:

1. sum (or average) the frames (:func:`cdi_plugins.io.read_frames`), corrected for the
   detector as facility recipes for measured Bragg and forward CDI data do: the dark
   frame (the mean of the ``dark`` frames) subtracted from every frame, the result
   divided by the flat field (the mean of the ``flat`` frames, normalised to its mean
   over its usable pixels, so that counts keep their scale), and values of the combined
   frame below ``threshold`` set to 0 (``dark``, ``flat`` and ``threshold`` of
   :func:`prepare`; :mod:`cdi_plugins.io.corrections` reads, checks and applies the
   dark and flat frames);
2. mask what the files mark bad (the frames', the dark's and the flat's), pixels whose
   flat field is not positive and finite or below 1 % of its median (they would divide
   to infinity or amplify a hundredfold), and what the
   raw frames show to be bad: non-finite or negative values, pixels at or above
   ``saturation`` in any frame, detector gaps (rows or columns that are zero along
   their whole length between lit neighbours), hot pixels (far above the median of
   their neighbourhood) and dead ones (zero in every frame among bright neighbours).
   Measured zeros elsewhere are photon counts of zero, kept as measurements, and so are
   the zeros the dark subtraction and the threshold leave;
3. find the zero frequency (:func:`find_centre`): the Friedel centre (the point about
   which the pattern is most symmetric, from the masked self-convolution) or the centre
   of mass, to sub-pixel precision;
4. crop around it to an even, FFT-friendly size (factors 2, 3, 5, 7) and bin ``b x b``
   (a binned pixel is missing when any of its pixels is), so that the zero frequency
   lands on index ``(n//2, n//2)``;
5. optionally fill missing pixels from their measured Friedel mates
   (``I(q) = I(-q)`` for a real object).

:func:`find_centre`, :func:`crop_box`, :func:`bin_pattern` and :func:`hot_pixels` take
2D patterns and 3D volumes alike: :func:`cdi_plugins.io.prepare_3d` builds the 3D pattern
of a rocking-curve scan with them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from ..physics import friedel_mate
from .corrections import (
    Calibration,
    apply_threshold,
    correct_frames,
    log_corrections,
    mask_in_roi,
    read_inputs,
)
from .detector import Frames

logger = logging.getLogger(__name__)

CENTRE_METHODS = ("friedel", "com")


@dataclass
class PreparedPattern:
    """What :func:`prepare` returns.

    Attributes
    ----------
    intensity : numpy.ndarray
        float32 ``(n, n)`` (or ``(h, w)``), zero frequency at ``(n//2, n//2)``.
    mask : numpy.ndarray
        bool, True = missing.
    centre : tuple of float
        The zero frequency found, ``(row, column)`` in pixels of the input frames.
    crop : tuple of int
        ``(row, column)`` of the first input pixel kept, and the binning.
    counts : dict
        Pixels of the input frame masked for each reason.
    raw : numpy.ndarray
        The summed input frame ``(H, W)`` (for the report).
    raw_mask : numpy.ndarray
        Its mask.
    parameters : dict
        The settings used (for provenance).
    """

    intensity: np.ndarray
    mask: np.ndarray
    centre: tuple
    crop: tuple
    counts: dict
    raw: np.ndarray
    raw_mask: np.ndarray
    parameters: dict = field(default_factory=dict)


#: the prime factors of the sizes :func:`fft_size` picks by default
FFT_PRIMES = (2, 3, 5, 7)


def fft_size(n: int, even: bool = True, primes: tuple[int, ...] = FFT_PRIMES) -> int:
    """The largest size ``<= n`` whose prime factors are all in ``primes`` (even if asked).

    Example
    -------
    >>> fft_size(517), fft_size(100), fft_size(97), fft_size(56, primes=(2, 3, 5))
    (512, 100, 96, 54)
    """
    for m in range(int(n), 1, -1):
        if even and m % 2:
            continue
        k = m
        for p in primes:
            while k % p == 0:
                k //= p
        if k == 1:
            return m
    raise ValueError(f"no FFT-friendly size up to {n}")


# -- masks from the data -----------------------------------------------------------------
def _gap_lines(frame: np.ndarray, bad: np.ndarray, axis: int) -> np.ndarray:
    """Rows (axis=1) or columns (axis=0) that are zero along their whole length while the
    lines around them are lit: detector gaps."""
    zero = ((frame == 0) | bad).all(axis=axis)
    mean = np.where(bad, 0, frame).mean(axis=axis)
    lit = ndimage.maximum_filter1d(np.where(zero, 0, mean), 7) > 0.5
    line = zero & lit
    return np.broadcast_to(line[None, :] if axis == 0 else line[:, None], frame.shape)


def data_mask(frames: np.ndarray, saturation: float | None = None,
              hot_ratio: float = 20.0, dead_level: float = 50.0) -> dict[str, np.ndarray]:
    """Bad pixels the data show, by reason: ``invalid``, ``saturated``, ``gaps``, ``hot``,
    ``dead`` (each bool ``(H, W)``).

    A pixel is hot when its sum exceeds ``hot_ratio * (brightest of its 8 neighbours + 1)``
    (none of them missing). A connected patch of zeros is dead (a dead pixel, a beamstop's
    shadow) when the pixels around it all hold ``dead_level`` or more (a patch of fewer
    than 50 pixels) or do on average (a larger one): photon counting does not make holes
    in bright regions. Zeros among dark pixels are
    measurements and stay.
    """
    invalid = (~np.isfinite(frames) | (frames < 0)).any(axis=0)
    frame = np.where(invalid, 0, np.nan_to_num(frames, nan=0, posinf=0)).sum(axis=0)
    out = {"invalid": invalid}
    out["saturated"] = ((frames >= saturation).any(axis=0) if saturation is not None
                        else np.zeros_like(invalid))
    out["gaps"] = _gap_lines(frame, invalid, 0) | _gap_lines(frame, invalid, 1)
    out["hot"] = hot_pixels(frame, invalid, hot_ratio)
    out["dead"] = _dark_islands(frame, invalid | out["gaps"], dead_level)
    return out


def hot_pixels(image: np.ndarray, invalid: np.ndarray, ratio: float = 20.0) -> np.ndarray:
    """Pixels (or voxels, in 3D) above ``ratio * (brightest of their neighbours + 1)``:
    8 neighbours in 2D, 26 in 3D. Photon counts of a sampled pattern vary smoothly from
    one pixel to the next (at least two pixels per speckle); a detector's hot pixel or a
    cosmic ray's hit in one frame does not. A pixel with a missing (``invalid``)
    neighbour is never called hot: that neighbour could hide the pixel's speckle.

    Example
    -------
    >>> im = np.ones((5, 5)); im[2, 2] = 100
    >>> np.argwhere(hot_pixels(im, np.zeros((5, 5), bool))).tolist()
    [[2, 2]]
    """
    ring = np.ones((3,) * image.ndim, bool)
    ring[(1,) * image.ndim] = False
    brightest = ndimage.maximum_filter(np.where(invalid, np.inf, image), footprint=ring,
                                       mode="nearest")
    return (image > ratio * (brightest + 1)) & ~invalid


def _dark_islands(frame: np.ndarray, bad: np.ndarray, level: float,
                  small: int = 50) -> np.ndarray:
    """Connected zeros whose surrounding pixels hold ``level`` or more: every one of them
    around a patch of fewer than ``small`` pixels (one zero among counts of ``level`` is
    a dead pixel, not a fluctuation), on average around larger ones (a beamstop)."""
    labels, n = ndimage.label((frame == 0) & ~bad)
    if n == 0:
        return np.zeros(frame.shape, bool)
    grown = ndimage.grey_dilation(labels, size=3)
    ring = (labels == 0) & (grown > 0) & ~bad
    idx = np.arange(1, n + 1)
    total = ndimage.sum(frame, grown * ring, idx)
    count = ndimage.sum(ring, grown * ring, idx)
    darkest = ndimage.minimum(frame, grown * ring, idx)
    size = ndimage.sum(np.ones_like(frame), labels, idx)
    lit = np.where(size < small, darkest >= level, total >= level * np.maximum(count, 1))
    lit = np.concatenate([[False], lit & (count > 0)])
    return lit[labels] & (labels > 0)


# -- the centre ------------------------------------------------------------------------
def _subpixel(c: np.ndarray, k: tuple[int, ...]) -> tuple[float, ...]:
    """Parabolic refinement of the peak ``k`` of ``c``, along each axis."""
    out = []
    for ax in range(c.ndim):
        lo, hi = list(k), list(k)
        lo[ax] -= 1
        hi[ax] += 1
        if min(lo) < 0 or hi[ax] >= c.shape[ax]:
            out.append(float(k[ax]))
            continue
        a, b, d = c[tuple(lo)], c[k], c[tuple(hi)]
        den = a - 2 * b + d
        out.append(k[ax] + (0.5 * (a - d) / den if den < 0 else 0.0))
    return tuple(out)


def _friedel_centre(frame: np.ndarray, valid: np.ndarray, search: float) -> tuple[float, ...]:
    """The point about which ``sqrt(I)`` is most symmetric: the peak of its masked
    self-convolution ``(A * A)(k) / (A^2 * w)(k)``, at ``k = 2 c`` (2D or 3D)."""
    axes = tuple(range(frame.ndim))
    a = np.sqrt(np.where(valid, frame, 0))
    shape = tuple(2 * n for n in frame.shape)
    fa, fw, fa2 = (np.fft.rfftn(x, shape, axes) for x in (a, valid.astype(float), a * a))
    conv = np.fft.irfftn(fa * fa, shape, axes)
    norm = np.fft.irfftn(fa2 * fw, shape, axes)
    score = conv / np.maximum(norm, 1e-12 * norm.max())
    # only centres within `search` of the array centre, with enough pairs to judge
    near = np.ones(shape, bool)
    for ax, n in enumerate(frame.shape):
        along = np.abs(np.arange(2 * n) - n) <= 2 * search * n
        near &= along.reshape([-1 if i == ax else 1 for i in axes])
    pairs = np.fft.irfftn(fw * fw, shape, axes)
    score = np.where(near & (pairs > 0.25 * pairs.max()), score, -np.inf)
    k = np.unravel_index(int(np.argmax(score)), score.shape)
    return tuple(v / 2 for v in _subpixel(np.where(np.isfinite(score), score, score[k] - 1), k))


def find_centre(intensity, mask=None, method: str = "friedel",
                search: float = 0.25) -> tuple[float, ...]:
    """The zero frequency of a far-field pattern, ``(row, column)``, or the centre of a
    3D pattern, ``(frame, row, column)``, to sub-pixel.

    Parameters
    ----------
    intensity : array_like
        ``(H, W)`` pattern or ``(n, H, W)`` volume (a rocking-curve scan), centre
        anywhere.
    mask : array_like of bool, optional
        True where pixels (voxels) are missing.
    method : {"friedel", "com"}
        ``"friedel"``: the centre of the pattern's point symmetry ``I(c + q) = I(c - q)``,
        the peak of the masked self-convolution of ``sqrt(I)`` (robust to a beamstop and
        gaps); ``"com"``: the intensity's centre of mass over measured pixels (fast,
        biased by an asymmetric mask).
    search : float
        Friedel centres are looked for within this fraction of the array of its centre,
        along each axis.

    Returns
    -------
    tuple of float

    Notes
    -----
    Friedel's law holds for the pattern of a real object (forward CDI of a weak
    scatterer); the Bragg peak of a strained crystal is not centrosymmetric (its object
    is complex), so that for Bragg scans the centre of mass is the estimate to use: it is
    where the intensity is, and an offset between it and the exact reciprocal-lattice
    point only adds a linear phase ramp to the phased object, which is removed after
    phasing. Both estimates are biased by missing data that the other side of the
    pattern does not mirror (``"com"`` more than ``"friedel"``); give the centre by hand
    when the pattern is cut by the edge of the detector or of the scan. The Friedel
    estimate convolves arrays of twice the input's size along each axis: about 600 bytes
    per voxel of a volume.

    Example
    -------
    >>> yy, xx = np.mgrid[0:64, 0:64]
    >>> I = np.exp(-((yy - 30.3) ** 2 + (xx - 35.6) ** 2) / 20)
    >>> [round(v, 1) for v in find_centre(I)]
    [30.3, 35.6]
    >>> zz, yy, xx = np.mgrid[0:16, 0:24, 0:24]
    >>> V = np.exp(-((zz - 7.2) ** 2 + (yy - 12.5) ** 2 + (xx - 11) ** 2) / 8)
    >>> [round(v, 1) for v in find_centre(V, method="com")]
    [7.2, 12.5, 11.0]
    """
    frame = np.asarray(intensity, dtype=np.float64)
    if frame.ndim not in (2, 3):
        raise ValueError(f"intensity must be 2D (H, W) or 3D (n, H, W), got shape "
                         f"{frame.shape}")
    valid = np.ones(frame.shape, bool) if mask is None else ~np.asarray(mask, bool)
    if valid.shape != frame.shape:
        raise ValueError(f"mask must have the intensity's shape {frame.shape}, got "
                         f"{valid.shape}")
    valid &= np.isfinite(frame) & (frame >= 0)
    if method == "com":
        wgt = np.where(valid, frame, 0)
        total = wgt.sum()
        if not total > 0:
            raise ValueError("intensity holds no positive measured value: no centre of mass")
        return tuple(float((wgt * idx).sum() / total) for idx in np.indices(frame.shape))
    if method != "friedel":
        raise ValueError(f"method must be one of {CENTRE_METHODS}, got {method!r}")
    return tuple(float(v) for v in _friedel_centre(frame, valid, search))


# -- crop, bin, fill -------------------------------------------------------------------
def _per_axis(value, ndim: int, name: str) -> tuple[int, ...]:
    """An int for every axis, or one per axis, as positive ints."""
    values = (value,) * ndim if np.ndim(value) == 0 else tuple(value)
    try:
        ints = tuple(int(v) for v in values)
    except (TypeError, ValueError):
        ints = ()
    if len(ints) != ndim or ints != tuple(values) or min(ints) < 1:
        many = f" or {ndim} of them" if ndim > 1 else ""
        raise ValueError(f"{name} must be a positive integer{many}, got {value!r}")
    return ints


def crop_box(shape: tuple[int, ...], centre, size=None, binning=1, *,
             primes: tuple[int, ...] = FFT_PRIMES,
             square: bool = True) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Where to crop an array so that its ``centre`` lands on bin ``n // 2`` of each axis.

    Parameters
    ----------
    shape : tuple of int
        The array's shape (2D or 3D).
    centre : sequence of float
        The centre, one value per axis (rounded to the nearest pixel).
    size : int or sequence of int, optional
        Sizes after binning, even, at least 8; default (None, or a None entry) the
        largest even size whose prime factors are in ``primes`` that fits around the
        centre along each axis.
    binning : int or sequence of int
        Pixels summed into one along each axis.
    primes : tuple of int
        The prime factors allowed in a default size.
    square : bool
        Give every axis the smallest of the default sizes (2D patterns).

    Returns
    -------
    origin : tuple of int
        The first input pixel kept along each axis.
    sizes : tuple of int
        The sizes after binning; the crop spans ``sizes * binning`` input pixels.

    Raises
    ------
    ValueError
        A size that is odd, below 8 or does not fit around the centre (the largest that
        does is named).

    Example
    -------
    >>> crop_box((40, 100, 100), (20, 50, 50), primes=(2, 3, 5), square=False)
    ((2, 2, 2), (36, 96, 96))
    """
    ndim = len(shape)
    bins = _per_axis(binning, ndim, "binning")
    c = [int(round(v)) for v in centre]
    half = [min(ci, n - 1 - ci) + 1 for ci, n in zip(c, shape, strict=True)]
    largest = [fft_size(max(2, 2 * h // b - 2), primes=primes)
               for h, b in zip(half, bins, strict=True)]
    if square:
        largest = [min(largest)] * ndim
    given = [size] * ndim if size is None or np.ndim(size) == 0 else list(size)
    if len(given) != ndim:
        raise ValueError(f"size must be a positive integer or {ndim} of them, got {size!r}")
    sizes = tuple(top if s is None else _per_axis(s, 1, "size")[0]
                  for s, top in zip(given, largest, strict=True))
    where = f"the centre {tuple(round(v, 1) for v in centre)} of a {tuple(shape)} array"
    for ax, (n, top, b, s) in enumerate(zip(sizes, largest, bins, given, strict=True)):
        axis = f" along axis {ax}" if ndim > 2 else ""
        if s is None and n < 8:
            raise ValueError(f"{where} is too close to its edge{axis}: less than 8 pixels "
                             f"(x binning {b}) fit around it; give the centre by hand")
        if n % 2 or n < 8:
            raise ValueError(f"size must be even and at least 8, got {n}{axis}")
        if n > top:
            raise ValueError(f"size {n} (x binning {b}){axis} does not fit around {where}: "
                             f"at most {top}")
    origin = tuple(ci - (n // 2) * b for ci, n, b in zip(c, sizes, bins, strict=True))
    return origin, sizes


def bin_pattern(intensity: np.ndarray, mask: np.ndarray, binning
                ) -> tuple[np.ndarray, np.ndarray]:
    """Sum ``binning`` pixels along each axis (an int for all, or one per axis); a bin
    with any missing pixel is missing. Each axis must be a multiple of its binning."""
    bins = _per_axis(binning, intensity.ndim, "binning")
    if all(b == 1 for b in bins):
        return intensity, mask
    shp = [v for n, b in zip(intensity.shape, bins, strict=True) for v in (n // b, b)]
    inner = tuple(range(1, 2 * intensity.ndim, 2))
    summed = np.where(mask, 0, intensity).reshape(shp).sum(axis=inner)
    return summed, mask.reshape(shp).any(axis=inner)


def fill_friedel(intensity: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Missing pixels take the value of their measured Friedel mate ``-q`` (about index
    ``(n//2, n//2)``); the first row and column, which have no mate, stay as they are."""
    out, m = intensity.copy(), mask.copy()
    mate_i, mate_m = friedel_mate(intensity), friedel_mate(mask)
    take = m & ~mate_m
    take[0, :] = take[:, 0] = False
    out[take] = mate_i[take]
    m[take] = False
    return out, m


def frame_masks(frames: Frames, mask=None, volume: bool = False) -> dict[str, np.ndarray]:
    """The bad pixels the files mark (``"file"``) and those given by hand (``"given"``).

    ``mask`` (True = bad) has the frames' shape ``(H, W)``, or with ``volume`` the scan's
    ``(n, H, W)`` too (voxels of single frames).
    """
    reasons = {"file": frames.mask.copy()}
    if mask is not None:
        extra = np.asarray(mask, bool)
        shapes = [frames.data.shape[-2:]] + ([frames.data.shape] if volume else [])
        if extra.shape not in shapes:
            raise ValueError(f"mask must have the frames' shape "
                             f"{' or '.join(str(s) for s in shapes)}, got {extra.shape}")
        reasons["given"] = extra
    return reasons


def _combine(frames: Frames, reduce: str, mask, saturation, hot_ratio, dead_level,
             dark: Calibration | None = None, flat: Calibration | None = None,
             threshold: float = 0.0):
    """The corrected, summed (or mean) frame, its mask, the count of pixels per reason,
    and the record of the corrections."""
    if reduce not in ("sum", "mean"):
        raise ValueError(f"reduce must be 'sum' or 'mean', got {reduce!r}")
    reasons = frame_masks(frames, mask)
    # judged on the raw counts: the zeros a dark or a threshold leaves are measurements
    reasons.update(data_mask(frames.data, saturation, hot_ratio, dead_level))
    clean = np.where(np.isfinite(frames.data) & (frames.data >= 0), frames.data, 0)
    # every frame had the dark level added: the sum of n frames holds it n times
    summed, masks, record = correct_frames(clean.sum(axis=0), dark, flat,
                                           n_frames=len(frames.data))
    reasons.update(masks)
    record["threshold"] = threshold
    reduced = summed if reduce == "sum" else summed / len(frames.data)
    bad = np.logical_or.reduce(list(reasons.values()))
    frame, record["thresholded"] = apply_threshold(reduced, bad, threshold)
    return frame, bad, {k: int(v.sum()) for k, v in reasons.items()}, record


def prepare(frames, mask=None, centre="friedel", size: int | None = None, binning: int = 1,
            reduce: str = "sum", saturation: float | None = None, hot_ratio: float = 20.0,
            dead_level: float = 50.0, fill_mates: bool = False,
            dataset: str | None = None, dark=None, flat=None,
            threshold: float = 0.0, roi=None) -> PreparedPattern:
    """Detector frames to a centred, masked, cropped and binned pattern (module docstring).

    With ``dark``, ``flat`` and ``threshold`` the combined frame is

        I = sum_k (F_k - D) / (G / <G>),   then I = 0 where I < threshold

    (divided by the number of frames for ``reduce="mean"``), with ``F_k`` the frames,
    ``D`` the mean dark frame, ``G`` the mean flat field and ``<G>`` its mean over the
    pixels where it is positive and finite; the other pixels are masked (reason
    ``"flat"``), as are those the dark or flat files mark bad. The dark frames are
    assumed taken with the frames' exposure. The rules of :func:`data_mask` judge the
    raw frames: the zeros the corrections leave are measurements, not gaps or dead
    pixels.

    Parameters
    ----------
    frames : Frames, array_like, str or list of paths
        Frames ``(H, W)`` or ``(n, H, W)``, or detector files (:func:`read_frames`).
    mask : array_like of bool, optional
        Extra bad pixels ``(H, W)`` (e.g. a beamstop drawn by hand), True = bad.
    centre : {"friedel", "com"} or (float, float)
        How to find the zero frequency (:func:`find_centre`), or where it is.
    size : int, optional
        Output size (even) after binning; default the largest FFT-friendly size that fits
        around the centre.
    binning : int
        Sum ``binning x binning`` pixels into one.
    reduce : {"sum", "mean"}
        How frames combine (a sum keeps photon counts).
    saturation : float, optional
        Pixels at or above it in any frame are masked.
    hot_ratio, dead_level : float
        Hot- and dead-pixel rules (:func:`data_mask`).
    fill_mates : bool
        Fill missing pixels from their measured Friedel mates (:func:`fill_friedel`).
    dataset : str, optional
        The dataset of an HDF5 file (the frames', the dark's and the flat's).
    dark : array_like, str, PathLike or list of them, optional
        Dark frames ``(H, W)`` or ``(n, H, W)``, or files or folders of them (read as the
        frames are): their mean is subtracted from every frame.
    flat : array_like, str, PathLike or list of them, optional
        Flat-field frames, likewise: the frames are divided by their mean normalised to
        its mean; pixels where it is not positive and finite, or below 1 % of its
        median, are masked.
    threshold : float
        After the corrections, values of the combined frame below it are set to 0
        (default 0: only the negative values a dark subtraction leaves).
    roi : (int, int, int, int), optional
        ``(row0, row1, col0, col1)``, the frames' region of the detector: a dark, flat or
        ``mask`` of the whole detector is cut to it.

    Returns
    -------
    PreparedPattern
        ``parameters`` records ``dark`` and ``flat`` (their files, the shape read, the
        mean level, and for the flat the pixels it masked), ``threshold`` and
        ``thresholded`` (measured non-zero values it set to 0).

    Raises
    ------
    FileNotFoundError
        A frame, dark or flat file that does not exist.
    ValueError
        A ``mask``, ``dark`` or ``flat`` of another shape than the frames (naming both),
        NaN in a dark or flat frame, a negative ``threshold``, a ``size`` that does not
        fit.

    Example
    -------
    >>> yy, xx = np.mgrid[0:70, 0:80]
    >>> I = 1e3 * np.exp(-((yy - 33) ** 2 + (xx - 41) ** 2) / 30)
    >>> p = prepare(I)
    >>> p.intensity.shape, [round(c) for c in p.centre]
    ((64, 64), [33, 41])
    >>> q = prepare(I + 7.0, dark=np.full((70, 80), 7.0), flat=np.ones((70, 80)),
    ...             threshold=1.0)
    >>> bool(np.allclose(q.intensity, np.where(p.intensity < 1, 0, p.intensity)))
    True
    """
    frames, dark, flat, threshold = read_inputs(frames, dark, flat, threshold, dataset, roi)
    mask = mask_in_roi(mask, roi, frames.data.shape[-2:])
    binning = _per_axis(binning, 1, "binning")[0]
    frame, bad, counts, applied = _combine(frames, reduce, mask, saturation, hot_ratio,
                                           dead_level, dark, flat, threshold)
    log_corrections(applied)
    c = (tuple(float(v) for v in centre) if not isinstance(centre, str)
         else find_centre(frame, bad, method=centre))
    (y0, x0), (n, _) = crop_box(frame.shape, c, size, binning)
    sl = (slice(y0, y0 + n * binning), slice(x0, x0 + n * binning))
    intensity, m = bin_pattern(frame[sl], bad[sl], binning)
    if fill_mates:
        intensity, m = fill_friedel(intensity, m)
    logger.info("prepared %s -> %s pattern: centre (%.2f, %.2f), binning %d, %d missing "
                "(%s)", frame.shape, intensity.shape, c[0], c[1], binning, int(m.sum()),
                ", ".join(f"{k} {v}" for k, v in counts.items() if v))
    return PreparedPattern(
        intensity=intensity.astype(np.float32), mask=m, centre=c, crop=(y0, x0, binning),
        counts=counts, raw=frame, raw_mask=bad,
        parameters={"sources": frames.sources, "n_frames": len(frames.data),
                    "reduce": reduce, "centre": list(c), "crop_origin": [y0, x0],
                    "binning": binning, "size": n, "saturation": saturation,
                    "hot_ratio": hot_ratio, "dead_level": dead_level,
                    "fill_friedel": fill_mates, **applied, "masked": counts})
