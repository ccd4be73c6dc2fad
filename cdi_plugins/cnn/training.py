"""Training the complex CNN on superellipsoid data with the loss of eq. (4).

The optimiser is AdamW with a one-cycle cosine learning rate (default) or the paper's
SGD (lr 0.01, times 0.95 every 10 epochs). Augmentation uses the symmetries of the
problem: transposing or flipping a pattern (about its centre) transposes or flips the
object, and leaves the canonical global phase and twin of the targets unchanged
(:func:`cdi_plugins.simulate.superellipsoid.canonical_image`), so the 8 symmetries of the square
multiply the data for free. 5 % of the training file is held back for the validation
loss of every epoch; the held-out test file (another seed) only gives the final
figures in the model card.

The loop is the shared :func:`tomopy_dlalign.common.trainer.fit`: checkpoints (model,
optimiser, scheduler, position in the epoch) are written every few hundred steps, at the
end of every epoch and on Ctrl-C, and training resumes from the checkpoint file when it
exists.
"""

from __future__ import annotations

import copy
import logging
import os
from pathlib import Path

import numpy as np
import torch

from tomopy_dlalign.common.device import resolve_device
from tomopy_dlalign.common.trainer import FitConfig, FitState, fit, machine_record

from ..simulate import superellipsoid as se
from .loss import (
    LAMBDAS,
    cnn_loss,
    fourier_modulus,
    image_chi2,
    loss_terms,
    modulus_chi2,
    to_complex,
)
from .model import CNNConfig, ComplexCNN, forward_batches, n_parameters, normalize_pattern
from .prediction import save_model

logger = logging.getLogger(__name__)

VAL_FRACTION = 0.05


def _tensors(data: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return (torch.from_numpy(data["intensity"]), torch.from_numpy(data["amplitude"]),
            torch.from_numpy(data["phase"]))


def _flip(t: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    # -x about the centre index of an even axis: flip, then roll by one
    return torch.roll(torch.flip(t, dims=dims), shifts=(1,) * len(dims), dims=dims)


def augment(intensity: torch.Tensor, amplitude: torch.Tensor, phase: torch.Tensor,
            k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Apply symmetry ``k`` in 0..7 of the square (bit 0: transpose, bit 1: flip rows,
    bit 2: flip columns) to patterns and targets alike."""
    out = [intensity, amplitude, phase]
    if k & 1:
        out = [t.transpose(-2, -1) for t in out]
    if k & 2:
        out = [_flip(t, (-2,)) for t in out]
    if k & 4:
        out = [_flip(t, (-1,)) for t in out]
    return out[0], out[1], out[2]


def test_figures(net: ComplexCNN, intensity: torch.Tensor, amplitude: torch.Tensor,
                 phase: torch.Tensor, device: torch.device | None = None) -> dict:
    """chi^2 of the modulus (eq. 5), the amplitude and the phase, and the loss terms, per
    pattern, as NumPy arrays."""
    a, p = forward_batches(net, intensity, device=device)
    mod_p = fourier_modulus(to_complex(a, p), intensity.shape[-1])
    terms = loss_terms(a, p, amplitude, phase, intensity.clamp_min(0).sqrt())
    return {"chi2_modulus": modulus_chi2(mod_p, intensity).numpy(),
            "chi2_amplitude": image_chi2(a, amplitude).numpy(),
            "chi2_phase": image_chi2(p, phase).numpy(),
            "loss": ((terms * torch.tensor(LAMBDAS)).sum(1) / sum(LAMBDAS)).numpy()}


def _batch_loss(net, x, a, p, dev) -> torch.Tensor:
    """Loss of eq. (4) of one batch of patterns and targets, moved to ``dev``."""
    x, a, p = x.to(dev), a.to(dev), p.to(dev)
    ap, pp = net(normalize_pattern(x))
    return cnn_loss(ap, pp, a, p, x.clamp_min(0).sqrt())


def _validation_loss(net, x, a, p, dev, batch_size=512) -> float:
    """Mean loss over the validation set (the caller sets eval mode and no grad)."""
    total = 0.0
    for lo in range(0, len(x), batch_size):
        sl = slice(lo, lo + batch_size)
        total += float(_batch_loss(net, x[sl], a[sl], p[sl], dev)) * len(x[sl])
    return total / len(x)


def _optimizer(net, name: str, lr: float | None, epochs: int, steps: int):
    if name == "sgd":
        lr = 0.01 if lr is None else lr
        opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
        # the paper: x0.95 every 10 epochs (stepped per batch here)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10 * steps, gamma=0.95)
    elif name == "adam":
        lr = 3e-3 if lr is None else lr
        opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps,
                                                    pct_start=0.1, anneal_strategy="cos")
    else:
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {name!r}")
    return opt, sched, lr


def train(dataset: str | os.PathLike, output: str | os.PathLike, test: str | None = None,
          epochs: int = 10, batch_size: int = 64, lr: float | None = None,
          optimizer: str = "adam", seed: int = 0, n_train: int | None = None,
          encoder: tuple[int, ...] = CNNConfig.encoder,
          decoder: tuple[int, ...] = CNNConfig.decoder,
          checkpoint: str | os.PathLike | None = None, command: str = "",
          device: str = "auto", show_progress: bool | None = None,
          time_limit: float | None = None,
          init: str | os.PathLike | None = None) -> ComplexCNN:
    """Train :class:`~cdi_plugins.cnn.model.ComplexCNN` and write weights + model card.

    Parameters
    ----------
    dataset : path
        Training data from :func:`cdi_plugins.simulate.superellipsoid.make_dataset`; its last 5 %
        are the validation set.
    output : path
        Weights file (safetensors); the model card goes beside it (``.json``).
    test : path, optional
        Held-out test data (another seed); its chi^2 figures go in the model card.
    epochs, batch_size, lr : training length, batch and peak learning rate.
    optimizer : {"adam", "sgd"}
        AdamW + one-cycle cosine, or the paper's SGD schedule.
    seed : int
        Seed of the initial weights, the batch order and the augmentation.
    n_train : int, optional
        Use only the first ``n_train`` particles of ``dataset``.
    encoder, decoder : tuple of int
        Architecture (:class:`~cdi_plugins.cnn.model.CNNConfig`).
    checkpoint : path, optional
        Default ``output + ".ckpt"``; resumed from when it exists (with the same epochs,
        batch size, optimiser, architecture and data, or a clear ``ValueError``).
    command : str
        The command line, recorded in the model card.
    device : str
        ``"auto"``, ``"cpu"`` or ``"cuda[:N]"``.
    show_progress : bool, optional
    time_limit : float, optional
        Minutes after which training stops (the weights are written as they are).
    init : path, optional
        Start from these weights (fine-tuning, e.g. the shipped network on the faceted
        crystals of :mod:`cdi_plugins.simulate.faceted`); their architecture is used and
        ``encoder``/``decoder`` are ignored. Default: random weights.

    Returns
    -------
    ComplexCNN
        The trained network (eval mode).

    Notes
    -----
    Loss: eq. (4) of Wu et al. (2021) with ``lambda = (1, 1, 4)``
    (:func:`cdi_plugins.cnn.loss.cnn_loss`).
    """
    if int(epochs) < 1 or int(batch_size) < 1:
        raise ValueError(f"epochs and batch_size must be positive, got {epochs}, {batch_size}")
    dev = resolve_device(device)
    data = se.read_dataset(dataset, n_train)
    x, a, p = _tensors(data)
    n_val = max(1, int(round(VAL_FRACTION * len(x))))
    if len(x) - n_val < batch_size:
        raise ValueError(f"dataset {str(dataset)!r} holds {len(x)} particles: too few for "
                         f"batches of {batch_size} after holding back {n_val} for validation")
    val = (x[-n_val:], a[-n_val:], p[-n_val:])
    x, a, p = x[:-n_val], a[:-n_val], p[:-n_val]
    n, steps = len(x), len(x) // batch_size

    torch.manual_seed(seed)
    if init is not None:
        from .prediction import load_model

        net = copy.deepcopy(load_model(init)).train().to(dev)
        cfg = net.config
        if cfg.size != x.shape[-1]:
            raise ValueError(f"init {str(init)!r} takes {cfg.size}x{cfg.size} patterns, the "
                             f"dataset holds {x.shape[-1]}x{x.shape[-1]}")
    else:
        cfg = CNNConfig(size=x.shape[-1], encoder=tuple(encoder), decoder=tuple(decoder))
        net = ComplexCNN(cfg).to(dev)
    opt, sched, lr = _optimizer(net, optimizer, lr, epochs, steps)
    logger.info("training %d parameters on %d patterns (%d validation), %d epochs of %d "
                "steps, %s lr %.3g, on %s with %d threads", n_parameters(net), n, n_val,
                epochs, steps, optimizer, lr, dev, torch.get_num_threads())

    def plan(epoch: int, gen: torch.Generator) -> list[tuple[torch.Tensor, int]]:
        order = torch.randperm(n, generator=gen)
        syms = torch.randint(0, 8, (steps,), generator=gen)
        return [(order[k * batch_size:(k + 1) * batch_size], int(syms[k]))
                for k in range(steps)]

    def loss(batch: tuple[torch.Tensor, int], gen: torch.Generator) -> torch.Tensor:
        idx, sym = batch
        return _batch_loss(net, *augment(x[idx], a[idx], p[idx], sym), dev)

    # the learning-rate schedule is laid out for the whole run when it starts, so a
    # checkpoint only continues a run of the same length, batch and optimiser
    identity = {"epochs": int(epochs), "batch_size": int(batch_size), "optimizer": optimizer,
                "config": cfg.to_json(), "n": n, "init": str(init) if init else "random"}
    state = fit(net, opt, sched, plan, loss,
                FitConfig(epochs=int(epochs), seed=seed, identity=identity, desc="epoch",
                          checkpoint=Path(checkpoint) if checkpoint else Path(f"{output}.ckpt"),
                          max_minutes=time_limit, show_progress=show_progress),
                validate=lambda: _validation_loss(net, *val, dev))
    card = _model_card(cfg, net, command, seed, data, n, n_val, epochs, batch_size, optimizer,
                       lr, state, dev)
    card["initialised_from"] = str(init) if init else "random"
    if test:
        card["test"] = _test_figures(net, test, data["seed"], dev)
    save_model(net.cpu(), output, card)
    logger.info("weights written to %s (%.0f s of training)", output, state.seconds)
    return net


def _model_card(cfg: CNNConfig, net: ComplexCNN, command: str, seed: int, data: dict, n: int,
                n_val: int, epochs: int, batch_size: int, optimizer: str, lr: float,
                state: FitState, dev: torch.device) -> dict:
    machine = machine_record(dev)
    return {
        "model": "ComplexCNN (Wu et al. 2021, IUCrJ 8, 12-21; encoder + two decoders)",
        "command": command,
        "config": cfg.to_json(),
        "parameters": n_parameters(net),
        "seed": seed,
        "data": {"train": data["path"], "train_seed": data["seed"], "n_train": n,
                 "n_validation": n_val, "generator": data["config"],
                 "augmentation": "8 symmetries of the square"},
        "training": {"epochs_planned": epochs, "epochs_run": len(state.history),
                     "stopped_early": state.stopped_early, "batch_size": batch_size,
                     "optimizer": optimizer, "lr": lr,
                     "schedule": "AdamW (wd 1e-4), one-cycle cosine, 10% warm-up"
                     if optimizer == "adam" else "SGD momentum 0.9, lr x0.95 every 10 epochs",
                     "loss": f"eq. (4), lambda = {LAMBDAS}", "history": state.history,
                     "seconds": round(state.seconds, 1), "device": machine["device"],
                     "threads": machine["cpu_threads"], "machine": machine["processor"],
                     "torch": machine["torch"]},
    }


def _test_figures(net: ComplexCNN, test: str | os.PathLike, train_seed: int,
                  dev: torch.device) -> dict:
    """The mean test figures of the model card, on held-out data."""
    tdata = se.read_dataset(test)
    if tdata["seed"] == train_seed:
        raise ValueError(f"the test data {str(test)!r} have the training data's seed "
                         f"{train_seed}: they would not be held out")
    figs = test_figures(net, *_tensors(tdata), device=dev)
    out = {"path": tdata["path"], "seed": tdata["seed"], "n": len(tdata["intensity"])}
    out.update({k: float(np.mean(v)) for k, v in figs.items()})
    logger.info("test chi2: modulus %.4f, amplitude %.4f, phase %.4f", out["chi2_modulus"],
                out["chi2_amplitude"], out["chi2_phase"])
    return out
