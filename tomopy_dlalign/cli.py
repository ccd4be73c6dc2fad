"""Command line: ``tomopy-dlalign {demo, align, train, adapt, simulate, recon,
make-dataset, info, plugins}``.

Any error is one line on stderr naming the file and what is wrong; the exit code is 2
for bad input, 130 for Ctrl-C and 1 for an internal error (whose traceback ``--debug``
shows). ``--overwrite`` replaces read-only outputs.
"""

from __future__ import annotations

import argparse
import logging
import platform
import sys
import time
from pathlib import Path

import numpy as np

from .common.cli import add_common_options, run_cli

logger = logging.getLogger("tomopy_dlalign")


def _cmd_info(args) -> int:
    import h5py
    import torch

    from . import __version__, plugins
    from .recon.projectors import astra, astra_cuda_usable

    print(f"tomopy_dlalign {__version__} (Python {platform.python_version()})")
    print(f"numpy {np.__version__}, h5py {h5py.__version__}, torch {torch.__version__}")
    print(f"astra-toolbox: {getattr(astra, '__version__', 'not installed')}, "
          f"CUDA in ASTRA: {astra_cuda_usable()}")
    print(f"torch devices: cpu ({torch.get_num_threads()} threads)"
          + (f", cuda ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else ""))
    for name, mod in (("tomopy", "tomopy"), ("dxchange", "dxchange")):
        try:
            m = __import__(mod)
            print(f"{name}: {getattr(m, '__version__', 'importable')}")
        except ImportError:
            print(f"{name}: not installed (optional)")
    print("projector backends:")
    for name in plugins.available("projector"):
        cls = plugins.get("projector", name)
        usable = cls.is_available() if hasattr(cls, "is_available") else True
        print(f"  {name:12s} {'usable' if usable else 'not usable here'}")
    return 0


def _cmd_plugins(args) -> int:
    from . import plugins

    for kind in plugins.KINDS:
        names = plugins.available(kind)
        print(f"{kind}:")
        for name in names:
            print(f"  {name:16s} from {plugins.provider(kind, name)}")
        if not names:
            print("  (none)")
    broken = plugins.broken()
    if broken:
        print("broken plugins:")
        for name, why in broken.items():
            print(f"  {name}: {why}")
    return 0


def _cmd_simulate(args) -> int:
    from . import io, simulate

    theta = np.linspace(0, np.pi, args.nproj, endpoint=False)
    vol = simulate.shepp_logan(args.size, args.nslice)
    prj, flat, dark = simulate.scan(vol, theta, seed=args.seed, attenuation=args.attenuation)
    io.write_dx(args.output, prj, flat=flat, dark=dark, theta=theta,
                extras={"truth": (vol * args.attenuation, "1/pixel")},
                parameters=vars(args) | {"func": None})
    logger.info("wrote %s: %d projections of %d x %d", args.output, *prj.shape)
    return 0


def _center_arg(text: str) -> float | str:
    """``--center``: a number of pixels, or ``auto``."""
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number of pixels or 'auto', got {text!r}") from None


def _line_integrals(args, sino=None):
    """Read any supported scan (:func:`tomopy_dlalign.io.read`) and return ``(line
    integrals, theta, center)``: normalised and ``-log``-ed unless ``--no-prep`` says the
    file holds line integrals already; ``center`` is ``--center``, else the file's axis,
    else ``"auto"``."""
    from . import io, minus_log, normalize

    scan = io.read(args.input, sino=sino)
    if scan.theta is None:
        raise ValueError(f"{args.input} holds no rotation angles: not a tomographic scan")
    center = args.center if args.center is not None else scan.center
    center = "auto" if center is None else center
    if args.no_prep:
        return np.asarray(scan.data, np.float32), scan.theta, center
    if scan.flat is None:
        raise ValueError(f"{args.input} has no flat fields; pass --no-prep if the data are "
                         "already line integrals")
    dark = scan.dark if scan.dark is not None else np.zeros_like(scan.flat[:1])
    if scan.dark is None:
        logger.info("%s has no dark fields: taking the dark level as 0", args.input)
    return minus_log(normalize(scan.data, scan.flat, dark)), scan.theta, center


def _reconstruct(prj, theta, center, args):
    from . import plugins

    func = plugins.get("recon", args.algorithm)
    kwargs = {"center": center, "device": args.device}
    if args.algorithm == "mlem":
        kwargs.update(num_iter=args.iters, show_progress=True)
    return func(prj, theta, **kwargs)


def _cmd_recon(args) -> int:
    from . import io

    sino = tuple(args.sino) if args.sino else None
    prj, theta, center = _line_integrals(args, sino)
    t0 = time.perf_counter()
    rec = _reconstruct(prj, theta, center, args)
    logger.info("%s of %s in %.2f s", args.algorithm, prj.shape, time.perf_counter() - t0)
    io.write_dx(args.output, rec, data_units="1/pixel",
                parameters={"command": "recon", "input": str(args.input),
                            "algorithm": args.algorithm, "iters": args.iters,
                            "center": center, "sino": sino})
    logger.info("wrote %s: reconstruction %s", args.output, rec.shape)
    return 0


def _cmd_demo(args) -> int:
    from . import align, fbp, io, simulate
    from .prep import AlignInfo, fraction_within, residual_rmse
    from .prep.report import alignment_report

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    theta = np.linspace(0, np.pi, args.nproj, endpoint=False)
    vol = simulate.phantom(args.family, args.size, args.nslice, seed=args.seed)
    jitter = args.jitter * args.size / 256
    rng = np.random.default_rng(args.seed)
    dx = rng.uniform(-jitter, jitter, args.nproj)
    dy = rng.uniform(-jitter, jitter, args.nproj)
    # the sample jitters during the scan: raw frames with counting noise, as recorded
    raw, flat, dark = simulate.scan(vol, theta, seed=args.seed, attenuation=0.05,
                                    jitter=(dx, dy))
    scan_path = out / "scan.h5"
    io.write_dx(scan_path, raw, flat=flat, dark=dark, theta=theta,
                extras={"true_shift_x": (dx, "pixel"), "true_shift_y": (dy, "pixel"),
                        "truth": (vol * 0.05, "1/pixel")},
                parameters={"command": "demo", "family": args.family, "jitter": jitter})
    # the simulated axis is the detector's middle: scored against the drawn jitter, the
    # shifts must be measured from it (center="auto" would absorb the jitter's mean)
    axis = args.size / 2
    line, th, _ = _line_integrals(argparse.Namespace(input=scan_path, no_prep=False,
                                                     center=axis))
    info = AlignInfo()
    aligned, ex, ey = align(line, th, center=axis, iters=args.iters, info=info,
                            show_progress=True)
    rec_before, rec_after = fbp(line, th, center=axis), fbp(aligned, th, center=axis)
    rmse = residual_rmse(ex, ey, dx, dy)
    rigid = residual_rmse(ex, ey, dx, dy, theta=th)
    io.write_dx(out / "aligned.h5", aligned, theta=th, data_units="1/pixel",
                extras={"shift_x": (ex, "pixel"), "shift_y": (ey, "pixel")},
                parameters={"command": "demo align", "iters": args.iters}, template=scan_path)
    files = alignment_report(out / "report", th, ex, ey, line, aligned, rec_before, rec_after,
                             truth_dx=dx, truth_dy=dy,
                             title=f"{args.family}: +-{jitter:.1f} px jitter")
    truth = vol * 0.05
    err_b = np.linalg.norm(rec_before - truth) / np.linalg.norm(truth)
    err_a = np.linalg.norm(rec_after - truth) / np.linalg.norm(truth)
    print(f"demo: {args.nproj} projections of {args.nslice} x {args.size}, jitter +-"
          f"{jitter:.1f} px; aligned in {info.seconds:.2f} s")
    print(f"residual jitter RMSE {rmse:.3f} px (true jitter RMS "
          f"{np.sqrt(np.mean((dx - dx.mean())**2 + (dy - dy.mean())**2)):.2f} px); "
          f"{fraction_within(ex, ey, dx, dy) * 100:.0f} % of projections within 1 px; "
          f"{rigid:.3f} px once the rigid motion of the sample, which no alignment can "
          f"see, is removed")
    print(f"FBP error vs truth: {err_b:.3f} before, {err_a:.3f} after alignment")
    print("files: " + ", ".join(str(x) for x in [scan_path, out / "aligned.h5", *files]))
    return 0


def _cmd_align(args) -> int:
    from . import align, fbp, io
    from .common.h5files import open_h5
    from .prep import AlignInfo, residual_rmse
    from .prep.report import alignment_report

    line, theta, center = _line_integrals(args)
    info = AlignInfo()
    aligned, dx, dy = align(line, theta, center=center, model=args.model,
                            iters=args.iters, polish=not args.no_polish, device=args.device,
                            info=info, show_progress=True)
    logger.info("aligned %d projections in %.2f s", len(dx), info.seconds)
    io.write_dx(args.output, aligned, theta=theta, data_units="1/pixel",
                extras={"shift_x": (dx, "pixel"), "shift_y": (dy, "pixel")},
                parameters={"command": "align", "input": str(args.input), "iters": args.iters,
                            "center": info.center, "polish": not args.no_polish},
                model=str(args.model or "shipped JitterNet"), template=args.input)
    if args.report:
        truth = {}
        with open_h5(args.input) as f:
            if "/exchange/true_shift_x" in f and "/exchange/true_shift_y" in f:
                truth = {"truth_dx": f["/exchange/true_shift_x"][()],
                         "truth_dy": f["/exchange/true_shift_y"][()]}
        files = alignment_report(args.report, theta, dx, dy, line, aligned,
                                 fbp(line, theta, center=info.center),
                                 fbp(aligned, theta, center=info.center), **truth)
        if truth:
            logger.info("residual RMSE vs the file's true shifts: %.3f px",
                        residual_rmse(dx, dy, truth["truth_dx"], truth["truth_dy"]))
        logger.info("report: %s", ", ".join(map(str, files)))
    logger.info("wrote %s", args.output)
    return 0


def _cmd_train(args) -> int:
    from .models.jitternet import JitterNetConfig
    from .training import train
    from .training.dataset import check_dataset

    for path in args.datasets:
        check_dataset(path)
    cfg = JitterNetConfig(size=args.net_size, widths=tuple(args.widths))
    card = train(args.datasets, args.output, epochs=args.epochs, batch_size=args.batch_size,
                 lr=args.lr, patience=args.patience, seed=args.seed, device=args.device,
                 config=cfg, init=args.init, resume=not args.restart,
                 max_minutes=args.max_minutes, pairs_per_epoch=args.pairs_per_epoch,
                 command="tomopy-dlalign " + " ".join(sys.argv[1:]))
    logger.info("best validation RMSE %.3f network px after %d epochs; wrote %s",
                card["validation_rmse_px"], card["stopped_after_epochs"], args.output)
    return 0


def _cmd_adapt(args) -> int:
    from .training import adapt

    line, theta, center = _line_integrals(args)
    adapt(line, theta, center=center, model=args.model, epochs=args.epochs,
          n_sets=args.sets, output=args.output)
    logger.info("adapted weights written to %s (model card beside them)", args.output)
    return 0


def _cmd_make_dataset(args) -> int:
    from .training.dataset import DatasetConfig, make_dataset

    cfg = DatasetConfig(n_volumes=args.volumes, families=tuple(args.families), size=args.size,
                        nslice=args.nslice, nproj=args.nproj, jitter=args.jitter,
                        noise=tuple(args.noise), max_salt_pepper=args.max_salt_pepper,
                        wide=args.wide, axis_offset=args.axis_offset,
                        angles=tuple(args.angles), artefacts=args.artefacts, seed=args.seed)
    path = make_dataset(args.output, cfg, show_progress=True)
    logger.info("dataset %s complete: %d volumes", path, cfg.n_volumes)
    return 0


def _scan_shape_args(parser: argparse.ArgumentParser, nslice: int) -> None:
    parser.add_argument("--size", type=int, default=128, help="columns (and slice width)")
    parser.add_argument("--nslice", type=int, default=nslice, help="slices (detector rows)")
    parser.add_argument("--nproj", type=int, default=181, help="projections over 180 degrees")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tomopy-dlalign", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("demo", help="simulate a jittered scan, align it with the shipped "
                       "model, reconstruct it and report against the truth")
    s.add_argument("--out", default="demo_out", help="folder for the files (default demo_out)")
    _scan_shape_args(s, nslice=64)
    s.add_argument("--family", default="battery", help="phantom family")
    s.add_argument("--jitter", type=float, default=20.0, help="jitter in px at 256 px")
    s.add_argument("--iters", type=int, default=1, help="network cycles")
    s.add_argument("--seed", type=int, default=2026)
    s.set_defaults(func=_cmd_demo)

    s = sub.add_parser("align", help="correct the jitter of a Data Exchange scan")
    s.add_argument("input")
    s.add_argument("-o", "--output", required=True)
    s.add_argument("--report", help="folder for the PNG report")
    s.add_argument("--model", help="weights file (default: the shipped model)")
    s.add_argument("--iters", type=int, default=1)
    s.add_argument("--no-polish", action="store_true", help="skip the sub-pixel polish")
    s.add_argument("--center", type=_center_arg, default=None,
                   help="rotation axis in pixels, or auto (default: the file's, else auto)")
    s.add_argument("--device", default="auto")
    s.add_argument("--no-prep", action="store_true", help="data are already line integrals")
    s.set_defaults(func=_cmd_align)

    s = sub.add_parser("train", help="train JitterNet on make-dataset files")
    s.add_argument("datasets", nargs="+")
    s.add_argument("-o", "--output", required=True, help="weights (.safetensors)")
    s.add_argument("--epochs", type=int, default=30)
    s.add_argument("--batch-size", type=int, default=64)
    s.add_argument("--lr", type=float, default=1e-3)
    s.add_argument("--patience", type=int, default=5)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--net-size", type=int, default=64)
    s.add_argument("--widths", type=int, nargs=3, default=[32, 64, 128])
    s.add_argument("--init", help="start from these weights (fine-tuning)")
    s.add_argument("--restart", action="store_true", help="ignore an existing checkpoint")
    s.add_argument("--max-minutes", type=float, default=None)
    s.add_argument("--pairs-per-epoch", type=int, default=None,
                   help="random training pairs per epoch (default: all)")
    s.add_argument("--device", default="auto")
    s.set_defaults(func=_cmd_train)

    s = sub.add_parser("adapt", help="fine-tune the model on a scan's own reconstruction")
    s.add_argument("input")
    s.add_argument("-o", "--output", required=True, help="adapted weights (.safetensors)")
    s.add_argument("--model", help="weights to start from (default: the shipped model)")
    s.add_argument("--epochs", type=int, default=4)
    s.add_argument("--sets", type=int, default=12, help="simulated scans of the sample")
    s.add_argument("--center", type=_center_arg, default=None,
                   help="rotation axis in pixels, or auto (default: the file's, else auto)")
    s.add_argument("--no-prep", action="store_true", help="data are already line integrals")
    s.set_defaults(func=_cmd_adapt)

    s = sub.add_parser("simulate", help="write a simulated Data Exchange scan")
    s.add_argument("output")
    _scan_shape_args(s, nslice=16)
    s.add_argument("--attenuation", type=float, default=0.02)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=_cmd_simulate)

    s = sub.add_parser("recon", help="reconstruct a Data Exchange file")
    s.add_argument("input")
    s.add_argument("-o", "--output", required=True)
    s.add_argument("--algorithm", default="mlem", help="a registered recon (mlem, fbp, ...)")
    s.add_argument("--iters", type=int, default=20, help="iterations (mlem)")
    s.add_argument("--center", type=_center_arg, default=None,
                   help="rotation axis in pixels, or auto (default: the file's, else auto)")
    s.add_argument("--sino", type=int, nargs=2, metavar=("START", "END"),
                   help="reconstruct only these slices")
    s.add_argument("--device", default="auto")
    s.add_argument("--no-prep", action="store_true",
                   help="data are already line integrals (skip normalize and minus_log)")
    s.set_defaults(func=_cmd_recon)

    s = sub.add_parser("make-dataset", help="simulate JitterNet training pairs (resumable)")
    s.add_argument("output", help="HDF5 file; an existing one with the same settings resumes")
    s.add_argument("--volumes", type=int, default=30)
    s.add_argument("--families", nargs="+", default=["nanoparticles", "battery", "assembly"])
    s.add_argument("--size", type=int, default=128, help="projection columns")
    s.add_argument("--nslice", type=int, default=64, help="projection rows")
    s.add_argument("--nproj", type=int, default=181)
    s.add_argument("--jitter", type=float, default=10.0,
                   help="uniform jitter in [-J, J] px (default 10 at 128 px = 20 at 256)")
    s.add_argument("--noise", nargs="+", default=["none", "poisson", "gaussian", "salt_pepper"])
    s.add_argument("--max-salt-pepper", type=float, default=0.6)
    s.add_argument("--wide", type=float, default=1.0,
                   help="samples up to this many times wider than the view (truncated scans)")
    s.add_argument("--axis-offset", type=float, default=0.0,
                   help="rotation axis uniform in ncol/2 +- this many pixels")
    s.add_argument("--angles", nargs="+", default=["half"],
                   help="angular ranges drawn from: half (180 deg), limited (+-60-70 deg), "
                        "full (360 deg), uneven (180 deg, random steps)")
    s.add_argument("--artefacts", type=float, default=0.0,
                   help="share of volumes with rings, a drifting beam and dead pixels")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=_cmd_make_dataset)

    s = sub.add_parser("info", help="versions, projector backends and devices usable here")
    s.set_defaults(func=_cmd_info)
    s = sub.add_parser("plugins", help="what is registered through the plugin hooks")
    s.set_defaults(func=_cmd_plugins)
    return p


def _configure_logging(args) -> None:
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``tomopy-dlalign`` console script: the exit code (0; 2 for bad
    input, 130 for Ctrl-C, 1 for an internal error; :mod:`tomopy_dlalign.common.cli`)."""
    parser = build_parser()
    add_common_options(parser)
    return run_cli(parser, argv, _configure_logging)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
