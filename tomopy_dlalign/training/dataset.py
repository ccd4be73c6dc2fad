"""Training data for JitterNet: simulated scans, jittered, reconstructed and reprojected
exactly as at run time, written to HDF5 with their generation parameters.

Each volume contributes ``nproj`` pairs ``(jittered projection, reprojection)`` and
their targets, the offset of the projection relative to the reprojection: ``dx`` and
``dy - mean(dy)`` (a common vertical offset moves the reconstruction with it).
Generation is resumable: volumes are appended one at a time and a restart continues
after the last complete one.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import h5py
import numpy as np

from ..common.progress import progress
from ..prep.alignment import reproject_cycle
from ..prep.shifts import shift
from ..recon.projectors import make_projector
from ..simulate import FAMILIES, add_noise, phantom

logger = logging.getLogger(__name__)

NOISE_KINDS = ("none", "poisson", "gaussian", "salt_pepper")


@dataclass
class DatasetConfig:
    """How a dataset is generated (stored in the file's attributes)."""

    n_volumes: int = 30
    families: tuple[str, ...] = ("nanoparticles", "battery", "assembly")
    size: int = 128          # columns of each projection
    nslice: int = 64         # rows of each projection
    nproj: int = 181         # angles over 180 degrees
    jitter: float = 10.0     # uniform in [-jitter, jitter] px (20 px at 256 px, scaled)
    noise: tuple[str, ...] = NOISE_KINDS
    max_salt_pepper: float = 0.6
    attenuation: float = 0.05  # line integral scale of the densest voxel per pixel
    seed: int = 0
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        bad = [f for f in self.families if f not in FAMILIES]
        if bad:
            raise ValueError(f"families must be among {FAMILIES}, got {bad}")
        bad = [n for n in self.noise if n not in NOISE_KINDS]
        if bad:
            raise ValueError(f"noise must be among {NOISE_KINDS}, got {bad}")
        if self.n_volumes < 1 or self.size < 16 or self.nslice < 8 or self.nproj < 8:
            raise ValueError("n_volumes >= 1, size >= 16, nslice >= 8 and nproj >= 8 needed")


def simulate_pairs(vol: np.ndarray, theta: np.ndarray, jitter: float, rng: np.random.Generator,
                   noise: str = "none", level: float = 0.0, projector=None):
    """One volume's training pairs: ``(pairs (nproj, 2, H, W), targets (nproj, 2))``."""
    A = projector or make_projector(theta, vol.shape[2])
    clean = A.forward(vol)
    dx = rng.uniform(-jitter, jitter, theta.size)
    dy = rng.uniform(-jitter, jitter, theta.size)
    prj = shift(clean, dx, dy)
    if noise != "none" and level > 0:
        prj = add_noise(prj, noise, level, seed=rng)
    ref = reproject_cycle(prj, theta, A.center, A)
    pairs = np.stack([prj, ref], axis=1)
    targets = np.stack([dx, dy - dy.mean()], axis=1)
    return pairs, targets


def _noise_for(rng, cfg: DatasetConfig):
    kind = cfg.noise[rng.integers(len(cfg.noise))]
    level = {"none": 0.0, "poisson": rng.uniform(0.001, 0.02),
             "gaussian": rng.uniform(0.005, 0.05),
             "salt_pepper": rng.uniform(0.0, cfg.max_salt_pepper)}[kind]
    return kind, float(level)


def make_dataset(path: str | os.PathLike, config: DatasetConfig | None = None,
                 show_progress: bool | None = None) -> Path:
    """Generate (or resume) a dataset file; returns its path.

    Volume ``i`` is drawn from ``numpy.random.default_rng([seed, i])``, so a resumed or
    a fresh run gives the same data. The file holds ``pairs`` (float16, (N, 2, H, W)),
    ``targets`` (float32, (N, 2)), ``volume`` and ``family`` indices per pair, and the
    configuration as JSON in the ``config`` attribute.
    """
    cfg = config or DatasetConfig()
    path = Path(path)
    theta = np.linspace(0, np.pi, cfg.nproj, endpoint=False)
    A = make_projector(theta, cfg.size)
    shape = (cfg.nslice, cfg.size)
    mode = "a" if path.exists() else "w"
    with h5py.File(path, mode) as f:
        if "config" in f.attrs:
            stored = json.loads(f.attrs["config"])
            if stored != json.loads(json.dumps(asdict(cfg))):
                raise ValueError(f"{str(path)!r} was made with another configuration; "
                                 "choose a new file name to make a different dataset")
        else:
            f.attrs["config"] = json.dumps(asdict(cfg))
            f.attrs["done"] = 0
            f.create_dataset("pairs", (0, 2, *shape), np.float16,
                             maxshape=(None, 2, *shape), chunks=(16, 2, *shape))
            f.create_dataset("targets", (0, 2), np.float32, maxshape=(None, 2))
            f.create_dataset("volume", (0,), np.int32, maxshape=(None,))
            f.create_dataset("family", (0,), np.int8, maxshape=(None,))
            f.create_dataset("noise", (0,), np.float32, maxshape=(None,))
        done = int(f.attrs["done"])
        n = done * cfg.nproj
        for name in ("pairs", "targets", "volume", "family", "noise"):
            f[name].resize(n, axis=0)  # drop a volume half-written by an interruption
        if done:
            logger.info("resuming %s after %d of %d volumes", path, done, cfg.n_volumes)
        for i in progress(range(done, cfg.n_volumes), "make-dataset", show_progress,
                          total=cfg.n_volumes - done):
            rng = np.random.default_rng([cfg.seed, i])
            fam = cfg.families[i % len(cfg.families)]
            vol = phantom(fam, cfg.size, cfg.nslice, seed=rng) * cfg.attenuation
            kind, level = _noise_for(rng, cfg)
            pairs, targets = simulate_pairs(vol, theta, cfg.jitter, rng, kind, level, A)
            m = n + cfg.nproj
            for name in ("pairs", "targets", "volume", "family", "noise"):
                f[name].resize(m, axis=0)
            f["pairs"][n:m] = pairs.astype(np.float16)
            f["targets"][n:m] = targets
            f["volume"][n:m] = i
            f["family"][n:m] = FAMILIES.index(fam)
            f["noise"][n:m] = level if kind == "salt_pepper" else -level
            n = m
            f.attrs["done"] = i + 1
            f.flush()
            if (i + 1) % 5 == 0:
                logger.info("make-dataset: %d/%d volumes", i + 1, cfg.n_volumes)
    return path


def write_pairs(path: str | os.PathLike, pairs: np.ndarray, targets: np.ndarray,
                volume: np.ndarray, config: dict) -> Path:
    """Write pairs made elsewhere (for example by :func:`tomopy_dlalign.adapt`) in the
    layout of :func:`make_dataset`, so that :func:`tomopy_dlalign.train` reads them."""
    path = Path(path)
    with h5py.File(path, "w") as f:
        n = pairs.shape[0]
        f["pairs"] = pairs.astype(np.float16)
        f["targets"] = targets.astype(np.float32)
        f["volume"] = volume.astype(np.int32)
        f["family"] = np.full(n, -1, np.int8)
        f["noise"] = np.zeros(n, np.float32)
        f.attrs["config"] = json.dumps(config | {"nproj": int(n // max(len(set(volume)), 1))})
        f.attrs["done"] = len(set(volume.tolist()))
    return path
