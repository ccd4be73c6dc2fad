"""Batched iterative phase retrieval: many independent runs as one tensor.

:func:`phase_retrieval` is the host loop: it validates the inputs, builds the
:class:`~cdi_plugins.constraints.Constraints`, draws reproducible random starts, runs a
:class:`~cdi_plugins.algorithms.Schedule` of registered algorithms on all runs at once
(CPU or CUDA), applies shrink-wrap, records chi^2 per iteration and run, and returns
NumPy arrays.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import ndimage

from tomopy_dlalign.common.device import resolve_device
from tomopy_dlalign.common.progress import progress
from tomopy_dlalign.common.validation import as_array

from .algorithms import as_schedule
from .constraints import CONSTRAINTS, Constraints
from .shrinkwrap import ShrinkWrap

logger = logging.getLogger(__name__)


@dataclass
class PhasingResult:
    """What :func:`phase_retrieval` returns.

    Attributes
    ----------
    objects : numpy.ndarray
        complex64 ``(n_runs, H, W)``, centred real-space reconstructions (support and
        real-space constraint applied).
    supports : numpy.ndarray
        bool ``(n_runs, H, W)``, the final support of each run.
    chi2 : numpy.ndarray
        float32 ``(n_runs, n_iter)``, chi^2 (eq. 5 of Wu et al. 2021) of each run's
        estimate after every iteration.
    schedule : str
        The schedule that ran, in operator form.
    seed : int or None
        The seed of the random starts.
    parameters : dict
        Everything else needed to reproduce the run (for provenance).
    """

    objects: np.ndarray
    supports: np.ndarray
    chi2: np.ndarray
    schedule: str
    seed: int | None = None
    parameters: dict = field(default_factory=dict)

    @property
    def final_chi2(self) -> np.ndarray:
        """chi^2 of each returned object, ``(n_runs,)``."""
        return self.chi2[:, -1]

    @property
    def best(self) -> int:
        """Index of the run with the lowest final chi^2."""
        return int(np.argmin(self.final_chi2))

    @property
    def best_object(self) -> np.ndarray:
        """The reconstruction with the lowest final chi^2, ``(H, W)``."""
        return self.objects[self.best]


#: pixels per batch on the CPU (4 runs of 512^2, 16 of 256^2)
CPU_BATCH_ELEMENTS = 1 << 20


def _run_batch(arr, m, sup, max_sup, constraint, dev, start, schedule, sw, sw_sigmas, bar):
    """Run the whole schedule on one batch of runs; NumPy objects, supports, chi^2."""
    ops = Constraints(arr, m, sup, max_sup, constraint, dev)
    # the object is centred on disk; rolling it by (H//2, W//2) only changes F by a phase
    # ramp, so the loop can stay in FFT order without any shift
    rho = torch.from_numpy(np.ascontiguousarray(start)).to(dev)
    n = len(start)
    chi2 = torch.empty((n, len(schedule)), dtype=torch.float32, device=dev)
    it = 0
    with torch.no_grad():
        for alg, n_iter in schedule:
            alg.start(ops, n_iter)
            for k in range(n_iter):
                rho, est = alg.step(rho, ops, k)
                c = ops.chi2(est, reuse=alg.returns_estimate)
                rho, est, c = alg.observe(rho, est, c, k)
                chi2[:, it] = c
                if it in sw_sigmas:
                    sw.update(ops, est, sw_sigmas[it])
                    alg.support_changed()
                it += 1
                bar.update(n)
    return (est.cpu().numpy().astype(np.complex64), ops.support.cpu().numpy().astype(bool),
            chi2.cpu().numpy())


def check_intensity(intensity, name: str = "intensity") -> np.ndarray:
    """Validate one diffraction pattern: 2D, finite, non-negative, even sizes."""
    arr = as_array(intensity, name, ndim=2, dtype=np.float32, nonnegative=True)
    h, w = arr.shape
    if h < 8 or w < 8 or h % 2 or w % 2:
        raise ValueError(
            f"{name} must have even sizes of at least 8 along both axes (zero frequency at "
            f"index (H//2, W//2); the twin and Friedel mates assume even sizes), got shape "
            f"{arr.shape}"
        )
    if not arr.any():
        raise ValueError(f"{name} is zero everywhere: there is nothing to phase")
    return arr


def check_mask(mask, shape: tuple[int, int], name: str = "mask") -> np.ndarray:
    """Validate a missing-data mask (True = missing) against the pattern's shape."""
    if mask is None:
        return np.zeros(shape, dtype=bool)
    m = np.asarray(mask)
    if m.shape != tuple(shape):
        raise ValueError(f"{name} must have the intensity's shape {tuple(shape)}, got {m.shape}")
    if m.dtype != bool:
        m = as_array(m, name, dtype=None)
        if not np.isin(m, (0, 1)).all():
            raise ValueError(f"{name} must be boolean (True = missing pixel) or 0/1, got values "
                             f"other than 0 and 1")
        m = m.astype(bool)
    if m.all():
        raise ValueError(f"{name} marks every pixel as missing")
    return m


def _check_support(support, shape, n_runs: int, name: str) -> np.ndarray:
    s = np.asarray(support)
    if s.ndim not in (2, 3) or s.shape[-2:] != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)} or (n_runs, *{tuple(shape)}) "
                         f"to match the intensity, got {s.shape}")
    if s.ndim == 3 and s.shape[0] not in (1, n_runs):
        raise ValueError(f"{name} holds {s.shape[0]} supports for {n_runs} runs")
    if s.dtype != bool:
        s = as_array(s, name, dtype=None)
        if not np.isin(s, (0, 1)).all():
            raise ValueError(f"{name} must be boolean or 0/1")
        s = s.astype(bool)
    if not s.reshape(-1, *shape).any(axis=(1, 2)).all():
        raise ValueError(f"{name} is empty (no True pixel) for at least one run")
    return np.broadcast_to(s.reshape(-1, *shape), (n_runs, *shape)).copy()


def support_from_autocorrelation(intensity, mask=None, threshold: float = 0.04,
                                 scale: float = 0.6) -> np.ndarray:
    """A loose starting support from the pattern's autocorrelation.

    The autocorrelation ``|F^-1(I)|`` of an object spans twice the object (its support is
    the object's support minus itself). The pixels above ``threshold`` times its maximum,
    shrunk about the centre by ``scale`` (0.5 would give the size of a centrosymmetric
    object; 0.6 leaves room to spare), make a centred support that holds the object and
    keeps it from drifting to the corners of the array; shrink-wrap then tightens it.
    Missing pixels take the value of the nearest measured pixel: left at zero, a
    beamstop would remove the smooth low-frequency part of the autocorrelation and
    distort its support.

    Parameters
    ----------
    intensity : array_like
        ``(H, W)`` centred intensity.
    mask : array_like of bool, optional
        True where pixels are missing.
    threshold : float
        Relative threshold in (0, 1).
    scale : float
        Shrink factor of the autocorrelation's support, in (0, 1].

    Returns
    -------
    numpy.ndarray
        bool ``(H, W)``, centred.

    Example
    -------
    >>> import numpy as np
    >>> obj = np.zeros((32, 32)); obj[12:20, 14:18] = 1
    >>> I = np.abs(np.fft.fftshift(np.fft.fft2(obj)))**2
    >>> s = support_from_autocorrelation(I)
    >>> bool(s[16, 16]), bool(s[0, 0])
    (True, False)
    """
    arr = check_intensity(intensity)
    m = check_mask(mask, arr.shape)
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    if not 0 < scale <= 1:
        raise ValueError(f"scale must be in (0, 1], got {scale}")
    if m.any():
        nearest = ndimage.distance_transform_edt(m, return_distances=False, return_indices=True)
        filled = arr[tuple(nearest)]
    else:
        filled = arr
    auto = np.abs(np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(filled))))
    big = auto > threshold * auto.max()
    # sample the autocorrelation's support at (r - c) / scale: a copy shrunk about c
    h, w = arr.shape
    yy = np.rint((np.arange(h) - h // 2) / scale).astype(int) + h // 2
    xx = np.rint((np.arange(w) - w // 2) / scale).astype(int) + w // 2
    inside_y = (yy >= 0) & (yy < h)
    inside_x = (xx >= 0) & (xx < w)
    out = np.zeros_like(big)
    out[np.ix_(inside_y, inside_x)] = big[np.ix_(yy[inside_y], xx[inside_x])]
    return out


def centred_box(shape: tuple[int, int], fraction: float = 0.5) -> np.ndarray:
    """Centred rectangle covering ``fraction`` of each axis: the largest object that is
    oversampled ``1 / fraction`` times (the fixed "support 2" of Wu et al. 2021).

    Example
    -------
    >>> int(centred_box((8, 8)).sum())
    16
    """
    h, w = shape
    out = np.zeros(shape, dtype=bool)
    bh, bw = max(int(round(h * fraction)), 1), max(int(round(w * fraction)), 1)
    out[h // 2 - bh // 2: h // 2 - bh // 2 + bh, w // 2 - bw // 2: w // 2 - bw // 2 + bw] = True
    return out


def random_start(intensity, mask=None, n_runs: int = 1, seed=None) -> np.ndarray:
    """Random starting objects: the measured modulus with uniformly random phases.

    Run ``r`` draws its phases from ``numpy.random.SeedSequence(seed).spawn(...)[r]``,
    so its start does not depend on how many runs share the batch.

    Parameters
    ----------
    intensity : array_like
        ``(H, W)`` centred intensity.
    mask : array_like of bool, optional
        Missing pixels start with zero amplitude.
    n_runs : int
        Number of starts.
    seed : int, optional
        Seed; ``None`` draws fresh entropy.

    Returns
    -------
    numpy.ndarray
        complex64 ``(n_runs, H, W)`` centred real-space objects.

    Example
    -------
    >>> import numpy as np
    >>> I = np.ones((16, 16), np.float32)
    >>> a = random_start(I, n_runs=3, seed=1); b = random_start(I, n_runs=1, seed=1)
    >>> a.shape, bool(np.array_equal(a[0], b[0]))
    ((3, 16, 16), True)
    """
    arr = check_intensity(intensity)
    m = check_mask(mask, arr.shape)
    amp = np.where(m, 0.0, np.sqrt(arr))
    children = np.random.SeedSequence(seed).spawn(int(n_runs))
    out = np.empty((int(n_runs), *arr.shape), dtype=np.complex64)
    for r, child in enumerate(children):
        phase = np.random.default_rng(child).uniform(-np.pi, np.pi, arr.shape)
        f = np.fft.ifftshift(amp * np.exp(1j * phase))
        out[r] = np.fft.fftshift(np.fft.ifft2(f, norm="ortho"))
    return out


def _check_init(init, shape, n_runs: int) -> np.ndarray:
    a = as_array(init, "init", ndim=(2, 3), dtype=np.complex64)
    if a.shape[-2:] != tuple(shape):
        raise ValueError(f"init must have shape {tuple(shape)} or (n_runs, *{tuple(shape)}), "
                         f"got {a.shape}")
    a = a.reshape(-1, *shape)
    if a.shape[0] not in (1, n_runs):
        raise ValueError(f"init holds {a.shape[0]} objects for n_runs={n_runs}")
    return np.broadcast_to(a, (n_runs, *shape)).copy()


def phase_retrieval(
    intensity,
    mask=None,
    support=None,
    algorithm="oss",
    n_iter: int | None = None,
    n_runs: int = 1,
    seed: int | None = None,
    device: str = "auto",
    init=None,
    constraint: str = "none",
    shrinkwrap: ShrinkWrap | bool | None = True,
    max_support=None,
    show_progress: bool | None = None,
    batch_size: int | None = None,
) -> PhasingResult:
    """Retrieve the phase of a diffraction pattern with many independent runs at once.

    Parameters
    ----------
    intensity : array_like
        Measured intensity ``(H, W)``, float, zero frequency at the centre, H and W even.
    mask : array_like of bool, optional
        True where pixels are missing (beamstop, gaps): left free by the modulus
        projection and excluded from chi^2.
    support : array_like of bool, optional
        Starting support ``(H, W)`` or one per run ``(n_runs, H, W)``, centred. Default:
        the thresholded autocorrelation (:func:`support_from_autocorrelation`) inside a
        centred box of half the array (:func:`centred_box`), which is then also the
        default ``max_support``.
    algorithm : str, Algorithm, Schedule or list of (name, n_iter)
        ``"er"``, ``"hio"``, ``"raar"``, ``"oss"`` or any name registered under the plugin
        kind ``phasing``; a schedule such as ``"(HIO(0.9)**80*ER**20)**6"``,
        ``(HIO(0.9)**80 * ER()**20)**6`` or ``[("HIO", 80), ("ER", 20)] * 6``.
    n_iter : int, optional
        Iterations for a single algorithm (default 500); must be None or equal to the
        total of a schedule.
    n_runs : int
        Independent runs (random starts), all run as one batch. With ``init`` holding
        several objects, ``n_runs`` defaults to their number.
    seed : int, optional
        Seed of the random starts (:func:`random_start`); same seed, same result.
    device : str
        ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda[:N]"``.
    init : array_like of complex, optional
        Starting objects ``(H, W)`` or ``(n_runs, H, W)``, centred (e.g. a network's
        prediction); replaces the random starts.
    constraint : {"none", "real", "positive"}
        Extra real-space constraint inside the support.
    shrinkwrap : ShrinkWrap or bool
        ``True`` uses :class:`ShrinkWrap` defaults, ``False``/``None`` keeps the support
        fixed.
    max_support : array_like of bool, optional
        Shrink-wrap never grows a support beyond it; default the starting support when
        one is given, the centred half-array box otherwise.
    show_progress : bool, optional
        Progress bar; default only on a terminal.
    batch_size : int, optional
        Runs phased together in one tensor. Default: all of them on CUDA; on the CPU as
        many as keep about 2^20 pixels per batch (4 runs of 512^2), which keeps the
        working set small enough to run fastest. Runs are independent, so the result
        does not depend on it.

    Returns
    -------
    PhasingResult
        ``objects`` complex64 ``(n_runs, H, W)``, ``supports``, ``chi2`` ``(n_runs, n_iter)``.

    Raises
    ------
    ValueError
        Negative, NaN or odd-sized intensity, a mask or support of the wrong shape, an
        empty support, an unknown algorithm.

    Notes
    -----
    Fourier constraint: ``P_M`` replaces the modulus of ``F(rho)`` by ``sqrt(I)`` on
    measured pixels and leaves missing pixels free. Algorithms (Fienup 1982; Luke 2005;
    Rodriguez et al. 2013) are documented in :mod:`cdi_plugins.algorithms`, shrink-wrap
    (Marchesini et al. 2003) in :mod:`cdi_plugins.shrinkwrap`. chi^2 is eq. (5) of
    Wu et al. (2021): ``sum (|F(x)| - sqrt(I))^2 / sum I`` over measured pixels.

    Example
    -------
    >>> import numpy as np
    >>> from cdi_plugins import phase_retrieval
    >>> obj = np.zeros((32, 32), np.complex64); obj[12:20, 13:19] = 1
    >>> I = np.abs(np.fft.fftshift(np.fft.fft2(obj, norm="ortho")))**2
    >>> res = phase_retrieval(I, algorithm="(HIO**40*ER**10)**2", n_runs=4, seed=0,
    ...                       device="cpu", shrinkwrap=False)
    >>> res.objects.shape, res.chi2.shape
    ((4, 32, 32), (4, 100))
    """
    t0 = time.perf_counter()
    arr = check_intensity(intensity)
    shape = arr.shape
    m = check_mask(mask, shape)
    if constraint not in CONSTRAINTS:
        raise ValueError(f"constraint must be one of {CONSTRAINTS}, got {constraint!r}")
    if isinstance(n_runs, bool) or int(n_runs) != n_runs or n_runs < 1:
        raise ValueError(f"n_runs must be a positive integer, got {n_runs!r}")
    n_runs = int(n_runs)
    if init is not None and n_runs == 1:
        n_runs = int(np.prod(np.shape(init)[:-2])) or 1
    schedule = as_schedule(algorithm, n_iter)
    dev = resolve_device(device)

    if support is None:
        box = centred_box(shape)
        auto = support_from_autocorrelation(arr, m) & box
        sup = np.broadcast_to(auto if auto.any() else box, (n_runs, *shape)).copy()
        if max_support is None:
            max_support = box
    else:
        sup = _check_support(support, shape, n_runs, "support")
    if max_support is None:
        max_sup = sup.copy()
    else:
        max_sup = _check_support(max_support, shape, n_runs, "max_support")
        sup &= max_sup
    if sup.mean() > 0.5:
        logger.warning("the support covers %.0f%% of the array: oversampling below 2 makes "
                       "the phase problem ill-posed", 100 * sup.mean())

    sw = ShrinkWrap() if shrinkwrap is True else (shrinkwrap or None)
    if sw is not None and not isinstance(sw, ShrinkWrap):
        raise TypeError(f"shrinkwrap must be a ShrinkWrap, True or False, got {shrinkwrap!r}")
    start = random_start(arr, m, n_runs, seed) if init is None else _check_init(init, shape, n_runs)

    total = len(schedule)
    sw_sigmas = sw.sigmas(total) if sw is not None else {}
    if batch_size is None:
        # on the CPU a batch that outgrows the caches can run slower per run (2 shared
        # cores: 95 run-it/s for 8 x 512^2 against 40 for 48 x 512^2 in one batch)
        batch_size = n_runs if dev.type == "cuda" else max(1, CPU_BATCH_ELEMENTS // arr.size)
    batch_size = max(1, min(int(batch_size), n_runs))
    logger.info("phasing %s pattern, %d run(s) in batches of %d on %s: %s%s", shape, n_runs,
                batch_size, dev, schedule,
                f", shrink-wrap at {len(sw_sigmas)} iterations" if sw_sigmas else "")
    bar = progress(range(total * n_runs), desc="phasing", enabled=show_progress,
                   total=total * n_runs)
    parts = []
    for lo in range(0, n_runs, batch_size):
        hi = min(lo + batch_size, n_runs)
        parts.append(_run_batch(arr, m, sup[lo:hi], max_sup[lo:hi], constraint, dev,
                                start[lo:hi], schedule, sw, sw_sigmas, bar))
    bar.close()
    objects = np.concatenate([p[0] for p in parts])
    supports = np.concatenate([p[1] for p in parts])
    chi2_np = np.concatenate([p[2] for p in parts])
    elapsed = time.perf_counter() - t0
    logger.info("phasing done in %.2f s (%.1f it/s); final chi2 min %.3g, median %.3g",
                elapsed, total / elapsed, chi2_np[:, -1].min(), np.median(chi2_np[:, -1]))
    return PhasingResult(
        objects=objects,
        supports=supports,
        chi2=chi2_np,
        schedule=str(schedule),
        seed=seed,
        parameters={
            "schedule": str(schedule), "n_runs": n_runs, "seed": seed, "device": str(dev),
            "batch_size": batch_size, "constraint": constraint,
            "shrinkwrap": None if sw is None else vars(sw),
            "init": "given" if init is not None else "random phases",
            "shape": list(shape), "n_masked": int(m.sum()),
        },
    )

