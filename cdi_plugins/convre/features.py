"""The convolutional feature extractor of ConvRe and its training on simulated reconstructions.

ConvRe (Pan et al., IUCrJ 2022) describes each reconstruction by CNN image features
(the paper cites VGG and ResNet). ImageNet weights cannot be fetched here, and would
describe photographs rather than CDI reconstructions, so the package trains its own small
network, :class:`FeatureNet`, on reconstructions made by the package's own phasing engine
from simulated mitochondrion-like objects (:mod:`cdi_plugins.simulate.mitochondria`):

- data (:func:`make_training_set`): for each of ``n_objects`` objects, a pattern at a
  photon budget drawn log-uniformly, ``n_runs`` OSS runs, prepared as in ConvRe
  (:func:`cdi_plugins.convre.prepare.prepare`); each run's real-space error against its truth
  (known in simulation only) marks it as *consistent* (within ``good_margin`` of the
  pattern's best run) or not;
- loss (:func:`train`): supervised contrastive (Khosla et al. 2020) on L2-normalised
  embeddings, temperature ``tau``: two augmented views of a run are positives, and so
  are the consistent runs of one pattern among themselves (with ``failed_together``,
  also its failed runs among themselves); every other run in the batch is a negative.
  With ``compact > 0`` a per-pattern Fisher ratio (:func:`compactness_loss`: scatter
  of each class about its centre over the squared distance between the two centres)
  is added, so that *both* classes are tight, which is what a 2-cluster k-means needs:
  the contrastive term alone spreads the failed runs, and k-means then splits them;
- augmentation: sub-pixel shifts (up to 1.5 px), a global phase (up to 0.3 rad), scale,
  Gaussian noise.

The weights ship as ``cdi_plugins/weights/convre_features.safetensors`` with a model card
(``.json``: command, seed, data parameters, epochs, metrics, training time), written by
``cdi-plugins train-features`` through :mod:`tomopy_dlalign.common.modelfiles`.

Example
-------
>>> import numpy as np
>>> from cdi_plugins.convre import features
>>> net = features.load_model()                  # the shipped weights
>>> crops = np.ones((3, 40, 24), np.complex64)
>>> features.embed(crops, net).shape
(3, 64)
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tomopy_dlalign.common import modelfiles
from tomopy_dlalign.common.progress import progress
from tomopy_dlalign.common.trainer import FitConfig, fit
from tomopy_dlalign.common.validation import as_array

from .. import metrics
from ..phasing import phase_retrieval
from ..simulate import mitochondria
from .prepare import PHASING, prepare_by_chi2

logger = logging.getLogger(__name__)

MODEL_NAME = "ConvReFeatureNet"
#: allowed keys and bounds of a stored configuration (checked before any allocation)
SCHEMA = {"channels": (list, 1, 512), "embed": (int, 1, 4096), "size": (int, 16, 1024)}
DEFAULT_WEIGHTS = Path(__file__).parents[1] / "weights" / "convre_features.safetensors"


class FeatureNet(nn.Module):
    """Four 3x3 convolution blocks (stride 2, GroupNorm, ReLU), a linear embedding.

    Input ``(B, 2, size, size)``: real and imaginary parts of a prepared reconstruction
    (:func:`to_input`); output ``(B, embed)`` features. ``size`` must be a multiple of 16.

    Example
    -------
    >>> net = FeatureNet(size=32); net(torch.zeros(2, 2, 32, 32)).shape
    torch.Size([2, 64])
    """

    def __init__(self, channels: tuple[int, ...] = (16, 32, 64, 64), embed: int = 64,
                 size: int = 64) -> None:
        super().__init__()
        if size % 2 ** len(channels):
            raise ValueError(f"size must be a multiple of {2 ** len(channels)}, got {size}")
        self.config = {"channels": list(channels), "embed": int(embed), "size": int(size)}
        layers, c_in = [], 2
        for c in channels:
            layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1), nn.GroupNorm(4, c),
                       nn.ReLU(inplace=True)]
            c_in = c
        self.body = nn.Sequential(*layers)
        cells = (size // 2 ** len(channels)) ** 2
        self.head = nn.Linear(c_in * cells, embed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).flatten(1))


def to_input(crops, size: int = 64) -> torch.Tensor:
    """Prepared crops -> network input ``(n, 2, size, size)`` float32.

    Each complex crop is zero-padded to a centred square (keeping its aspect), resized to
    ``size`` (bilinear, antialiased), split into real and imaginary parts and scaled so
    that its largest amplitude is 1.
    """
    a = np.asarray(crops, dtype=np.complex64)
    n, h, w = a.shape
    s = max(h, w)
    sq = np.zeros((n, s, s), np.complex64)
    y0, x0 = (s - h) // 2, (s - w) // 2
    sq[:, y0:y0 + h, x0:x0 + w] = a
    x = torch.from_numpy(np.stack([sq.real, sq.imag], axis=1))
    if s != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                          antialias=s > size)
    peak = torch.sqrt((x ** 2).sum(1)).flatten(1).amax(1).clamp_min(1e-12)
    return x / peak[:, None, None, None]


def load_model(path: str | Path | None = None) -> FeatureNet:
    """The feature extractor with weights from ``path`` (default: the shipped ones).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        The file is not safetensors, or holds another model's weights.
    """
    path = DEFAULT_WEIGHTS if path is None else Path(path)
    state, config = modelfiles.read_weights(path, MODEL_NAME)
    cfg = modelfiles.parse_config(config, SCHEMA, path, MODEL_NAME)
    missing = sorted({"channels", "embed", "size"} - set(cfg))
    if missing:
        raise ValueError(f"the {MODEL_NAME} configuration in {str(path)!r} lacks {missing}")
    net = FeatureNet(tuple(cfg["channels"]), cfg["embed"], cfg["size"])
    modelfiles.load_state(net, state, path, MODEL_NAME)
    return net.eval()


def embed(crops, model: FeatureNet, batch: int = 256) -> np.ndarray:
    """Features ``(n, embed)`` float32 of prepared crops (L2-normalised per run)."""
    x = to_input(crops, model.config["size"])
    out = []
    with torch.no_grad():
        for lo in range(0, len(x), batch):
            out.append(F.normalize(model(x[lo:lo + batch]), dim=1))
    return torch.cat(out).numpy()


def features(crops, model=None) -> np.ndarray:
    """Describe each prepared run by a feature vector.

    Step 2 of ConvRe: the convolutional feature extractor (:class:`FeatureNet`), or the
    raw pixels as a baseline.

    Parameters
    ----------
    crops : array_like
        complex ``(n_runs, h, w)``, :attr:`cdi_plugins.convre.prepare.Prepared.crops`.
    model : None, "pixels", str, Path or FeatureNet
        ``None``: the shipped weights; ``"pixels"``: real and imaginary parts of the crops,
        flattened (no network); a path: a user-supplied weights file written by
        ``cdi-plugins train-features`` (safetensors, read without running any code); or a
        loaded network. The network is small and runs on the CPU.

    Returns
    -------
    numpy.ndarray
        float32 ``(n_runs, n_features)``.

    Example
    -------
    >>> import numpy as np
    >>> features(np.ones((4, 10, 12), np.complex64), model="pixels").shape
    (4, 240)
    """
    c = as_array(crops, "crops", ndim=3, dtype=np.complex64)
    if isinstance(model, str) and model == "pixels":
        return np.concatenate([c.real.reshape(len(c), -1), c.imag.reshape(len(c), -1)],
                              axis=1).astype(np.float32)
    net = model if isinstance(model, FeatureNet) else load_model(model)
    return embed(c, net)


# -- training data ---------------------------------------------------------------------------
def make_training_set(n_objects: int = 64, n_runs: int = 24, size: int = 128,
                      photons: tuple[float, float] = (1.5e4, 1.5e5), background: float = 1.0,
                      n_iter: int = 400, good_margin: float = 0.05, max_error: float = 0.5,
                      seed: int = 0, cache_dir: str | Path | None = None,
                      show_progress: bool | None = None, anchor_fraction: float = 0.1) -> dict:
    """Simulated, prepared reconstructions with their pattern and consistency labels.

    Object ``k`` is :func:`cdi_plugins.simulate.mitochondria.mitochondrion_object` with seed
    ``seed * 100003 + k`` (the benchmark uses other seeds); its pattern has a photon budget
    drawn log-uniformly in ``photons`` and a subtracted background of ``background``
    photons per pixel; ``n_runs`` OSS runs of ``n_iter`` iterations (positivity,
    shrink-wrap) are prepared as :func:`cdi_plugins.convre.convre` prepares them
    (:func:`cdi_plugins.convre.prepare_by_chi2`: the crop box holds the object of the
    lowest-chi^2 ``anchor_fraction`` of the runs). A run is consistent
    when its real-space error is within ``good_margin`` of the pattern's best run and
    below ``max_error`` (a pattern whose runs all failed has no consistent run).
    With ``cache_dir``, each pattern's runs are saved there as soon as they are made and
    reused on the next call with the same parameters, so an interrupted run loses at most
    one pattern; the cache holds the runs themselves, so a change of the preparation does
    not need new phasing.

    Returns
    -------
    dict
        ``crops`` list of complex64 ``(n_runs, h, w)`` arrays (one per pattern), ``errors``
        ``(n_objects, n_runs)``, ``good`` bool ``(n_objects, n_runs)``, ``photons``,
        ``seconds`` (phasing time of each pattern, read from the cache for cached ones), and the
        parameters.
    """
    rng = np.random.default_rng(seed)
    lo, hi = np.log10(photons[0]), np.log10(photons[1])
    crops, errors, budgets, seconds = [], [], [], []
    cache = None if cache_dir is None else Path(cache_dir)
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
    tag = (f"runs_s{seed}_n{n_runs}_i{n_iter}_b{background:g}_p{photons[0]:g}-{photons[1]:g}"
           f"_{size}")
    for k in progress(range(n_objects), "training set", show_progress, n_objects):
        obj = mitochondria.mitochondrion_object(size, seed=seed * 100003 + k)
        ph = float(10 ** rng.uniform(lo, hi))
        run_seed = int(rng.integers(2 ** 31))
        file = None if cache is None else cache / f"pattern_{tag}_{k:04d}.npz"
        if file is not None and file.exists():
            d = np.load(file)
            runs, chi2 = d["objects"], d["chi2"]
            errors.append(d["errors"])
            seconds.append(float(d["seconds"]))
        else:
            t0 = time.perf_counter()
            sim = mitochondria.mitochondrion_pattern(obj, ph, background=background,
                                                     seed=seed * 100003 + k)
            res = phase_retrieval(sim.intensity, mask=sim.mask, algorithm="oss",
                                  n_iter=n_iter, n_runs=n_runs, seed=run_seed, device="cpu",
                                  constraint="positive", show_progress=False, **PHASING)
            runs, chi2 = res.objects, res.final_chi2
            errors.append([metrics.real_space_error(o, obj) for o in runs])
            seconds.append(time.perf_counter() - t0)
            if file is not None:
                with modelfiles.atomic_path(file) as tmp, open(tmp, "wb") as fh:
                    np.savez(fh, objects=runs, chi2=chi2, errors=np.asarray(errors[-1]),
                             seconds=seconds[-1])
        crops.append(prepare_by_chi2(runs, chi2, anchor_fraction).crops)
        budgets.append(ph)
        logger.info("training pattern %d/%d: %.3g photons, errors %.3f to %.3f", k + 1,
                    n_objects, ph, min(errors[-1]), max(errors[-1]))
    err = np.asarray(errors)
    good = (err <= err.min(axis=1, keepdims=True) + good_margin) & (err <= max_error)
    return {"crops": crops, "errors": err, "good": good, "photons": np.asarray(budgets),
            "seconds": np.asarray(seconds),
            "parameters": {"n_objects": n_objects, "n_runs": n_runs, "size": size,
                           "photons": list(photons), "background": background,
                           "n_iter": n_iter, "good_margin": good_margin,
                           "max_error": max_error, "seed": seed,
                           "anchor_fraction": anchor_fraction}}


# -- training --------------------------------------------------------------------------------
def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Sub-pixel shift, global phase, scale and noise (what varies between runs that found
    the same structure)."""
    n = len(x)
    theta = torch.zeros(n, 2, 3)
    scale = 1 + 0.04 * (2 * torch.rand(n, generator=gen) - 1)
    theta[:, 0, 0] = scale
    theta[:, 1, 1] = scale
    theta[:, :, 2] = (2 * torch.rand(n, 2, generator=gen) - 1) * 1.5 * 2 / x.shape[-1]
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    y = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    phi = (2 * torch.rand(n, generator=gen) - 1) * 0.3
    c, s = torch.cos(phi)[:, None, None], torch.sin(phi)[:, None, None]
    re, im = y[:, 0], y[:, 1]
    y = torch.stack([c * re - s * im, s * re + c * im], dim=1)
    y = y * (1 + 0.1 * (2 * torch.rand(n, 1, 1, 1, generator=gen) - 1))
    return y + 0.03 * torch.randn(y.shape, generator=gen)


def supcon_loss(z: torch.Tensor, groups: torch.Tensor, tau: float = 0.2) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al. 2020, eq. 2) of L2-normalised ``z``.

    ``groups[i] == groups[j]`` marks positives; every other sample is a negative.
    """
    sim = z @ z.T / tau
    n = len(z)
    eye = torch.eye(n, dtype=torch.bool)
    sim = sim.masked_fill(eye, -1e9)
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    pos = (groups[:, None] == groups[None, :]) & ~eye
    return -((log_prob * pos).sum(1) / pos.sum(1).clamp_min(1)).mean()


def compactness_loss(z: torch.Tensor, good: torch.Tensor, pattern: torch.Tensor
                     ) -> torch.Tensor:
    """Within-class scatter over between-class distance, per pattern (a Fisher ratio).

    For every pattern of the batch holding both consistent and failed runs, the mean
    squared distance of the runs of each class to their class centre, divided by the
    squared distance between the two centres, averaged over patterns. It is what a
    2-cluster k-means needs small: both classes tight, their centres far apart. The
    contrastive loss alone does not make the failed runs tight (Khosla et al. treat
    every class as separate; nothing pulls failed runs of different kinds together).
    Patterns with one class only contribute nothing.
    """
    terms = []
    for p in torch.unique(pattern):
        m = pattern == p
        zp, gp = z[m], good[m]
        if gp.all() or not gp.any():
            continue
        c_good, c_bad = zp[gp].mean(0), zp[~gp].mean(0)
        within = torch.cat([((zp[gp] - c_good) ** 2).sum(1),
                            ((zp[~gp] - c_bad) ** 2).sum(1)]).mean()
        terms.append(within / ((c_good - c_bad) ** 2).sum().clamp_min(1e-6))
    return torch.stack(terms).mean() if terms else z.sum() * 0


def _groups(good: np.ndarray, n_runs_each: list[int], failed_together: bool = False
            ) -> np.ndarray:
    """One group per pattern for its consistent runs; the failed runs of a pattern form
    one more group (``failed_together``) or one group each."""
    out, nxt = [], 0
    for p, n in enumerate(n_runs_each):
        g = np.empty(n, int)
        g[good[p][:n]] = nxt
        nxt += 1
        for i in np.flatnonzero(~good[p][:n]):
            g[i] = nxt
            nxt += 0 if failed_together else 1
        nxt += 1 if failed_together else 0
        out.append(g)
    return np.concatenate(out)


def separation(z: np.ndarray, good: np.ndarray) -> float:
    """Mean over patterns of (mean distance between consistent and other runs) over
    (mean distance among consistent runs): how far apart the features put failed runs.
    """
    ratios = []
    for zp, gp in zip(z, good, strict=True):
        if gp.sum() < 2 or (~gp).sum() < 1:
            continue
        d = np.linalg.norm(zp[:, None] - zp[None], axis=-1)
        within = d[np.ix_(gp, gp)][~np.eye(gp.sum(), dtype=bool)].mean()
        ratios.append(d[np.ix_(gp, ~gp)].mean() / max(within, 1e-12))
    return float(np.mean(ratios)) if ratios else float("nan")


def train(data: dict, epochs: int = 100, batch_patterns: int = 8, lr: float = 2e-3,
          tau: float = 0.2, val_fraction: float = 0.2, size: int = 64, seed: int = 0,
          failed_together: bool = True, compact: float = 5.0,
          show_progress: bool | None = None) -> tuple[FeatureNet, dict]:
    """Train :class:`FeatureNet` with the supervised contrastive loss on ``data``.

    Batches hold all runs of ``batch_patterns`` patterns, two augmented views each. The
    last ``val_fraction`` of the patterns are held out; the returned metrics compare the
    separation (:func:`separation`) of the learned features and of raw pixels on them.
    With ``failed_together`` the failed runs of a pattern are positives of each other
    (one "failed" class per pattern) instead of each being its own class. ``compact``
    weights :func:`compactness_loss` (computed on both views together, so it also pulls
    a run's two augmentations onto its class centre) added to the contrastive loss.

    Returns
    -------
    net : FeatureNet
    metrics : dict
        ``train_loss``, ``val_loss``, ``val_separation_features``,
        ``val_separation_pixels``, ``epochs``, ``seconds``.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    torch.manual_seed(seed)
    inputs = [to_input(c, size) for c in data["crops"]]
    good = np.asarray(data["good"], bool)
    n_pat = len(inputs)
    n_val = max(1, int(round(val_fraction * n_pat)))
    n_train = n_pat - n_val
    va = np.arange(n_train, n_pat)
    net = FeatureNet(size=size)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    t0 = time.perf_counter()

    # One generator per run rather than fit's per-epoch ones: this training has no
    # checkpoint to resume, and these streams are the ones the shipped weights' recorded
    # command was trained with, so that command reproduces them.
    order_rng = np.random.default_rng(seed)
    augment_gen = torch.Generator().manual_seed(seed)

    def batch_loss(ids, gen: torch.Generator) -> torch.Tensor:
        return _contrastive_batch_loss(net, [inputs[i] for i in ids], good[ids], gen, tau,
                                       failed_together, compact)

    def plan(epoch: int, gen: torch.Generator) -> list[np.ndarray]:
        order = order_rng.permutation(n_train)
        return [order[lo:lo + batch_patterns] for lo in range(0, n_train, batch_patterns)]

    def train_loss(ids, gen: torch.Generator) -> torch.Tensor:
        return batch_loss(ids, augment_gen)

    state = fit(net, opt, sched, plan, train_loss,
                FitConfig(epochs=epochs, seed=seed, scheduler_step="epoch",
                          show_progress=show_progress, desc="training features"))
    with torch.no_grad():
        val_loss = float(batch_loss(va, torch.Generator().manual_seed(seed + 1)))
        zf = [F.normalize(net(inputs[i]), dim=1).numpy() for i in va]
    zp = [inputs[i].flatten(1).numpy() for i in va]
    zp = [z / np.linalg.norm(z, axis=1, keepdims=True) for z in zp]
    history = [h["train_loss"] for h in state.history]
    metrics_ = {"train_loss": history[-1], "train_loss_first_epoch": history[0],
                "val_loss": val_loss, "val_patterns": int(n_val),
                "val_separation_features": separation(zf, good[va]),
                "val_separation_pixels": separation(zp, good[va]),
                "epochs": epochs, "seconds": time.perf_counter() - t0}
    logger.info("training done: %s", metrics_)
    return net, metrics_


def _contrastive_batch_loss(net: FeatureNet, inputs: list[torch.Tensor], good: np.ndarray,
                            gen: torch.Generator, tau: float, failed_together: bool,
                            compact: float) -> torch.Tensor:
    """The loss of one batch: all runs of some patterns, two augmented views each."""
    sizes = [len(x) for x in inputs]
    x = torch.cat(inputs)
    g = torch.from_numpy(_groups(good, sizes, failed_together))
    z = torch.cat([F.normalize(net(_augment(x, gen)), dim=1),
                   F.normalize(net(_augment(x, gen)), dim=1)])
    loss = supcon_loss(z, torch.cat([g, g]), tau)
    if compact > 0:
        gd = torch.from_numpy(np.concatenate([gp[:n] for gp, n in zip(good, sizes, strict=True)]))
        pat = torch.from_numpy(np.repeat(np.arange(len(sizes)), sizes))
        loss = loss + compact * compactness_loss(z, torch.cat([gd, gd]), torch.cat([pat, pat]))
    return loss


def save_model(net: FeatureNet, path: str | Path, card: dict | None = None) -> None:
    """Write ``net`` as safetensors (and its model card) via
    :mod:`tomopy_dlalign.common.modelfiles`."""
    modelfiles.save_weights(net.state_dict(), path, MODEL_NAME, json.dumps(net.config), card)
