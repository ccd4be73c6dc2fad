"""Many phasing runs over the workers of a Dask cluster, in batches.

``phase_retrieval(..., n_runs=1000, cluster="local")`` cuts the runs into batches (each
a tensor of runs, as in one process), sends one batch per task to the workers
(:func:`tomopy_dlalign.common.cluster.run_tasks`) and gathers the objects, supports,
chi^2 histories and per-run likelihoods back in run order. Run ``r`` draws its start
from its own seed (``SeedSequence(seed).spawn(...)[r]``,
:func:`~cdi_plugins.phasing.starts.random_start` with ``first_run``), so it is the same
run whatever batch or worker it lands in, and the same as in one process. Without a
``seed`` the entropy is drawn once here and shared by all batches. A worker that dies
mid-batch loses nothing: Dask runs its batch again elsewhere.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import numpy as np

from tomopy_dlalign.common.cluster import open_cluster, parse_cluster, run_tasks

logger = logging.getLogger(__name__)


def batches(n_runs: int, batch_size: int, n_workers: int) -> list[tuple[int, int]]:
    """Runs ``[(first, stop), ...]`` of each task: ``batch_size`` runs at most, and at
    least as many tasks as workers when there are runs enough.

    >>> batches(10, 4, 2)
    [(0, 4), (4, 8), (8, 10)]
    >>> batches(6, 16, 3)
    [(0, 2), (2, 4), (4, 6)]
    """
    size = max(1, min(int(batch_size), math.ceil(n_runs / max(1, n_workers))))
    return [(a, min(a + size, n_runs)) for a in range(0, n_runs, size)]


def _n_workers(client) -> int:
    try:
        return max(1, len(client.scheduler_info(n_workers=-1).get("workers", {})))
    except TypeError:  # distributed before 2025 lists every worker anyway
        return max(1, len(client.scheduler_info().get("workers", {})))


def phase_on_cluster(phase_runs: Callable, cluster, pat, free, device, sup, max_sup, init,
                     seed, constraint, schedule, sw, batch_size: int,
                     show_progress: bool | None = None, lowres=None, growth=None):
    """Run all of a :func:`~cdi_plugins.phase_retrieval` call's runs on ``cluster``.

    ``phase_runs`` is the engine's per-batch function (it draws the batch's starts,
    runs the schedule and scores the runs); the other arguments are the call's, checked
    already (``sup``, ``max_sup`` and ``init`` hold one entry per run). Returns
    ``(objects, supports, chi2, llk, growth record)`` in run order, as one process would.
    """
    parse_cluster(cluster)
    n_runs = len(sup)
    if init is None and seed is None:
        seed = np.random.SeedSequence().entropy  # one draw, shared by every batch
    with open_cluster(cluster) as client:
        cuts = batches(n_runs, batch_size, _n_workers(client))
        tasks = [(pat, free, device, sup[a:b], max_sup[a:b],
                  None if init is None else init[a:b], seed, a, constraint, schedule, sw,
                  batch_size, False, lowres, growth) for a, b in cuts]
        logger.info("phasing %d runs in %d batches on %s", n_runs, len(cuts), client)
        parts: list = [None] * len(cuts)
        for res in run_tasks(phase_runs, tasks, client, desc="phasing batches",
                             show_progress=show_progress, key="phase-batch"):
            parts[res.index] = res.value
    objects, supports = (np.concatenate([p[i] for p in parts]) for i in range(2))
    chi2 = merge_histories([p[2] for p in parts])
    llk = {name: np.concatenate([p[3][name] for p in parts]) for name in parts[0][3]}
    return objects, supports, chi2, llk, merge_growth([p[4] for p in parts])


def merge_histories(parts: list[np.ndarray]) -> np.ndarray:
    """The batches' chi^2 histories as one array: a batch whose support growth ran
    fewer trials than another's repeats its last value to the longest's length."""
    n = max(p.shape[1] for p in parts)
    return np.concatenate([np.pad(p, ((0, 0), (0, n - p.shape[1])), mode="edge")
                           for p in parts])


def merge_growth(records: list) -> dict | None:
    """The support-growth records of the batches as one call's (runs in order)."""
    if records[0] is None:
        return None
    out = dict(records[0], trials=max(r["trials"] for r in records))
    for key in ("grown_by", "free_poisson_before", "free_poisson_after"):
        out[key] = [v for r in records for v in r[key]]
    return out
