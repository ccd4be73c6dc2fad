"""Fine-tuning the complex CNN on the user's own frames, never worse than it started.

Measured frames (a rocking-curve scan's slices, a series of 2D patterns of one sample)
carry no ground-truth image, but each carries its own measure of a prediction: how well
the prediction's Fourier modulus matches the measured one on the measured pixels. The
network is fine-tuned on that alone (the modulus term of eq. 4, with the scale fitted and
the missing pixels left out), on three quarters of the frames, with the 8 symmetries of
the square; the other quarter is held out. The adapted weights come back only when
they lower the held-out frames' Fourier R-factor
(:func:`cdi_plugins.metrics.r_factor`) below the starting weights'; otherwise the
starting network comes back unchanged and a warning says so, as tomography's
:func:`tomopy_dlalign.adapt` does.

::

    net = cdi.cnn.adapt(frames, masks)             # (B, H, W) patterns, any even size
    amp, phase = cdi.cnn.predict(frame, model=net)
"""

from __future__ import annotations

import copy
import logging
import os

import numpy as np
import torch

from tomopy_dlalign.common import trainer
from tomopy_dlalign.common.validation import as_array

from ..metrics import r_factor
from .inputs import fit_frames
from .loss import fourier_modulus, to_complex
from .model import ComplexCNN, forward_batches, normalize_pattern
from .prediction import as_model, embed, save_model
from .training import augment

logger = logging.getLogger(__name__)

#: share of the frames held out to judge the adapted weights
HOLDOUT = 0.25
#: epochs between checkpoints (an epoch of a scan's 58 frames takes a fraction of a second)
CHECKPOINT_EVERY = 50


def masked_modulus_loss(amp: torch.Tensor, phase01: torch.Tensor, intensity: torch.Tensor,
                        valid: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ``sum_valid (s |F(o)| - sqrt(I))^2 / sum_valid I``, the
    prediction's scale ``s`` fitted per frame (eq. 5 on the measured pixels)."""
    mod = fourier_modulus(to_complex(amp, phase01), intensity.shape[-1]).flatten(1)
    g = intensity.clamp_min(0).sqrt().flatten(1)
    v = valid.flatten(1).to(mod.dtype)
    s = (mod * g * v).sum(1) / (mod.square() * v).sum(1).clamp_min(1e-30)
    err = ((s[:, None] * mod - g).square() * v).sum(1)
    return (err / (g.square() * v).sum(1).clamp_min(1e-30)).mean()


def frame_r_factors(net: ComplexCNN, intensity: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The Fourier R-factor of the network's prediction of each frame, on its measured
    pixels, with the prediction's scale fitted."""
    amp, p = forward_batches(net, torch.from_numpy(intensity))
    obj = embed(to_complex(amp, p).numpy(), intensity.shape[-1])
    return np.array([float(r_factor(o, i, m, scale="fit")[0])
                     for o, i, m in zip(obj, intensity, mask, strict=True)])


def adapt(intensity, mask=None, model=None, epochs: int = 200, lr: float = 1e-3,
          batch_size: int = 16, seed: int = 0, fit: str = "auto",
          output: str | os.PathLike | None = None, time_limit: float | None = None,
          info: dict | None = None, command: str = "",
          checkpoint: str | os.PathLike | None = None,
          show_progress: bool | None = False) -> ComplexCNN:
    """Fine-tune the CNN on the user's frames (module docstring); never worse.

    Parameters
    ----------
    intensity : array_like
        ``(B, H, W)`` centred frames, ``B >= 4``; frames of another size than the
        network's input are brought to it alike (:func:`~cdi_plugins.cnn.inputs.fit_frames`,
        ``fit``).
    mask : array_like of bool, optional
        ``(B, H, W)`` or ``(H, W)``, True where pixels are missing (gaps, hot pixels).
    model : ComplexCNN or path, optional
        The starting weights; default the shipped ones.
    epochs, lr, batch_size, seed : the fine-tuning (AdamW at a constant rate).
    output : path, optional
        Write the weights that come back (adapted or the start) and their model card
        (with ``adaptation``: the figures below) there.
    time_limit : float, optional
        Minutes after which the fine-tuning stops (the check still runs).
    checkpoint : path, optional
        Checkpoint file (:mod:`tomopy_dlalign.common.trainer`), written every
        :data:`CHECKPOINT_EVERY` epochs and on Ctrl-C; a call with the same frames,
        start and settings resumes from it where the last one stopped.
    show_progress : bool, optional
        A progress bar per epoch (default off: a log line every 10 epochs).
    command : str
        The command line, recorded with the figures in the model card's ``adaptation``.
    info : dict, optional
        Filled with ``n_train``, ``n_holdout``, ``start_r`` and ``adapted_r`` (mean
        held-out R-factors), ``train_r_start``/``train_r_adapted``, ``seconds``,
        ``epochs_run`` (fewer than ``epochs`` after the time limit) and ``kept``
        (``"adapted"`` or ``"start"``).

    Returns
    -------
    ComplexCNN
        The adapted network (eval mode), or the starting one unchanged.

    Raises
    ------
    ValueError
        Fewer than 4 frames, frames not 3D, a mask of another shape, NaN or negative
        values, an all-zero frame.
    """
    net0 = as_model(model)
    size = net0.config.size
    frames, masks = _fitted_frames(intensity, mask, size, fit)
    n = len(frames)
    gen = np.random.default_rng(seed)
    order = gen.permutation(n)
    n_hold = max(1, int(round(HOLDOUT * n)))
    hold, train = np.sort(order[:n_hold]), np.sort(order[n_hold:])
    start_r = frame_r_factors(net0, frames[hold], masks[hold])
    net = copy.deepcopy(net0).train()
    # a checkpoint continues only the same adaptation: same frames, start and settings
    identity = {"epochs": int(epochs), "lr": lr, "batch_size": int(batch_size),
                "seed": seed, "frames": [n, size], "frames_sum": float(frames.sum()),
                "start": float(sum(float(t.double().sum()) for t in net0.state_dict().values()))}
    state = _fine_tune(net, frames[train], masks[train], trainer.FitConfig(
        epochs=int(epochs), seed=seed, identity=identity, desc="cnn adapt",
        checkpoint=checkpoint, max_minutes=time_limit, show_progress=show_progress,
        log_every=10, checkpoint_every=CHECKPOINT_EVERY), lr, batch_size)
    net.eval()
    adapted_r = frame_r_factors(net, frames[hold], masks[hold])
    report = {"n_train": int(len(train)), "n_holdout": int(n_hold),
              "start_r": float(start_r.mean()), "adapted_r": float(adapted_r.mean()),
              "train_r_start": float(frame_r_factors(net0, frames[train], masks[train]).mean()),
              "train_r_adapted": float(frame_r_factors(net, frames[train], masks[train]).mean()),
              "epochs": int(epochs), "epochs_run": state.epoch, "lr": lr, "seed": seed,
              "seconds": round(state.seconds, 1),
              "command": command or f"cdi_plugins.cnn.adapt(epochs={epochs}, lr={lr}, "
                                    f"seed={seed})"}
    better = report["adapted_r"] < report["start_r"]
    report["kept"] = "adapted" if better else "start"
    if info is not None:
        info.update(report)
    logger.info("cnn adapt: %s", report)
    out = net if better else net0
    if not better:
        logger.warning("cnn adapt: the adapted weights do not predict the held-out frames "
                       "better (R %.4g -> %.4g): keeping the starting weights",
                       report["start_r"], report["adapted_r"])
    if output is not None:
        card = dict(getattr(net0, "card", None) or {})
        card["adaptation"] = report
        save_model(out, output, card)
    out.card = dict(getattr(net0, "card", None) or {}) | {"adaptation": report}
    return out


def _fine_tune(net: ComplexCNN, frames: np.ndarray, masks: np.ndarray,
               config: trainer.FitConfig, lr: float, batch_size: int) -> trainer.FitState:
    """Fine-tune ``net`` in place on the frames' own modulus (AdamW at a constant rate,
    a random symmetry of the square per batch) through the one training loop; its
    batches and symmetries come from the loop's per-epoch generators alone."""
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    x = torch.from_numpy(frames)
    v = torch.from_numpy(~masks)
    steps = max(1, -(-len(x) // batch_size))

    def plan(epoch: int, gen: torch.Generator) -> list[tuple[torch.Tensor, int]]:
        order = torch.randperm(len(x), generator=gen)
        syms = torch.randint(0, 8, (steps,), generator=gen)
        return [(order[k * batch_size:(k + 1) * batch_size], int(syms[k]))
                for k in range(steps)]

    def loss(batch: tuple[torch.Tensor, int], gen: torch.Generator) -> torch.Tensor:
        idx, sym = batch
        xi, vi, _ = augment(x[idx], v[idx].float(), v[idx].float(), sym)
        a, p = net(normalize_pattern(xi))
        return masked_modulus_loss(a, p, xi, vi > 0.5)

    return trainer.fit(net, opt, None, plan, loss, config)


def _fitted_frames(intensity, mask, size: int, fit: str) -> tuple[np.ndarray, np.ndarray]:
    """The frames and their masks at the network's input size, float32 and bool."""
    arr = as_array(intensity, "intensity", ndim=3, dtype=np.float32, nonnegative=True)
    if len(arr) < 4:
        raise ValueError(f"intensity must hold at least 4 frames (a quarter is held out to "
                         f"judge the adaptation), got {len(arr)}")
    if mask is None:
        m = np.zeros(arr.shape, bool)
    else:
        m = np.asarray(mask, bool)
        if m.shape == arr.shape[1:]:
            m = np.broadcast_to(m, arr.shape)
        if m.shape != arr.shape:
            raise ValueError(f"mask must have the frames' shape {arr.shape} or one frame's "
                             f"{arr.shape[1:]}, got {m.shape}")
    empty = ~arr.any(axis=(1, 2))
    if empty.any():
        raise ValueError(f"intensity is zero everywhere in {int(empty.sum())} frame(s) "
                         f"(first: {int(np.argmax(empty))})")
    return fit_frames(arr, m, size, fit)[:2]
