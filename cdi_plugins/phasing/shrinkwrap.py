"""Shrink-wrap support updates (Marchesini et al. 2003), held inside a maximum support.

At each update the amplitude of each run's current estimate is blurred with a Gaussian
of width ``sigma`` (pixels, or voxels of a 3D pattern, along every axis) and
thresholded at ``threshold`` times a reference value of the blurred amplitude; the
result, intersected with the run's maximum support ("support 2" of Wu et al. 2021,
Appendix B), becomes the new support.

The reference value (``method``) is by default the root-mean-square of the blurred
amplitude **inside the current support** (PyNX's rule), not its maximum: on a measured
pattern a few bright pixels (a hot spot, a strong edge, an over-fitted speckle) raise the
maximum, the support shrinks, the peak of what is left rises further, and the support
collapses to a few pixels; the RMS of the support's pixels barely moves when a few of
them brighten. The blur width decreases geometrically from ``sigma_start`` to
``sigma_end`` over the updates, so the support tightens as the reconstruction sharpens.
A support that would hold fewer than ``min_fraction`` or more than ``max_fraction`` of
the array, or that would lose more than ``max_shrink`` of its pixels at once, is
rejected and the previous one kept (PyNX bounds the size with 1e-4 and 0.7).

When the updates are not placed by hand (``every=None``, the default), they follow the
schedule: one after each ER block but the last block (the "short ER block, then update"
of PyNX's examples); a schedule without such ER blocks is updated every 20 iterations
from ``start``, up to the start of its last block when that is ER.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from .constraints import Constraints

logger = logging.getLogger(__name__)


#: reference values a threshold can be relative to
METHODS = ("rms", "mean", "max")
#: iterations between updates of a schedule without inner ER blocks
AUTO_EVERY = 20
#: first update of a schedule without inner ER blocks, unless ``start`` says otherwise
AUTO_START = 50


@dataclass
class ShrinkWrap:
    """Shrink-wrap settings.

    Parameters
    ----------
    start : int
        First iteration (0-based, counted over the whole schedule) that may update.
    every : int, optional
        Iterations between updates; None: after each ER block of the schedule (module
        docstring).
    sigma_start, sigma_end : float
        Gaussian blur width in pixels at the first and the last update.
    threshold : float
        Fraction of the reference value (``method``) kept in the support.
    method : {"rms", "mean", "max"}
        Reference value: the RMS or the mean of the blurred amplitude inside the current
        support (robust to bright spots), or its maximum (Marchesini's original rule).
    stop : int, optional
        Last iteration that may update (default: the end of the schedule).
    min_fraction, max_fraction : float
        Bounds on the support's share of the array; outside them the update is skipped.
    max_shrink : float
        Largest share of its pixels a support may lose in one update (1: no bound).

    References
    ----------
    S. Marchesini et al., "X-ray image reconstruction from a diffraction pattern alone",
    Phys. Rev. B 68, 140101(R) (2003).

    Example
    -------
    >>> sw = ShrinkWrap(start=20, every=10, sigma_start=3, sigma_end=1)
    >>> sw.iterations(60)
    [20, 30, 40, 50]
    """

    start: int = 0
    every: int | None = None
    sigma_start: float = 2.0
    sigma_end: float = 0.5
    threshold: float = 0.25
    method: str = "rms"
    stop: int | None = None
    min_fraction: float = 1e-4
    max_fraction: float = 0.7
    max_shrink: float = 0.8

    def __post_init__(self) -> None:
        if self.start < 0 or (self.every is not None and self.every < 1):
            raise ValueError(f"shrinkwrap start must be >= 0 and every >= 1, got start="
                             f"{self.start}, every={self.every}")
        if not 0 < self.threshold < 1:
            raise ValueError(f"shrinkwrap threshold must be in (0, 1), got {self.threshold}")
        if self.sigma_start <= 0 or self.sigma_end <= 0:
            raise ValueError(f"shrinkwrap sigmas must be positive, got {self.sigma_start}, "
                             f"{self.sigma_end}")
        if self.method not in METHODS:
            raise ValueError(f"shrinkwrap method must be one of {METHODS}, got {self.method!r}")
        if not 0 < self.max_shrink <= 1:
            raise ValueError(f"shrinkwrap max_shrink must be in (0, 1], got {self.max_shrink}")

    @classmethod
    def max_rule(cls) -> ShrinkWrap:
        """The classic shrink-wrap of Marchesini et al. (2003) as this package ran it on
        simulated patterns: from iteration 50, every 20, blur 3 -> 1 px, threshold 0.2 of
        the maximum. ConvRe's learned features were trained on runs phased this way
        (:data:`cdi_plugins.convre.PHASING`); on measured patterns with bright spots
        its support can collapse, which the default RMS rule avoids."""
        return cls(start=50, every=20, sigma_start=3.0, sigma_end=1.0, threshold=0.2,
                   method="max", max_shrink=1.0)

    def iterations(self, schedule) -> list[int]:
        """The iterations (0-based) after which the support is updated.

        Parameters
        ----------
        schedule : int or Schedule
            The schedule, or only its number of iterations.
        """
        blocks = ([(schedule, False)] if isinstance(schedule, int)
                  else [(n, alg.name == "ER") for alg, n in schedule])
        ends = np.cumsum([n for n, _ in blocks]) - 1
        n_iter = int(ends[-1]) + 1 if len(ends) else 0
        last = n_iter - 1 if self.stop is None else min(self.stop, n_iter - 1)
        if self.every is None:
            after_er = [int(e) for e, (_, er) in zip(ends[:-1], blocks[:-1], strict=True) if er]
            if after_er:
                return [i for i in after_er if self.start <= i < last]
            if blocks and blocks[-1][1] and len(blocks) > 1:
                last = min(last, n_iter - blocks[-1][0])
        every = self.every or AUTO_EVERY
        start = self.start if self.every is not None or self.start else AUTO_START
        # no update on the very last iteration: the final estimate is taken on a
        # support the algorithm has had time to fit
        return list(range(start, last, every))

    def sigmas(self, schedule) -> dict[int, float]:
        """Blur width of each update, geometric from ``sigma_start`` to ``sigma_end``."""
        its = self.iterations(schedule)
        if not its:
            return {}
        widths = np.geomspace(self.sigma_start, self.sigma_end, len(its))
        return dict(zip(its, widths.tolist(), strict=True))

    def _reference(self, blurred: torch.Tensor, support: torch.Tensor,
                   dims: tuple[int, ...]) -> torch.Tensor:
        """Each run's reference value ``(n, 1, 1)`` (``(n, 1, 1, 1)`` in 3D; ``method``)
        over the spatial axes ``dims``."""
        if self.method == "max":
            return blurred.amax(dim=dims, keepdim=True)
        inside = blurred * support
        count = support.sum(dim=dims, keepdim=True).clamp_min(1)
        if self.method == "mean":
            return inside.sum(dim=dims, keepdim=True) / count
        return (inside.square().sum(dim=dims, keepdim=True) / count).sqrt()

    def update(self, ops: Constraints, estimate: torch.Tensor, sigma: float) -> None:
        """Replace ``ops.support`` by the shrink-wrapped supports of ``estimate``."""
        blurred = ops.gaussian_blur(estimate.abs().to(estimate.dtype), sigma).abs()
        ref = self._reference(blurred, ops.support, ops.dims)
        new = (blurred > self.threshold * ref) & ops.max_support
        frac = new.float().mean(dim=ops.dims)
        old = ops.support.float().mean(dim=ops.dims)
        ok = ((frac >= self.min_fraction) & (frac <= self.max_fraction)
              & (frac >= (1 - self.max_shrink) * old))
        ops.support = torch.where(ops.per_run(ok), new, ops.support)
        logger.debug("shrink-wrap sigma=%.2f: support fraction %.4f (mean), %d run(s) kept old",
                     sigma, float(frac.mean()), int((~ok).sum()))
