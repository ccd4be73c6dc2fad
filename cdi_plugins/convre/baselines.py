"""Ways to turn many independent reconstructions of one pattern into one image.

The comparisons of Pan et al. (IUCrJ 2022), Fig. 3-4, all applied to the same OSS runs:

- :func:`best_chi2`: the single run with the lowest chi^2 (eq. 5 of Wu et al. 2021);
- :func:`mean_of_all`: plain OSS, every run aligned and averaged;
- :func:`error_fraction`: selection by error as van der Schot et al. (2015) did: keep the
  fraction of the runs with the lowest error (here chi^2, the Fourier-space misfit, the
  only error a measurement offers) and average them;
- :func:`pca_kmeans_pixels`: ASURA-like multivariate classification (Sekiguchi, Oroguchi &
  Nakasako 2016): PCA of the aligned retrieved maps and k-means clustering in the space
  of the leading components, keeping one class. It is ConvRe's pipeline
  (:func:`cdi_plugins.convre.convre`) with raw pixels in place of the learned features and
  the same documented choice of the number of classes (silhouette) and of the class
  (the class of the lowest-chi^2 run, or with ``rule="mean-chi2"`` the lowest mean chi^2
  among classes of at least ``min_fraction`` of the runs). We could not consult that
  paper here, so its exact class-selection criterion may differ;
- :func:`convre_selection`: ConvRe itself.

Every function returns a :class:`Selection`: the kept run indices and their aligned mean.
:func:`compare` runs them all.

Example
-------
>>> import numpy as np
>>> o = np.zeros((32, 32), complex); o[10:22, 12:20] = 1
>>> runs = np.stack([np.roll(o, s, axis=0) * (1 + 0.1 * s) for s in range(5)])
>>> s = error_fraction(runs, chi2=np.arange(5.0), fraction=0.4); s.selected.tolist()
[0, 1]
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from tomopy_dlalign.common.validation import as_array

from .pipeline import average_runs, convre
from .prepare import check_runs

logger = logging.getLogger(__name__)


@dataclass
class Selection:
    """Runs kept by one method and their aligned mean.

    Attributes
    ----------
    method : str
        Name of the method.
    selected : numpy.ndarray
        Sorted indices of the kept runs.
    average : numpy.ndarray
        complex64 ``(H, W)``, mean of the kept runs after alignment (translation, twin,
        global phase) to the kept run of lowest chi^2.
    """

    method: str
    selected: np.ndarray
    average: np.ndarray


def _chi2(chi2, n: int) -> np.ndarray:
    c = as_array(chi2, "chi2", ndim=1, dtype=np.float64)
    if c.size != n:
        raise ValueError(f"chi2 must hold one value per run ({n}), got {c.size}")
    return c


def _average(objs: np.ndarray, keep: np.ndarray, chi2: np.ndarray, method: str) -> Selection:
    keep = np.sort(np.asarray(keep, int))
    return Selection(method, keep, average_runs(objs, keep, chi2))


def best_chi2(objects, chi2) -> Selection:
    """The single run with the lowest chi^2.

    Example
    -------
    >>> import numpy as np
    >>> best_chi2(np.ones((3, 8, 8), complex), [0.3, 0.1, 0.2]).selected.tolist()
    [1]
    """
    objs = check_runs(objects, min_runs=1)
    c = _chi2(chi2, len(objs))
    return _average(objs, np.array([int(np.argmin(c))]), c, "OSS best chi2")


def mean_of_all(objects, chi2=None) -> Selection:
    """Plain OSS: every run, aligned and averaged (aligned to the lowest-chi^2 run).

    Example
    -------
    >>> import numpy as np
    >>> mean_of_all(np.ones((3, 8, 8), complex)).selected.tolist()
    [0, 1, 2]
    """
    objs = check_runs(objects, min_runs=1)
    c = np.zeros(len(objs)) if chi2 is None else _chi2(chi2, len(objs))
    return _average(objs, np.arange(len(objs)), c, "OSS mean of all")


def error_fraction(objects, chi2, fraction: float = 0.1) -> Selection:
    """Selection by error (van der Schot et al. 2015): the ``fraction`` of the runs with
    the lowest chi^2 (at least one), aligned and averaged.

    Parameters
    ----------
    objects : array_like
        complex ``(n_runs, H, W)``.
    chi2 : array_like
        ``(n_runs,)`` misfit of each run.
    fraction : float
        Share of the runs kept, in (0, 1].
    """
    objs = check_runs(objects, min_runs=1)
    c = _chi2(chi2, len(objs))
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    n_keep = max(1, int(round(fraction * len(objs))))
    keep = np.argsort(c, kind="stable")[:n_keep]
    return _average(objs, keep, c, f"van der Schot (best {fraction:.0%} by chi2)")


def pca_kmeans_pixels(objects, chi2, seed: int | None = 0, **kwargs) -> Selection:
    """ASURA-like: PCA + k-means of the aligned maps' raw pixels, one class kept.

    ``kwargs`` go to :func:`cdi_plugins.convre.convre` (``n_clusters``, ``min_fraction``,
    ...).
    """
    cl = convre(objects, chi2=chi2, model="pixels", seed=seed, **kwargs)
    return Selection("ASURA-like (PCA + k-means, pixels)", cl.selected, cl.average)


def convre_selection(objects, chi2, model=None, seed: int | None = 0, **kwargs) -> Selection:
    """ConvRe (:func:`cdi_plugins.convre.convre`) as a :class:`Selection`."""
    cl = convre(objects, chi2=chi2, model=model, seed=seed, **kwargs)
    return Selection("OSS + ConvRe", cl.selected, cl.average)


def compare(objects, chi2, model=None, fraction: float = 0.1, seed: int | None = 0,
            **kwargs) -> dict[str, Selection]:
    """All methods on the same runs: ``{"best_chi2", "mean_of_all", "van_der_schot",
    "asura_like", "convre"}`` -> :class:`Selection`.

    Example
    -------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> runs = rng.standard_normal((8, 16, 16)) + 0j
    >>> sorted(compare(runs, chi2=rng.random(8), model="pixels", n_clusters=2))
    ['asura_like', 'best_chi2', 'convre', 'mean_of_all', 'van_der_schot']
    """
    objs = check_runs(objects)
    c = _chi2(chi2, len(objs))
    return {
        "best_chi2": best_chi2(objs, c),
        "mean_of_all": mean_of_all(objs, c),
        "van_der_schot": error_fraction(objs, c, fraction),
        "asura_like": pca_kmeans_pixels(objs, c, seed=seed, **kwargs),
        "convre": convre_selection(objs, c, model=model, seed=seed, **kwargs),
    }
