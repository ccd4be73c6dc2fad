"""Batched iterative phase retrieval: many independent runs as one tensor.

:func:`phase_retrieval` is the host loop: it validates the inputs once, builds the
:class:`~cdi_plugins.phasing.constraints.Constraints`, draws reproducible random starts
(:mod:`cdi_plugins.phasing.starts`), scales them to the measured intensity, runs a
:class:`~cdi_plugins.phasing.algorithms.Schedule` of registered algorithms on all runs at
once (CPU or CUDA), applies shrink-wrap, records chi^2 per iteration and run, scores
every run by its Poisson and free log-likelihoods
(:mod:`cdi_plugins.metrics.likelihood`) and returns NumPy arrays. The measured pattern
goes to the device once per call; the runs stay there from their start to their end.
``P_M`` sets ``|F(rho)|`` to ``sqrt(I)`` on the fitted pixels (measured, not free), to
whose intensity each start is scaled; chi^2 is eq. (5) of Wu et al. (2021) on them.

A pattern is 2D ``(H, W)`` or 3D ``(D, H, W)`` (Bragg CDI); everything below works on
either, the number of spatial dimensions taken from the pattern. A 3D run is the same
computation with 3D transforms, blurs, supports and shells: "pixel" reads "voxel".

The defaults are those that phase measured patterns (photon counts, a beamstop, gaps):
the schedule :data:`DEFAULT_SCHEDULE` (PyNX's example: HIO, then HIO and short ER blocks
each followed by a support update, then ER), shrink-wrap relative to the RMS of the
blurred amplitude inside the support with a blur that narrows from 2 to 0.5 px
(:class:`~cdi_plugins.phasing.shrinkwrap.ShrinkWrap`), 5 % of the pixels withheld for the
free log-likelihood, runs ranked by that free log-likelihood, a starting support
from the envelope of the blurred autocorrelation
(:func:`~cdi_plugins.phasing.starts.auto_support`), random starts phased first on
the low-passed pattern (:mod:`~cdi_plugins.phasing.lowres`), and for a 3D pattern each
run's support widened afterwards while the free log-likelihood says so
(:mod:`~cdi_plugins.phasing.growth`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from tomopy_dlalign.common.device import resolve_device
from tomopy_dlalign.common.progress import progress
from tomopy_dlalign.common.validation import check_seed

from ..defaults import DEFAULT_SCHEDULE, FREE_FRACTION
from ..metrics.likelihood import NOISE_MODELS, free_pixels, log_likelihood
from ..physics import Pattern, as_pattern
from .algorithms import as_schedule, scale_schedule
from .constraints import Constraints, Measurement, choose_constraint
from .growth import SupportGrowth, as_support_growth, grow_supports
from .lowres import as_low_resolution
from .shrinkwrap import ShrinkWrap
from .starts import (
    auto_support,
    centred_box,
    check_init,
    check_support,
    random_start,
)
from .verdict import Verdict, judge

logger = logging.getLogger(__name__)



@dataclass
class PhasingResult:
    """What :func:`phase_retrieval` returns.

    Attributes
    ----------
    objects : numpy.ndarray
        complex64 ``(n_runs, H, W)`` (``(n_runs, D, H, W)`` for a 3D pattern), centred
        real-space reconstructions (support and real-space constraint applied).
    supports : numpy.ndarray
        bool, the objects' shape, the final support of each run.
    chi2 : numpy.ndarray
        float32 ``(n_runs, n_iter)``, chi^2 (eq. 5 of Wu et al. 2021) of each run's
        estimate after every iteration, on the pixels the runs were fitted to: in HIO
        and RAAR blocks computed every :data:`CHI2_EVERY` iterations and at the block's
        end (each costs an FFT), the last value repeated in between; then the support
        growth's trials, a trial a run did not keep repeating its last value.
    schedule : str
        The schedule that ran, in operator form.
    seed : int or None
        The seed of the random starts.
    parameters : dict
        Everything else needed to reproduce the run (for provenance); with the support
        growth, ``"support_growth"``: its settings, trials and each run's growth and free
        log-likelihood before and after.
    llk : dict of str to numpy.ndarray
        ``(n_runs,)`` log-likelihoods per pixel of each final object
        (:func:`cdi_plugins.metrics.log_likelihood`): ``"poisson"``, ``"gaussian"``,
        ``"euclidean"`` on the fitted pixels and ``"free_poisson"``, ... on the free
        ones (absent without free pixels).
    free_mask : numpy.ndarray or None
        bool, the pattern's shape, the pixels withheld from the modulus constraint.
    quality : Verdict or None
        Whether the phasing is to be believed, judged from the data alone
        (:mod:`cdi_plugins.phasing.verdict`); ``quality.ok`` is False for a failure.
    """

    objects: np.ndarray
    supports: np.ndarray
    chi2: np.ndarray
    schedule: str
    seed: int | None = None
    parameters: dict = field(default_factory=dict)
    llk: dict = field(default_factory=dict)
    free_mask: np.ndarray | None = None
    quality: Verdict | None = None

    @property
    def final_chi2(self) -> np.ndarray:
        """chi^2 of each returned object, ``(n_runs,)``."""
        return self.chi2[:, -1]

    @property
    def rank_by(self) -> str:
        """What ranks the runs: ``"free_poisson"`` (the free log-likelihood) when free
        pixels were withheld, else ``"chi2"``."""
        return "free_poisson" if "free_poisson" in self.llk else "chi2"

    @property
    def scores(self) -> np.ndarray:
        """The ranking score of each run, lower is better, ``(n_runs,)`` (:attr:`rank_by`)."""
        return self.final_chi2 if self.rank_by == "chi2" else self.llk[self.rank_by]

    @property
    def iterations(self) -> int:
        """Iterations each run went through: the schedule's and the support growth's
        trials (:attr:`chi2`'s length), plus the low-resolution stage's when one ran
        first."""
        low = self.parameters.get("low_resolution")
        return self.chi2.shape[1] + (len(as_schedule(low["schedule"])) if low else 0)

    @property
    def grown_by(self) -> np.ndarray:
        """Pixels (voxels) by which the support growth widened each run's support,
        ``(n_runs,)`` int, zeros when none ran (:mod:`~cdi_plugins.phasing.growth`)."""
        grown = self.parameters.get("support_growth")
        return np.array(grown["grown_by"] if grown else [0] * len(self.objects), dtype=int)

    @property
    def best(self) -> int:
        """Index of the run with the lowest score (:attr:`scores`)."""
        return int(np.nanargmin(self.scores))

    @property
    def best_object(self) -> np.ndarray:
        """The best-ranked reconstruction, ``(H, W)`` or ``(D, H, W)``."""
        return self.objects[self.best]


#: chi^2 of HIO/RAAR's estimates every this many iterations (and at the end of every
#: block): each costs an FFT beyond the iteration's two; in between it is repeated.
#: ER's costs nothing (its FFT serves the next iteration) and OSS needs every one.
CHI2_EVERY = 10
#: pixels (voxels) per batch on the CPU (4 runs of 512^2, 16 of 256^2, 4 of 64^3)
CPU_BATCH_ELEMENTS = 1 << 20
#: bytes of device memory one pixel of one run holds at the peak of an iteration
#: (iterate, estimate, far fields, OSS's stage memory, supports; OSS measured 186 on the CPU)
BYTES_PER_ELEMENT = 192
#: share of the free CUDA memory that one batch of runs may fill
CUDA_MEMORY_SHARE = 0.5


def _run(data: Measurement, sup: np.ndarray, max_sup: np.ndarray, start: np.ndarray,
         constraint: str, schedule, sw: ShrinkWrap | None, batch_size: int,
         show_progress: bool | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All runs, ``batch_size`` at a time: objects, supports and chi^2 (NumPy)."""
    n_runs = len(start)
    sw_sigmas = sw.sigmas(schedule) if sw is not None else {}
    logger.info("phasing %s pattern, %d run(s) in batches of %d on %s: %s%s", data.shape,
                n_runs, batch_size, data.device, schedule,
                f", shrink-wrap at {len(sw_sigmas)} iterations" if sw_sigmas else "")
    bar = progress(range(len(schedule) * n_runs), desc="phasing", enabled=show_progress,
                   total=len(schedule) * n_runs)
    parts = []
    for lo in range(0, n_runs, batch_size):
        batch = slice(lo, min(lo + batch_size, n_runs))
        ops = Constraints(data, sup[batch], max_sup[batch], constraint)
        parts.append(_run_batch(ops, start[batch], schedule, sw, sw_sigmas, bar))
    bar.close()
    return tuple(np.concatenate(p) for p in zip(*parts, strict=True))


def _run_batch(ops: Constraints, start: np.ndarray, schedule, sw, sw_sigmas: dict, bar):
    """Run the whole schedule on one batch of runs; NumPy objects, supports, chi^2."""
    # the object is centred on disk; rolling it by (H//2, W//2) only changes F by a phase
    # ramp, so the loop can stay in FFT order without any shift
    rho = torch.from_numpy(np.ascontiguousarray(start)).to(ops.device)
    n = len(start)
    with torch.no_grad():
        rho = ops.scale_to_data(rho)
    chi2 = torch.empty((n, len(schedule)), dtype=torch.float32, device=ops.device)
    it, last = 0, len(schedule) - 1
    with torch.no_grad():
        for alg, n_iter in schedule:
            alg.start(ops, n_iter)
            every = 1 if alg.returns_estimate or alg.needs_chi2 else CHI2_EVERY
            for k in range(n_iter):
                rho, est = alg.step(rho, ops, k)
                if k % every == 0 or k == n_iter - 1 or it == last:
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


def phase_retrieval(
    intensity,
    mask=None,
    support=None,
    algorithm=DEFAULT_SCHEDULE,
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
    support_threshold: float | None = None,
    free_fraction: float = FREE_FRACTION,
    support_start: str = "envelope",
    cluster=None,
    low_resolution=None,
    support_growth=None,
) -> PhasingResult:
    """Retrieve the phase of a diffraction pattern with many independent runs at once.

    Parameters
    ----------
    intensity : array_like or Pattern
        Measured intensity ``(H, W)`` or ``(D, H, W)``, float, zero frequency at the
        centre, sizes even; or a validated :class:`~cdi_plugins.physics.Pattern`.
    mask : array_like of bool, optional
        True where pixels are missing (beamstop, gaps): free in ``P_M``, not in chi^2.
    support : array_like of bool, optional
        Starting support, the pattern's shape or ``(n_runs, *shape)``, centred. Default:
        :func:`auto_support` inside :func:`centred_box`, then the ``max_support`` too.
    algorithm : str, Algorithm, Schedule or list of (name, n_iter)
        ``"er"``, ``"hio"``, ``"raar"``, ``"oss"`` or a registered ``phasing`` plugin; a
        schedule: ``"(HIO(0.9)**80*ER**20)**6"``, ``(HIO(0.9)**80 * ER()**20)**6``,
        ``[("HIO", 80), ("ER", 20)] * 6``. Default :data:`DEFAULT_SCHEDULE` (1200 its).
    n_iter : int, optional
        Iterations of a single algorithm (default 500), or of the default schedule scaled
        to them (:func:`.scale_schedule`); with another schedule, None or its total.
    n_runs : int
        Independent runs (random starts); default the number of ``init`` objects.
    seed : int, optional
        Seed (0 or more) of the random starts (:func:`random_start`) and free pixels.
    device : str
        ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda[:N]"``.
    init : array_like of complex, optional
        Starting objects, the pattern's shape or ``(n_runs, *shape)``, centred.
    constraint : {"none", "real", "positive", "auto"}
        Extra real-space constraint inside the support; ``"auto"``: :func:`.choose_constraint`.
    shrinkwrap : ShrinkWrap or bool
        ``True``: :class:`ShrinkWrap` defaults; ``False``/``None``: fixed support.
    max_support : array_like of bool, optional
        Shrink-wrap's bound; default the given support, else the centred half-array box.
    show_progress : bool, optional
        Progress bar (default: on a terminal).
    batch_size : int, optional
        Runs phased together (no effect on the result; default :func:`runs_per_batch`).
    support_threshold : float, optional
        Threshold of the default support; default that of ``support_start``.
    free_fraction : float
        Share of pixels withheld (:func:`~cdi_plugins.metrics.free_pixels`, from ``seed``)
        for the free log-likelihood that ranks runs; 0: rank by chi^2.
    cluster : optional
        None: here; ``"local[:N]"``, ``"tcp://host:port"``, a ``Client``: on Dask workers.
    support_start : {"envelope", "core"}
        The default starting support (:func:`auto_support`).
    low_resolution : bool or LowResolution, optional
        The low-resolution start (:mod:`.lowres`); default: with the default schedule.
    support_growth : bool or SupportGrowth, optional
        Widen each run's support while its free log-likelihood improves (:mod:`.growth`);
        default: a 3D pattern with the default schedule and shrink-wrap.

    Returns
    -------
    PhasingResult
        ``objects``, ``supports``, ``chi2``, ``llk``, ``best``, ``quality`` (:func:`.judge`).

    Raises
    ------
    ValueError
        Bad intensity (negative, NaN, odd-sized), mask, support, algorithm, constraint,
        seed or ``n_iter`` (each named).

    Example
    -------
    >>> import numpy as np
    >>> from cdi_plugins import phase_retrieval
    >>> obj = np.zeros((32, 32), np.complex64); obj[12:20, 13:19] = 1
    >>> I = np.abs(np.fft.fftshift(np.fft.fft2(obj, norm="ortho")))**2
    >>> res = phase_retrieval(I, n_iter=100, n_runs=4, seed=0, device="cpu")  # scaled default
    >>> res.objects.shape, res.chi2.shape
    ((4, 32, 32), (4, 100))
    """
    t0, seed = time.perf_counter(), check_seed(seed)
    pat = as_pattern(intensity, mask)
    constraint = choose_constraint(constraint, pat)
    n_runs = _n_runs(n_runs, init, pat.ndim)
    schedule, default = _schedule(algorithm, n_iter)
    dev = resolve_device(device)
    sup, max_sup = _supports(pat, support, max_support, n_runs, support_threshold,
                             support_start)
    sw = _as_shrinkwrap(shrinkwrap)
    free = _free_pixels(pat, free_fraction, seed)
    init = None if init is None else check_init(init, pat.shape, n_runs)
    batch_size = runs_per_batch(batch_size, n_runs, dev, pat.intensity.size)
    lowres = as_low_resolution(low_resolution, default, init is not None)
    box = support is None and max_support is None  # the default bound
    growth = as_support_growth(support_growth, default, pat.ndim, free is not None,
                               sw is not None, box)
    objects, supports, chi2, llk, grown = _phase_all(
        cluster, pat, free, device, sup, max_sup, init, seed, constraint, schedule, sw,
        batch_size, show_progress, lowres, growth)
    _log_done(t0, schedule, chi2)
    params = _parameters(pat, schedule, n_runs, seed, dev, batch_size, constraint, sw,
                         init is not None, free_fraction, free, lowres, grown)
    return judge(PhasingResult(objects=objects, supports=supports, chi2=chi2,
                               schedule=str(schedule), seed=seed, parameters=params, llk=llk,
                               free_mask=free), pat, max_sup, default_box=box)


def _schedule(algorithm, n_iter: int | None):
    """The schedule to run: ``algorithm`` (:func:`.as_schedule`), or the default schedule
    scaled to ``n_iter`` iterations when that is what was asked for; and whether it is
    the default schedule as it stands (which starts at low resolution)."""
    if not (isinstance(algorithm, str) and algorithm == DEFAULT_SCHEDULE):
        return as_schedule(algorithm, n_iter), False
    if n_iter is None:
        return as_schedule(algorithm), True
    as_schedule("er", n_iter)  # the same refusal of a bad n_iter as everywhere
    default = as_schedule(algorithm)
    if n_iter == len(default):
        return default, False
    blocks = len(default.steps)
    if n_iter < blocks:
        raise ValueError(f"n_iter={n_iter} is too few for the default schedule "
                         f"({default.compact()}, {blocks} blocks of at least 1 iteration): "
                         f"give n_iter >= {blocks}, or a single algorithm "
                         f"(algorithm=\"hio\", n_iter={n_iter}) or a schedule of your own")
    schedule = scale_schedule(default, n_iter)
    logger.info("n_iter=%d: the default schedule (%d iterations) scaled to %d in the same "
                "proportions: %s", n_iter, len(default), len(schedule), schedule.compact())
    return schedule, False


def _log_done(t0: float, schedule, chi2: np.ndarray) -> None:
    elapsed = time.perf_counter() - t0
    logger.info("phasing done in %.2f s (%.1f it/s); final chi2 min %.3g, median %.3g",
                elapsed, len(schedule) / elapsed, chi2[:, -1].min(), np.median(chi2[:, -1]))


def _parameters(pat: Pattern, schedule, n_runs, seed, dev, batch_size, constraint, sw,
                given: bool, free_fraction, free, lowres, grown) -> dict:
    """The record of a phasing's settings, kept with its result."""
    return {"schedule": str(schedule), "n_runs": n_runs, "seed": seed, "device": str(dev),
            "batch_size": batch_size, "constraint": constraint, "shape": list(pat.shape),
            "shrinkwrap": None if sw is None else vars(sw), "n_masked": int(pat.mask.sum()),
            "init": "given" if given else "random phases",
            "free_fraction": free_fraction, "n_free": 0 if free is None else int(free.sum()),
            "low_resolution": None if lowres is None else vars(lowres),
            "support_growth": grown}


def _phase_all(cluster, pat: Pattern, free, device, sup, max_sup, init, seed, constraint,
               schedule, sw, batch_size: int, show_progress, lowres, growth):
    """All runs: here in one call of :func:`_phase_runs`, or in batches on ``cluster``."""
    if cluster is None:
        return _phase_runs(pat, free, device, sup, max_sup, init, seed, 0, constraint,
                           schedule, sw, batch_size, show_progress, lowres, growth)
    from .distributed import phase_on_cluster

    return phase_on_cluster(_phase_runs, cluster, pat, free, device, sup, max_sup, init, seed,
                            constraint, schedule, sw, batch_size, show_progress, lowres,
                            growth)


def _phase_runs(pat: Pattern, free, device, sup, max_sup, init, seed, first_run: int,
                constraint, schedule, sw, batch_size: int, show_progress=False, lowres=None,
                growth: SupportGrowth | None = None):
    """Runs ``first_run, first_run + 1, ...`` of a call (as many as ``sup`` holds): their
    starts (``init``, else random from ``seed``, low-passed first with ``lowres``), the
    schedule, the support growth (``growth``: its record, else None), the likelihoods.
    Here it is one call for all runs; on a cluster, one call per batch on a worker."""
    dev = resolve_device(device)
    batch_size = min(batch_size, len(sup))
    start = (random_start(pat, n_runs=len(sup), seed=seed, first_run=first_run)
             if init is None else init)
    if lowres is not None:
        low = Measurement(lowres.pattern(pat.intensity), pat.mask, dev, free)
        start = _run(low, sup, max_sup, start, constraint, as_schedule(lowres.schedule), sw,
                     batch_size, show_progress)[0]
    data = Measurement(pat.intensity, pat.mask, dev, free)
    objects, supports, chi2 = _run(data, sup, max_sup, start, constraint, schedule, sw,
                                   batch_size, show_progress)
    grown = None
    if growth is not None:
        def fixed(start, support, sched):
            return _run(data, support, support, start, constraint, sched, None,
                        batch_size, show_progress)

        objects, supports, chi2, grown = grow_supports(fixed, growth, pat, free, objects,
                                                       supports, max_sup, chi2)
    return objects, supports, chi2, _likelihoods(objects, pat, free), grown


def _free_pixels(pat: Pattern, fraction: float, seed) -> np.ndarray | None:
    """The withheld pixels; never from fresh entropy: the same call withholds the same."""
    if not fraction:
        return None
    child = np.random.SeedSequence(0 if seed is None else seed).spawn(1)[0]
    return free_pixels(pat.shape, fraction, mask=pat.mask, seed=child)


def _likelihoods(objects: np.ndarray, pat: Pattern, free: np.ndarray | None) -> dict:
    """Log-likelihoods of every run on the fitted pixels and, with ``free``, the free ones."""
    fitted = pat.mask if free is None else pat.mask | free
    out = {noise: log_likelihood(objects, pat.intensity, fitted, noise=noise)
           for noise in NOISE_MODELS}
    if free is not None and free.any():
        out.update({f"free_{noise}": log_likelihood(objects, pat.intensity, pat.mask,
                                                    pixels=free, noise=noise)
                    for noise in NOISE_MODELS})
    return out


def _n_runs(n_runs, init, ndim: int) -> int:
    if isinstance(n_runs, bool) or int(n_runs) != n_runs or n_runs < 1:
        raise ValueError(f"n_runs must be a positive integer, got {n_runs!r}")
    n_runs = int(n_runs)
    if init is not None and n_runs == 1:
        n_runs = int(np.prod(np.shape(init)[:-ndim])) or 1
    return n_runs


def _supports(pat: Pattern, support, max_support, n_runs: int, threshold: float | None,
              kind: str) -> tuple[np.ndarray, np.ndarray]:
    """The starting supports and the maximum supports of every run."""
    shape = pat.shape
    if support is None:
        auto = auto_support(pat, kind=kind, threshold=threshold)
        sup = np.broadcast_to(auto, (n_runs, *shape)).copy()
        if max_support is None:
            max_support = centred_box(shape)
    else:
        sup = check_support(support, shape, n_runs, "support")
    if max_support is None:
        max_sup = sup.copy()
    else:
        max_sup = check_support(max_support, shape, n_runs, "max_support")
        sup &= max_sup
    if sup.mean() > 0.5:
        logger.warning("the support covers %.0f%% of the array: oversampling below 2 makes "
                       "the phase problem ill-posed", 100 * sup.mean())
    return sup, max_sup


def _as_shrinkwrap(shrinkwrap) -> ShrinkWrap | None:
    sw = ShrinkWrap() if shrinkwrap is True else (shrinkwrap or None)
    if sw is not None and not isinstance(sw, ShrinkWrap):
        raise TypeError(f"shrinkwrap must be a ShrinkWrap, True or False, got {shrinkwrap!r}")
    return sw


def runs_per_batch(batch_size: int | None, n_runs: int, dev: torch.device, pixels: int) -> int:
    """Runs phased as one tensor: ``batch_size``, else as many as the device holds, at
    least 1 and at most ``n_runs``.

    ``pixels`` is the pattern's size, pixels of a 2D pattern and voxels of a 3D one
    alike. On the CPU a batch holds :data:`CPU_BATCH_ELEMENTS` of them (a larger one
    runs slower per run); on CUDA as many runs as fill :data:`CUDA_MEMORY_SHARE` of the
    free memory at :data:`BYTES_PER_ELEMENT` each (with 79 GB free, 3139 runs of a 256^2
    pattern, 12 of a 256^3 one).

    Example
    -------
    >>> runs_per_batch(None, 100, torch.device("cpu"), 64**3), runs_per_batch(3, 2, None, 1)
    (4, 2)
    """
    if batch_size is None:
        if dev.type == "cuda":
            # every run at once when they fit: a 3D batch of many runs may not
            free = torch.cuda.mem_get_info(dev)[0]
            batch_size = int(CUDA_MEMORY_SHARE * free) // (BYTES_PER_ELEMENT * pixels)
        else:
            # on the CPU a batch that outgrows the caches runs slower per run
            batch_size = CPU_BATCH_ELEMENTS // pixels
    return max(1, min(int(batch_size), n_runs))
