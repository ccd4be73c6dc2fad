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

from ..common.h5files import atomic_h5, open_h5, resumable_h5
from ..common.outputs import full_disk_errors, reserve_space
from ..common.progress import progress
from ..prep.alignment import reproject_cycle
from ..prep.shifts import shift
from ..recon.projectors import make_projector
from ..simulate import FAMILIES, add_artefacts, add_noise, phantom

logger = logging.getLogger(__name__)

NOISE_KINDS = ("none", "poisson", "gaussian", "salt_pepper")
#: angular ranges of the simulated scans: 180 degrees evenly, +-60 to +-70 degrees (TXM),
#: 360 degrees, or 180 degrees with uneven steps
ANGLE_KINDS = ("half", "limited", "full", "uneven")


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
    wide: float = 1.0        # samples up to this many times wider than the field of view
    axis_offset: float = 0.0  # rotation axis uniform in ncol / 2 +- this many pixels
    angles: tuple[str, ...] = ("half",)
    artefacts: float = 0.0   # share of volumes with rings, a drifting beam and dead pixels
    seed: int = 0
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        bad = [f for f in self.families if f not in FAMILIES]
        if bad:
            raise ValueError(f"families must be among {FAMILIES}, got {bad}")
        bad = [n for n in self.noise if n not in NOISE_KINDS]
        if bad:
            raise ValueError(f"noise must be among {NOISE_KINDS}, got {bad}")
        bad = [a for a in self.angles if a not in ANGLE_KINDS]
        if bad or not self.angles:
            raise ValueError(f"angles must be among {ANGLE_KINDS}, got {list(self.angles)}")
        if self.n_volumes < 1 or self.size < 16 or self.nslice < 8 or self.nproj < 8:
            raise ValueError("n_volumes >= 1, size >= 16, nslice >= 8 and nproj >= 8 needed")
        if self.wide < 1 or not 0 <= self.artefacts <= 1 or not 0 <= self.axis_offset:
            raise ValueError(f"wide >= 1, artefacts in [0, 1] and axis_offset >= 0 needed, "
                             f"got {self.wide}, {self.artefacts}, {self.axis_offset}")


def simulate_pairs(vol: np.ndarray, theta: np.ndarray, jitter: float, rng: np.random.Generator,
                   noise: str = "none", level: float = 0.0, projector=None,
                   view: tuple[int, int] | None = None, artefacts: dict | None = None):
    """One volume's training pairs: ``(pairs (nproj, 2, H, W), targets (nproj, 2))``.

    ``projector`` (default: about the middle of ``vol``) sets the axis; ``view`` keeps
    only detector columns ``[lo, hi)`` of the projections, as a detector narrower than
    the sample sees it; ``artefacts`` are :func:`~tomopy_dlalign.simulate.add_artefacts`
    arguments. The reference is made from what the detector recorded, exactly as at run
    time.
    """
    A = projector or make_projector(theta, vol.shape[2])
    clean = A.forward(vol)
    dx = rng.uniform(-jitter, jitter, theta.size)
    dy = rng.uniform(-jitter, jitter, theta.size)
    prj = shift(clean, dx, dy)
    if noise != "none" and level > 0:
        prj = add_noise(prj, noise, level, seed=rng)
    if view is not None:
        prj = np.ascontiguousarray(prj[:, :, view[0]:view[1]])
        A = make_projector(theta, view[1] - view[0], A.center - view[0])
    if artefacts:
        prj = add_artefacts(prj, **artefacts, seed=rng)
    ref = reproject_cycle(prj, theta, A.center, A)
    pairs = np.stack([prj, ref], axis=1)
    targets = np.stack([dx, dy - dy.mean()], axis=1)
    return pairs, targets


def scan_geometry(rng: np.random.Generator, cfg: DatasetConfig):
    """The angles, the sample's width and the axis of one simulated scan. With the
    defaults (180 degrees, a sample inside the view, the axis in the middle) nothing is
    drawn from ``rng``, so datasets made before these options stay reproducible."""
    kind = cfg.angles[rng.integers(len(cfg.angles))] if len(cfg.angles) > 1 else cfg.angles[0]
    n = cfg.nproj
    if kind == "half":
        theta = np.linspace(0, np.pi, n, endpoint=False)
    elif kind == "full":
        theta = np.linspace(0, 2 * np.pi, n, endpoint=False)
    elif kind == "limited":
        span = np.radians(rng.uniform(60, 70))
        theta = np.linspace(-span, span, n)
    else:
        theta = np.sort(rng.uniform(0, np.pi, n))
    width = cfg.size
    if cfg.wide > 1:
        width = 2 * int(round(cfg.size * rng.uniform(1, cfg.wide) / 2))
    offset = rng.uniform(-cfg.axis_offset, cfg.axis_offset) if cfg.axis_offset else 0.0
    return theta, width, offset


def _artefacts_for(rng, cfg: DatasetConfig, scale: float) -> dict | None:
    if not cfg.artefacts or rng.random() >= cfg.artefacts:
        return None
    return {"rings": rng.uniform(0, 0.02) * scale, "drift": rng.uniform(0, 0.05) * scale,
            "dead": rng.uniform(0, 0.002)}


def _noise_for(rng, cfg: DatasetConfig):
    kind = cfg.noise[rng.integers(len(cfg.noise))]
    level = {"none": 0.0, "poisson": rng.uniform(0.001, 0.02),
             "gaussian": rng.uniform(0.005, 0.05),
             "salt_pepper": rng.uniform(0.0, cfg.max_salt_pepper)}[kind]
    return kind, float(level)


def _volume_pairs(rng, fam, cfg: DatasetConfig, A):
    """The pairs of one volume of a dataset (``A``: the projector of the default
    geometry, shared by every volume that uses it)."""
    theta, width, offset = scan_geometry(rng, cfg)
    vol = phantom(fam, width, cfg.nslice, seed=rng) * cfg.attenuation
    kind, level = _noise_for(rng, cfg)
    if width == cfg.size and offset == 0 and cfg.angles == ("half",):
        projector, view = A, None
    else:
        lo = (width - cfg.size) // 2
        projector = make_projector(theta, width, width / 2 + offset)
        view = (lo, lo + cfg.size)
    artefacts = _artefacts_for(rng, cfg, cfg.attenuation * cfg.size / 4)
    pairs, targets = simulate_pairs(vol, theta, cfg.jitter, rng, kind, level, projector,
                                    view, artefacts)
    return pairs, targets, level, kind


#: the ``created_by`` attribute of a file made by :func:`make_dataset`
MARKER = "tomopy_dlalign make-dataset"
_FIELDS = ("pairs", "targets", "volume", "family", "noise")
#: room for what HDF5 adds besides the data when a volume is appended (chunk index, headers)
_METADATA_ROOM = 64 * 1024
_RESUMES = ("the file keeps the volumes completed before; run the same command again with "
            "more space to resume")


def _skeleton(cfg: DatasetConfig):
    """What a new dataset file holds before its first volume: the configuration and
    empty datasets."""
    shape = (cfg.nslice, cfg.size)

    def build(f: h5py.File) -> None:
        f.attrs["config"] = json.dumps(asdict(cfg))
        f.attrs["done"] = 0
        f.create_dataset("pairs", (0, 2, *shape), np.float16,
                         maxshape=(None, 2, *shape), chunks=(16, 2, *shape))
        f.create_dataset("targets", (0, 2), np.float32, maxshape=(None, 2))
        f.create_dataset("volume", (0,), np.int32, maxshape=(None,))
        f.create_dataset("family", (0,), np.int8, maxshape=(None,))
        f.create_dataset("noise", (0,), np.float32, maxshape=(None,))
    return build


def _reserve_volume(f: h5py.File, rows: int) -> None:
    """Reserve on disk the room ``rows`` more pairs take (every field, a chunk more for
    the rounding, and the metadata), before they are computed.

    HDF5 appends at its end of file, and an append that fails for want of space can
    leave the file unreadable (or, as h5py reports such failures only while closing a
    dataset, silently incomplete); so a full disk stops the run between two volumes,
    with the file whole and resumable.
    """
    need = _METADATA_ROOM
    for name in _FIELDS:
        ds = f[name]
        chunk = int(np.prod(ds.chunks)) if ds.chunks else 0
        need += ds.dtype.itemsize * (rows * int(np.prod(ds.shape[1:])) + chunk)
    reserve_space(f.filename, f.id.get_filesize(), need, _RESUMES)


def _check_config(f: h5py.File, cfg: DatasetConfig, path: Path) -> None:
    # options added later take their defaults in files made before them
    try:
        stored = asdict(DatasetConfig()) | json.loads(f.attrs["config"])
    except (TypeError, ValueError):
        raise ValueError(f"{str(path)!r} holds an unreadable configuration") from None
    if stored != json.loads(json.dumps(asdict(cfg))):
        raise ValueError(f"{str(path)!r} was made with another configuration; "
                         "choose a new file name to make a different dataset")


def make_dataset(path: str | os.PathLike, config: DatasetConfig | None = None,
                 show_progress: bool | None = None, overwrite: bool | None = None) -> Path:
    """Generate (or resume) a dataset file; returns its path.

    Volume ``i`` is drawn from ``numpy.random.default_rng([seed, i])``, so a resumed or
    a fresh run gives the same data. The file holds ``pairs`` (float16, (N, 2, H, W)),
    ``targets`` (float32, (N, 2)), ``volume`` and ``family`` indices per pair, and the
    configuration as JSON in the ``config`` attribute.

    The run survives a kill at any instant: the file appears complete with its
    configuration and no volume (written under a temporary name, then renamed), and
    each volume counts once the ``done`` attribute is updated; a rerun drops a volume
    half-written and continues. Only a file made by ``make_dataset`` (attribute
    ``created_by``) is written into: any other existing file is refused, and so is a
    read-only one unless ``overwrite`` (see :mod:`tomopy_dlalign.common.outputs`).

    The room each volume takes is reserved on disk before it is simulated: on a disk too
    small the run stops between volumes with a
    :class:`~tomopy_dlalign.common.outputs.DiskFullError` naming the file, the space needed
    and the space free, and the file resumes once there is room.
    """
    cfg = config or DatasetConfig()
    path = Path(path)
    theta = np.linspace(0, np.pi, cfg.nproj, endpoint=False)
    A = make_projector(theta, cfg.size)
    with (full_disk_errors(path, _RESUMES),
          resumable_h5(path, MARKER, _skeleton(cfg), _FIELDS, overwrite) as f):
        _check_config(f, cfg, path)
        done = int(f.attrs["done"])
        n = done * cfg.nproj
        for name in _FIELDS:
            f[name].resize(n, axis=0)  # drop a volume half-written by an interruption
        if done:
            logger.info("resuming %s after %d of %d volumes", path, done, cfg.n_volumes)
        for i in progress(range(done, cfg.n_volumes), "make-dataset", show_progress,
                          total=cfg.n_volumes - done):
            _reserve_volume(f, cfg.nproj)
            rng = np.random.default_rng([cfg.seed, i])
            fam = cfg.families[i % len(cfg.families)]
            pairs, targets, level, kind = _volume_pairs(rng, fam, cfg, A)
            m = n + cfg.nproj
            for name in _FIELDS:
                f[name].resize(m, axis=0)
            f["pairs"][n:m] = pairs.astype(np.float16)
            f["targets"][n:m] = targets
            f["volume"][n:m] = i
            f["family"][n:m] = FAMILIES.index(fam)
            f["noise"][n:m] = level if kind == "salt_pepper" else -level
            f.flush()  # the volume is on disk before it is counted
            n = m
            f.attrs["done"] = i + 1
            f.flush()
            if (i + 1) % 5 == 0:
                logger.info("make-dataset: %d/%d volumes", i + 1, cfg.n_volumes)
    return path


def check_dataset(path: str | os.PathLike) -> None:
    """Raise a clear error naming ``path`` unless it is a dataset in the layout of
    :func:`make_dataset` holding at least one complete volume."""
    with open_h5(path) as f:
        if not all(isinstance(f.get(name), h5py.Dataset) for name in _FIELDS[:2]):
            raise ValueError(f"{str(path)!r} is not a make-dataset file (no pairs and "
                             "targets): make one with `tomopy-dlalign make-dataset`")
        if not int(f.attrs.get("done", 0)) or not len(f["targets"]):
            raise ValueError(f"dataset {str(path)!r} holds no complete volume yet: "
                             "rerun make-dataset to finish it")


def write_pairs(path: str | os.PathLike, pairs: np.ndarray, targets: np.ndarray,
                volume: np.ndarray, config: dict) -> Path:
    """Write pairs made elsewhere (for example by :func:`tomopy_dlalign.adapt`) in the
    layout of :func:`make_dataset`, so that :func:`tomopy_dlalign.train` reads them."""
    path = Path(path)
    with atomic_h5(path, "w") as f:
        f.attrs["created_by"] = MARKER
        n = pairs.shape[0]
        f["pairs"] = pairs.astype(np.float16)
        f["targets"] = targets.astype(np.float32)
        f["volume"] = volume.astype(np.int32)
        f["family"] = np.full(n, -1, np.int8)
        f["noise"] = np.zeros(n, np.float32)
        f.attrs["config"] = json.dumps(config | {"nproj": int(n // max(len(set(volume)), 1))})
        f.attrs["done"] = len(set(volume.tolist()))
    return path
