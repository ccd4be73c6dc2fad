"""ConvRe: clustering of independent CDI reconstructions by their structure.

Pan et al. (IUCrJ 2022) phase one noisy pattern many times with OSS, describe every
reconstruction by convolutional image features, reduce them with PCA, cluster them with
k-means++ and keep the cluster of consistent reconstructions, whose average is the image
(Fig. 2 of the paper). Its supporting information, with the network's details, is not
available to us; this module follows the main text and the references it cites (CNN
features, PCA, k-means++ with scikit-learn) with four steps, each a public function:

1. :func:`prepare` aligns every run to a common frame (translation, twin image, global
   phase: :func:`cdi_plugins.metrics.align_to`), crops the joint support's bounding box
   (widened to hold the object of the lowest-chi^2 runs whole) and normalises each crop.
2. :func:`features` describes each crop by the convolutional feature extractor of
   :mod:`cdi_plugins.features` (trained by the package's own ``cdi-plugins
   train-features`` on simulated reconstructions, shipped in
   ``cdi_plugins/weights/convre_features.safetensors``), or by its raw pixels.
3. :func:`cluster` standardises the features, projects them on their leading principal
   components and runs k-means++; the number of clusters is given or chosen by the mean
   silhouette (Rousseeuw 1987).
4. :func:`select_cluster` keeps the cluster that holds the run of lowest chi^2 (eq. 5
   of Wu et al. 2021, the data misfit; the truth is never used), or, with
   ``rule="mean-chi2"``, the one of lowest mean chi^2 among the clusters holding at
   least ``min_fraction`` of the runs; a lowest-chi^2 run that is isolated in feature
   space (:func:`isolated_run`) is kept alone, clusters that split one cloud of runs are
   merged back (:func:`merge_within_spread`); :func:`average_runs` averages the kept
   runs aligned among themselves.

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

from . import metrics

logger = logging.getLogger(__name__)


# -- 1. preparation -------------------------------------------------------------------------
def check_runs(objects, name: str = "objects", min_runs: int = 2) -> np.ndarray:
    """Validate a stack of reconstructions: complex ``(n_runs, H, W)``, finite, not zero.

    Raises
    ------
    ValueError
        Not 3D, fewer than ``min_runs`` runs, NaN or infinite values, an all-zero run.
    TypeError
        A list of runs of different shapes, or a non-numeric array.
    """
    if isinstance(objects, (list, tuple)) and len({np.shape(o) for o in objects}) > 1:
        shapes = sorted({tuple(np.shape(o)) for o in objects})
        raise ValueError(f"{name} must all have the same shape, got runs of shapes {shapes}")
    a = as_array(objects, name, ndim=3, dtype=np.complex64)
    if a.shape[0] < min_runs:
        raise ValueError(f"{name} must hold at least {min_runs} runs, got {a.shape[0]}")
    zero = ~np.abs(a).reshape(len(a), -1).any(axis=1)
    if zero.any():
        raise ValueError(f"{name} run(s) {np.flatnonzero(zero).tolist()} are zero everywhere")
    return a


@dataclass
class Prepared:
    """Runs in a common frame, what :func:`prepare` returns.

    Attributes
    ----------
    aligned : numpy.ndarray
        complex64 ``(n_runs, H, W)``: every run aligned to the common reference
        (translation, twin, global phase), at its original scale; averages and PRTFs are
        computed from these.
    crops : numpy.ndarray
        complex64 ``(n_runs, h, w)``: the joint support's bounding box of each aligned run,
        divided by its norm (unit energy), the input of :func:`features`.
    box : tuple of slice
        The bounding box in the full array.
    reference : numpy.ndarray
        complex64 ``(H, W)``, the common frame (the mean of the runs aligned to the seed
        run, normalised).
    """

    aligned: np.ndarray
    crops: np.ndarray
    box: tuple[slice, slice]
    reference: np.ndarray


def _joint_box(aligned: np.ndarray, threshold: float, margin: int) -> tuple[slice, slice]:
    amp = np.abs(aligned / np.linalg.norm(aligned.reshape(len(aligned), -1), axis=1)[:, None,
                                                                                       None])
    mean = amp.mean(axis=0)
    ys, xs = np.nonzero(mean > threshold * mean.max())
    h, w = mean.shape
    return (slice(max(ys.min() - margin, 0), min(ys.max() + margin + 1, h)),
            slice(max(xs.min() - margin, 0), min(xs.max() + margin + 1, w)))


def prepare(objects, reference: int | None = None, threshold: float = 0.1,
            margin: int = 3, rounds: int = 2, anchor=None) -> Prepared:
    """Align all runs to a common frame, crop the joint support's box, normalise.

    Step 1 of ConvRe. The runs are aligned to run ``reference`` (translation by
    cross-correlation, twin image ``conj(o(-r))``, global phase:
    :func:`cdi_plugins.metrics.align_to`); then ``rounds - 1`` more times to the mean of
    the aligned runs, which removes the bias toward one run. The box is the bounding box
    of the pixels where the mean normalised amplitude exceeds ``threshold`` times its
    maximum, grown by ``margin`` pixels, joined with the same box of the ``anchor`` runs'
    mean; each crop is divided by its norm so that a run's overall scale does not count
    in the clustering.

    When most runs failed, a box made from the mean of all runs follows the failures
    (often a compact streak) and cuts the edge of the few runs that found the object;
    :func:`convre` therefore passes the lowest-chi^2 runs as ``anchor``, so that the
    box holds their object whole.

    Parameters
    ----------
    objects : array_like
        complex ``(n_runs, H, W)`` centred reconstructions of one pattern.
    reference : int, optional
        Run the first round aligns to (default: run 0; :func:`convre` passes the lowest
        chi^2).
    threshold : float
        Relative amplitude that defines the joint support, in (0, 1).
    margin : int
        Pixels added around the joint support's bounding box.
    rounds : int
        Alignment rounds (at least 1).
    anchor : array_like of int, optional
        Indices of runs whose own joint support the box must hold too (default: none).

    Returns
    -------
    Prepared

    Raises
    ------
    ValueError
        See :func:`check_runs`; ``reference`` or ``anchor`` out of range; bad ``threshold``.

    Example
    -------
    >>> import numpy as np
    >>> from cdi_plugins import metrics
    >>> o = np.zeros((32, 32), complex); o[10:20, 12:18] = np.arange(6) + 1
    >>> runs = np.stack([o, 1j * np.roll(o, 3, axis=0), metrics.twin(o)])
    >>> p = prepare(runs); p.crops.shape[0], bool(np.allclose(p.crops, p.crops[0], atol=1e-5))
    (3, True)
    """
    objs = check_runs(objects)
    n = len(objs)
    ref_i = 0 if reference is None else int(reference)
    if not 0 <= ref_i < n:
        raise ValueError(f"reference must be a run index in [0, {n}), got {reference}")
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    if int(rounds) < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    sub = None
    if anchor is not None:
        sub = np.unique(np.asarray(anchor, dtype=int).ravel())
        if sub.size == 0 or sub.min() < 0 or sub.max() >= n:
            raise ValueError(f"anchor must hold run indices in [0, {n}), got "
                             f"{np.asarray(anchor).ravel().tolist()[:8]}")
    ref = objs[ref_i].astype(np.complex128)
    for _ in range(int(rounds)):
        aligned = metrics.align_runs(objs, ref)
        norms = np.linalg.norm(aligned.reshape(n, -1), axis=1)
        ref = (aligned / norms[:, None, None]).mean(axis=0)
    # centre the common frame on its centre of mass so the crop box sits mid-array
    w = np.abs(ref) ** 2
    yy, xx = np.indices(ref.shape)
    com = np.rint([(w * yy).sum() / w.sum(), (w * xx).sum() / w.sum()]).astype(int)
    shift = (ref.shape[0] // 2 - com[0], ref.shape[1] // 2 - com[1])
    aligned = np.roll(aligned, shift, axis=(1, 2))
    ref = np.roll(ref, shift, axis=(0, 1))
    box = _joint_box(aligned, threshold, margin)
    if sub is not None:
        # the union with the anchor runs' box: what most runs share stays in the crops,
        # and so does the whole object of the few runs that found it
        fb = _joint_box(aligned[sub], threshold, margin)
        box = tuple(slice(min(a.start, b.start), max(a.stop, b.stop))
                    for a, b in zip(box, fb, strict=True))
    crops = aligned[(slice(None), *box)].astype(np.complex64)
    crops /= np.linalg.norm(crops.reshape(n, -1), axis=1)[:, None, None]
    return Prepared(aligned=aligned.astype(np.complex64), crops=crops, box=box,
                    reference=(ref / np.linalg.norm(ref)).astype(np.complex64))


def prepare_by_chi2(objects, chi2, anchor_fraction: float = 0.1) -> Prepared:
    """:func:`prepare` as :func:`convre` calls it: aligned first to the lowest-chi^2 run,
    the crop box anchored on the ``ceil(anchor_fraction * n)`` runs of lowest chi^2 (at
    least one). :func:`cdi_plugins.features.make_training_set` prepares its training
    crops the same way, so the network sees what ConvRe gives it.

    Example
    -------
    >>> import numpy as np
    >>> o = np.zeros((32, 32), complex); o[10:20, 12:18] = 1
    >>> p = prepare_by_chi2(np.stack([o, np.roll(o, 2, axis=1)]), [0.2, 0.1]); p.crops.shape
    (2, 16, 12)
    """
    c2 = as_array(chi2, "chi2", ndim=1, dtype=np.float64)
    if not 0 < anchor_fraction <= 1:
        raise ValueError(f"anchor_fraction must be in (0, 1], got {anchor_fraction}")
    k = max(1, int(np.ceil(anchor_fraction * c2.size - 1e-9)))
    anchor = np.argsort(c2, kind="stable")[:k]
    return prepare(objects, reference=int(anchor[0]), anchor=anchor)


# -- 2. features ----------------------------------------------------------------------------
def features(crops, model=None) -> np.ndarray:
    """Describe each prepared run by a feature vector.

    Step 2 of ConvRe: the convolutional feature extractor
    (:class:`cdi_plugins.features.FeatureNet`), or the raw pixels as a baseline.

    Parameters
    ----------
    crops : array_like
        complex ``(n_runs, h, w)``, :attr:`Prepared.crops`.
    model : None, "pixels", str, Path or FeatureNet
        ``None``: the shipped weights; ``"pixels"``: real and imaginary parts of the crops,
        flattened (no network); a path: a user-supplied weights file written by
        ``cdi-plugins train-features`` (safetensors, read without running any code); or a
        loaded network. The network is small and runs on the CPU.

    Returns
    -------
    numpy.ndarray
        float32 ``(n_runs, n_features)``.

    Example
    -------
    >>> import numpy as np
    >>> features(np.ones((4, 10, 12), np.complex64), model="pixels").shape
    (4, 240)
    """
    from . import features as feat

    c = as_array(crops, "crops", ndim=3, dtype=np.complex64)
    if isinstance(model, str) and model == "pixels":
        return np.concatenate([c.real.reshape(len(c), -1), c.imag.reshape(len(c), -1)],
                              axis=1).astype(np.float32)
    net = model if isinstance(model, feat.FeatureNet) else feat.load_model(model)
    return feat.embed(c, net)


# -- 3. clustering --------------------------------------------------------------------------
@dataclass
class Clustering:
    """What :func:`cluster` returns.

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

    In a cloud of runs of one structure the largest nearest-neighbour distances differ
    by 10 to 30 %, so the margin of 2 keeps the most remote member of such a cloud from
    counting as isolated; on the simulated patterns of ``benchmarks/RESULTS_convre.md``
    a lone run that had found the object sat 3 to 6 times farther.

    k-means with the silhouette criterion attaches such a run to the nearest cluster (a
    cluster of one has a silhouette of 0 by definition, so isolating it rarely wins),
    which is why the ``"best-run"`` rule of :func:`convre` checks it.

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


# -- 4. selection ---------------------------------------------------------------------------
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


#: the rules :func:`select_cluster` knows
RULES = ("best-run", "mean-chi2")
#: the rule :func:`select_cluster`, :func:`convre` and ``cdi-plugins cluster`` use by default
DEFAULT_RULE = "best-run"


def select_cluster(labels, chi2, min_fraction: float = 0.1, crops=None,
                   rule: str = DEFAULT_RULE) -> tuple[int, list[ClusterScore]]:
    """The cluster to keep: the cluster of the best-fitting run (default rule), or the
    lowest mean chi^2 among those with at least ``min_fraction`` of the runs.

    Rule ``"best-run"`` (step 4 of ConvRe here; the paper keeps "the consistent
    cluster"): the cluster that holds the run of lowest chi^2, whatever its size
    (``min_fraction`` only sets the ``eligible`` flag of the scores); :func:`convre`
    first gives that run a cluster of its own when it is isolated in feature space
    (:func:`isolated_run`), and merges into its cluster the clusters whose means agree
    with it within the spread of their members (:func:`merge_within_spread`). The
    clustering gathers the runs that found the same structure as the run that fits the
    data best, so their mean keeps its structure with less noise. On simulated
    low-signal patterns (three objects, 64 noise draws at 3e4 and 2.5e4 photons,
    ``benchmarks/RESULTS_convre.md``) the lowest-chi^2 run had found the object in every
    draw where any run had, and this rule gave a much lower error than ``"mean-chi2"``
    where fewer than 10 % of the runs found the object; it was worse (by at most 0.11)
    only in draws where both rules kept failed runs. It trusts one run's chi^2, which a
    run that fits the noise of real data unusually well may not deserve: look at the
    gallery of the report.

    Rule ``"mean-chi2"`` (the default of earlier versions): a cluster must hold at least
    ``min_fraction`` of the runs, so that a handful of runs that fit the noise unusually
    well cannot win; among those, the one whose members fit the data best on average
    (lowest mean chi^2) is kept. Ties go to the larger cluster. If no cluster is large
    enough, the largest one is kept. When fewer than ``min_fraction`` of the runs find
    the object, this rule cannot keep them.

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


def average_runs(objects, keep, chi2) -> np.ndarray:
    """The mean of the runs ``keep``, aligned among themselves: to the lowest-chi^2 of
    them, then to their mean (:func:`prepare`), complex64 ``(H, W)``. One run is returned
    as it is. Every selection method (:mod:`cdi_plugins.selection`) and :func:`convre`
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


# -- the whole method -----------------------------------------------------------------------
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
