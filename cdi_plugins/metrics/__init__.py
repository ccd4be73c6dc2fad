"""Quality measures of phase retrieval: chi^2, run alignment, PRTF, wPRTF, resolution,
variance and correlations per resolution shell.

- :mod:`~cdi_plugins.metrics.fourier`: resolution shells and the data misfit :func:`chi2`;
- :mod:`~cdi_plugins.metrics.likelihood`: Poisson, Gaussian and Euclidean
  log-likelihoods, the free log-likelihood's pixels (:func:`free_pixels`), the Fourier
  :func:`r_factor`;
- :mod:`~cdi_plugins.metrics.alignment`: translation, twin and global phase of runs
  (:func:`align_to`, :func:`align_runs`) and :func:`real_space_error`;
- :mod:`~cdi_plugins.metrics.transfer`: :func:`prtf`, the Wiener filter of the wPRTF,
  :func:`resolution`;
- :mod:`~cdi_plugins.metrics.correlation`: amplitude variance, shell correlation, FRC;
- :mod:`~cdi_plugins.metrics.noise`: the misfit photon noise alone leaves
  (:func:`euclidean_floor`) and Friedel's law (:func:`friedel_test`).

Spatial frequency ``q`` is in cycles per real-space pixel (0.5 at the edge of the array
along an axis); the full-period resolution is ``1/q`` pixels, or ``pixel_size / q`` in
length units with :func:`real_space_pixel_size`. Shells are one Fourier pixel wide:
rings of a 2D pattern ``(H, W)``, spherical shells of a 3D one ``(D, H, W)``; every
measure here takes either, reading the spatial dimensions from the pattern (a stack of
objects alone: ``(n, H, W)`` is 2D runs, ``(n, D, H, W)`` 3D ones).
"""

from .alignment import (
    Alignment,
    align_runs,
    align_to,
    global_phase,
    real_space_error,
    translation,
    twin,
)
from .correlation import amplitude_variance, frc, fsc, halfset_frc, shell_correlation
from .fourier import chi2, shell_index
from .likelihood import NOISE_MODELS, fit_figures, free_pixels, log_likelihood, r_factor
from .noise import (
    FRIEDEL_EXCESS,
    FRIEDEL_Z,
    FriedelTest,
    euclidean_floor,
    expected_sqrt_misfit,
    friedel_test,
    is_counts,
)
from .transfer import (
    INV_E,
    Q_COMPLETE,
    Resolution,
    complete_shells,
    noise_level,
    prtf,
    real_space_pixel_size,
    resolution,
    wiener_filter,
)

__all__ = [
    "INV_E", "chi2", "shell_index",
    "NOISE_MODELS", "free_pixels", "log_likelihood", "r_factor", "fit_figures",
    "twin", "translation", "global_phase", "Alignment", "align_to", "align_runs",
    "real_space_error",
    "Q_COMPLETE", "complete_shells", "noise_level", "wiener_filter", "prtf", "Resolution",
    "resolution", "real_space_pixel_size",
    "amplitude_variance", "shell_correlation", "frc", "fsc", "halfset_frc",
    "FRIEDEL_Z", "FRIEDEL_EXCESS", "FriedelTest", "euclidean_floor", "expected_sqrt_misfit",
    "friedel_test", "is_counts",
]
