"""Complex CNN phase retrieval (Wu et al. 2021): from one pattern to a particle's
amplitude and phase, then to a refined reconstruction.

::

    fit = cdi.cnn.fit_pattern(I, mask)         # any even size -> the 64x64 input (logged)
    amp, phase = cdi.cnn.predict(fit.intensity)            # -> 32x32 amplitude and phase
    res = cdi.cnn.refine(fit.intensity, amp, phase, mask=fit.mask)   # ER/HIO + shrink-wrap
    unwrapped = cdi.unwrap_phase(res.objects[0])

- :mod:`~cdi_plugins.cnn.model`: the network of Fig. 1 (:class:`ComplexCNN`);
- :mod:`~cdi_plugins.cnn.loss`: the loss of eq. (4) and the chi^2 of eq. (5);
- :mod:`~cdi_plugins.cnn.training`: training on superellipsoid data;
- :mod:`~cdi_plugins.cnn.inputs`: a pattern of any even size to the network's input
  (:func:`fit_pattern`);
- :mod:`~cdi_plugins.cnn.prediction`: the shipped weights, :func:`predict`, files;
- :mod:`~cdi_plugins.cnn.refinement`: :func:`refine` by ER/HIO and shrink-wrap;
- :mod:`~cdi_plugins.cnn.adapt`: :func:`adapt`, fine-tuning on a scan's own frames,
  never worse;
- :mod:`~cdi_plugins.cnn.neighbours`: the nearest-neighbour baseline;
- :mod:`~cdi_plugins.cnn.unwrap`: phase unwrapping;
- :mod:`~cdi_plugins.cnn.evaluate`, :mod:`~cdi_plugins.cnn.report`: held-out
  evaluation and its figures.
"""

from .adapt import adapt
from .inputs import FittedPattern, estimate_oversampling, fit_frames, fit_pattern
from .loss import fourier_modulus, to_complex
from .model import INFERENCE_BATCH, MODEL_NAME, CNNConfig, ComplexCNN, forward_batches
from .neighbours import nearest_neighbour
from .prediction import (
    BRAGG_WEIGHTS,
    DEFAULT_WEIGHTS,
    check_patterns,
    embed,
    load_model,
    modulus_chi2,
    predict,
    save_model,
    support_from_amplitude,
    write_prediction,
)
from .refinement import REFINE_SCHEDULE, refine, refine_shrinkwrap
from .unwrap import unwrap_phase

__all__ = ["adapt", "fit_pattern", "fit_frames", "FittedPattern", "estimate_oversampling",
           "predict", "refine",
           "load_model", "save_model", "modulus_chi2",
           "nearest_neighbour", "unwrap_phase", "support_from_amplitude", "embed",
           "write_prediction", "to_complex", "refine_shrinkwrap", "DEFAULT_WEIGHTS",
           "REFINE_SCHEDULE", "check_patterns", "BRAGG_WEIGHTS", "fourier_modulus",
           "ComplexCNN", "CNNConfig", "MODEL_NAME", "INFERENCE_BATCH", "forward_batches"]
