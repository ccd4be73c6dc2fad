"""Training the complex CNN on superellipsoid data with the loss of eq. (4).

The optimiser is AdamW with a one-cycle cosine learning rate (default) or the paper's
SGD (lr 0.01, times 0.95 every 10 epochs). Augmentation uses the symmetries of the
problem: transposing or flipping a pattern (about its centre) transposes or flips the
object, and leaves the canonical global phase and twin of the targets unchanged
(:func:`cdi_plugins.superellipsoid.canonical_image`), so the 8 symmetries of the square
multiply the data for free. 5 % of the training file is held back for the validation
loss of every epoch; the held-out test file (another seed) only gives the final
figures in the model card.

Checkpoints (model, optimiser, scheduler, position in the epoch) are written every few
hundred steps and on Ctrl-C; training resumes from the checkpoint file when it exists.
"""

from __future__ import annotations

import logging
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from tomopy_dlalign.common.device import resolve_device
from tomopy_dlalign.common.modelfiles import atomic_path
from tomopy_dlalign.common.progress import progress

from . import superellipsoid as se
from .cnn_loss import LAMBDAS, cnn_loss, image_chi2, loss_terms, modulus_chi2
from .cnn_model import CNNConfig, ComplexCNN, forward_batches, n_parameters, normalize_pattern

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
    from .cnn_loss import fourier_modulus, to_complex

    a, p = forward_batches(net, intensity, device=device)
    mod_p = fourier_modulus(to_complex(a, p), intensity.shape[-1])
    terms = loss_terms(a, p, amplitude, phase, intensity.clamp_min(0).sqrt())
    return {"chi2_modulus": modulus_chi2(mod_p, intensity).numpy(),
            "chi2_amplitude": image_chi2(a, amplitude).numpy(),
            "chi2_phase": image_chi2(p, phase).numpy(),
            "loss": ((terms * torch.tensor(LAMBDAS)).sum(1) / sum(LAMBDAS)).numpy()}


def _validation_loss(net, x, a, p, dev, batch_size=512) -> float:
    net.eval()
    total = 0.0
    with torch.no_grad():
        for lo in range(0, len(x), batch_size):
            xi = x[lo:lo + batch_size].to(dev)
            ap, pp = net(normalize_pattern(xi))
            total += float(cnn_loss(ap, pp, a[lo:lo + batch_size].to(dev),
                                    p[lo:lo + batch_size].to(dev), xi.clamp_min(0).sqrt())) \
                * len(xi)
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
          time_limit: float | None = None) -> ComplexCNN:
    """Train :class:`~cdi_plugins.cnn_model.ComplexCNN` and write weights + model card.

    Parameters
    ----------
    dataset : path
        Training data from :func:`cdi_plugins.superellipsoid.make_dataset`; its last 5 %
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
        Architecture (:class:`~cdi_plugins.cnn_model.CNNConfig`).
    checkpoint : path, optional
        Default ``output + ".ckpt"``; resumed from when it exists.
    command : str
        The command line, recorded in the model card.
    device : str
        ``"auto"``, ``"cpu"`` or ``"cuda[:N]"``.
    show_progress : bool, optional
    time_limit : float, optional
        Minutes after which training stops (the weights are written as they are).

    Returns
    -------
    ComplexCNN
        The trained network (eval mode).

    Notes
    -----
    Loss: eq. (4) of Wu et al. (2021) with ``lambda = (1, 1, 4)``
    (:func:`cdi_plugins.cnn_loss.cnn_loss`).
    """
    from .cnn import save_model

    t_start = time.perf_counter()
    if int(epochs) < 1 or int(batch_size) < 1:
        raise ValueError(f"epochs and batch_size must be positive, got {epochs}, {batch_size}")
    dev = resolve_device(device)
    data = se.read_dataset(dataset, n_train)
    x, a, p = _tensors(data)
    n_val = max(1, int(round(VAL_FRACTION * len(x))))
    if len(x) - n_val < batch_size:
        raise ValueError(f"dataset {str(dataset)!r} holds {len(x)} particles: too few for "
                         f"batches of {batch_size} after holding back {n_val} for validation")
    xv, av, pv = x[-n_val:], a[-n_val:], p[-n_val:]
    x, a, p = x[:-n_val], a[:-n_val], p[:-n_val]
    n = len(x)
    steps = n // batch_size

    torch.manual_seed(seed)
    cfg = CNNConfig(size=x.shape[-1], encoder=tuple(encoder), decoder=tuple(decoder))
    net = ComplexCNN(cfg).to(dev)
    opt, sched, lr = _optimizer(net, optimizer, lr, epochs, steps)
    ckpt = Path(checkpoint) if checkpoint else Path(f"{output}.ckpt")
    history: list[dict] = []
    start_epoch, start_step, spent = 0, 0, 0.0
    if ckpt.exists():
        state = torch.load(ckpt, map_location=dev, weights_only=True)
        if state["config"] != cfg.to_json() or state["n"] != n:
            raise ValueError(f"checkpoint {str(ckpt)!r} belongs to another run (config or "
                             f"data differ); delete it to start afresh")
        # the learning-rate schedule is laid out for the whole run when it starts
        for name, key, value in (("epochs", "epochs", epochs),
                                 ("batch_size", "batch_size", batch_size),
                                 ("optimizer", "optimizer_name", optimizer)):
            if key in state and state[key] != value:
                raise ValueError(f"{name}={value!r} differs from the checkpoint's "
                                 f"{state[key]!r} ({str(ckpt)!r}): its learning-rate "
                                 f"schedule was built for that run; resume with "
                                 f"{name}={state[key]!r}, or delete the checkpoint to "
                                 f"start afresh")
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        start_epoch, start_step = state["epoch"], state["step"]
        history, spent = state["history"], state["seconds"]
        logger.info("resuming from %s at epoch %d, step %d", ckpt, start_epoch, start_step)

    def save_ckpt(epoch, step):
        with atomic_path(ckpt) as tmp:
            torch.save({"model": net.state_dict(), "optimizer": opt.state_dict(),
                        "scheduler": sched.state_dict(), "epoch": epoch, "step": step,
                        "history": history, "config": cfg.to_json(), "n": n,
                        "epochs": epochs, "batch_size": batch_size, "optimizer_name": optimizer,
                        "seconds": spent + time.perf_counter() - t_start}, tmp)

    logger.info("training %d parameters on %d patterns (%d validation), %d epochs of %d "
                "steps, %s lr %.3g, on %s with %d threads", n_parameters(net), n, n_val,
                epochs, steps, optimizer, lr, dev, torch.get_num_threads())
    stopped = False
    epoch, step = start_epoch, start_step
    try:
        for epoch in range(start_epoch, epochs):
            gen = torch.Generator().manual_seed(seed * 100003 + epoch)
            order = torch.randperm(n, generator=gen)
            syms = torch.randint(0, 8, (steps,), generator=gen)
            net.train()
            running, t_epoch = 0.0, time.perf_counter()
            first = start_step if epoch == start_epoch else 0
            bar = progress(range(first, steps), f"epoch {epoch + 1}/{epochs}", show_progress,
                           total=steps - first)
            for step in bar:
                idx = order[step * batch_size:(step + 1) * batch_size]
                xi, ai, pi = augment(x[idx], a[idx], p[idx], int(syms[step]))
                xi, ai, pi = xi.to(dev), ai.to(dev), pi.to(dev)
                ap, pp = net(normalize_pattern(xi))
                loss = cnn_loss(ap, pp, ai, pi, xi.clamp_min(0).sqrt())
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                running += float(loss.detach())
                if (step + 1) % 200 == 0:
                    save_ckpt(epoch, step + 1)
                    logger.info("epoch %d step %d/%d: loss %.4f", epoch + 1, step + 1, steps,
                                running / (step + 1 - first))
                if time_limit and spent + time.perf_counter() - t_start > 60 * time_limit:
                    stopped = True
                    break
            val = _validation_loss(net, xv, av, pv, dev)
            history.append({"epoch": epoch + 1, "train_loss": running / max(step + 1 - first, 1),
                            "val_loss": val, "lr": sched.get_last_lr()[0],
                            "seconds": time.perf_counter() - t_epoch})
            logger.info("epoch %d/%d: train loss %.4f, validation loss %.4f (%.0f s)",
                        epoch + 1, epochs, history[-1]["train_loss"], val,
                        history[-1]["seconds"])
            save_ckpt(epoch + 1, 0)
            if stopped:
                logger.warning("time limit of %.0f min reached: stopping after epoch %d step "
                               "%d", time_limit, epoch + 1, step + 1)
                break
    except KeyboardInterrupt:
        save_ckpt(epoch, step)
        logger.warning("interrupted: checkpoint %s written; run the same command to resume",
                       ckpt)
        raise
    seconds = spent + time.perf_counter() - t_start
    net.eval()
    card = {
        "model": "ComplexCNN (Wu et al. 2021, IUCrJ 8, 12-21; encoder + two decoders)",
        "command": command,
        "config": cfg.to_json(),
        "parameters": n_parameters(net),
        "seed": seed,
        "data": {"train": data["path"], "train_seed": data["seed"], "n_train": n,
                 "n_validation": n_val, "generator": data["config"],
                 "augmentation": "8 symmetries of the square"},
        "training": {"epochs_planned": epochs, "epochs_run": len(history),
                     "stopped_early": stopped, "batch_size": batch_size,
                     "optimizer": optimizer, "lr": lr,
                     "schedule": "AdamW (wd 1e-4), one-cycle cosine, 10% warm-up"
                     if optimizer == "adam" else "SGD momentum 0.9, lr x0.95 every 10 epochs",
                     "loss": f"eq. (4), lambda = {LAMBDAS}", "history": history,
                     "seconds": round(seconds, 1), "device": str(dev),
                     "threads": torch.get_num_threads(), "machine": platform.processor()
                     or platform.machine(), "torch": torch.__version__},
    }
    if test:
        tdata = se.read_dataset(test)
        if tdata["seed"] == data["seed"]:
            raise ValueError(f"the test data {test!r} have the training data's seed "
                             f"{data['seed']}: they would not be held out")
        figs = test_figures(net, *_tensors(tdata), device=dev)
        card["test"] = {"path": tdata["path"], "seed": tdata["seed"], "n": len(tdata["intensity"])}
        card["test"].update({k: float(np.mean(v)) for k, v in figs.items()})
        logger.info("test chi2: modulus %.4f, amplitude %.4f, phase %.4f",
                    card["test"]["chi2_modulus"], card["test"]["chi2_amplitude"],
                    card["test"]["chi2_phase"])
    save_model(net.cpu(), output, card)
    logger.info("weights written to %s (%.0f s of training)", output, seconds)
    return net
