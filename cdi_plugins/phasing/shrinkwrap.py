"""Shrink-wrap support updates (Marchesini et al. 2003), held inside a maximum support.

Every ``every`` iterations from ``start`` on, the amplitude of each run's current estimate
is blurred with a Gaussian of width ``sigma`` and thresholded at ``threshold`` times its
maximum; the result, intersected with the run's maximum support ("support 2" of Wu et al.
2021, Appendix B), becomes the new support. The blur width decreases geometrically from
``sigma_start`` to ``sigma_end`` over the scheduled updates, so the support tightens as
the reconstruction sharpens. A support that would hold fewer than ``min_fraction`` or more
than ``max_fraction`` of the array is rejected and the previous one kept (PyNX does the
same with 1e-4 and 0.7).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from .constraints import Constraints

logger = logging.getLogger(__name__)


@dataclass
class ShrinkWrap:
    """Shrink-wrap settings.

    Parameters
    ----------
    start : int
        First iteration (0-based, counted over the whole schedule) that updates.
    every : int
        Iterations between updates.
    sigma_start, sigma_end : float
        Gaussian blur width in pixels at the first and the last update.
    threshold : float
        Fraction of each run's maximum blurred amplitude kept in the support.
    stop : int, optional
        Last iteration that may update (default: the end of the schedule).
    min_fraction, max_fraction : float
        Bounds on the support's share of the array; outside them the update is skipped.

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

    start: int = 50
    every: int = 20
    sigma_start: float = 3.0
    sigma_end: float = 1.0
    threshold: float = 0.2
    stop: int | None = None
    min_fraction: float = 1e-4
    max_fraction: float = 0.7

    def __post_init__(self) -> None:
        if self.start < 0 or self.every < 1:
            raise ValueError(f"shrinkwrap start must be >= 0 and every >= 1, got start="
                             f"{self.start}, every={self.every}")
        if not 0 < self.threshold < 1:
            raise ValueError(f"shrinkwrap threshold must be in (0, 1), got {self.threshold}")
        if self.sigma_start <= 0 or self.sigma_end <= 0:
            raise ValueError(f"shrinkwrap sigmas must be positive, got {self.sigma_start}, "
                             f"{self.sigma_end}")

    def iterations(self, n_iter: int) -> list[int]:
        """The iterations (0-based) after which the support is updated."""
        last = n_iter - 1 if self.stop is None else min(self.stop, n_iter - 1)
        # no update on the very last iteration: the final estimate is taken on a
        # support the algorithm has had time to fit
        return [i for i in range(self.start, last, self.every)]

    def sigmas(self, n_iter: int) -> dict[int, float]:
        """Blur width of each update, geometric from ``sigma_start`` to ``sigma_end``."""
        its = self.iterations(n_iter)
        if not its:
            return {}
        widths = np.geomspace(self.sigma_start, self.sigma_end, len(its))
        return dict(zip(its, widths.tolist(), strict=True))

    def update(self, ops: Constraints, estimate: torch.Tensor, sigma: float) -> None:
        """Replace ``ops.support`` by the shrink-wrapped supports of ``estimate``."""
        blurred = ops.gaussian_blur(estimate.abs().to(estimate.dtype), sigma).abs()
        peak = blurred.amax(dim=(-2, -1), keepdim=True)
        new = (blurred > self.threshold * peak) & ops.max_support
        frac = new.float().mean(dim=(-2, -1))
        ok = (frac >= self.min_fraction) & (frac <= self.max_fraction)
        ops.support = torch.where(ok[:, None, None], new, ops.support)
        logger.debug("shrink-wrap sigma=%.2f: support fraction %.4f (mean), %d run(s) kept old",
                     sigma, float(frac.mean()), int((~ok).sum()))
