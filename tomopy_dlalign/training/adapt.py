"""Fine-tuning JitterNet on the user's own sample (a few minutes on a CPU)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..models.jitternet import (
    JitterNet,
    load_model,
    save_model,
)
from .train import train


def adapt(prj, theta, center: float | None = None, model=None, n_sets: int = 12,
          jitter: float | None = None, epochs: int = 4, lr: float = 3e-4, seed: int = 0,
          output: str | os.PathLike | None = None, device: str = "auto") -> JitterNet:
    """Fine-tune JitterNet on the user's own sample, in minutes on a CPU.

    The stack is aligned with the current model and reconstructed (MLEM); that volume
    serves as the phantom: it is projected at ``n_sets`` random rotations about the
    axis, jittered with known shifts (uniform in ``[-jitter, jitter]``, by default 8 %
    of the width, the paper's 20 px at 256 px), reconstructed and reprojected exactly
    as at run time, and the model is trained on these pairs for ``epochs`` epochs,
    starting from its current weights.

    Returns the adapted model; with ``output`` its weights and model card are written
    there too (otherwise to a temporary folder that is removed).
    """
    import tempfile

    from ..prep.alignment import align, check_inputs, downsample, network_factor
    from ..recon import mlem
    from ..recon.projectors import make_projector
    from .dataset import simulate_pairs, write_pairs

    arr, th, c = check_inputs(prj, theta, center)
    net = model if isinstance(model, JitterNet) else load_model(model)
    factor = network_factor(arr.shape, net.config.size)
    aligned, _, _ = align(arr, th, c, model=net, device=device)
    small = downsample(torch.from_numpy(aligned), factor).numpy()
    A = make_projector(th, small.shape[2], c / factor)
    vol = mlem(small, th, c / factor, num_iter=20, projector=A, show_progress=False)
    amp = jitter if jitter is not None else 0.08 * small.shape[2]
    rng = np.random.default_rng(seed)
    pairs, targets, volume = [], [], []
    for k in range(n_sets):
        th_k = th + rng.uniform(0, np.pi)
        Ak = make_projector(th_k, small.shape[2], c / factor)
        p, t = simulate_pairs(vol, th_k, amp, rng, projector=Ak)
        pairs.append(p)
        targets.append(t)
        volume.append(np.full(len(t), k))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        init = tmp / "init.safetensors"
        save_model(net, init)
        data = write_pairs(tmp / "adapt.h5", np.concatenate(pairs), np.concatenate(targets),
                           np.concatenate(volume), {"source": "adapt", "jitter": amp,
                                                    "n_sets": n_sets, "seed": seed})
        out = Path(output) if output is not None else tmp / "adapted.safetensors"
        train([data], out, epochs=epochs, lr=lr, val_fraction=0.25, patience=epochs,
              seed=seed, device=device, init=init, resume=False,
              command=f"tomopy_dlalign.adapt(n_sets={n_sets}, epochs={epochs}, seed={seed})")
        return load_model(out)

