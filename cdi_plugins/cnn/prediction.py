"""The complex CNN's predictions: weights, prediction, its chi^2 and support, files.

::

    amp, phase = cdi.cnn.predict(I)            # one 64x64 pattern or a batch -> 32x32

A pattern of another even size is brought to the network's input first
(:func:`cdi_plugins.cnn.inputs.fit_pattern`: binned and cropped around its centre so
that the particle keeps an oversampling of about 2), and the log says what was done.

The network (:mod:`cdi_plugins.cnn.model`) was trained by ``cdi-plugins cnn train`` on
strong-phase superellipsoid particles (:mod:`cdi_plugins.simulate.superellipsoid`); its
weights ship with the package (``cdi_plugins/weights/cnn.safetensors``, model card
``cnn.json`` beside them) and load offline. The images it predicts are centred in the
pattern's array at half its size (oversampling 2), with the global phase and the twin
fixed as in :func:`cdi_plugins.simulate.superellipsoid.canonical_image`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from tomopy_dlalign.common import __version__
from tomopy_dlalign.common.device import resolve_device
from tomopy_dlalign.common.h5files import atomic_h5, write_provenance
from tomopy_dlalign.common.modelfiles import load_state, read_card, read_weights, save_weights
from tomopy_dlalign.common.process import record_step
from tomopy_dlalign.common.validation import as_array

from ..io import write_result
from ..phasing import PhasingResult
from .inputs import MAKE_PATTERN, FittedPattern, check_input_shape, fit_pattern
from .loss import fourier_modulus
from .loss import modulus_chi2 as loss_modulus_chi2
from .model import INFERENCE_BATCH, MODEL_NAME, CNNConfig, ComplexCNN, forward_batches
from .unwrap import unwrap_phase

#: the weights that ship with the package
DEFAULT_WEIGHTS = Path(__file__).parents[1] / "weights" / "cnn.safetensors"
#: the shipped network fine-tuned on faceted, strained crystals as measured Bragg
#: frames (:mod:`cdi_plugins.simulate.faceted`)
BRAGG_WEIGHTS = DEFAULT_WEIGHTS.with_name("cnn_bragg.safetensors")
#: names that stand for shipped weights wherever a weights path is taken
NAMED_WEIGHTS = {"bragg": BRAGG_WEIGHTS}

_cache: dict[str, ComplexCNN] = {}


def save_model(net: ComplexCNN, path: str | os.PathLike, card: dict | None = None) -> None:
    """Write the network's weights (safetensors, config in the metadata) and its model
    card (JSON beside them)."""
    save_weights(net.state_dict(), path, MODEL_NAME, net.config.to_json(), card)


def load_model(path: str | os.PathLike | None = None) -> ComplexCNN:
    """Load a :class:`~cdi_plugins.cnn.model.ComplexCNN` from a safetensors file.

    Parameters
    ----------
    path : str or path, optional
        Weights written by ``cdi-plugins cnn train``; default the shipped ones;
        ``"bragg"``: the shipped network fine-tuned on measured-like Bragg frames
        (:data:`BRAGG_WEIGHTS`).

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
    if isinstance(path, str) and path in NAMED_WEIGHTS:
        path = NAMED_WEIGHTS[path]
    path = Path(DEFAULT_WEIGHTS if path is None else path)
    key = str(path.resolve())
    if key in _cache:
        return _cache[key]
    state, config = read_weights(path, MODEL_NAME)
    net = ComplexCNN(CNNConfig.from_json(config, path))
    load_state(net, state, path, MODEL_NAME)
    net.eval()
    net.card = read_card(path)
    _cache[key] = net
    return net


def as_model(model) -> ComplexCNN:
    """A loaded network from ``None`` (the shipped weights), a weights path or a network."""
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
                         f"{size})), got {arr.shape}: bring it there with "
                         f"cdi.cnn.fit_pattern, or {MAKE_PATTERN}")
    single = arr.ndim == 2
    arr = arr.reshape(-1, size, size)
    empty = ~arr.any(axis=(1, 2))
    if empty.any():
        raise ValueError(f"{name} is zero everywhere in {int(empty.sum())} pattern(s) "
                         f"(first: {int(np.argmax(empty))})")
    return arr, single


def predict(intensity, model=None, batch_size: int = INFERENCE_BATCH,
            device: str = "cpu", fit: str = "auto", info: dict | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    """Amplitude and phase of the particle behind one diffraction pattern or a batch.

    Parameters
    ----------
    intensity : array_like
        ``(64, 64)`` or ``(B, 64, 64)``, centred, any scale (each pattern's modulus is
        scaled to a maximum of 1 on its own); or patterns of another even size of at
        least 64, brought to 64 x 64 by :func:`~cdi_plugins.cnn.inputs.fit_pattern`
        (logged). To refine such a prediction, give :func:`refine` the fitted pattern.
    model : ComplexCNN or path, optional
        Default the shipped weights.
    batch_size : int
        Patterns per forward pass (the default keeps a batch in the CPU's caches).
    device : str
        ``"cpu"`` (default: faster than moving small batches to a GPU), ``"auto"`` or
        ``"cuda[:N]"``.
    fit : {"auto", "crop", "bin"}
        How a pattern of another size is brought to the input (``fit_pattern``).
    info : dict, optional
        Filled with what was done to the input: ``binning``, ``crop``, ``pixel_scale``
        (the predicted image's real-space pixel over the input's), ``input_shape``,
        ``oversampling`` (for a batch, a list of them under ``"fits"``).

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
        Odd sides or smaller than 64 (the message names the commands that make a
        usable pattern), NaN or infinite values, negative intensity, an all-zero pattern.

    Notes
    -----
    The network of Wu et al. (2021), Fig. 1; the returned image ``A exp(i phase)``,
    zero-padded to 64x64, has a Fourier modulus close to ``sqrt(I)`` (chi^2 of eq. 5,
    see :func:`modulus_chi2`).

    Example
    -------
    >>> from cdi_plugins.simulate import superellipsoid as se
    >>> b = se.generate(2, seed=5)
    >>> amp, phase = predict(b.intensity)
    >>> amp.shape, phase.shape
    ((2, 32, 32), (2, 32, 32))
    """
    net = as_model(model)
    arr, single = check_patterns(_fitted(intensity, net.config.size, fit, info),
                                 net.config.size)
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    dev = resolve_device(device)
    amp, p = forward_batches(net.to(dev), torch.from_numpy(arr), int(batch_size), dev)
    amp = amp.numpy()
    phase = (2 * np.pi * p.numpy() - np.pi).astype(np.float32)
    return (amp[0], phase[0]) if single else (amp, phase)


def _fitted(intensity, size: int, method: str, info: dict | None) -> np.ndarray:
    """The patterns at the network's size, fitted when they are of another size."""
    arr = as_array(intensity, "intensity", ndim=(2, 3), dtype=np.float32, nonnegative=True)
    if arr.shape[-2:] == (size, size):
        return arr
    check_input_shape(arr.shape, size)
    fits: list[FittedPattern] = [fit_pattern(a, size=size, method=method)
                                 for a in arr.reshape(-1, *arr.shape[-2:])]
    if info is not None:
        info.update(fits[0].to_dict() if arr.ndim == 2 else
                    {"fits": [f.to_dict() for f in fits]})
    out = np.stack([f.intensity for f in fits])
    return out[0] if arr.ndim == 2 else out


def check_prediction(amplitude, phase, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate a predicted amplitude and phase of ``m x m`` (one or a batch); returns
    both as ``(B, m, m)``."""
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
    >>> from cdi_plugins.simulate import superellipsoid as se
    >>> b = se.generate(1, seed=0)
    >>> ph = 2 * np.pi * b.phase - np.pi
    >>> float(modulus_chi2(b.intensity, b.amplitude, ph)[0]) < 3e-3  # the target itself
    True
    """
    arr = as_array(intensity, "intensity", ndim=(2, 3), nonnegative=True)
    size = arr.shape[-1]
    arr = arr.reshape(-1, *arr.shape[-2:])
    amp, ph = check_prediction(amplitude, phase, size // 2)
    if len(amp) != len(arr):
        raise ValueError(f"{len(arr)} patterns but {len(amp)} predictions")
    obj = torch.polar(torch.from_numpy(amp), torch.from_numpy(ph.astype(np.float32)))
    mod = fourier_modulus(obj, size)
    return loss_modulus_chi2(mod, torch.from_numpy(arr)).numpy()


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


def write_prediction(path: str | os.PathLike, intensity, amplitude, phase,
                     result: PhasingResult | None = None, model: ComplexCNN | None = None,
                     fit: FittedPattern | None = None, pixel_size: float | None = None
                     ) -> None:
    """Write a prediction (and its refinement) in the Data Exchange layout, atomically.

    ``/exchange/data`` is the pattern the network saw; ``/exchange/cnn_amplitude``,
    ``cnn_phase`` (rad) and ``cnn_phase_unwrapped`` (rad, NaN outside the particle),
    ``(32, 32)``; with ``result``, the refined objects as :func:`cdi_plugins.io.write_result`
    writes them. ``/process/cdi_plugins_cnn`` holds the model card's command, the chi^2 of
    the prediction and, with ``fit``, what was done to the user's pattern (``input_fit``:
    binning, crop, ``pixel_scale``); ``pixel_size`` (m), the real-space pixel of the
    prediction, is the ``pixel_size`` attribute of ``cnn_amplitude`` and a parameter too;
    ``/process/steps`` records
    ``cnn_predict`` (and ``cnn_refine``), ``/process/state`` is ``"phased"``.
    """
    arr = as_array(intensity, "intensity", ndim=2, nonnegative=True)
    amp, ph = check_prediction(amplitude, phase, arr.shape[-1] // 2)
    if result is not None:
        write_result(path, result, arr, step=None)
    obj = amp[0] * np.exp(1j * ph[0])
    with atomic_h5(path, "a" if result is not None else "w") as f:
        ex = f.require_group("exchange")
        if result is None:
            ex.create_dataset("data", data=arr)
        ex.create_dataset("cnn_amplitude", data=amp[0]).attrs["units"] = "a.u."
        ex.create_dataset("cnn_phase", data=ph[0]).attrs["units"] = "rad"
        ex.create_dataset("cnn_phase_unwrapped", data=unwrap_phase(obj)).attrs["units"] = "rad"
        if pixel_size is not None:
            ex["cnn_amplitude"].attrs["pixel_size"] = float(pixel_size)
            ex["cnn_amplitude"].attrs["pixel_size_units"] = "m"
        card = getattr(model, "card", {}) or {}
        params = {"chi2": float(modulus_chi2(arr, amp, ph)[0]),
                  "weights_command": card.get("command", ""),
                  "input_fit": None if fit is None else fit.to_dict(),
                  "pixel_size_m": pixel_size}
        write_provenance(f, "cdi_plugins_cnn", __version__, params,
                         model=json.dumps(card.get("model", MODEL_NAME)))
        record_step(f, "cnn_predict", "phased", params, package="cdi_plugins",
                    model=json.dumps(card.get("model", MODEL_NAME)))
        if result is not None:
            record_step(f, "cnn_refine", "phased", {**result.parameters,
                                                   "schedule": result.schedule},
                        package="cdi_plugins")
