"""Refinement of a CNN prediction by ER/HIO and shrink-wrap (Wu et al. 2021, Appendix B).

::

    res = cdi.cnn.refine(I, amp, phase)        # CNN support + phase -> ER/HIO + shrink-wrap
"""

from __future__ import annotations

import logging

import numpy as np

from .. import metrics
from ..phasing import PhasingResult, ShrinkWrap, centred_box, phase_retrieval
from ..physics import as_pattern
from .prediction import check_prediction, embed, support_from_amplitude

logger = logging.getLogger(__name__)

#: the ER/HIO switch schedule of the refinement (600 iterations, ends with ER)
REFINE_SCHEDULE = "ER**50*(HIO(0.9)**80*ER**20)**5*ER**50"


def refine(intensity, amplitude, phase, mask=None, support=None, n_runs: int = 1,
           n_iter: int = 600, algorithm: str | None = None, threshold: float = 0.1,
           use_phase: bool = True, seed: int | None = 0, device: str = "auto",
           shrinkwrap: ShrinkWrap | bool = True, show_progress: bool | None = None
           ) -> PhasingResult:
    """Refine a CNN prediction with ER/HIO and shrink-wrap (Wu et al. 2021, Appendix B).

    The predicted amplitude, binarised, gives the starting support; the predicted
    complex image (or random phases with ``use_phase=False``) is the start. The ER/HIO
    switch schedule :data:`REFINE_SCHEDULE` runs for 600 iterations; from iteration
    100 shrink-wrap updates the support every 10 iterations (it may grow or shrink),
    always inside a fixed centred square of half the array ("support 2").

    Parameters
    ----------
    intensity : array_like
        ``(64, 64)`` pattern (``(H, W)`` with the prediction ``(H/2, W/2)``).
    amplitude, phase : array_like
        The prediction, ``(H/2, W/2)``, phase in radians (as :func:`predict` returns).
    mask : array_like of bool, optional
        True where pixels are missing.
    support : array_like of bool, optional
        ``(H, W)`` starting support; default :func:`support_from_amplitude`.
    n_runs : int
        Runs; with ``use_phase=True`` every run starts from the prediction (the runs
        are then identical: HIO and ER are deterministic).
    n_iter : int
        Iterations; the schedule is scaled from its 600.
    algorithm : str, optional
        Another schedule (see :func:`~cdi_plugins.phasing.phase_retrieval`).
    threshold : float
        Binarisation threshold of the amplitude.
    use_phase : bool
        Start from the predicted complex image (True) or from random phases in the
        predicted support (False).
    seed : int, optional
        Seed of the random starts.
    device : str
        ``"auto"``, ``"cpu"`` or ``"cuda[:N]"``.
    shrinkwrap : ShrinkWrap or bool
        Default :func:`refine_shrinkwrap`: start 100, every 10, threshold 0.02, blur
        1 -> 0.5 px.
    show_progress : bool, optional

    Returns
    -------
    PhasingResult
        As :func:`~cdi_plugins.phasing.phase_retrieval`. A run whose final chi^2 is above
        its start's is replaced by the start (with its chi^2 held flat), so refinement
        never ends worse than where it began; ``parameters["kept_start"]`` lists them.

    Example
    -------
    >>> from cdi_plugins.simulate import superellipsoid as se
    >>> from cdi_plugins.cnn import predict
    >>> b = se.generate(1, seed=3)
    >>> amp, ph = predict(b.intensity)
    >>> res = refine(b.intensity[0], amp[0], ph[0], n_iter=60, device="cpu")
    >>> res.objects.shape
    (1, 64, 64)
    """
    pat = as_pattern(intensity, mask)
    arr, m = pat.intensity, pat.mask
    h, w = arr.shape[-2:]
    if arr.ndim != 2 or h != w or h % 4:
        raise ValueError(f"intensity must be 2D, square, of a size divisible by 4, got {arr.shape}")
    side = np.shape(amplitude)[-1]
    if 2 * side != h:
        raise ValueError(f"intensity {arr.shape} is not the pattern the network saw (twice "
                         f"the {side}x{side} prediction): refine the fitted pattern, fit = "
                         "cdi.cnn.fit_pattern(I, mask); refine(fit.intensity, amp, phase, "
                         "mask=fit.mask)")
    amp, ph = check_prediction(amplitude, phase, h // 2)
    if len(amp) != 1:
        raise ValueError(f"refine takes one prediction, got {len(amp)}")
    box = centred_box(arr.shape)
    if support is None:
        sup = embed(support_from_amplitude(amp[0], threshold), h) & box
    else:
        sup = np.asarray(support, bool)
        if sup.shape != arr.shape:
            raise ValueError(f"support must have the intensity's shape {arr.shape}, got "
                             f"{sup.shape}")
    if not sup.any():
        if support is not None:
            raise ValueError("support is empty (no True pixel)")
        logger.warning("the predicted amplitude is zero everywhere: starting from the fixed "
                       "square support instead")
        sup = box
    init = None
    if use_phase:
        obj = embed((amp[0] * np.exp(1j * ph[0])).astype(np.complex64), h)
        # Parseval: scale the start to the measured intensity (unitary FFT)
        norm = np.sqrt(arr[~m].sum() / max(float((np.abs(obj) ** 2).sum()), 1e-30))
        init = np.broadcast_to(obj * norm, (int(n_runs), h, w)).copy()
    if shrinkwrap is True:
        shrinkwrap = refine_shrinkwrap()
    schedule = algorithm or scaled_schedule(int(n_iter))
    # every measured pixel is fitted: the refinement is judged by chi^2 against its start
    res = phase_retrieval(pat, support=sup, max_support=box, algorithm=schedule,
                          n_runs=int(n_runs), seed=seed, device=device, init=init,
                          shrinkwrap=shrinkwrap, show_progress=show_progress,
                          free_fraction=0)
    if init is not None:
        start_chi2 = metrics.chi2(init, arr, m)
        worse = np.flatnonzero(res.final_chi2 > start_chi2)
        for r in worse:
            res.objects[r] = init[r]
            res.supports[r] = sup
            res.chi2[r] = np.minimum(res.chi2[r], start_chi2[r])
            res.chi2[r, -1] = start_chi2[r]
        if len(worse):
            logger.warning("refinement ended above its start in %d run(s); kept the start",
                           len(worse))
        res.parameters["kept_start"] = worse.tolist()
        res.parameters["start_chi2"] = start_chi2.tolist()
    res.parameters.update({"init": "CNN phase and support" if use_phase else
                           "random phases in the CNN support", "threshold": threshold})
    return res


def refine_shrinkwrap() -> ShrinkWrap:
    """Shrink-wrap of the refinement (Appendix B): from iteration 100, every 10, blur
    1 -> 0.5 px, threshold 0.02 of the maximum (Wu et al.'s rule).

    The threshold is low because the particles' smoothed edges and the dips of their
    projected amplitude carry a share of the pattern: a support that cuts them off
    leaves a chi^2 floor that no number of iterations removes."""
    return ShrinkWrap(start=100, every=10, sigma_start=1.0, sigma_end=0.5, threshold=0.02,
                      method="max", max_shrink=1.0)


def scaled_schedule(n_iter: int) -> str:
    """:data:`REFINE_SCHEDULE` scaled to ``n_iter`` iterations (at least 20)."""
    if n_iter == 600:
        return REFINE_SCHEDULE
    if n_iter < 20:
        raise ValueError(f"n_iter must be at least 20, got {n_iter}")
    # the same shape, scaled: 1/12 ER, five HIO/ER cycles, 1/12 ER
    er = max(n_iter // 12, 1)
    cyc = (n_iter - 2 * er) // 5
    hio = max(cyc * 4 // 5, 1)
    tail = n_iter - er - 5 * cyc
    return f"ER**{er}*(HIO(0.9)**{hio}*ER**{cyc - hio})**5*ER**{tail}"
