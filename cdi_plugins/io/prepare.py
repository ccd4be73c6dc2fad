"""From detector frames to a phasing-ready pattern: masks, centre, crop, binning.

:func:`prepare` runs the steps a CDI user does by hand on a measured pattern:

1. sum (or average) the frames (:func:`cdi_plugins.io.read_frames`), corrected for the
   detector as facility recipes for measured Bragg and forward CDI data do: the dark
   frame (the mean of the ``dark`` frames) subtracted from every frame, the result
   divided by the flat field (the mean of the ``flat`` frames, normalised to its mean
   over its usable pixels, so that counts keep their scale), and values of the combined
   frame below ``threshold`` set to 0 (``dark``, ``flat`` and ``threshold`` of
   :func:`prepare`; :func:`read_calibration` reads and checks the dark and flat frames);
2. mask what the files mark bad (the frames', the dark's and the flat's), pixels whose
   flat field is not positive and finite (they would divide to infinity), and what the
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
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from ..physics import friedel_mate
from .detector import Frames, read_frames

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


def fft_size(n: int, even: bool = True) -> int:
    """The largest size ``<= n`` whose prime factors are 2, 3, 5 and 7 (even if asked).

    Example
    -------
    >>> fft_size(517), fft_size(100), fft_size(97)
    (512, 100, 96)
    """
    for m in range(int(n), 1, -1):
        if even and m % 2:
            continue
        k = m
        for p in (2, 3, 5, 7):
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
    ring = np.ones((3, 3), bool)
    ring[1, 1] = False
    # a missing neighbour could hide the pixel's speckle: such pixels are never called hot
    brightest = ndimage.maximum_filter(np.where(invalid, np.inf, frame), footprint=ring,
                                       mode="nearest")
    out["hot"] = (frame > hot_ratio * (brightest + 1)) & ~invalid
    out["dead"] = _dark_islands(frame, invalid | out["gaps"], dead_level)
    return out


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
def _subpixel(c: np.ndarray, k: tuple[int, int]) -> tuple[float, float]:
    """Parabolic refinement of the peak ``k`` of ``c``."""
    out = []
    for ax in range(2):
        lo, hi = list(k), list(k)
        lo[ax] -= 1
        hi[ax] += 1
        if min(lo) < 0 or hi[ax] >= c.shape[ax]:
            out.append(float(k[ax]))
            continue
        a, b, d = c[tuple(lo)], c[k], c[tuple(hi)]
        den = a - 2 * b + d
        out.append(k[ax] + (0.5 * (a - d) / den if den < 0 else 0.0))
    return out[0], out[1]


def _friedel_centre(frame: np.ndarray, valid: np.ndarray, search: float) -> tuple[float, float]:
    """The point about which ``sqrt(I)`` is most symmetric: the peak of its masked
    self-convolution ``(A * A)(k) / (A^2 * w)(k)``, at ``k = 2 c``."""
    h, w = frame.shape
    a = np.sqrt(np.where(valid, frame, 0))
    shape = (2 * h, 2 * w)
    fa, fw, fa2 = (np.fft.rfft2(x, shape) for x in (a, valid.astype(float), a * a))
    conv = np.fft.irfft2(fa * fa, shape)
    norm = np.fft.irfft2(fa2 * fw, shape)
    score = conv / np.maximum(norm, 1e-12 * norm.max())
    # only centres within `search` of the array centre, with enough pairs to judge
    ky, kx = np.mgrid[0:2 * h, 0:2 * w]
    near = (np.abs(ky - h) <= 2 * search * h) & (np.abs(kx - w) <= 2 * search * w)
    pairs = np.fft.irfft2(fw * fw, shape)
    score = np.where(near & (pairs > 0.25 * pairs.max()), score, -np.inf)
    k = np.unravel_index(int(np.argmax(score)), score.shape)
    ky0, kx0 = _subpixel(np.where(np.isfinite(score), score, score[k] - 1), k)
    return ky0 / 2, kx0 / 2


def find_centre(intensity, mask=None, method: str = "friedel",
                search: float = 0.25) -> tuple[float, float]:
    """The zero frequency of a far-field pattern, ``(row, column)``, to sub-pixel.

    Parameters
    ----------
    intensity : array_like
        ``(H, W)`` pattern, zero frequency anywhere.
    mask : array_like of bool, optional
        True where pixels are missing.
    method : {"friedel", "com"}
        ``"friedel"``: the centre of the pattern's point symmetry ``I(c + q) = I(c - q)``
        (robust to a beamstop and gaps); ``"com"``: the intensity's centre of mass over
        measured pixels (fast, biased by an asymmetric mask).
    search : float
        Friedel centres are looked for within this fraction of the array of its centre.

    Returns
    -------
    tuple of float

    Example
    -------
    >>> yy, xx = np.mgrid[0:64, 0:64]
    >>> I = np.exp(-((yy - 30.3) ** 2 + (xx - 35.6) ** 2) / 20)
    >>> [round(v, 1) for v in find_centre(I)]
    [30.3, 35.6]
    """
    frame = np.asarray(intensity, dtype=np.float64)
    if frame.ndim != 2:
        raise ValueError(f"intensity must be 2D, got shape {frame.shape}")
    valid = np.ones(frame.shape, bool) if mask is None else ~np.asarray(mask, bool)
    valid &= np.isfinite(frame) & (frame >= 0)
    if method == "com":
        wgt = np.where(valid, frame, 0)
        yy, xx = np.indices(frame.shape)
        return float((wgt * yy).sum() / wgt.sum()), float((wgt * xx).sum() / wgt.sum())
    if method != "friedel":
        raise ValueError(f"method must be one of {CENTRE_METHODS}, got {method!r}")
    cy, cx = _friedel_centre(frame, valid, search)
    return float(cy), float(cx)


# -- crop, bin, fill -------------------------------------------------------------------
def _crop_box(shape, centre, size: int | None, binning: int) -> tuple[int, int, int]:
    """``(row0, col0, n)``: an ``n * binning`` square whose bin ``n//2`` holds the centre."""
    cy, cx = (int(round(c)) for c in centre)
    h, w = shape
    half = min(cy, h - 1 - cy, cx, w - 1 - cx) + 1
    largest = fft_size(max(2, 2 * half // binning - 2))
    n = largest if size is None else int(size)
    if n % 2 or n < 8:
        raise ValueError(f"size must be even and at least 8, got {n}")
    if n > largest:
        raise ValueError(f"size {n} (x binning {binning}) does not fit around the centre "
                         f"{tuple(round(c, 1) for c in centre)} of a {shape} frame: at most "
                         f"{largest}")
    return cy - (n // 2) * binning, cx - (n // 2) * binning, n


def bin_pattern(intensity: np.ndarray, mask: np.ndarray, binning: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Sum ``binning x binning`` blocks; a block with any missing pixel is missing."""
    if binning == 1:
        return intensity, mask
    h, w = intensity.shape
    shp = (h // binning, binning, w // binning, binning)
    summed = np.where(mask, 0, intensity).reshape(shp).sum(axis=(1, 3))
    return summed, mask.reshape(shp).any(axis=(1, 3))


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


# -- detector corrections --------------------------------------------------------------
@dataclass
class Calibration:
    """A dark or flat-field frame, as :func:`read_calibration` returns it.

    Attributes
    ----------
    frame : numpy.ndarray
        float64 ``(H, W)``: the mean of the frames read (0 where ``mask`` is True).
    mask : numpy.ndarray
        bool ``(H, W)``: pixels the calibration files mark bad (their NeXus or CXI mask,
        unsigned-integer maxima).
    sources : list of str
        The files read (``"<array>"`` for an array).
    shape : tuple of int
        ``(n_frames, H, W)`` as read.
    """

    frame: np.ndarray
    mask: np.ndarray
    sources: list
    shape: tuple

    def record(self) -> dict:
        """What was applied, for the ``/process`` record."""
        return {"sources": list(self.sources), "shape": list(self.shape),
                "mean": float(self.frame[~self.mask].mean()) if (~self.mask).any() else 0.0}


def _as_frames(value, name: str, dataset: str | None) -> Frames:
    """Frames from frames, an array ``(H, W)`` or ``(n, H, W)``, or files and folders."""
    if isinstance(value, Frames):
        return value
    if isinstance(value, np.ndarray) or np.ndim(value) >= 2:
        if np.iscomplexobj(value):
            raise TypeError(f"{name} must be real intensities, got complex values "
                            "(their imaginary part would be lost)")
        data = np.asarray(value, dtype=np.float32)
        return Frames(data.reshape(-1, *data.shape[-2:]), np.zeros(data.shape[-2:], bool),
                      ["<array>"])
    try:
        return read_frames(value, dataset=dataset)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{name}: {exc}") from None


def read_calibration(source, name: str, shape: tuple[int, int],
                     dataset: str | None = None) -> Calibration | None:
    """Read dark or flat-field frames and average them, checked against the frames' shape.

    Parameters
    ----------
    source : Frames, array_like, str, PathLike, list of them, or None
        Frames ``(H, W)`` or ``(n, H, W)``, or files and folders of them read as the
        detector frames are (:func:`cdi_plugins.io.read_frames`). None: no correction.
    name : str
        The argument it came from (``"dark"``, ``"flat"``), for the messages.
    shape : tuple of int
        ``(H, W)`` of the frames to correct.
    dataset : str, optional
        The dataset of an HDF5 file.

    Returns
    -------
    Calibration or None

    Raises
    ------
    FileNotFoundError
        A file or folder that does not exist (named with ``name``).
    ValueError
        Frames of another shape than ``shape`` (both named), NaN values where the files
        do not mark the pixel bad, infinite values in a dark frame.

    Example
    -------
    >>> dark = read_calibration(np.full((3, 4, 5), 2.0), "dark", (4, 5))
    >>> dark.shape, float(dark.frame.mean())
    ((3, 4, 5), 2.0)
    """
    if source is None:
        return None
    frames = _as_frames(source, name, dataset)
    where = ", ".join(frames.sources)
    if frames.data.shape[-2:] != tuple(shape):
        raise ValueError(f"{name} ({where}) has frames of shape {frames.data.shape[-2:]}, "
                         f"the frames to correct {tuple(shape)}: they must be the same "
                         f"detector area")
    data, mask = frames.data, frames.mask
    nan = np.isnan(data).any(axis=0) & ~mask
    if nan.any():
        first = tuple(int(i) for i in np.argwhere(nan)[0])
        raise ValueError(f"{name} ({where}) holds NaN at {int(nan.sum())} pixel(s), the first "
                         f"at {first}: a {name} frame must be a measurement there")
    if name == "dark" and (np.isinf(data).any(axis=0) & ~mask).any():
        raise ValueError(f"{name} ({where}) holds infinite values: a dark frame must be finite")
    frame = np.where(mask, 0, data.astype(np.float64)).mean(axis=0)
    logger.info("%s: mean of %d frame(s) of %s from %s", name, len(data), data.shape[-2:],
                where)
    return Calibration(frame=frame, mask=mask.copy(), sources=list(frames.sources),
                       shape=tuple(int(n) for n in data.shape))


def _flat_gain(flat: Calibration) -> tuple[np.ndarray, np.ndarray, float]:
    """The flat field normalised to its mean over usable pixels, the pixels it cannot
    correct (not positive and finite, or marked bad by its files), and that mean."""
    bad = flat.mask | ~np.isfinite(flat.frame) | (flat.frame <= 0)
    if bad.all():
        raise ValueError(f"flat ({', '.join(flat.sources)}) has no positive finite pixel")
    mean = float(flat.frame[~bad].mean())
    return np.where(bad, 1.0, flat.frame / mean), bad, mean


def _check_threshold(threshold) -> float:
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        value = np.nan
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"threshold must be a finite number >= 0, got {threshold!r}")
    return value


def _combine(frames: Frames, reduce: str, mask, saturation, hot_ratio, dead_level,
             dark: Calibration | None = None, flat: Calibration | None = None,
             threshold: float = 0.0):
    """The corrected, summed (or mean) frame, its mask, the count of pixels per reason,
    and the record of the corrections."""
    if reduce not in ("sum", "mean"):
        raise ValueError(f"reduce must be 'sum' or 'mean', got {reduce!r}")
    reasons = {"file": frames.mask.copy()}
    if mask is not None:
        extra = np.asarray(mask, bool)
        if extra.shape != frames.data.shape[-2:]:
            raise ValueError(f"mask must have the frames' shape {frames.data.shape[-2:]}, "
                             f"got {extra.shape}")
        reasons["given"] = extra
    # judged on the raw counts: the zeros a dark or a threshold leaves are measurements
    reasons.update(data_mask(frames.data, saturation, hot_ratio, dead_level))
    clean = np.where(np.isfinite(frames.data) & (frames.data >= 0), frames.data, 0)
    summed = clean.sum(axis=0)
    record: dict = {"dark": None, "flat": None, "threshold": threshold}
    if dark is not None:
        # every frame had the dark level added: the sum of n frames holds it n times
        summed = summed - len(frames.data) * dark.frame
        reasons["dark"] = dark.mask
        record["dark"] = dark.record()
    if flat is not None:
        gain, flat_bad, mean = _flat_gain(flat)
        summed = np.where(flat_bad, 0, summed / gain)
        reasons["flat"] = flat_bad
        record["flat"] = {**flat.record(), "mean": mean, "masked": int(flat_bad.sum())}
    reduced = summed if reduce == "sum" else summed / len(frames.data)
    below = reduced < threshold
    bad = np.logical_or.reduce(list(reasons.values()))
    record["thresholded"] = int((below & (reduced != 0) & ~bad).sum())
    frame = np.where(bad | below, 0, reduced)
    return frame, bad, {k: int(v.sum()) for k, v in reasons.items()}, record


def _log_corrections(applied: dict) -> None:
    done = []
    if applied["dark"]:
        done.append(f"dark subtracted (mean {applied['dark']['mean']:.4g})")
    if applied["flat"]:
        done.append(f"flat divided (mean {applied['flat']['mean']:.4g}, "
                    f"{applied['flat']['masked']} pixel(s) masked)")
    if applied["threshold"] or applied["thresholded"]:
        done.append(f"{applied['thresholded']} measured pixel(s) below {applied['threshold']:g} "
                    f"set to 0")
    if done:
        logger.info("detector corrections: %s", "; ".join(done))


def prepare(frames, mask=None, centre="friedel", size: int | None = None, binning: int = 1,
            reduce: str = "sum", saturation: float | None = None, hot_ratio: float = 20.0,
            dead_level: float = 50.0, fill_mates: bool = False,
            dataset: str | None = None, dark=None, flat=None,
            threshold: float = 0.0) -> PreparedPattern:
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
        its mean; pixels where it is not positive and finite are masked.
    threshold : float
        After the corrections, values of the combined frame below it are set to 0
        (default 0: only the negative values a dark subtraction leaves).

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
    frames = _as_frames(frames, "frames", dataset)
    if int(binning) < 1:
        raise ValueError(f"binning must be a positive integer, got {binning}")
    binning = int(binning)
    threshold = _check_threshold(threshold)
    shape = frames.data.shape[-2:]
    dark = read_calibration(dark, "dark", shape, dataset)
    flat = read_calibration(flat, "flat", shape, dataset)
    frame, bad, counts, applied = _combine(frames, reduce, mask, saturation, hot_ratio,
                                           dead_level, dark, flat, threshold)
    _log_corrections(applied)
    c = (tuple(float(v) for v in centre) if not isinstance(centre, str)
         else find_centre(frame, bad, method=centre))
    y0, x0, n = _crop_box(frame.shape, c, size, binning)
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
