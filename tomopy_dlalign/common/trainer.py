"""The one training loop of both packages: checkpoint, resume, progress, seeds, time limit.

Every network (JitterNet, the ConvRe feature extractor, the complex CNN) trains through
:func:`fit`. The network's own module says what a batch is and what its loss is; this
module owns everything around that: the epoch and step bookkeeping, the optimiser and
scheduler steps, the validation and early stopping, the checkpoint (written atomically
every ``save_every`` steps, at the end of every epoch and on Ctrl-C) and resuming from it
mid-epoch, the progress bar, and the machine record of the model card.

Batches are planned per epoch from a generator seeded by ``(seed, epoch)`` alone, so a
run resumed at any step continues with exactly the batches it would have seen.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .modelfiles import atomic_path
from .progress import progress

logger = logging.getLogger(__name__)

#: How the learning-rate scheduler is stepped: after every batch, after every epoch,
#: or with the validation loss (``ReduceLROnPlateau``).
SCHEDULER_STEPS = ("batch", "epoch", "validation")


@dataclass
class FitConfig:
    """What :func:`fit` needs besides the network, optimiser and the batch functions.

    Parameters
    ----------
    epochs : int
        Number of epochs (at least 1).
    seed : int
        Seeds the per-epoch generator handed to ``plan`` and ``loss``.
    checkpoint : path, optional
        Checkpoint file; resumed from when it exists and ``resume`` is true.
    resume : bool
    identity : dict
        What must be equal for a checkpoint to belong to this run (configuration, data
        size, schedule); a mismatch is a clear ``ValueError`` naming the first key.
    scheduler_step : {"batch", "epoch", "validation"}
    patience : int, optional
        Stop after this many epochs without a lower validation loss.
    max_minutes : float, optional
        Stop cleanly (checkpoint written) once this much training time has passed.
    save_every : int
        Write the checkpoint every this many steps within an epoch.
    show_progress : bool, optional
    desc : str
        Label of the progress bar and the log lines.
    log_every, checkpoint_every : int
        Log a line, write the checkpoint, every this many epochs (and after the last;
        Ctrl-C writes it whatever the count): more than 1 for runs of many short epochs.
    """

    epochs: int
    seed: int = 0
    checkpoint: str | os.PathLike | None = None
    resume: bool = True
    identity: dict = field(default_factory=dict)
    scheduler_step: str = "batch"
    patience: int | None = None
    max_minutes: float | None = None
    save_every: int = 200
    show_progress: bool | None = None
    desc: str = "training"
    log_every: int = 1
    checkpoint_every: int = 1

    def __post_init__(self):
        if int(self.epochs) < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        for name in ("log_every", "checkpoint_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.scheduler_step not in SCHEDULER_STEPS:
            raise ValueError(f"scheduler_step must be one of {SCHEDULER_STEPS}, "
                             f"got {self.scheduler_step!r}")


@dataclass
class FitState:
    """Where a run stands; what the checkpoint stores besides the tensors' states."""

    epoch: int = 0
    step: int = 0
    best: float = float("inf")
    stale: int = 0
    seconds: float = 0.0
    stopped_early: bool = False
    history: list[dict] = field(default_factory=list)


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The generator of epoch ``epoch``: a function of the seed and the epoch alone."""
    return torch.Generator().manual_seed(int(seed) * 100003 + int(epoch))


def machine_record(device: torch.device | str) -> dict:
    """The machine part of a model card: platform, processor, threads, device, torch."""
    return {"platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_threads": torch.get_num_threads(), "device": str(device),
            "torch": torch.__version__}


def _check_identity(saved: dict, identity: dict, path: Path) -> None:
    for key, value in identity.items():
        if key in saved and saved[key] != value:
            raise ValueError(f"{key}={value!r} differs from the checkpoint's {saved[key]!r} "
                             f"({str(path)!r}): the checkpoint belongs to another run; resume "
                             f"with {key}={saved[key]!r}, or delete the checkpoint to start "
                             f"afresh")


class _Checkpoint:
    """Reads and writes the checkpoint file of one run (atomically)."""

    def __init__(self, path, net, optimizer, scheduler, identity):
        self.path = Path(path) if path is not None else None
        self.net, self.optimizer, self.scheduler = net, optimizer, scheduler
        self.identity = json.loads(json.dumps(identity, default=str))

    def load(self, state: FitState) -> bool:
        if self.path is None or not self.path.exists():
            return False
        try:
            ck = torch.load(self.path, weights_only=True, map_location="cpu")
        except Exception as exc:  # torch raises many kinds on a foreign or damaged file
            raise ValueError(f"checkpoint {str(self.path)!r} cannot be read ({exc}); delete "
                             "it to start afresh") from exc
        missing = {"model", "optimizer", "identity", "state"} - set(ck)
        if missing:
            raise ValueError(f"{str(self.path)!r} is not a checkpoint of this training loop "
                             f"(no {', '.join(sorted(missing))}); delete it to start afresh")
        _check_identity(json.loads(ck["identity"]), self.identity, self.path)
        self.net.load_state_dict(ck["model"])
        self.optimizer.load_state_dict(ck["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(ck["scheduler"])
        state.__dict__.update(json.loads(ck["state"]))
        logger.info("resumed %s at epoch %d, step %d", self.path, state.epoch, state.step)
        return True

    def save(self, state: FitState) -> None:
        if self.path is None:
            return
        with atomic_path(self.path) as tmp:
            torch.save({"model": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
                        "scheduler": self.scheduler.state_dict() if self.scheduler else {},
                        "identity": json.dumps(self.identity),
                        "state": json.dumps(state.__dict__)}, tmp)


def _run_epoch(net, optimizer, scheduler, batches: Sequence, loss_fn, gen, state, cfg, ckpt,
               clock) -> tuple[float, bool]:
    """Train over ``batches[state.step:]``; return the mean loss and whether time ran out."""
    net.train()
    first, total, count = state.step, 0.0, 0
    bar = progress(range(first, len(batches)), f"{cfg.desc} {state.epoch + 1}/{cfg.epochs}",
                   cfg.show_progress, total=len(batches) - first)
    for k in bar:
        loss = loss_fn(batches[k], gen)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None and cfg.scheduler_step == "batch":
            scheduler.step()
        total, count, state.step = total + float(loss.detach()), count + 1, k + 1
        if state.step % cfg.save_every == 0:
            state.seconds = clock()
            ckpt.save(state)
            logger.info("%s: epoch %d step %d/%d, loss %.4g", cfg.desc, state.epoch + 1,
                        state.step, len(batches), total / count)
        if cfg.max_minutes is not None and clock() > 60 * cfg.max_minutes:
            return total / max(count, 1), True
    return total / max(count, 1), False


def fit(net: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
        plan: Callable[[int, torch.Generator], Sequence],
        loss: Callable[[Any, torch.Generator], torch.Tensor], config: FitConfig,
        validate: Callable[[], float] | None = None,
        on_best: Callable[[FitState], None] | None = None) -> FitState:
    """Train ``net`` for ``config.epochs`` epochs and return the final :class:`FitState`.

    Parameters
    ----------
    net, optimizer, scheduler :
        The network (already on its device), its optimiser and scheduler (or ``None``).
    plan : callable ``(epoch, generator) -> sequence of batches``
        The batches of one epoch, in order; called with :func:`epoch_generator`.
    loss : callable ``(batch, generator) -> scalar tensor``
        The training loss of one batch (augmentation may draw from the generator).
    config : FitConfig
    validate : callable ``() -> float``, optional
        Validation loss, computed after every epoch (the network in eval mode, no grad);
        drives early stopping, ``on_best`` and a ``"validation"`` scheduler.
    on_best : callable ``(state) -> None``, optional
        Called when the validation loss reaches a new low (to write the best weights).

    Returns
    -------
    FitState
        ``history`` holds one entry per epoch: ``train_loss``, ``val_loss`` (when
        validated), ``lr`` and ``seconds``.

    Raises
    ------
    ValueError
        When the checkpoint exists but belongs to another run (``config.identity``).
    KeyboardInterrupt
        After writing the checkpoint, so that the same call resumes.
    """
    state = FitState()
    ckpt = _Checkpoint(config.checkpoint, net, optimizer, scheduler, config.identity)
    if config.resume:
        ckpt.load(state)
    t0 = time.perf_counter() - state.seconds
    clock = lambda: time.perf_counter() - t0  # noqa: E731
    try:
        while state.epoch < config.epochs and not state.stopped_early:
            gen = epoch_generator(config.seed, state.epoch)
            batches = plan(state.epoch, gen)
            t_epoch = clock()
            train_loss, out_of_time = _run_epoch(net, optimizer, scheduler, batches, loss, gen,
                                                 state, config, ckpt, clock)
            state.seconds = clock()
            _end_epoch(net, scheduler, validate, on_best, state, config, train_loss,
                       state.seconds - t_epoch)
            state.stopped_early = state.stopped_early or out_of_time
            if out_of_time:
                logger.warning("%s: time limit of %s min reached after epoch %d", config.desc,
                               config.max_minutes, state.epoch)
            if _last_or_every(state, config, config.checkpoint_every):
                ckpt.save(state)
    except KeyboardInterrupt:
        state.seconds = clock()
        ckpt.save(state)
        logger.warning("interrupted: checkpoint %s written; run the same command to resume",
                       ckpt.path)
        raise
    net.eval()
    return state


def _last_or_every(state: FitState, cfg: FitConfig, every: int) -> bool:
    """Whether the epoch just ended is a multiple of ``every``, the last, or a stop."""
    return (state.epoch % int(every) == 0 or state.epoch >= cfg.epochs
            or state.stopped_early)


def _end_epoch(net, scheduler, validate, on_best, state, cfg, train_loss, seconds) -> None:
    entry = {"epoch": state.epoch + 1, "train_loss": train_loss}
    if validate is not None:
        net.eval()
        with torch.no_grad():
            entry["val_loss"] = float(validate())
    if scheduler is not None and cfg.scheduler_step == "epoch":
        scheduler.step()
    elif scheduler is not None and cfg.scheduler_step == "validation":
        scheduler.step(entry.get("val_loss", train_loss))
    optimizer_lr = getattr(scheduler, "optimizer", None)
    if optimizer_lr is not None:
        entry["lr"] = optimizer_lr.param_groups[0]["lr"]
    entry["seconds"] = round(seconds, 2)
    state.history.append(entry)
    state.epoch, state.step = state.epoch + 1, 0
    if _last_or_every(state, cfg, cfg.log_every):
        logger.info("%s: epoch %d/%d, train loss %.4g%s (%.0f s)", cfg.desc, state.epoch,
                    cfg.epochs, train_loss, f", validation loss {entry['val_loss']:.4g}"
                    if "val_loss" in entry else "", seconds)
    if "val_loss" not in entry:
        return
    if entry["val_loss"] < state.best:
        state.best, state.stale = entry["val_loss"], 0
        if on_best is not None:
            on_best(state)
    else:
        state.stale += 1
        if cfg.patience is not None and state.stale >= cfg.patience:
            state.stopped_early = True
