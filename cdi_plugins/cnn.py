"""Complex CNN phase retrieval (Wu et al. 2021): predict, refine, nearest-neighbour
baseline, phase unwrapping.

::

    amp, phase = cdi.cnn.predict(I)            # one 64x64 pattern or a batch -> 32x32
    res = cdi.cnn.refine(I, amp, phase)        # CNN support + phase -> ER/HIO + shrink-wrap
    unwrapped = cdi.unwrap_phase(res.objects[0])

The network (:mod:`cdi_plugins.cnn_model`) was trained by ``cdi-plugins cnn train`` on
strong-phase superellipsoid particles (:mod:`cdi_plugins.superellipsoid`); its weights
ship with the package (``cdi_plugins/weights/cnn.safetensors``, model card
``cnn.json`` beside them) and load offline. The images it predicts are centred in the
pattern's array at half its size (oversampling 2), with the global phase and the twin
fixed as in :func:`cdi_plugins.superellipsoid.canonical_image`.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from tomopy_dlalign.common.device import resolve_device
from tomopy_dlalign.common.modelfiles import load_state, read_card, read_weights, save_weights
from tomopy_dlalign.common.validation import as_array

from . import metrics
from .cnn_loss import fourier_modulus, to_complex
from .cnn_loss import modulus_chi2 as _modulus_chi2
from .cnn_model import INFERENCE_BATCH, MODEL_NAME, CNNConfig, ComplexCNN, forward_batches
from .phasing import PhasingResult, centred_box, check_mask, phase_retrieval
from .shrinkwrap import ShrinkWrap

logger = logging.getLogger(__name__)

#: the weights that ship with the package
DEFAULT_WEIGHTS = Path(__file__).parent / "weights" / "cnn.safetensors"

#: the ER/HIO switch schedule of the refinement (600 iterations, ends with ER)
REFINE_SCHEDULE = "ER**50*(HIO(0.9)**80*ER**20)**5*ER**50"

_cache: dict[str, ComplexCNN] = {}


def save_model(net: ComplexCNN, path: str | os.PathLike, card: dict | None = None) -> None:
    """Write the network's weights (safetensors, config in the metadata) and its model
    card (JSON beside them)."""
    save_weights(net.state_dict(), path, MODEL_NAME, net.config.to_json(), card)


def load_model(path: str | os.PathLike | None = None) -> ComplexCNN:
    """Load a :class:`~cdi_plugins.cnn_model.ComplexCNN` from a safetensors file.

    Parameters
    ----------
    path : str or path, optional
        Weights written by ``cdi-plugins cnn train``; default the shipped ones.

    Returns
    -------
    ComplexCNN
        In eval mode, on the CPU. The model card is in ``net.card``.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        The file is not safetensors, or holds another model's weights.

    Example
    -------
    >>> net = load_model()
    >>> net.config.size
    64
    """
    path = Path(DEFAULT_WEIGHTS if path is None else path)
    key = str(path.resolve())
    if key in _cache:
        return _cache[key]
    state, config = read_weights(path, MODEL_NAME)
    net = ComplexCNN(CNNConfig.from_json(config))
    load_state(net, state, path, MODEL_NAME)
    net.eval()
    net.card = read_card(path)
    _cache[key] = net
    return net


def _model(model) -> ComplexCNN:
    if model is None or isinstance(model, (str, os.PathLike)):
        return load_model(model)
    if not isinstance(model, ComplexCNN):
        raise TypeError(f"model must be a ComplexCNN, a weights path or None, got "
                        f"{type(model).__name__}")
    return model


def check_patterns(intensity, size: int, name: str = "intensity") -> tuple[np.ndarray, bool]:
    """Validate one ``(size, size)`` pattern or a batch ``(B, size, size)``: finite,
    non-negative, not all zero. Returns ``(batch float32 (B, size, size), was_single)``."""
    arr = as_array(intensity, name, ndim=(2, 3), dtype=np.float32, nonnegative=True)
    if arr.shape[-2:] != (size, size):
        raise ValueError(f"{name} must be {size}x{size} (one pattern or a batch (B, {size}, "
                         f"{size})), got {arr.shape}")
    single = arr.ndim == 2
    arr = arr.reshape(-1, size, size)
    empty = ~arr.any(axis=(1, 2))
    if empty.any():
        raise ValueError(f"{name} is zero everywhere in {int(empty.sum())} pattern(s) "
                         f"(first: {int(np.argmax(empty))})")
    return arr, single


def predict(intensity, model=None, batch_size: int = INFERENCE_BATCH,
            device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Amplitude and phase of the particle behind one diffraction pattern or a batch.

    Parameters
    ----------
    intensity : array_like
        ``(64, 64)`` or ``(B, 64, 64)``, centred, any scale (each pattern's modulus is
        scaled to a maximum of 1 on its own).
    model : ComplexCNN or path, optional
        Default the shipped weights.
    batch_size : int
        Patterns per forward pass (the default keeps a batch in the CPU's caches).
    device : str
        ``"cpu"`` (default: faster than moving small batches to a GPU), ``"auto"`` or
        ``"cuda[:N]"``.

    Returns
    -------
    amplitude : numpy.ndarray
        float32 ``(32, 32)`` or ``(B, 32, 32)``, maximum about 1.
    phase : numpy.ndarray
        float32, same shape, radians in [-pi, pi] (``-pi`` outside the particle, where
        the network was taught a scaled phase of 0).

    Raises
    ------
    ValueError
        Wrong size, NaN or infinite values, negative intensity, an all-zero pattern.

    Notes
    -----
    The network of Wu et al. (2021), Fig. 1; the returned image ``A exp(i phase)``,
    zero-padded to 64x64, has a Fourier modulus close to ``sqrt(I)`` (chi^2 of eq. 5,
    see :func:`modulus_chi2`).

    Example
    -------
    >>> from cdi_plugins import superellipsoid as se
    >>> b = se.generate(2, seed=5)
    >>> amp, phase = predict(b.intensity)
    >>> amp.shape, phase.shape
    ((2, 32, 32), (2, 32, 32))
    """
    net = _model(model)
    arr, single = check_patterns(intensity, net.config.size)
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    dev = resolve_device(device)
    amp, p = forward_batches(net.to(dev), torch.from_numpy(arr), int(batch_size), dev)
    amp = amp.numpy()
    phase = (2 * np.pi * p.numpy() - np.pi).astype(np.float32)
    return (amp[0], phase[0]) if single else (amp, phase)


def _check_prediction(amplitude, phase, m: int) -> tuple[np.ndarray, np.ndarray]:
    amp = as_array(amplitude, "amplitude", ndim=(2, 3), nonnegative=True)
    if amp.shape[-2:] != (m, m):
        raise ValueError(f"amplitude must be {m}x{m} (half the pattern), got {amp.shape}")
    ph = as_array(phase, "phase", ndim=(2, 3))
    if ph.shape != amp.shape:
        raise ValueError(f"phase must have the amplitude's shape {amp.shape}, got {ph.shape}")
    return amp.reshape(-1, m, m), ph.reshape(-1, m, m)


def embed(image: np.ndarray, size: int) -> np.ndarray:
    """Centre ``(..., m, m)`` images in ``(..., size, size)`` zeros."""
    m = image.shape[-1]
    out = np.zeros((*image.shape[:-2], size, size), dtype=image.dtype)
    lo = size // 2 - m // 2
    out[..., lo:lo + m, lo:lo + m] = image
    return out


def modulus_chi2(intensity, amplitude, phase) -> np.ndarray:
    """chi^2 of eq. (5) between the pattern and the Fourier modulus of a prediction.

    ``chi2 = sum (s sqrt(I_p) - sqrt(I_g))^2 / sum I_g`` with ``I_p`` the intensity of
    ``A exp(i phase)`` zero-padded to the pattern's size and ``s`` the least-squares
    scale (a prediction's amplitude has no units).

    Returns
    -------
    numpy.ndarray
        float ``(B,)`` (``(1,)`` for one pattern).

    Example
    -------
    >>> from cdi_plugins import superellipsoid as se
    >>> b = se.generate(1, seed=0)
    >>> ph = 2 * np.pi * b.phase - np.pi
    >>> float(modulus_chi2(b.intensity, b.amplitude, ph)[0]) < 3e-3  # the target itself
    True
    """
    arr = as_array(intensity, "intensity", ndim=(2, 3), nonnegative=True)
    size = arr.shape[-1]
    arr = arr.reshape(-1, *arr.shape[-2:])
    amp, ph = _check_prediction(amplitude, phase, size // 2)
    if len(amp) != len(arr):
        raise ValueError(f"{len(arr)} patterns but {len(amp)} predictions")
    obj = torch.polar(torch.from_numpy(amp), torch.from_numpy(ph.astype(np.float32)))
    mod = fourier_modulus(obj, size)
    return _modulus_chi2(mod, torch.from_numpy(arr)).numpy()


def support_from_amplitude(amplitude, threshold: float = 0.1, grow: int = 1) -> np.ndarray:
    """Binarise a predicted amplitude into a support (Wu et al. 2021, Fig. 5d).

    Pixels above ``threshold`` times the maximum, grown by ``grow`` pixels (a support a
    little too large is harmless, one too small cuts the object).

    Example
    -------
    >>> a = np.zeros((8, 8)); a[3:5, 3:5] = 1
    >>> int(support_from_amplitude(a, grow=0).sum()), int(support_from_amplitude(a).sum())
    (4, 12)
    """
    amp = as_array(amplitude, "amplitude", ndim=2, nonnegative=True)
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    sup = amp > threshold * amp.max()
    if grow:
        sup = ndimage.binary_dilation(sup, iterations=int(grow))
    return sup


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
    >>> from cdi_plugins import superellipsoid as se
    >>> b = se.generate(1, seed=3)
    >>> amp, ph = predict(b.intensity)
    >>> res = refine(b.intensity[0], amp[0], ph[0], n_iter=60, device="cpu")
    >>> res.objects.shape
    (1, 64, 64)
    """
    arr = as_array(intensity, "intensity", ndim=2, nonnegative=True)
    h, w = arr.shape
    if h != w or h % 4:
        raise ValueError(f"intensity must be square with a size divisible by 4, got {arr.shape}")
    amp, ph = _check_prediction(amplitude, phase, h // 2)
    if len(amp) != 1:
        raise ValueError(f"refine takes one prediction, got {len(amp)}")
    m = check_mask(mask, arr.shape)
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
    schedule = algorithm or _scaled_schedule(int(n_iter))
    res = phase_retrieval(arr, mask=m, support=sup, max_support=box, algorithm=schedule,
                          n_runs=int(n_runs), seed=seed, device=device, init=init,
                          shrinkwrap=shrinkwrap, show_progress=show_progress)
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
    1 -> 0.5 px, threshold 0.02.

    The threshold is low because the particles' smoothed edges and the dips of their
    projected amplitude carry a share of the pattern: on noiseless 64x64 superellipsoid
    patterns a threshold of 0.1 left a chi^2 floor near 1e-2, 0.02 ends near 1e-4
    (random starts, 4 patterns)."""
    return ShrinkWrap(start=100, every=10, sigma_start=1.0, sigma_end=0.5, threshold=0.02)


def _scaled_schedule(n_iter: int) -> str:
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


def nearest_neighbour(intensity, reference, batch_size: int = 256) -> tuple[np.ndarray, float]:
    """Nearest-neighbour search (NNS) of patterns in a reference set (Wu et al. 2021).

    The neighbour of a pattern is the reference whose modulus, scaled at best, is
    closest to the pattern's: the one with the smallest chi^2 of eq. (5) with a fitted
    scale, which is the one with the largest cosine similarity between ``sqrt(I)``
    vectors. All comparisons are one matrix product per batch.

    Parameters
    ----------
    intensity : array_like
        ``(B, H, W)`` or ``(H, W)`` patterns.
    reference : array_like
        ``(N, H, W)`` reference patterns (the training set).
    batch_size : int
        Patterns per matrix product.

    Returns
    -------
    index : numpy.ndarray
        int ``(B,)`` index of each pattern's neighbour in ``reference``.
    seconds : float
        Wall time per pattern of the search.

    Example
    -------
    >>> ref = np.random.default_rng(0).random((5, 8, 8))
    >>> idx, _ = nearest_neighbour(3 * ref[[4, 1]], ref)
    >>> idx.tolist()
    [4, 1]
    """
    q = as_array(intensity, "intensity", ndim=(2, 3), nonnegative=True)
    ref = reference if isinstance(reference, torch.Tensor) else torch.from_numpy(
        as_array(reference, "reference", ndim=3, nonnegative=True))
    if tuple(q.shape[-2:]) != tuple(ref.shape[-2:]):
        raise ValueError(f"intensity patterns are {q.shape[-2:]} but the references "
                         f"{tuple(ref.shape[-2:])}")
    q = torch.from_numpy(q.reshape(-1, q.shape[-2] * q.shape[-1]))
    r = _unit_rows(ref.reshape(len(ref), -1))
    t0 = time.perf_counter()
    out = []
    for lo in range(0, len(q), int(batch_size)):
        out.append((_unit_rows(q[lo:lo + int(batch_size)]) @ r.T).argmax(dim=1))
    seconds = (time.perf_counter() - t0) / len(q)
    return torch.cat(out).numpy(), seconds


def _unit_rows(x: torch.Tensor) -> torch.Tensor:
    mod = x.clamp_min(0).sqrt()
    return mod / mod.norm(dim=1, keepdim=True).clamp_min(1e-30)


def unwrap_phase(obj, mask=None, threshold: float = 0.1, seed: int | None = 0) -> np.ndarray:
    """Unwrapped phase of a complex image (Herraez et al. 2002), for display and export.

    Parameters
    ----------
    obj : array_like
        Complex ``(H, W)`` image, or a real phase map in radians (then ``mask`` or the
        whole image is used).
    mask : array_like of bool, optional
        True where the phase is meaningful (the particle). Default: amplitude above
        ``threshold`` times its maximum.
    threshold : float
        Relative amplitude threshold of the default mask.
    seed : int, optional
        Seed of the unwrapping path's tie-breaking (scikit-image's ``rng``).

    Returns
    -------
    numpy.ndarray
        float32 ``(H, W)``, the phase made continuous inside the mask by adding
        multiples of 2 pi, NaN outside.

    Notes
    -----
    M. A. Herraez, D. R. Burton, M. J. Lalor, M. A. Gdeisat, "Fast two-dimensional phase-
    unwrapping algorithm based on sorting by reliability following a noncontinuous
    path", Appl. Opt. 41, 7437 (2002), as implemented by
    :func:`skimage.restoration.unwrap_phase`.

    Example
    -------
    >>> y, x = np.mgrid[:32, :32]
    >>> o = np.exp(1j * 0.5 * x) * ((x - 16)**2 + (y - 16)**2 < 100)
    >>> u = unwrap_phase(o)
    >>> bool(np.nanmax(u) - np.nanmin(u) > 2 * np.pi)
    True
    """
    from skimage.restoration import unwrap_phase as _unwrap

    a = np.asarray(obj)
    if a.ndim != 2:
        raise ValueError(f"obj must be 2D, got shape {a.shape}")
    if np.iscomplexobj(a):
        arr = as_array(a, "obj", dtype=np.complex64)
        phase = np.angle(arr)
        amp = np.abs(arr)
        keep = amp > threshold * amp.max() if mask is None else np.asarray(mask, bool)
    else:
        phase = as_array(a, "obj", dtype=np.float64)
        keep = np.ones(a.shape, bool) if mask is None else np.asarray(mask, bool)
    if keep.shape != a.shape:
        raise ValueError(f"mask must have shape {a.shape}, got {keep.shape}")
    if not keep.any():
        raise ValueError("the mask is empty: no phase to unwrap")
    out = _unwrap(np.ma.masked_array(phase, mask=~keep), rng=seed)
    return np.ma.filled(out.astype(np.float32), np.nan)


def write_prediction(path: str | os.PathLike, intensity, amplitude, phase,
                     result: PhasingResult | None = None, model: ComplexCNN | None = None
                     ) -> None:
    """Write a prediction (and its refinement) in the Data Exchange layout, atomically.

    ``/exchange/cnn_amplitude``, ``cnn_phase`` (rad) and ``cnn_phase_unwrapped`` (rad,
    NaN outside the particle), ``(32, 32)``; with ``result``, the refined objects as
    :func:`cdi_plugins.io.write_result` writes them. ``/process/cdi_plugins_cnn`` holds
    the model card's command and the chi^2 of the prediction.
    """
    import json

    from tomopy_dlalign.common import __version__
    from tomopy_dlalign.common.h5files import atomic_h5, write_provenance

    from . import io

    arr = as_array(intensity, "intensity", ndim=2, nonnegative=True)
    amp, ph = _check_prediction(amplitude, phase, arr.shape[-1] // 2)
    if result is not None:
        io.write_result(path, result, arr)
    obj = amp[0] * np.exp(1j * ph[0])
    with atomic_h5(path, "a" if result is not None else "w") as f:
        ex = f.require_group("exchange")
        if result is None:
            ex.create_dataset("data", data=arr)
        ex.create_dataset("cnn_amplitude", data=amp[0]).attrs["units"] = "a.u."
        ex.create_dataset("cnn_phase", data=ph[0]).attrs["units"] = "rad"
        ex.create_dataset("cnn_phase_unwrapped", data=unwrap_phase(obj)).attrs["units"] = "rad"
        card = getattr(model, "card", {}) or {}
        write_provenance(f, "cdi_plugins_cnn", __version__,
                         {"chi2": float(modulus_chi2(arr, amp, ph)[0]),
                          "weights_command": card.get("command", "")},
                         model=json.dumps(card.get("model", MODEL_NAME)))


__all__ = ["predict", "refine", "load_model", "save_model", "modulus_chi2",
           "nearest_neighbour", "unwrap_phase", "support_from_amplitude", "embed",
           "write_prediction", "to_complex", "refine_shrinkwrap", "DEFAULT_WEIGHTS",
           "REFINE_SCHEDULE"]
