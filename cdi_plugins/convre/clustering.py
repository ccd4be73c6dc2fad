"""Step 3 of ConvRe: PCA and k-means++ on the runs' features, and the two corrections
the ``"best-run"`` rule applies to the clusters (an isolated best run kept alone, splits
through one cloud of runs merged back)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from tomopy_dlalign.common.validation import as_array

logger = logging.getLogger(__name__)


@dataclass
class Clustering:
    """Runs grouped by their features: what :func:`cluster` returns, and the PCA scores
    that the report plots.

    Attributes
    ----------
    labels : numpy.ndarray
        int ``(n_runs,)``, cluster of each run, 0 to ``n_clusters - 1``.
    n_clusters : int
    silhouette : dict
        Mean silhouette of each tried number of clusters (empty when it was given).
    embedding : numpy.ndarray
        ``(n_runs, n_components)`` principal-component scores (for plots).
    explained_variance : numpy.ndarray
        Fraction of the variance carried by each kept component.
    """

    labels: np.ndarray
    n_clusters: int
    silhouette: dict
    embedding: np.ndarray
    explained_variance: np.ndarray


def cluster(feats, n_clusters: int | None = None, max_clusters: int = 6,
            n_components: int = 8, min_silhouette: float = 0.25,
            seed: int | None = 0) -> Clustering:
    """PCA then k-means++ on run features; the number of clusters given or chosen.

    Step 3 of ConvRe (Pan et al. 2022 cite PCA, Jolliffe & Cadima 2016, and k-means++,
    Arthur & Vassilvitskii 2007, through scikit-learn). Each feature is standardised,
    the runs are projected on the ``n_components`` leading principal components, and
    k-means++ (10 restarts) partitions the scores. With ``n_clusters=None`` every ``k``
    from 2 to ``max_clusters`` is tried and the one with the highest mean silhouette
    ``s = (b - a) / max(a, b)`` (Rousseeuw 1987; ``a`` the mean distance of a run to its
    own cluster, ``b`` to the nearest other one) is kept; if no ``k`` reaches
    ``min_silhouette``, the runs are one cluster: 0.25 is where Kaufman & Rousseeuw
    (1990) place "no substantial structure" (k-means splits even a single Gaussian
    cloud with a silhouette of about 0.2 to 0.3).

    Parameters
    ----------
    feats : array_like
        ``(n_runs, n_features)``.
    n_clusters : int, optional
        Number of clusters; default chosen by the silhouette.
    max_clusters : int
        Largest ``k`` tried (capped at ``n_runs - 1``).
    n_components : int
        Principal components kept (capped by the rank).
    min_silhouette : float
        Below it, one cluster (default 0.25, Kaufman & Rousseeuw 1990).
    seed : int, optional
        Seed of the k-means++ initialisation; same seed, same labels.

    Returns
    -------
    Clustering

    Raises
    ------
    ValueError
        Fewer runs than clusters, non-finite features, bad arguments.

    Example
    -------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> f = np.r_[rng.normal(0, 1, (10, 5)), rng.normal(8, 1, (10, 5))]
    >>> c = cluster(f, seed=0); c.n_clusters, len(set(c.labels[:10])), len(set(c.labels[10:]))
    (2, 1, 1)
    """
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.metrics import silhouette_score

    f = as_array(feats, "feats", ndim=2, dtype=np.float64)
    n = len(f)
    if n_clusters is not None:
        if isinstance(n_clusters, bool) or int(n_clusters) != n_clusters or n_clusters < 1:
            raise ValueError(f"n_clusters must be a positive integer, got {n_clusters!r}")
        if n_clusters > n:
            raise ValueError(f"n_clusters={n_clusters} is more than the {n} runs to cluster")
    if int(max_clusters) < 2:
        raise ValueError(f"max_clusters must be at least 2, got {max_clusters}")
    if n < 2:
        raise ValueError(f"cluster needs at least 2 runs, got {n}")
    std = f.std(axis=0)
    # a feature that varies only at rounding level is dropped, not blown up to unit variance
    scale = np.sqrt((f ** 2).mean()) + 1e-30
    informative = std > 1e-4 * scale
    if not informative.any():
        logger.info("the runs' features are identical to rounding: one cluster")
        return Clustering(labels=np.zeros(n, int), n_clusters=1, silhouette={},
                          embedding=np.zeros((n, 2), np.float32),
                          explained_variance=np.zeros(2, np.float32))
    f = f[:, informative]
    z = (f - f.mean(axis=0)) / std[informative]
    k_comp = max(1, min(int(n_components), n - 1, f.shape[1]))
    pca = PCA(n_components=k_comp, random_state=0)
    scores = pca.fit_transform(z)

    def kmeans(k):
        return KMeans(n_clusters=k, init="k-means++", n_init=10,
                      random_state=seed).fit_predict(scores)

    sil: dict[int, float] = {}
    if n_clusters is None:
        best_k, best_labels = 1, np.zeros(n, int)
        for k in range(2, min(int(max_clusters), n - 1) + 1):
            lab = kmeans(k)
            if len(set(lab)) < 2:
                continue
            sil[k] = float(silhouette_score(scores, lab))
            if sil[k] >= min_silhouette and sil[k] > sil.get(best_k, -np.inf):
                best_k, best_labels = k, lab
        labels = best_labels
        logger.info("silhouette per k: %s -> %d cluster(s)",
                    {k: round(v, 3) for k, v in sil.items()}, best_k)
    else:
        labels = kmeans(int(n_clusters)) if n_clusters > 1 else np.zeros(n, int)
    # number clusters by decreasing size so that labels do not depend on k-means' order
    labels = _by_size(labels)
    return Clustering(labels=labels.astype(int), n_clusters=int(labels.max() + 1),
                      silhouette=sil, embedding=scores.astype(np.float32),
                      explained_variance=pca.explained_variance_ratio_.astype(np.float32))


def _by_size(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered 0, 1, ... by decreasing cluster size (stable), without gaps."""
    sizes = np.bincount(labels)
    order = [k for k in np.argsort(-sizes, kind="stable") if sizes[k] > 0]
    new = np.zeros(sizes.size, int)
    new[order] = np.arange(len(order))
    return new[labels]


def isolated_run(feats, index: int, margin: float = 2.0) -> bool:
    """Whether run ``index`` is farther from its nearest neighbour than ``margin`` times
    the largest distance of any other run to its own nearest neighbour, in the
    L2-normalised feature space: no other run found a structure like its own.

    In a cloud of runs of one structure the largest nearest-neighbour distances are
    close to each other, so the margin of 2 keeps the most remote member of such a cloud
    from counting as isolated, while a lone run that found another structure sits
    several times farther (``benchmarks/RESULTS_convre.md``).

    k-means with the silhouette criterion attaches such a run to the nearest cluster (a
    cluster of one has a silhouette of 0 by definition, so isolating it rarely wins),
    which is why the ``"best-run"`` rule of :func:`cdi_plugins.convre.convre` checks it.

    Example
    -------
    >>> import numpy as np
    >>> f = np.r_[np.random.default_rng(0).normal(0, 0.01, (9, 4)) + 1, [[1, -1, 1, -1]]]
    >>> isolated_run(f, 9), isolated_run(f, 0)
    (True, False)
    """
    f = as_array(feats, "feats", ndim=2, dtype=np.float64)
    if not 0 <= index < len(f):
        raise ValueError(f"index must be a run index in [0, {len(f)}), got {index}")
    if len(f) < 3:
        return False
    f = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-30)
    d2 = np.maximum(2.0 - 2.0 * (f @ f.T), 0.0)  # squared distances of unit vectors
    np.fill_diagonal(d2, np.inf)
    nn = d2.min(axis=1)
    return bool(np.sqrt(nn[index]) > margin * np.sqrt(np.delete(nn, index).max()))


def merge_within_spread(labels, target: int, crops) -> np.ndarray:
    """Merge into cluster ``target`` every cluster whose mean crop lies closer to the
    target's mean than the members of either lie, on average, to their own mean: such
    a split runs through one cloud of runs, not between two structures. Labels are
    renumbered by decreasing size (0 = the largest), as :func:`cluster` numbers them.

    At high signal nearly every run finds the object and the learned features may still
    see enough structure inside that cloud for the silhouette to choose two clusters;
    merging them back keeps all the good runs. A cluster of one run has no spread and is
    never merged.

    Example
    -------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> crops = np.r_[rng.normal(0, 1, (6, 4, 4)), rng.normal(0, 1, (4, 4, 4)) + 5]
    >>> merge_within_spread([0, 0, 0, 1, 1, 1, 2, 2, 2, 2], 0, crops).tolist()
    [0, 0, 0, 0, 0, 0, 1, 1, 1, 1]
    """
    lab = np.asarray(labels, int).copy()
    c = np.asarray(crops)
    flat = c.reshape(len(c), -1)

    def centre_spread(k):
        m = flat[lab == k].mean(axis=0)
        return m, float(np.linalg.norm(flat[lab == k] - m, axis=1).mean())

    mt, st = centre_spread(target)
    for k in np.unique(lab):
        if k == target:
            continue
        mk, sk = centre_spread(k)
        if np.linalg.norm(mk - mt) < min(st, sk):
            lab[lab == k] = target
    return _by_size(lab)
