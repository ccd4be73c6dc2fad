"""Step 4 of ConvRe: which cluster to keep, by the data misfit chi^2 of its runs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tomopy_dlalign.common.validation import as_array

from ..defaults import DEFAULT_RULE, RULES


@dataclass
class ClusterScore:
    """Per-cluster summary: ``size``, ``fraction`` of the runs, ``mean_chi2`` and
    ``median_chi2`` (data misfit, eq. 5 of Wu et al. 2021), ``spread`` (mean distance of
    the members' aligned crops to their mean, relative), ``eligible`` (size rule met)."""

    label: int
    size: int
    fraction: float
    mean_chi2: float
    median_chi2: float
    spread: float
    eligible: bool




def select_cluster(labels, chi2, min_fraction: float = 0.1, crops=None,
                   rule: str = DEFAULT_RULE) -> tuple[int, list[ClusterScore]]:
    """The cluster to keep: the cluster of the best-fitting run (default rule), or the
    lowest mean chi^2 among those with at least ``min_fraction`` of the runs.

    Rule ``"best-run"`` (step 4 of ConvRe here; the paper keeps "the consistent
    cluster"): the cluster that holds the run of lowest chi^2, whatever its size
    (``min_fraction`` only sets the ``eligible`` flag of the scores);
    :func:`cdi_plugins.convre.convre` first gives that run a cluster of its own when it
    is isolated in feature space (:func:`cdi_plugins.convre.clustering.isolated_run`),
    and merges into its cluster the clusters whose means agree with it within the
    spread of their members (:func:`cdi_plugins.convre.clustering.merge_within_spread`).
    The clustering gathers the runs that found the same structure as the run that fits
    the data best, so their mean keeps its structure with less noise. On simulated
    low-signal patterns the lowest-chi^2 run finds the object whenever any run does, so
    this rule keeps the object where only a few runs find it, which ``"mean-chi2"``
    cannot (the comparison is in ``benchmarks/RESULTS_convre.md``). It trusts one run's
    chi^2, which a run that fits the noise of real data unusually well may not deserve:
    look at the gallery of the report.

    Rule ``"mean-chi2"``: a cluster must hold at least ``min_fraction`` of the runs, so
    that a handful of runs that fit the noise unusually well cannot win; among those,
    the one whose members fit the data best on average (lowest mean chi^2) is kept. Ties
    go to the larger cluster. If no cluster is large enough, the largest one is kept.
    When fewer than ``min_fraction`` of the runs find the object, this rule cannot keep
    them.

    Returns
    -------
    label : int
    scores : list of ClusterScore

    Example
    -------
    >>> import numpy as np
    >>> labels, chi2 = np.array([0, 0, 0, 1, 1, 2]), np.array([.3, .3, .3, .1, .1, .01])
    >>> select_cluster(labels, chi2)[0], select_cluster(labels, chi2, 0.3, rule="mean-chi2")[0]
    (2, 1)
    """
    lab = np.asarray(labels, int)
    c2 = as_array(chi2, "chi2", ndim=1, dtype=np.float64)
    if c2.shape != lab.shape:
        raise ValueError(f"chi2 must hold one value per run ({lab.size}), got {c2.size}")
    if not 0 <= min_fraction <= 1:
        raise ValueError(f"min_fraction must be in [0, 1], got {min_fraction}")
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    n = lab.size
    scores = []
    for k in range(lab.max() + 1):
        m = lab == k
        spread = float("nan")
        if crops is not None and m.sum() > 1:
            cm = crops[m]
            mean = cm.mean(axis=0)
            spread = float(np.linalg.norm(cm - mean, axis=(1, 2)).mean()
                           / max(np.linalg.norm(mean), 1e-12))
        scores.append(ClusterScore(label=k, size=int(m.sum()), fraction=float(m.mean()),
                                   mean_chi2=float(c2[m].mean()),
                                   median_chi2=float(np.median(c2[m])), spread=spread,
                                   eligible=bool(m.sum() >= min_fraction * n)))
    if rule == "best-run":
        return int(lab[np.argmin(c2)]), scores
    eligible = [s for s in scores if s.eligible] or [max(scores, key=lambda s: s.size)]
    best = min(eligible, key=lambda s: (s.mean_chi2, -s.size))
    return best.label, scores
