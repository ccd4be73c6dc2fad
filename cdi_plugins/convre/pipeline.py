"""ConvRe: clustering of independent CDI reconstructions by their structure.

Pan et al. (IUCrJ 2022) phase one noisy pattern many times with OSS, describe every
reconstruction by convolutional image features, reduce them with PCA, cluster them with
k-means++ and keep the cluster of consistent reconstructions, whose average is the image
(Fig. 2 of the paper). Its supporting information, with the network's details, is not
available to us; this package follows the main text and the references it cites (CNN
features, PCA, k-means++ with scikit-learn) with four steps, each a public function in
its own module; :func:`convre` runs them in order:

1. :func:`~cdi_plugins.convre.prepare.prepare` aligns every run to a common frame
   (translation, twin image, global phase: :func:`cdi_plugins.metrics.align_to`), crops
   the joint support's bounding box (widened to hold the object of the lowest-chi^2 runs
   whole) and normalises each crop.
2. :func:`~cdi_plugins.convre.features.features` describes each crop by the
   convolutional feature extractor :class:`~cdi_plugins.convre.features.FeatureNet`
   (trained by the package's own ``cdi-plugins train-features`` on simulated
   reconstructions, shipped in ``cdi_plugins/weights/convre_features.safetensors``), or
   by its raw pixels.
3. :func:`~cdi_plugins.convre.clustering.cluster` standardises the features, projects
   them on their leading principal components and runs k-means++; the number of
   clusters is given or chosen by the mean silhouette (Rousseeuw 1987).
4. :func:`~cdi_plugins.convre.selection.select_cluster` keeps the cluster that holds
   the run of lowest chi^2 (eq. 5 of Wu et al. 2021, the data misfit; the truth is never
   used), or, with ``rule="mean-chi2"``, the one of lowest mean chi^2 among the clusters
   holding at least ``min_fraction`` of the runs; a lowest-chi^2 run that is isolated in
   feature space (:func:`~cdi_plugins.convre.clustering.isolated_run`) is kept alone,
   clusters that split one cloud of runs are merged back
   (:func:`~cdi_plugins.convre.clustering.merge_within_spread`); :func:`average_runs`
   averages the kept runs aligned among themselves.

Example
-------
>>> import numpy as np, cdi_plugins as cdi
>>> rng = np.random.default_rng(0)
>>> a = np.zeros((32, 32), complex); a[10:22, 12:20] = 1
>>> b = np.zeros((32, 32), complex); b[12:20, 8:24] = 1; b[14:18, 14:18] = 0
>>> runs = np.stack([a] * 6 + [b] * 6) + 0.05 * rng.standard_normal((12, 32, 32))
>>> cl = cdi.convre(runs, chi2=np.r_[np.full(6, 0.1), np.full(6, 0.2)], model="pixels",
...                 n_clusters=2, seed=0)
>>> sorted(cl.selected.tolist())
[0, 1, 2, 3, 4, 5]
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np

from tomopy_dlalign.common.validation import as_array

from .. import metrics
from .clustering import Clustering, cluster, isolated_run, merge_within_spread
from .features import features
from .prepare import Prepared, check_runs, prepare, prepare_by_chi2
from .selection import DEFAULT_RULE, select_cluster

logger = logging.getLogger(__name__)


def average_runs(objects, keep, chi2) -> np.ndarray:
    """The mean of the runs ``keep``, aligned among themselves: to the lowest-chi^2 of
    them, then to their mean (:func:`prepare`), complex64 ``(H, W)``. One run is returned
    as it is. Every selection method (:mod:`cdi_plugins.convre.baselines`) and :func:`convre`
    average their kept runs this way, so their images differ by the runs they keep only.
    """
    objs = check_runs(objects, min_runs=1)
    c2 = as_array(chi2, "chi2", ndim=1, dtype=np.float64)
    keep = np.sort(np.asarray(keep, int).ravel())
    if keep.size == 0:
        raise ValueError("keep must name at least one run")
    if keep.size == 1:
        return objs[keep[0]].astype(np.complex64)
    ref = int(np.argmin(c2[keep]))
    return prepare(objs[keep], reference=ref).aligned.mean(axis=0).astype(np.complex64)


@dataclass
class ConvReResult:
    """What :func:`convre` returns.

    Attributes
    ----------
    labels : numpy.ndarray
        int ``(n_runs,)``, cluster of each run (0 = the largest).
    selected : numpy.ndarray
        Indices of the runs in the kept cluster, sorted.
    average : numpy.ndarray
        complex64 ``(H, W)``, mean of the kept runs aligned among themselves
        (:func:`average_runs`).
    cluster : int
        Label of the kept cluster.
    scores : list of ClusterScore
        Per-cluster size, chi^2 and spread.
    chi2 : numpy.ndarray
        chi^2 of each run used by the selection rule.
    clustering : Clustering
        PCA scores, silhouettes, number of clusters.
    prepared : Prepared
        The aligned runs and crops.
    features : numpy.ndarray
        The feature vectors that were clustered.
    parameters : dict
        Everything needed to reproduce the result.
    """

    labels: np.ndarray
    selected: np.ndarray
    average: np.ndarray
    cluster: int
    scores: list
    chi2: np.ndarray
    clustering: Clustering
    prepared: Prepared
    features: np.ndarray
    parameters: dict = field(default_factory=dict)

    @property
    def n_clusters(self) -> int:
        """Number of clusters found."""
        return self.clustering.n_clusters


def convre(objects, intensity=None, mask=None, chi2=None, n_clusters: int | None = None,
           model=None, max_clusters: int = 6, n_components: int = 8,
           min_fraction: float = 0.1, min_silhouette: float = 0.25,
           seed: int | None = 0, rule: str = DEFAULT_RULE,
           anchor_fraction: float = 0.1) -> ConvReResult:
    """ConvRe: cluster independent reconstructions by structure, keep the consistent cluster.

    The method of Pan et al. (IUCrJ 2022), Fig. 2: :func:`prepare` (align, crop,
    normalise; the crop box holds the object of the ``anchor_fraction`` of runs with
    the lowest chi^2 whole), :func:`features` (convolutional features), :func:`cluster`
    (PCA, k-means++, silhouette), :func:`select_cluster` (the cluster of the lowest-chi^2
    run), then the mean of the kept cluster's runs aligned among themselves. Use the
    kept runs for the wPRTF of eq. (1)-(2):
    ``cdi.prtf(objects[result.selected], I, mask=mask, wiener=True)``.

    Parameters
    ----------
    objects : array_like
        complex ``(n_runs, H, W)`` reconstructions of one pattern (``PhasingResult.objects``).
    intensity : array_like, optional
        The ``(H, W)`` pattern; with ``mask``, gives each run's chi^2
        (:func:`cdi_plugins.metrics.chi2`) when ``chi2`` is not given.
    mask : array_like of bool, optional
        True = missing pixels.
    chi2 : array_like, optional
        ``(n_runs,)`` misfit of each run (e.g. ``PhasingResult.final_chi2``).
    n_clusters : int, optional
        Number of clusters; default chosen by the silhouette (:func:`cluster`).
    model : None, "pixels", path or FeatureNet
        Feature extractor (:func:`features`); default the shipped weights.
    max_clusters, n_components, min_silhouette : int, int, float
        See :func:`cluster`.
    min_fraction : float
        Smallest share of the runs a kept cluster may hold with ``rule="mean-chi2"``
        (:func:`select_cluster`).
    seed : int, optional
        Seed of k-means++; same seed, same result.
    rule : {"best-run", "mean-chi2"}
        How the kept cluster is chosen (:func:`select_cluster`): the cluster of the
        lowest-chi^2 run (default), or the lowest mean chi^2 among clusters of at least
        ``min_fraction`` of the runs.
    anchor_fraction : float
        Share of the runs, those of lowest chi^2, whose joint support the crop box must
        hold (:func:`prepare`).

    Returns
    -------
    ConvReResult

    Raises
    ------
    ValueError
        Fewer than 2 runs, fewer runs than ``n_clusters``, runs of different shapes, NaN
        or infinite values, neither ``intensity`` nor ``chi2``, shape mismatches.

    Example
    -------
    >>> import numpy as np
    >>> import cdi_plugins as cdi
    >>> o = np.zeros((32, 32), complex); o[10:22, 12:20] = 1
    >>> I = cdi.simulate.diffraction(o)
    >>> runs = np.stack([np.roll(o, s, axis=1) for s in range(6)])
    >>> cl = cdi.convre(runs, intensity=I, n_clusters=1)
    >>> cl.selected.tolist(), bool(np.allclose(abs(cl.average).max(), 1, atol=1e-5))
    ([0, 1, 2, 3, 4, 5], True)
    """
    objs = check_runs(objects)
    if n_clusters is not None and not isinstance(n_clusters, bool) and \
            int(n_clusters) == n_clusters and n_clusters > len(objs):
        raise ValueError(f"n_clusters={n_clusters} is more than the {len(objs)} runs given "
                         f"in objects")
    if chi2 is None:
        if intensity is None:
            raise ValueError("convre needs intensity (to compute each run's chi^2) or chi2, "
                             "got neither")
        c2 = metrics.chi2(objs, intensity, mask)
    else:
        c2 = as_array(chi2, "chi2", ndim=1, dtype=np.float64)
        if c2.size != len(objs):
            raise ValueError(f"chi2 must hold one value per run ({len(objs)}), got {c2.size}")
    prep = prepare_by_chi2(objs, c2, anchor_fraction)
    feats = features(prep.crops, model)
    cl = cluster(feats, n_clusters, max_clusters, n_components, min_silhouette, seed)
    best = int(np.argmin(c2))
    if rule == "best-run" and (cl.labels == cl.labels[best]).sum() > 1 and \
            isolated_run(feats, best):
        # no other run found the structure of the best-fitting run: a cluster of its own
        labels = cl.labels.copy()
        labels[best] = labels.max() + 1
        cl = replace(cl, labels=labels, n_clusters=int(labels.max() + 1))
        logger.info("ConvRe: the lowest-chi2 run %d is isolated in feature space: kept alone",
                    best)
    if rule == "best-run" and cl.n_clusters > 1:
        labels = merge_within_spread(cl.labels, int(cl.labels[best]), prep.crops)
        if labels.max() + 1 < cl.n_clusters:
            logger.info("ConvRe: %d cluster(s) merged into the best run's (their means agree "
                        "within the spread of their members)",
                        cl.n_clusters - labels.max() - 1)
            cl = replace(cl, labels=labels, n_clusters=int(labels.max() + 1))
    keep, scores = select_cluster(cl.labels, c2, min_fraction, prep.crops, rule)
    selected = np.flatnonzero(cl.labels == keep)
    average = average_runs(objs, selected, c2)
    logger.info("ConvRe: %d clusters (sizes %s), kept cluster %d: %d runs, mean chi2 %.4g",
                cl.n_clusters, [s.size for s in scores], keep, selected.size,
                scores[keep].mean_chi2)
    model_name = model if isinstance(model, str) else (
        "shipped" if model is None else type(model).__name__)
    return ConvReResult(
        labels=cl.labels, selected=selected, average=average, cluster=keep, scores=scores,
        chi2=c2, clustering=cl, prepared=prep, features=feats,
        parameters={"n_clusters": n_clusters, "model": str(model_name),
                    "max_clusters": max_clusters, "n_components": n_components,
                    "min_fraction": min_fraction, "min_silhouette": min_silhouette,
                    "seed": seed, "rule": rule, "anchor_fraction": anchor_fraction})
