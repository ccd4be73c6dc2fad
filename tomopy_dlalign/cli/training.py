"""``tomopy-dlalign make-dataset``, ``train`` and ``adapt``: JitterNet's training data,
its training, and its fine-tuning on a scan's own reconstruction.

::

    tomopy-dlalign make-dataset -o train.h5 --volumes 30 --seed 1
    tomopy-dlalign train train.h5 -o jitternet.safetensors
    tomopy-dlalign adapt scan.h5 -o adapted.safetensors
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from ..common.cli import (
    add_batch_size,
    add_device,
    add_epochs,
    add_max_minutes,
    add_model,
    add_output,
    add_seed,
)
from ..common.outputs import output_target, reads, writes
from .options import add_center, add_jitter, add_prep, add_scan_shape
from .scans import line_integrals

logger = logging.getLogger("tomopy_dlalign")


def _checkpoint_beside(args, path) -> bool:
    """Whether the existing weights ``path`` are the best so far of a run that the
    checkpoint beside them resumes (not with ``--restart``)."""
    return not args.restart and Path(path).with_suffix(".ckpt").exists()


@reads("datasets", "init")
@writes("output", resumes=_checkpoint_beside)
def cmd_train(args) -> int:
    """Train JitterNet on ``args.datasets`` into ``args.output``."""
    from ..models.jitternet import JitterNetConfig
    from ..training import train
    from ..training.dataset import check_dataset

    for path in args.datasets:
        check_dataset(path)
    cfg = JitterNetConfig(size=args.net_size, widths=tuple(args.widths))
    card = train(args.datasets, args.output, epochs=args.epochs, batch_size=args.batch_size,
                 lr=args.lr, patience=args.patience, seed=args.seed, device=args.device,
                 config=cfg, init=args.init, resume=not args.restart,
                 max_minutes=args.max_minutes, pairs_per_epoch=args.pairs_per_epoch,
                 command="tomopy-dlalign " + " ".join(sys.argv[1:]),
                 show_progress=args.progress)
    logger.info("best validation RMSE %.3f network px after %d epochs; wrote %s",
                card["validation_rmse_px"], card["stopped_after_epochs"], args.output)
    return 0


@reads("input", "model")
def cmd_adapt(args) -> int:
    """Fine-tune JitterNet on ``args.input``'s own reconstruction."""
    from ..training import adapt

    line, theta, center, _ = line_integrals(args)
    adapt(line, theta, center=center, model=args.model, epochs=args.epochs,
          n_sets=args.sets, seed=args.seed, device=args.device, output=args.output)
    logger.info("adapted weights written to %s (model card beside them)", args.output)
    return 0


def _made_by_make_dataset(args, path) -> bool:
    """Whether ``path`` is a file of ``make-dataset``, which it resumes (and refuses
    itself when its settings differ)."""
    from ..common.h5files import made_by
    from ..training.dataset import MARKER

    return made_by(path, MARKER)


@writes("output", resumes=_made_by_make_dataset)
def cmd_make_dataset(args) -> int:
    """Simulate training pairs into ``args.output`` (resumed when it is one already)."""
    from ..training.dataset import DatasetConfig, make_dataset

    cfg = DatasetConfig(n_volumes=args.volumes, families=tuple(args.families), size=args.size,
                        nslice=args.nslice, nproj=args.nproj, jitter=args.jitter,
                        noise=tuple(args.noise), max_salt_pepper=args.max_salt_pepper,
                        wide=args.wide, axis_offset=args.axis_offset,
                        angles=tuple(args.angles), artefacts=args.artefacts, seed=args.seed)
    if args.overwrite and os.path.lexists(args.output):
        # --overwrite starts the dataset again rather than resuming what is there
        output_target(args.output).unlink()
    path = make_dataset(args.output, cfg, show_progress=args.progress)
    logger.info("dataset %s complete: %d volumes", path, cfg.n_volumes)
    return 0


def _add_make_dataset(sub) -> None:
    s = sub.add_parser("make-dataset", help="simulate JitterNet training pairs (resumable)",
                       description="Simulate jittered scans of random phantoms and their "
                       "(projection, reprojection) training pairs into one HDF5 file; a "
                       "killed run resumes to the same data when run again with the same "
                       "settings (--overwrite starts again).")
    add_output(s, "HDF5 file; an existing one made by make-dataset with the same settings "
                  "resumes", legacy_positional=True)
    s.add_argument("--volumes", type=int, default=30, help="simulated volumes (scans)")
    s.add_argument("--families", nargs="+", default=["nanoparticles", "battery", "assembly"],
                   help="phantom families drawn from")
    add_scan_shape(s, nslice=64, angles="per scan, over the ranges of --angles")
    add_jitter(s, default=10.0)
    s.add_argument("--noise", nargs="+", default=["none", "poisson", "gaussian", "salt_pepper"],
                   help="noise kinds drawn from")
    s.add_argument("--max-salt-pepper", type=float, default=0.6,
                   help="largest fraction of salt-and-pepper pixels")
    s.add_argument("--wide", type=float, default=1.0,
                   help="samples up to this many times wider than the view (truncated scans)")
    s.add_argument("--axis-offset", type=float, default=0.0,
                   help="rotation axis uniform in ncol/2 +- this many pixels")
    s.add_argument("--angles", nargs="+", default=["half"],
                   help="angular ranges drawn from: half (180 deg), limited (+-60-70 deg), "
                        "full (360 deg), uneven (180 deg, random steps)")
    s.add_argument("--artefacts", type=float, default=0.0,
                   help="share of volumes with rings, a drifting beam and dead pixels")
    add_seed(s, help="seed of the dataset: each volume is drawn from it and its index")
    s.set_defaults(func=cmd_make_dataset)


def _add_train(sub) -> None:
    s = sub.add_parser("train", help="train JitterNet on make-dataset files",
                       description="Train (or fine-tune) JitterNet on files made by "
                       "make-dataset; a checkpoint beside the output lets a killed run resume "
                       "(run the same command again), and the model card (.json) records the "
                       "command, data and figures.")
    s.add_argument("datasets", nargs="+", help="training files written by make-dataset")
    add_output(s, "weights file (.safetensors); the model card goes beside it")
    add_epochs(s, 30, "training epochs at most")
    add_batch_size(s, "training pairs")
    s.add_argument("--lr", type=float, default=1e-3,
                   help="Adam learning rate (halved when the validation error stalls)")
    s.add_argument("--patience", type=int, default=5,
                   help="stop after this many epochs without a better validation error")
    add_seed(s, help="seed of the initialisation, shuffling and augmentation")
    s.add_argument("--net-size", type=int, default=64,
                   help="network input size in pixels (pairs are resized to it)")
    s.add_argument("--widths", type=int, nargs=3, default=[32, 64, 128],
                   help="channels of the three residual stages")
    s.add_argument("--init", metavar="PATH", help="start from these weights (fine-tuning)")
    s.add_argument("--restart", action="store_true",
                   help="ignore an existing checkpoint and start again")
    add_max_minutes(s)
    s.add_argument("--pairs-per-epoch", type=int, default=None,
                   help="random training pairs per epoch, if fewer than all")
    add_device(s)
    s.set_defaults(func=cmd_train)


def _add_adapt(sub) -> None:
    s = sub.add_parser("adapt", help="fine-tune the model on a scan's own reconstruction",
                       description="Fine-tune JitterNet on simulated scans of your sample's "
                       "own reconstruction; the adapted weights are kept only if they align "
                       "the scan more consistently.")
    s.add_argument("input", help="scan to adapt to: Data Exchange, NXtomo, TXM or TIFF")
    add_output(s, "adapted weights (.safetensors); the model card goes beside them")
    add_model(s, "weights to start from")
    add_epochs(s, 4, "fine-tuning epochs")
    s.add_argument("--sets", type=int, default=12, help="simulated scans of the sample")
    add_center(s)
    add_seed(s, help="seed of the simulated scans and the training")
    add_device(s)
    add_prep(s)
    s.set_defaults(func=cmd_adapt)


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``make-dataset``, ``train`` and ``adapt`` on the ``tomopy-dlalign``
    subparsers."""
    _add_make_dataset(sub)
    _add_train(sub)
    _add_adapt(sub)
