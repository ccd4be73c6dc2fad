"""Whether a phasing is to be believed, judged from the measured data alone.

:func:`assess` gives every :class:`~cdi_plugins.phasing.engine.PhasingResult` a
:class:`Verdict` (``result.quality``; :func:`~cdi_plugins.phase_retrieval` attaches it).
Three checks, none of which knows the true object:

1. **fit**: the best run's amplitude misfit on the pixels it was fitted to, the
   Euclidean log-likelihood ``mean 4 (sqrt(I_c) - sqrt(I_o))^2``, against the value
   photon noise alone leaves (:func:`cdi_plugins.metrics.euclidean_floor`: about 1 for
   bright pixels). Converged runs lie within 1-3 floors (3 on a 1e8-photon crystal, whose
   bright pixels show sub-percent model errors); stagnated ones, or runs under a wrong
   constraint, 50 to 2000. A run more than :data:`FIT_FACTOR` floors above has not
   converged. The same ratio on the withheld (free) pixels is recorded as
   ``free_ratio`` but not judged: withheld islands larger than a speckle (a pattern
   oversampled about twice) are predicted poorly even by a right image. Only for photon
   counts (:func:`cdi_plugins.metrics.is_counts`); other intensities have no floor to
   compare with, and the verdict says the fit was not judged. Over-fitting (a support
   grown into the background fits noise) is what checks 2 and 3 catch.
2. **agreement**: the best-ranked runs (at most :data:`N_COMPARE`) are aligned to the best
   one (translation, twin image, global phase: :func:`cdi_plugins.metrics.align_to`)
   and their distance ``min_g |g o_r - o_best| / |o_best|`` measured. Runs that found the
   same object lie within 0.1-0.45 of each other (whole-pixel alignment leaves their
   sub-pixel shifts); unrelated images near 0.9-1.4. When no other run comes within
   :data:`AGREE_DISTANCE`, nothing reproduces the best run's image. This check is
   coarse on purpose (it tells found from not found); a finer one follows when it
   passes: the :data:`N_CLOSE` next-ranked runs are aligned to the best at full
   resolution and to a quarter pixel (:func:`cdi_plugins.metrics.real_space_error`).
   When none lies within :data:`SAME_IMAGE`, the verdict stays OK but says that the
   best run's details are not reproduced (``reproduced`` False, a note, a warning in
   the log): on a measured Bragg scan runs of equal fit can be different crystals
   (benchmarks/RESULTS_cdi.md, section 7).
3. **support**: the best run's support has not collapsed (fewer than
   :data:`MIN_SUPPORT_PX` pixels or :data:`MIN_SUPPORT_FRACTION` of the array), does not
   cover more than half the array (oversampling below 2) and, when shrink-wrap ran, has
   not filled its maximum support (the object leaked to the bound).

When a phasing fails, the verdict adds a hint from Friedel's law
(:func:`cdi_plugins.metrics.friedel_test`): a symmetric pattern comes from a real
object, which ``constraint="positive"`` phases far better than ``"none"``; an asymmetric
one from a complex object, which positivity cannot fit.

Example
-------
>>> import cdi_plugins as cdi
>>> sim = cdi.simulate.simulate_pattern(cdi.simulate.biological_object(64, seed=0),
...                                     photons=1e6, seed=1)
>>> res = cdi.phase_retrieval(sim.intensity, algorithm="hio", n_iter=5, n_runs=4, seed=0,
...                           device="cpu")
>>> res.quality.ok, bool(res.quality.fit_ratio > FIT_FACTOR)
(False, True)
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..metrics import (
    align_to,
    euclidean_floor,
    friedel_test,
    is_counts,
    log_likelihood,
    real_space_error,
)
from ..physics import as_pattern, farfield

#: a :class:`~cdi_plugins.phasing.engine.PhasingResult` (the engine imports this module)
PhasingResult = Any

logger = logging.getLogger(__name__)

#: a best run whose Euclidean misfit exceeds this many noise floors has failed
FIT_FACTOR = 10.0
#: runs closer than this to the best run (after alignment) found the same object
AGREE_DISTANCE = 0.5
#: best-ranked runs compared with the best one
N_COMPARE = 16
#: runs closer than this after sub-pixel alignment at full resolution hold the same image
SAME_IMAGE = 0.15
#: next-ranked runs compared so with the best one
N_CLOSE = 3
#: how the note of a best run whose details no other run holds begins
NOT_REPRODUCED = "the best run's details are not reproduced"
#: runs are compared on arrays binned to no less than this size (:func:`_coarse`) ...
AGREE_SIZE = 256
#: ... or this size for a 3D pattern (64^3 voxels cost as much as 512^2 pixels)
AGREE_SIZE_3D = 64
#: a support smaller than this many pixels, or this share of the array, has collapsed
MIN_SUPPORT_PX = 16
MIN_SUPPORT_FRACTION = 1e-3
#: a support covering this share of its maximum support has filled it
FULL_SUPPORT = 0.95
#: a support covering more than this share of the array leaves oversampling below 2
MAX_SUPPORT_FRACTION = 0.5


@dataclass
class Verdict:
    """The quality checks of a phasing (module docstring).

    Attributes
    ----------
    ok : bool
        True when every check that could be made passed.
    reasons : list of str
        Why it failed, one sentence per failed check (empty when ``ok``).
    notes : list of str
        Checks that could not be made, and hints.
    fit_ratio : float or None
        The best run's Euclidean log-likelihood on its fitted pixels over the Poisson
        noise floor (1 = fits to the noise); None when the intensities are not photon
        counts.
    free_ratio : float or None
        The same on the withheld pixels (None without them); recorded, not judged.
    n_compared, n_agree : int
        Runs compared with the best one, and how many of them found its object.
    distances : list of float
        Their distances to the best run after alignment, best-ranked first.
    close_distances : list of float
        The next-ranked runs' distances to the best after sub-pixel alignment at full
        resolution (at most :data:`N_CLOSE`; empty when not measured).
    reproduced : bool or None
        Whether one of them lies within :data:`SAME_IMAGE` (None when not measured).
    support_fraction : float
        Share of the array in the best run's support.
    friedel_z : float or None
        z-score of the pattern against Friedel's law (None without photon counts).
    """

    ok: bool
    reasons: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    fit_ratio: float | None = None
    free_ratio: float | None = None
    n_compared: int = 0
    n_agree: int = 0
    distances: list = field(default_factory=list)
    close_distances: list = field(default_factory=list)
    reproduced: bool | None = None
    support_fraction: float = 0.0
    friedel_z: float | None = None

    def __str__(self) -> str:
        if self.ok:
            fit = "" if self.fit_ratio is None else f"fit {self.fit_ratio:.2f} x noise, "
            return (f"OK ({fit}{self.n_agree} of {self.n_compared} compared runs agree "
                    "with the best)")
        return "FAILED: " + "; ".join(self.reasons)

    def to_dict(self) -> dict:
        """Plain types, for JSON and HDF5 attributes."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Verdict:
        """The inverse of :meth:`to_dict` (unknown keys are ignored)."""
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)

    def write(self, group) -> None:
        """Record the verdict as attributes of an HDF5 group (``ok``, ``summary`` and the
        whole verdict as JSON in ``verdict``)."""
        group.attrs["ok"] = bool(self.ok)
        group.attrs["summary"] = str(self)
        group.attrs["verdict"] = json.dumps(self.to_dict())

    @classmethod
    def read(cls, group) -> Verdict:
        """The verdict :meth:`write` recorded in ``group``."""
        return cls.from_dict(json.loads(group.attrs["verdict"]))


def assess(result: PhasingResult, intensity, mask=None, max_support=None,
           fit_factor: float = FIT_FACTOR, agree_distance: float = AGREE_DISTANCE,
           n_compare: int = N_COMPARE) -> Verdict:
    """Judge a phasing from its data alone: fit against the noise floor, agreement of the
    runs, support (module docstring).

    Parameters
    ----------
    result : PhasingResult
        The runs, their supports, scores and free pixels.
    intensity : array_like or Pattern
        The measured ``(H, W)`` or ``(D, H, W)`` pattern they were phased from (or a
        validated :class:`~cdi_plugins.physics.Pattern`, whose mask is used).
    mask : array_like of bool, optional
        True where pixels are missing.
    max_support : array_like of bool, optional
        Shrink-wrap's bound, of the pattern's shape or one per run; without it the
        filled-the-bound check is skipped.
    fit_factor : float
        Largest misfit accepted, in noise floors.
    agree_distance : float
        Largest distance after alignment at which two runs count as the same object.
    n_compare : int
        Best-ranked runs compared with the best one.

    Returns
    -------
    Verdict

    Example
    -------
    See the module docstring.
    """
    pat = as_pattern(intensity, mask)
    if result.objects.shape[1:] != pat.shape:
        raise ValueError(f"result objects have shape {result.objects.shape[1:]}, the "
                         f"pattern {pat.shape}")
    v = Verdict(ok=True)
    best = result.best
    obj = result.objects[best]
    if not np.all(np.isfinite(obj)):
        v.reasons.append("the best run diverged (its object holds NaN or infinite values)")
    else:
        _check_fit(v, result, pat, fit_factor)
        _check_agreement(v, result, agree_distance, n_compare)
        _check_details(v, result)
    _check_support(v, result, max_support)
    v.ok = not v.reasons
    _friedel_hint(v, result, pat)
    return v


def _check_fit(v: Verdict, result: PhasingResult, pat, fit_factor: float) -> None:
    """The best run's Euclidean misfit over the Poisson noise floor, on the fitted pixels
    (the judgement) and on the withheld ones (for information)."""
    if not is_counts(pat.intensity, pat.mask):
        v.notes.append("fit not judged: the intensities are not photon counts (whole "
                       "numbers), so there is no Poisson noise floor to compare with")
        return
    obj = result.objects[result.best]
    model = np.abs(farfield(obj.astype(np.complex128), ndim=pat.ndim)) ** 2
    measured = ~pat.mask
    free = result.free_mask if result.free_mask is not None else np.zeros_like(measured)
    v.fit_ratio = _misfit_ratio(obj, model, pat, measured & ~free)
    if (free & measured).any():
        v.free_ratio = _misfit_ratio(obj, model, pat, free & measured)
    if v.fit_ratio > fit_factor:
        v.reasons.append(f"the best run misfits the data {v.fit_ratio:.1f} times the Poisson "
                         f"noise floor (at most {fit_factor:g}): it has not converged")


def _misfit_ratio(obj, model, pat, pixels) -> float:
    """Euclidean log-likelihood of ``obj`` on ``pixels`` over its noise floor there."""
    value = float(log_likelihood(obj, pat.intensity, pat.mask, pixels=pixels,
                                 noise="euclidean")[0])
    return value / max(euclidean_floor(model, pixels), 1e-12)


def _check_agreement(v: Verdict, result: PhasingResult, agree_distance: float,
                     n_compare: int) -> None:
    """Distances of the best-ranked runs to the best one, after alignment."""
    best = result.best
    if len(result.objects) < 2:
        v.notes.append("agreement not judged: one run (phase several to check that the "
                       "image is reproduced)")
        return
    others = _ranked_others(result)
    ref = _coarse(result.objects[best]).astype(np.complex128)
    norm = max(float(np.linalg.norm(ref)), 1e-300)
    for r in others[:max(int(n_compare), 1)]:
        o = result.objects[r]
        if not np.all(np.isfinite(o)):
            v.distances.append(float("inf"))
            continue
        a = align_to(ref, _coarse(o))[0].astype(np.complex128)
        g = np.vdot(a, ref) / max(float(np.vdot(a, a).real), 1e-300)
        v.distances.append(float(np.linalg.norm(g * a - ref) / norm))
    v.n_compared = len(v.distances)
    v.n_agree = int(np.sum(np.asarray(v.distances) < agree_distance))
    if v.n_agree == 0:
        v.reasons.append(f"no other run found the best run's image: the {v.n_compared} "
                         f"best-ranked runs lie {min(v.distances):.2f} or more from it after "
                         f"alignment (same object: below {agree_distance:g})")


def _ranked_others(result: PhasingResult) -> list[int]:
    """The runs other than the best, best-ranked first."""
    scores = np.where(np.isfinite(result.scores), result.scores, np.inf)
    return [int(r) for r in np.argsort(scores, kind="stable") if r != result.best]


def _check_details(v: Verdict, result: PhasingResult) -> None:
    """Whether a next-ranked run holds the best run's image in detail (a note when none
    does); measured only when the coarse agreement check passed."""
    if v.n_agree == 0:
        return
    best = result.objects[result.best]
    close = [r for r in _ranked_others(result) if np.all(np.isfinite(result.objects[r]))]
    v.close_distances = [real_space_error(result.objects[r], best, subpixel=4)
                         for r in close[:N_CLOSE]]
    v.reproduced = min(v.close_distances) < SAME_IMAGE
    if not v.reproduced:
        v.notes.append(f"{NOT_REPRODUCED}: after sub-pixel "
                       f"alignment the closest of the {len(v.close_distances)} next-ranked "
                       f"runs lies {min(v.close_distances):.2f} from it (the same image: "
                       f"below {SAME_IMAGE:g}): they hold other images, so the data may not "
                       f"single out one object (or the runs have not settled): phase again "
                       f"with other seeds and compare before trusting its details")


def _coarse(obj: np.ndarray, size: int | None = None) -> np.ndarray:
    """``obj`` averaged over ``f x f`` blocks (``f x f x f`` in 3D), ``f`` the largest
    power of 2 that divides every side and keeps them at least ``size`` (default
    :data:`AGREE_SIZE`, :data:`AGREE_SIZE_3D` in 3D): runs that found different images
    differ grossly, and the alignments of 16 runs of 512^2 cost 4 times less at 256^2."""
    if size is None:
        size = AGREE_SIZE_3D if obj.ndim == 3 else AGREE_SIZE
    f = 1
    while all(n % (2 * f) == 0 for n in obj.shape) and min(obj.shape) // (2 * f) >= size:
        f *= 2
    if f == 1:
        return obj
    blocks = [m for n in obj.shape for m in (n // f, f)]
    return obj.reshape(blocks).mean(axis=tuple(range(1, 2 * obj.ndim, 2)))


def _check_support(v: Verdict, result: PhasingResult, max_support) -> None:
    """Collapsed, too large, or filling shrink-wrap's bound."""
    sup = np.asarray(result.supports[result.best], bool)
    n, size = int(sup.sum()), sup.size
    v.support_fraction = n / size
    if n < max(MIN_SUPPORT_PX, MIN_SUPPORT_FRACTION * size):
        v.reasons.append(f"the support collapsed to {n} pixels")
    elif v.support_fraction > MAX_SUPPORT_FRACTION:
        v.reasons.append(f"the support covers {100 * v.support_fraction:.0f}% of the array "
                         "(oversampling below 2)")
    elif max_support is not None and result.parameters.get("shrinkwrap") is not None:
        bound = np.asarray(max_support, bool)
        bound = bound[result.best] if bound.ndim == sup.ndim + 1 else bound
        if bound.sum() and n >= FULL_SUPPORT * bound.sum():
            v.reasons.append(f"the support filled its bound ({n} of {int(bound.sum())} "
                             "pixels): shrink-wrap found no edge")


def _friedel_hint(v: Verdict, result: PhasingResult, pat) -> None:
    """Friedel's law on the counts, and a hint on the constraint when the phasing failed."""
    if not is_counts(pat.intensity, pat.mask):
        return
    try:
        test = friedel_test(pat.intensity, pat.mask)
    except ValueError:
        return
    v.friedel_z = test.z
    if v.ok:
        return
    constraint = result.parameters.get("constraint")
    if test.symmetric and constraint in ("none", "real"):
        v.notes.append(f"the pattern obeys Friedel's law within its counting noise (z = "
                       f"{test.z:.1f}): the object is probably real; phase with "
                       "constraint='positive' (--constraint positive)")
    elif not test.symmetric and constraint in ("real", "positive"):
        v.notes.append(f"the pattern breaks Friedel's law (z = {test.z:.0f}): the object is "
                       f"complex, which constraint={constraint!r} cannot fit; use "
                       "constraint='none'")


def judge(result: PhasingResult, pattern, max_support=None, default_box: bool = True
          ) -> PhasingResult:
    """Attach :func:`assess`'s verdict to ``result`` as ``result.quality``, log it (a
    warning for a failure) and return ``result``. ``max_support`` is judged ("filled its
    bound") only when it is the default half-array box (``default_box``): a bound the
    caller gave may fit the object already."""
    result.quality = assess(result, pattern,
                            max_support=max_support if default_box else None)
    log_verdict(result.quality)
    return result


def log_verdict(verdict: Verdict) -> None:
    """A warning for a failed phasing (with its notes), one info line otherwise."""
    if verdict.ok and verdict.reproduced is False:
        detail = next(n for n in verdict.notes if n.startswith(NOT_REPRODUCED))
        logger.warning("phasing quality: %s; %s", verdict, detail)
    elif verdict.ok:
        logger.info("phasing quality: %s", verdict)
    else:
        extra = "".join(f"; {n}" for n in verdict.notes)
        logger.warning("phasing %s%s", verdict, extra)
