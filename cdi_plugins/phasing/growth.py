"""Support growth: after shrink-wrap, widen each run's support while the free
log-likelihood says the wider one predicts the withheld pixels better.

Shrink-wrap's threshold decides how much of a crystal's faint rim and strained parts the
support keeps, and no one threshold suits every crystal: on simulated crystals with
sharp facets the default RMS rule is right and a looser one doubles the error, on
crystals with rounded edges it cuts their tails and fits four times worse than the truth
(benchmarks/RESULTS_cdi.md, section 6). The data can tell the two apart. Each trial
dilates every run's support by ``step`` pixels (voxels), within its maximum support, and
phases on from the run's object with the wider support held fixed (``schedule``). The
run keeps the trial when its Poisson log-likelihood on the free pixels
(:func:`cdi_plugins.metrics.free_pixels`, which no run was ever fitted to) falls by more
than ``tolerance`` of its value; otherwise it keeps its object and support and stops
growing. Trials go on for the runs that grew, ``max_steps`` at most.

A wider support always fits the fitted pixels at least as well; it predicts the free
ones better only when the object really extends there. On the simulated hard-edged
crystal the first trial raises the free log-likelihood from 1.3-1.5 to 3-5 (rejected);
on a rounded one it lowers it from 7.8-9.1 to 0.8-1.0, and on the measured gold crystal
of 34-ID-C from 14-17 to 10-12 (accepted; then 7-8 at 2 voxels, 6-8 at 3).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

from ..metrics.likelihood import log_likelihood
from ..physics import Pattern
from .algorithms import as_schedule

logger = logging.getLogger(__name__)

#: the schedule of each growth trial, from the run's object on the wider support
GROWTH_SCHEDULE = "HIO**200 * ER**100"


@dataclass(frozen=True)
class SupportGrowth:
    """Settings of the support growth (module docstring).

    Parameters
    ----------
    step : int
        Pixels (voxels) each trial widens a support by: that many dilations by the
        nearest neighbours along the axes.
    max_steps : int
        Trials at most.
    tolerance : float
        Share of its free log-likelihood a run's must fall by for a trial to be kept.
    schedule : str
        What each trial phases, from the run's object, on the wider support held fixed.
    bounded : bool, optional
        Whether the wider supports stay inside the maximum support. None (the default):
        only when one was given (``support`` or ``max_support``); the default maximum,
        the centred half-array box, bounds shrink-wrap so that it cannot drift, while
        every pixel a trial adds is judged by the free pixels. A crystal longer than
        half the array along one axis (a pattern binned to oversampling below 2 along
        it, phasable when the support is small in volume) needs it.

    Example
    -------
    >>> g = SupportGrowth()
    >>> g.grow(np.pad(np.ones((1, 2, 2), bool), ((0, 0), (2, 2), (2, 2))),
    ...        np.ones((1, 6, 6), bool))[0].astype(int)
    array([[0, 0, 0, 0, 0, 0],
           [0, 0, 1, 1, 0, 0],
           [0, 1, 1, 1, 1, 0],
           [0, 1, 1, 1, 1, 0],
           [0, 0, 1, 1, 0, 0],
           [0, 0, 0, 0, 0, 0]])
    """

    step: int = 1
    max_steps: int = 4
    tolerance: float = 0.02
    schedule: str = GROWTH_SCHEDULE
    bounded: bool | None = None

    def __post_init__(self) -> None:
        if int(self.step) != self.step or self.step < 1:
            raise ValueError(f"support_growth step must be a positive integer, got {self.step}")
        if int(self.max_steps) != self.max_steps or self.max_steps < 1:
            raise ValueError(f"support_growth max_steps must be a positive integer, "
                             f"got {self.max_steps}")
        if not 0 <= self.tolerance < 1:
            raise ValueError(f"support_growth tolerance must be in [0, 1), got {self.tolerance}")
        as_schedule(self.schedule)  # refuse a bad schedule here, not after the phasing

    def grow(self, supports: np.ndarray, max_supports: np.ndarray) -> np.ndarray:
        """Every run's support ``(n, *shape)`` dilated by :attr:`step`, within its maximum."""
        ndim = supports.ndim - 1
        cross = ndimage.generate_binary_structure(ndim, 1)
        grown = np.stack([ndimage.binary_dilation(s, cross, iterations=int(self.step))
                          for s in supports])
        return grown & max_supports


def as_support_growth(value, default_schedule: bool, ndim: int, has_free: bool,
                      shrinkwrap: bool, default_box: bool) -> SupportGrowth | None:
    """The support growth a call runs, if any, with :attr:`SupportGrowth.bounded` decided.

    ``value`` None (the default): :class:`SupportGrowth` for a 3D pattern phased with the
    default schedule, shrink-wrap and free pixels, else none; True: always; False: never;
    a :class:`SupportGrowth`: those settings. Growth needs free pixels to judge by.
    ``default_box``: the maximum support is the default one (none was given).
    """
    if value is None:
        value = default_schedule and ndim == 3 and has_free and shrinkwrap
    if value is False:
        return None
    growth = SupportGrowth() if value is True else value
    if not isinstance(growth, SupportGrowth):
        raise TypeError(f"support_growth must be None, True, False or a SupportGrowth, "
                        f"got {value!r}")
    if not has_free:
        raise ValueError("support_growth needs free pixels to judge a wider support by: "
                         "give free_fraction > 0 (default 0.05), or support_growth=False")
    if growth.bounded is None:
        growth = replace(growth, bounded=not default_box)
    return growth


def free_llk(objects: np.ndarray, pat: Pattern, free: np.ndarray) -> np.ndarray:
    """Each run's Poisson log-likelihood per free pixel ``(n,)``."""
    return log_likelihood(objects, pat.intensity, pat.mask, pixels=free, noise="poisson")


def grow_supports(run: Callable, growth: SupportGrowth, pat: Pattern, free: np.ndarray,
                  objects: np.ndarray, supports: np.ndarray, max_sup: np.ndarray,
                  chi2: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Grow the runs' supports (module docstring).

    ``run(start, support, schedule)`` phases ``start`` on ``support`` held fixed and
    returns ``(objects, supports, chi2)``. Trial ``k`` phases each run's shrink-wrapped
    object on its support widened by ``k * step``; a run takes part in trial ``k + 1``
    only when trial ``k`` became its best. Returns the objects, supports and chi^2
    histories the runs end with, one block per trial that ran (a trial that did not
    become a run's best, or that it did not take part in, repeats its last chi^2), and
    the record: the trials run, each run's pixels of growth and its free log-likelihood
    before and after.
    """
    base_obj, base_sup = objects, supports
    if growth.bounded is False:
        max_sup = np.ones_like(max_sup)
    objects, supports = objects.copy(), supports.copy()
    schedule = as_schedule(growth.schedule)
    best = free_llk(objects, pat, free)
    record = {"settings": vars(growth), "free_poisson_before": best.tolist(),
              "grown_by": [0] * len(objects), "trials": 0}
    active, wider = np.arange(len(objects)), base_sup.copy()
    parts = [chi2]
    for trial in range(1, growth.max_steps + 1):
        grown = growth.grow(wider[active], max_sup[active])
        changed = (grown != wider[active]).any(axis=tuple(range(1, grown.ndim)))
        active = active[changed]
        wider[active] = grown[changed]
        if not len(active):
            break
        new_obj, _, new_chi2 = run(base_obj[active], wider[active], schedule)
        new = free_llk(new_obj, pat, free)
        keep = new < (1 - growth.tolerance) * best[active]
        block = np.repeat(parts[-1][:, -1:], len(schedule), axis=1)
        block[active[keep]] = new_chi2[keep]
        parts.append(block)
        record["trials"] = trial
        logger.info("support growth, trial %d (%d px wider): %d of %d run(s) fit the free "
                    "pixels better (free log-likelihood %s -> %s)", trial,
                    trial * growth.step, int(keep.sum()), len(active),
                    np.round(best[active], 3).tolist(), np.round(new, 3).tolist())
        active = active[keep]
        objects[active], supports[active], best[active] = new_obj[keep], wider[active], new[keep]
        for r in active:
            record["grown_by"][r] = trial * int(growth.step)
        if not len(active):
            break
    record["free_poisson_after"] = best.tolist()
    return objects, supports, np.concatenate(parts, axis=1), record
