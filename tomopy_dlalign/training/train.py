"""Training JitterNet: Adam on the MSE of eq. (1) of Fu et al. (2021), with a validation
split by volume, early stopping and the shared loop's checkpoints, resume and seeds.

The result is a safetensors file plus a model card (JSON, same name) that records the
command, the data and their generation parameters, the seed, the epochs, the validation
error, the time and the machine.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
import torch
from torch.nn import functional as F

from ..common.device import resolve_device
from ..common.modelfiles import write_text_atomic
from ..common.trainer import FitConfig, fit, machine_record
from ..models.jitternet import (
    JitterNet,
    JitterNetConfig,
    load_model,
    normalize_pairs,
    resize_pairs,
    save_model,
)

logger = logging.getLogger(__name__)


def _load(paths: Sequence[str | os.PathLike], size: int, val_every: int):
    """Read datasets, resize pairs to the network size and split by volume."""
    xs, ys, vals, meta = [], [], [], []
    for p in paths:
        with h5py.File(p, "r") as f:
            done = int(f.attrs.get("done", 0))
            cfg = json.loads(f.attrs["config"])
            n = done * cfg["nproj"]
            if n == 0:
                raise ValueError(f"dataset {str(p)!r} holds no complete volume")
            pairs = torch.from_numpy(f["pairs"][:n].astype(np.float32))
            targets = torch.from_numpy(f["targets"][:n])
            volume = f["volume"][:n]
        small, (sx, sy) = resize_pairs(pairs, size)
        xs.append(small)
        ys.append(targets / torch.tensor([sx, sy], dtype=torch.float32))
        vals.append(torch.from_numpy(volume % val_every == 0))
        meta.append({"path": str(p), "pairs": n, "config": cfg})
    return torch.cat(xs), torch.cat(ys), torch.cat(vals), meta


def _augment(x, y, gen):
    # flipping columns mirrors dx, flipping rows mirrors dy
    fx = torch.rand(x.shape[0], generator=gen) < 0.5
    fy = torch.rand(x.shape[0], generator=gen) < 0.5
    x = torch.where(fx[:, None, None, None], x.flip(3), x)
    x = torch.where(fy[:, None, None, None], x.flip(2), x)
    y = y * torch.stack([1 - 2 * fx.float(), 1 - 2 * fy.float()], 1)
    return x, y


@torch.no_grad()
def _evaluate(model, x, y, batch_size, dev):
    model.eval()
    se = 0.0
    for a in range(0, x.shape[0], batch_size):
        pred = model(normalize_pairs(x[a:a + batch_size].to(dev)))
        se += float(((pred - y[a:a + batch_size].to(dev)) ** 2).sum())
    return se / max(x.shape[0], 1)  # eq. (1): mean over pairs of dx^2 + dy^2


def train(datasets: Sequence[str | os.PathLike], output: str | os.PathLike, epochs: int = 30,
          batch_size: int = 64, lr: float = 1e-3, val_fraction: float = 0.1,
          patience: int = 5, seed: int = 0, device: str = "auto",
          config: JitterNetConfig | None = None, init: str | os.PathLike | None = None,
          resume: bool = True, max_minutes: float | None = None, command: str | None = None,
          card_extra: dict | None = None, pairs_per_epoch: int | None = None,
          show_progress: bool | None = None) -> dict:
    """Train (or fine-tune) JitterNet and write ``output`` (safetensors) and its card.

    Parameters
    ----------
    datasets : list of paths
        Files from :func:`tomopy_dlalign.training.make_dataset`.
    output : path
        Weights file; the model card goes beside it as ``.json`` and the checkpoint as
        ``.ckpt`` (resumed from when ``resume`` and it exists).
    epochs, batch_size, lr : training schedule (Adam; the learning rate halves when the
        validation error stops improving for two epochs).
    val_fraction : float
        Share of volumes held out for validation (whole volumes, never single pairs).
    patience : int
        Stop after this many epochs without a better validation error.
    seed : int
        Seeds the initialisation, the shuffling and the augmentation.
    init : path, optional
        Start from these weights (fine-tuning) instead of a random initialisation.
    max_minutes : float, optional
        Stop cleanly after this much training time.
    pairs_per_epoch : int, optional
        Draw this many training pairs (a fresh random subset) per epoch instead of all;
        neighbouring angles of one scan are alike, so a subset per epoch trains as well
        for less time.

    Returns
    -------
    dict, the model card. ``initial_validation_mse_px2`` is the validation error of the
    starting weights (random or ``init``), ``validation_mse_px2`` the best reached.

    Notes
    -----
    The loop is :func:`tomopy_dlalign.common.trainer.fit`; the loss is the MSE of eq. (1)
    of Fu et al. (2021), in pixels of the network's input.
    """
    output = Path(output)
    dev = resolve_device(device)
    torch.manual_seed(seed)
    model = load_model(init) if init is not None else JitterNet(config)
    cfg = model.config
    val_every = max(int(round(1 / val_fraction)), 2)
    x, y, is_val, meta = _load(datasets, cfg.size, val_every)
    xt, yt, xv, yv = x[~is_val], y[~is_val], x[is_val], y[is_val]
    if xt.shape[0] == 0 or xv.shape[0] == 0:
        raise ValueError("the datasets are too small for a validation split by volume")
    model = model.to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=2)
    logger.info("training on %d pairs, validating on %d, %s, %s", xt.shape[0], xv.shape[0],
                dev, cfg)

    def plan(epoch, gen):
        order = torch.randperm(xt.shape[0], generator=gen)[:pairs_per_epoch]
        return [order[a:a + batch_size] for a in range(0, len(order), batch_size)]

    def loss(idx, gen):
        xb, yb = _augment(xt[idx], yt[idx], gen)
        pred = model(normalize_pairs(xb.to(dev)))
        return F.mse_loss(pred, yb.to(dev), reduction="sum") / xb.shape[0]

    def on_best(state):
        save_model(model, output, _card(state, meta, seed, cfg, dev, command, lr, batch_size,
                                        init, card_extra))

    fit_cfg = FitConfig(epochs=epochs, seed=seed, checkpoint=output.with_suffix(".ckpt"),
                        resume=resume, identity={"config": cfg.to_json(), "pairs": len(xt)},
                        scheduler_step="validation", patience=patience,
                        max_minutes=max_minutes, show_progress=show_progress,
                        desc="JitterNet")
    with torch.no_grad():
        initial = _evaluate(model, xv, yv, 256, dev)
    state = fit(model, opt, sched, plan, loss, fit_cfg,
                validate=lambda: _evaluate(model, xv, yv, 256, dev), on_best=on_best)
    card = json.loads(output.with_suffix(".json").read_text())
    card["initial_validation_mse_px2"] = initial
    card["stopped_after_epochs"] = state.epoch
    card["history"] = _history(state)
    write_text_atomic(output.with_suffix(".json"), json.dumps(card, indent=2))
    return card


def _history(state) -> list[dict]:
    """The loop's history in the card's terms: eq. (1)'s MSE in network pixels squared."""
    return [{"epoch": h["epoch"], "train_mse": h["train_loss"], "val_mse": h["val_loss"],
             "lr": h.get("lr"), "seconds": h["seconds"]} for h in state.history]


def _card(state, meta, seed, cfg, dev, command, lr, batch_size, init, extra):
    card = {
        "model": "JitterNet",
        "architecture": json.loads(cfg.to_json()),
        "command": command or " ".join(sys.argv),
        "seed": seed,
        "optimizer": {"name": "Adam", "lr": lr, "batch_size": batch_size,
                      "loss": "MSE of eq. (1), Fu et al. 2021, in network pixels",
                      "augmentation": "random flips of rows and columns"},
        "initialised_from": str(init) if init else "random",
        "data": meta and [{"path": Path(m["path"]).name, "pairs": m["pairs"],
                           "generation": m["config"]} for m in meta],
        "best_epoch": state.epoch,
        "validation_mse_px2": state.best,
        "validation_rmse_px": float(np.sqrt(state.best)),
        "training_seconds": round(state.seconds, 1),
        "machine": machine_record(dev),
    }
    card.update(extra or {})
    return card
