"""``cdi-plugins cnn ...``: make the superellipsoid data, train, evaluate, predict.

::

    cdi-plugins cnn make-dataset -o /tmp/cnn/train.h5 --n 32768 --seed 1
    cdi-plugins cnn make-dataset -o /tmp/cnn/test.h5 --n 2048 --seed 2
    cdi-plugins cnn train /tmp/cnn/train.h5 --test /tmp/cnn/test.h5 -o cnn.safetensors
    cdi-plugins cnn evaluate /tmp/cnn/test.h5 --train /tmp/cnn/train.h5 --report rep/
    cdi-plugins cnn predict pattern.cxi -o prediction.h5 --refine --report rep/
    cdi-plugins cnn adapt scan.cxi -o adapted.safetensors      # never worse
    cdi-plugins cnn predict scan.cxi --model adapted.safetensors --refine
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
from pathlib import Path

from tomopy_dlalign.common.cli import (
    add_batch_size,
    add_device,
    add_epochs,
    add_iters,
    add_max_minutes,
    add_model,
    add_output,
    add_report,
    add_seed,
    add_threads,
    set_threads,
    word_or,
)
from tomopy_dlalign.common.outputs import output_target, reads, writes

from .patterns import read_pattern

logger = logging.getLogger("cdi_plugins.cli")

#: what --model takes in the cnn commands
CNN_WEIGHTS = ("weights file (.safetensors), or bragg: the shipped network fine-tuned on "
               "faceted, strained crystals as measured Bragg frames")


def _check_datasets(*paths) -> None:
    """A clear error naming the file for a dataset that is missing, not HDF5, truncated
    or not made by ``cnn make-dataset``, before any work starts."""
    from tomopy_dlalign.common.h5files import open_h5

    for path in paths:
        if path is None:
            continue
        with open_h5(path) as f:
            if "config" not in f.attrs or "intensity" not in f:
                raise ValueError(f"{str(path)!r} is not a superellipsoid dataset (made by "
                                 "`cdi-plugins cnn make-dataset`)")


def _made_by_make_dataset(args, path) -> bool:
    """Whether ``path`` is a file of ``cnn make-dataset``, which it resumes or extends (and
    refuses itself when its settings differ)."""
    from tomopy_dlalign.common.h5files import made_by

    from ..simulate.superellipsoid import MARKER

    return made_by(path, MARKER)


@writes("output", resumes=_made_by_make_dataset)
def cmd_make_dataset(args) -> int:
    """Simulate superellipsoid patterns into ``args.output`` (resumed when it is one)."""
    from ..simulate import superellipsoid as se

    set_threads(args)
    if args.overwrite and os.path.lexists(args.output):
        # --overwrite makes the dataset again rather than resuming what is there
        output_target(args.output).unlink()
    if args.kind == "faceted":
        from ..simulate.faceted import FacetedConfig

        lo, hi = args.photons_range
        cfg = FacetedConfig(size=args.size, photons=None if args.photons_range == [0, 0]
                            else (lo, hi), gap_fraction=args.gap_fraction)
    else:
        cfg = se.SuperellipsoidConfig(size=args.size, photons=args.photons or None)
    path = se.make_dataset(args.output, args.n, seed=args.seed, config=cfg, chunk=args.chunk,
                           show_progress=args.progress)
    logger.info("dataset %s: %d particles (seed %d)", path, args.n, args.seed)
    return 0


def _checkpoint(args) -> Path:
    return Path(args.checkpoint) if args.checkpoint else Path(f"{args.output}.ckpt")


def _checkpoint_exists(args, path) -> bool:
    """Whether the existing weights are the best so far of a run that the checkpoint
    resumes."""
    return _checkpoint(args).exists()


@reads("dataset", "test", "init")
@writes("output", resumes=_checkpoint_exists)
def cmd_train(args) -> int:
    """Train the CNN on ``args.dataset`` into ``args.output``."""
    from ..cnn import training

    _check_datasets(args.dataset, args.test)
    set_threads(args)
    command = "cdi-plugins " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    training.train(
        args.dataset, args.output, test=args.test, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer, seed=args.seed,
        n_train=args.n, encoder=tuple(args.encoder), decoder=tuple(args.decoder),
        checkpoint=args.checkpoint, command=command, device=args.device,
        show_progress=args.progress, time_limit=args.max_minutes, init=args.init)
    return 0


@reads("dataset", "model", "train")
@writes("json", folders=("report",))
def cmd_evaluate(args) -> int:
    """Score the CNN on ``args.dataset``."""
    from ..cnn import evaluate

    _check_datasets(args.dataset, args.train)
    set_threads(args)
    evaluate.evaluate(args.dataset, model=args.model, train=args.train, n=args.n,
                      report=args.report, output=args.json, n_refine=args.refine,
                      n_starts=args.starts, seed=args.seed, n_iter=args.iters,
                      n_train=args.n_train, show_progress=args.progress)
    return 0


def _frame(intensity, mask, args):
    """One 2D frame of a pattern file: the pattern itself, or frame ``--frame`` of a 3D
    pattern (a rocking-curve scan; default its brightest frame)."""
    import numpy as np

    if intensity.ndim == 2:
        if args.frame is not None:
            raise ValueError(f"--frame: {args.input} holds one 2D pattern, not frames")
        return intensity, mask
    m = np.zeros(intensity.shape, bool) if mask is None else np.broadcast_to(mask,
                                                                             intensity.shape)
    k = (int(np.argmax(np.where(m, 0, intensity).sum(axis=(1, 2)))) if args.frame is None
         else args.frame)
    if not 0 <= k < len(intensity):
        raise ValueError(f"--frame must be from 0 to {len(intensity) - 1}, got {k}")
    logger.info("frame %d of the %d frames of %s%s", k, len(intensity), args.input,
                " (the brightest)" if args.frame is None else "")
    return intensity[k], m[k]


@reads("input", "model")
@writes("output", folders=("report",))
def cmd_predict(args) -> int:
    """Predict the object of ``args.input``'s pattern (and refine it)."""
    import numpy as np

    from .. import cnn
    from ..cnn import evaluate
    from ..metrics import fit_figures

    set_threads(args)
    intensity, mask, geom = read_pattern(args.input)
    intensity, mask = _frame(intensity, mask, args)
    net = cnn.load_model(args.model)
    # any even size: binned and cropped around the centre to the network's input (logged)
    fit = cnn.fit_pattern(intensity, mask, size=net.config.size, method=args.fit)
    intensity, mask = fit.intensity, fit.mask
    pixel_m = geom.real_space_pixel(fit.crop) if geom is not None else None
    amp, phase = cnn.predict(intensity, model=net, device=args.device)
    chi2 = float(cnn.modulus_chi2(intensity, amp, phase)[0])
    pred = fit_figures(cnn.embed(amp * np.exp(1j * phase), intensity.shape[-1]),
                       intensity, mask)
    logger.info("CNN prediction: chi2 of the modulus %.4g, R %.4g, Poisson LLK %.4g", chi2,
                pred["R"], pred["llk_poisson"])
    res = None
    if args.refine:
        res = cnn.refine(intensity, amp, phase, mask=mask, n_runs=args.runs, seed=args.seed,
                         device=args.device)
        logger.info("refined: chi2 %.4g -> %.4g", chi2, res.final_chi2[res.best])
    if args.output:
        cnn.write_prediction(args.output, intensity, amp, phase, res, model=net, fit=fit,
                             pixel_size=pixel_m)
    if args.report:
        evaluate.prediction_report(intensity, amp, phase, res, args.report)
    final = ""
    if res is not None:
        ref = fit_figures(res.best_object, intensity, mask)
        final = (f"; refined R = {ref['R']:.4g}, Poisson LLK = {ref['llk_poisson']:.4g}, "
                 f"chi2 = {res.final_chi2[res.best]:.4g}, refinement {res.quality}")
    pixel = (f"{pixel_m * 1e9:.1f} nm" if pixel_m is not None
             else f"{fit.pixel_scale:g} x the input's")
    print(f"CNN R = {pred['R']:.4g}, Poisson LLK = {pred['llk_poisson']:.4g}, chi2 = "
          f"{chi2:.4g}{final}; real-space pixel {pixel}")
    return 0


@reads("input", "model")
@writes("output", resumes=_checkpoint_exists)
def cmd_adapt(args) -> int:
    """Fine-tune the CNN on the frames of ``args.input`` (never worse)."""
    from .. import cnn

    set_threads(args)
    intensity, mask, _ = read_pattern(args.input)
    if intensity.ndim != 3:
        raise ValueError(f"{args.input} holds one 2D pattern: cnn adapt needs a series of "
                         f"frames (a 3D pattern from `cdi-plugins prepare FOLDER --scan N`)")
    info: dict = {}
    command = "cdi-plugins " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    cnn.adapt(intensity, mask, model=args.model, epochs=args.epochs, lr=args.lr,
              seed=args.seed, fit=args.fit, output=args.output,
              time_limit=args.max_minutes, info=info, command=command,
              checkpoint=_checkpoint(args))
    verdict = ("adapted weights kept" if info["kept"] == "adapted" else
               "the adapted weights were not better: the starting weights were written")
    print(f"held-out frames ({info['n_holdout']}): R {info['start_r']:.4g} -> "
          f"{info['adapted_r']:.4g}; {verdict} to {args.output}")
    return 0


def add_commands(sub) -> None:
    """Register ``cnn`` and its subcommands on the ``cdi-plugins`` subparsers."""
    cnn = sub.add_parser("cnn", help="complex CNN phase retrieval (Wu et al. 2021)",
                         description="The complex-valued CNN of Wu et al. (2021): make the "
                         "superellipsoid training data, train, evaluate, predict.")
    csub = cnn.add_subparsers(dest="cnn_command", required=True, title="commands")

    _add_make_dataset(csub)
    _add_train(csub)
    _add_evaluate(csub)
    _add_predict(csub)
    _add_adapt(csub)


def _add_make_dataset(csub) -> None:
    """``cnn make-dataset``."""
    p = csub.add_parser("make-dataset", help="superellipsoid or faceted-crystal patterns "
                                             "and targets (HDF5, resumable)",
                        description="Simulate superellipsoid particles (or, with --kind "
                        "faceted, strained crystals as measured Bragg frames), their diffraction "
                        "patterns and the amplitude and phase targets into one HDF5 file; a "
                        "killed run resumes (and a larger --n extends the file) when run "
                        "again with the same settings; --overwrite makes it again.")
    add_output(p, "HDF5 file; an existing one made by cnn make-dataset with the same "
                  "settings resumes", legacy_positional=True)
    p.add_argument("--n", type=int, default=32768, help="particles")
    add_seed(p, default=None, required=True,
             help="dataset seed (use different seeds for training and test data)")
    p.add_argument("--size", type=int, default=64, help="pattern size in pixels")
    p.add_argument("--kind", choices=("superellipsoid", "faceted"), default="superellipsoid",
                   help="superellipsoid: strong-phase particles (Wu et al. 2021); faceted: "
                        "strained {100}/{111} crystals as measured Bragg frames (off the "
                        "rocking maximum, off-centre, Poisson counts, detector gaps)")
    p.add_argument("--photons", type=float, default=0.0,
                   help="superellipsoid: photons per pattern (Poisson noise); 0: noiseless")
    p.add_argument("--photons-range", type=float, nargs=2, default=[1e4, 1e7],
                   metavar=("LOW", "HIGH"),
                   help="faceted: total photons per frame, drawn log-uniformly; 0 0: "
                        "noiseless")
    p.add_argument("--gap-fraction", type=float, default=0.3,
                   help="faceted: share of frames with a detector gap")
    p.add_argument("--chunk", type=int, default=256, help="particles per written block")
    add_threads(p, reproducible=True)
    p.set_defaults(func=cmd_make_dataset)


def _add_train(csub) -> None:
    """``cnn train``."""
    p = csub.add_parser("train", help="train the CNN (loss of eq. 4)",
                        description="Train the complex CNN on a make-dataset file with the "
                        "loss of eq. 4 of Wu et al. (2021); a checkpoint lets a killed run "
                        "resume (run the same command again), and the model card (.json) "
                        "records the command, data and figures.")
    p.add_argument("dataset", help="training dataset (make-dataset)")
    add_output(p, "weights file (.safetensors); the model card is written beside it")
    p.add_argument("--test", help="held-out dataset for the figures in the model card")
    p.add_argument("--n", type=word_or("all", int, "an integer"), default="all",
                   help="use the first N training particles")
    add_epochs(p, 10)
    add_batch_size(p, "patterns")
    p.add_argument("--lr", type=word_or("auto", float, "a number"), default="auto",
                   help="learning rate; auto: 0.01 for SGD, 3e-3 for Adam")
    p.add_argument("--optimizer", choices=("adam", "sgd"), default="adam",
                   help="adam: AdamW + one-cycle cosine; sgd: the paper's SGD, lr x0.95 "
                        "every 10 epochs")
    # the shipped network's widths (CNNConfig's defaults; torch is not imported here)
    p.add_argument("--encoder", type=int, nargs="+", default=[8, 16, 32, 64],
                   help="channels of the encoder's stages")
    p.add_argument("--decoder", type=int, nargs="+", default=[32, 16],
                   help="channels of each decoder's stages")
    add_seed(p, help="seed of the initialisation, shuffling and augmentation")
    p.add_argument("--init", metavar="WEIGHTS",
                   help="fine-tune from these weights (their architecture is kept)")
    p.add_argument("--checkpoint", metavar="PATH",
                   help="checkpoint file, resumed from when it exists; without it, the "
                        "output's name with .ckpt added")
    add_max_minutes(p, "the schedule is cut short", legacy_time_limit=True)
    add_device(p)
    add_threads(p, reproducible=True)
    p.set_defaults(func=cmd_train)


def _add_evaluate(csub) -> None:
    """``cnn evaluate``."""
    p = csub.add_parser("evaluate", help="chi^2 on held-out data, NNS baseline, "
                                         "refinement comparison, PNG report",
                        description="Score the CNN on held-out patterns: chi^2 of its "
                        "predictions, the nearest-neighbour-search baseline on the training "
                        "data, and ER/HIO refinements started from the CNN, from the baseline "
                        "and from random starts.")
    p.add_argument("dataset", help="held-out test dataset")
    add_model(p, CNN_WEIGHTS)
    p.add_argument("--train", help="training dataset for the NNS baseline")
    p.add_argument("--n", type=word_or("all", int, "an integer"), default="all",
                   help="use the first N test patterns")
    p.add_argument("--n-train", type=word_or("all", int, "an integer"), default="all",
                   help="NNS references: the first N training particles")
    p.add_argument("--refine-patterns", dest="refine", type=int, default=0, metavar="N",
                   help="test patterns for the four-initialisation refinement comparison")
    p.add_argument("--starts", type=int, default=4, help="random starts per initialisation")
    add_iters(p, "ER/HIO in each refinement", 600, legacy_iter=True)
    add_seed(p, help="seed of the random starts")
    add_report(p, "folder for PNG figures")
    p.add_argument("--json", metavar="PATH", help="write the figures as JSON")
    add_threads(p)
    p.set_defaults(func=cmd_evaluate)


def _add_predict(csub) -> None:
    """``cnn predict``."""
    p = csub.add_parser("predict", help="predict amplitude and phase from a pattern (any "
                                        "even size of at least 64, fitted to 64x64)",
                        description="Predict the amplitude and phase of a pattern's object "
                        "with the CNN (a larger pattern is fitted to its 64 x 64 input), and "
                        "refine the prediction with ER/HIO and shrink-wrap if asked.")
    p.add_argument("input", help="pattern file (.cxi or Data Exchange .h5); of a 3D pattern "
                                 "(a rocking-curve scan), one frame")
    p.add_argument("--frame", type=int, default=None,
                   help="frame of a 3D pattern (default: the brightest)")
    p.add_argument("--fit", choices=("auto", "crop", "bin"), default="auto",
                   help="how a larger pattern is brought to 64x64: auto bins by half its "
                        "oversampling then crops around the centre; crop keeps the field "
                        "of view with coarser pixels; bin keeps the pixels, smaller field")
    add_model(p, CNN_WEIGHTS)
    add_output(p, "result file (Data Exchange layout)", required=False)
    p.add_argument("--refine", action="store_true", help="refine with ER/HIO + shrink-wrap")
    p.add_argument("--runs", type=int, default=4, help="refinement runs")
    add_seed(p, help="seed of the refinement's random starts")
    add_device(p)
    add_report(p, "folder for PNG figures")
    add_threads(p)
    p.set_defaults(func=cmd_predict)


def _add_adapt(csub) -> None:
    """``cnn adapt``."""
    p = csub.add_parser("adapt", help="fine-tune the CNN on a scan's own frames (never "
                                      "worse)",
                        description="Fine-tune the CNN on the frames of a 3D pattern (a "
                        "rocking-curve scan from `prepare --scan`) by the fit of its "
                        "predictions' Fourier modulus to the measured one; a quarter of the "
                        "frames is held out, and the adapted weights are written only when "
                        "they predict those better (lower R), else the starting ones.")
    p.add_argument("input", help="3D pattern file (.cxi): its frames along the first axis")
    add_output(p, "weights file (.safetensors); the model card is written beside it")
    add_model(p, CNN_WEIGHTS)
    add_epochs(p, 200)
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate (AdamW)")
    p.add_argument("--fit", choices=("auto", "crop", "bin"), default="auto",
                   help="how larger frames are brought to 64x64 (all alike)")
    add_seed(p, help="seed of the held-out split, shuffling and augmentation")
    add_max_minutes(p, "the fine-tuning stops (the check still runs)")
    p.add_argument("--checkpoint", metavar="PATH",
                   help="checkpoint file, written every 50 epochs and on Ctrl-C and resumed "
                        "from when it exists; without it, the output's name with .ckpt added")
    add_threads(p, reproducible=True)
    p.set_defaults(func=cmd_adapt)
