"""Fine-tuning JitterNet on the user's own sample (a few minutes on a CPU).

Adaptation must never leave the network worse than it started: the training pairs carry
the measured scan's own noise, a quarter of them (whole simulated scans) are held back,
and the starting weights are kept unless the adapted ones lower the error on those and
align the measured scan itself more consistently (a lower reprojection error).
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import median_filter

from ..models.jitternet import JitterNet, load_model, save_model
from ..prep.registration import is_impulsive
from .train import train

logger = logging.getLogger(__name__)


#: relative noise level below which a stack counts as clean: the finest-scale
#: detail of sharp-edged but noise-free projections reaches about this much
CLEAN_LEVEL = 0.015


def scan_noise(prj: np.ndarray) -> tuple[str, float]:
    """The kind and level of noise of a stack of line integrals, in the terms of
    :func:`tomopy_dlalign.simulate.add_noise`.

    Salt-and-pepper noise shows as many pixels at an image's extreme values (the level
    is their fraction). Otherwise the level is Donoho's robust estimate, the median of
    the finest diagonal wavelet detail over 0.6745, relative to the stack's maximum
    (``"gaussian"``), and ``("none", 0.0)`` below :data:`CLEAN_LEVEL`.
    """
    if is_impulsive(prj):
        lo = prj.min(axis=(1, 2), keepdims=True)
        hi = prj.max(axis=(1, 2), keepdims=True)
        return "salt_pepper", float(np.mean((prj == lo) | (prj == hi)))
    p = prj[:, : prj.shape[1] // 2 * 2, : prj.shape[2] // 2 * 2]
    detail = (p[:, ::2, ::2] - p[:, 1::2, ::2] - p[:, ::2, 1::2] + p[:, 1::2, 1::2]) / 2
    level = float(np.median(np.abs(detail))) / 0.6745 / max(float(np.abs(p).max()), 1e-30)
    return ("gaussian", level) if level > CLEAN_LEVEL else ("none", 0.0)


def adapt(prj, theta, center: float | str | None = "auto", model=None, n_sets: int = 12,
          jitter: float | None = None, epochs: int = 4, lr: float = 3e-4, seed: int = 0,
          output: str | os.PathLike | None = None, device: str = "auto",
          info: dict | None = None) -> JitterNet:
    """Fine-tune JitterNet on the user's own sample, in minutes on a CPU.

    The stack is aligned with the current model and reconstructed (MLEM, after a median
    filter when it shows salt-and-pepper noise); that volume serves as the phantom: it
    is projected at ``n_sets`` random rotations about the axis, jittered with known
    shifts (uniform in ``[-jitter, jitter]``, by default 8 % of the width, the paper's
    20 px at 256 px), given the noise measured on the stack (:func:`scan_noise`),
    reconstructed and reprojected exactly as at run time. The model trains on three
    quarters of these scans for ``epochs`` epochs from its current weights; the other
    quarter is held out. The adapted weights are returned only if they lower the
    held-out error of the starting ones and, aligning the measured stack itself (the
    network alone, without the polish), give a lower reprojection error
    (:func:`~tomopy_dlalign.prep.alignment.reprojection_error`).
    Otherwise the starting model comes back unchanged (and a warning says so).

    Parameters
    ----------
    info : dict, optional
        Filled with ``noise`` (kind, level), ``start_mse`` and ``adapted_mse`` (held-out
        error in network pixels squared), ``start_consistency`` and
        ``adapted_consistency`` (reprojection errors of the measured stack aligned by
        each) and ``kept`` (``"adapted"`` or ``"start"``).

    Returns
    -------
    JitterNet
        The adapted model, or the starting one; with ``output`` its weights and model
        card are written there too. Slabs too thin for the network (which ``align``
        aligns without it) return the starting model at once.
    """
    from ..prep.alignment import align, check_inputs, reprojection_error

    arr, th, c = check_inputs(prj, theta, center)
    net = model if isinstance(model, JitterNet) else load_model(model)
    if min(arr.shape[1:]) < net.config.size // 2:
        # align() does not use the network on slabs this thin: nothing to adapt
        logger.warning("adapt: prj images of %d x %d pixels are aligned without the network "
                       "(thin slab): keeping the starting weights", *arr.shape[1:])
        if info is not None:
            info.update(kept="start", reason="thin slab: the network is not used")
        return net
    noise = scan_noise(arr)
    logger.info("adapt: the scan's noise is %s at level %.3g", *noise)
    aligned, _, _ = align(arr, th, c, model=net, device=device)
    vol, small_c = _sample_volume(aligned, th, c, net, noise)
    amp = jitter if jitter is not None else 0.08 * vol.shape[2]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        init = tmp / "init.safetensors"
        save_model(net, init)
        data = _adaptation_pairs(tmp / "adapt.h5", vol, th, small_c, amp, noise, n_sets, seed)
        out = Path(output) if output is not None else tmp / "adapted.safetensors"
        card = train([data], out, epochs=epochs, lr=lr, val_fraction=0.25, patience=epochs,
                     seed=seed, device=device, init=init, resume=False,
                     command=f"tomopy_dlalign.adapt(n_sets={n_sets}, epochs={epochs}, "
                             f"seed={seed})")
        report = {"noise": noise, "start_mse": card["initial_validation_mse_px2"],
                  "adapted_mse": card["validation_mse_px2"]}
        adapted = load_model(out)
        if report["adapted_mse"] < report["start_mse"]:
            # the network alone, without the polish that hides part of its difference
            for key, candidate in (("start", net), ("adapted", adapted)):
                stack, _, _ = align(arr, th, c, model=candidate, polish=False, capture=False,
                                    check=False, device=device)
                report[f"{key}_consistency"] = reprojection_error(stack, th, c)
        better = report.get("adapted_consistency", np.inf) < report.get("start_consistency",
                                                                         -np.inf)
        report["kept"] = "adapted" if better else "start"
        if info is not None:
            info.update(report)
        logger.info("adapt: %s", report)
        if better:
            return adapted
        logger.warning("adapt: the adapted weights do not align this scan better (held-out "
                       "error %.4g -> %.4g px^2, reprojection error %s -> %s): keeping the "
                       "starting weights", report["start_mse"], report["adapted_mse"],
                       report.get("start_consistency"), report.get("adapted_consistency"))
        if output is not None:
            save_model(net, out, card | {"adaptation": report})
        return net


def _sample_volume(aligned, th, c, net, noise):
    """The sample's MLEM volume at the network's scale, and the axis at that scale."""
    from ..prep.alignment import downsample, network_factor
    from ..recon import mlem

    factor = network_factor(aligned.shape, net.config.size)
    small = downsample(torch.from_numpy(aligned), factor).numpy()
    if noise[0] == "salt_pepper":
        small = median_filter(small, size=(1, 5, 5))
    vol = mlem(small, th, c / factor, num_iter=20, show_progress=False)
    return vol, c / factor


def _adaptation_pairs(path, vol, th, c, amp, noise, n_sets, seed):
    """Simulated scans of ``vol`` with known jitter and the measured noise, written in
    :func:`make_dataset`'s layout (one volume index per scan, for the held-out split)."""
    from ..recon.projectors import make_projector
    from .dataset import simulate_pairs, write_pairs

    rng = np.random.default_rng(seed)
    pairs, targets, volume = [], [], []
    for k in range(n_sets):
        th_k = th + rng.uniform(0, np.pi)
        Ak = make_projector(th_k, vol.shape[2], c)
        p, t = simulate_pairs(vol, th_k, amp, rng, noise[0], noise[1], projector=Ak)
        pairs.append(p)
        targets.append(t)
        volume.append(np.full(len(t), k))
    return write_pairs(path, np.concatenate(pairs), np.concatenate(targets),
                       np.concatenate(volume), {"source": "adapt", "jitter": amp,
                                                "noise": list(noise), "n_sets": n_sets,
                                                "seed": seed})
