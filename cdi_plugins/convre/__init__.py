"""ConvRe (Pan et al., IUCrJ 2022): from many reconstructions of one pattern to the
cluster of consistent ones and their average.

One module per step of :func:`convre` (:mod:`~cdi_plugins.convre.pipeline`):

1. :mod:`~cdi_plugins.convre.prepare`: align the runs to a common frame, crop, normalise;
2. :mod:`~cdi_plugins.convre.features`: describe each run by the feature extractor
   :class:`FeatureNet` (and train it on simulated reconstructions);
3. :mod:`~cdi_plugins.convre.clustering`: PCA and k-means++;
4. :mod:`~cdi_plugins.convre.selection`: keep one cluster by its chi^2.

:mod:`~cdi_plugins.convre.baselines` holds the methods ConvRe is compared with and
:mod:`~cdi_plugins.convre.report` the figures.
"""

from .clustering import Clustering, cluster, isolated_run, merge_within_spread
from .features import FeatureNet
from .pipeline import ConvReResult, average_runs, convre
from .prepare import PHASING, Prepared, check_runs, prepare, prepare_by_chi2
from .selection import DEFAULT_RULE, RULES, ClusterScore, select_cluster

__all__ = [
    "convre", "ConvReResult", "average_runs",
    "PHASING", "check_runs", "Prepared", "prepare", "prepare_by_chi2",
    "FeatureNet",
    "Clustering", "cluster", "isolated_run", "merge_within_spread",
    "ClusterScore", "RULES", "DEFAULT_RULE", "select_cluster",
]
