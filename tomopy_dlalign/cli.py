"""The ``tomopy-dlalign`` command line: simulate, align and reconstruct scans, train
JitterNet.

Input files are positional, outputs ``-o/--output``; ``--seed``, ``--device``,
``--report`` and ``--progress/--no-progress`` mean the same on every command that has
them, in this command and in ``cdi-plugins`` (:mod:`tomopy_dlalign.common.cli`). Every
file written records what its data are in ``/process`` (:mod:`tomopy_dlalign.common.process`),
and the commands act on it: ``recon`` and ``align`` take line integrals and aligned data as
they are, ``align`` refuses an aligned file unless ``--force``.

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

from .common.cli import (
    HelpFormatter,
    add_common_options,
    add_device,
    add_output,
    add_report,
    add_seed,
    run_cli,
)
from .common.outputs import reads
from .common.process import LINE_INTEGRAL_STATES

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

    if not args.jitter >= 0 or args.jitter > args.size / 4:
        raise ValueError(f"--jitter must be between 0 and a quarter of --size "
                         f"({args.size / 4:g} px), got {args.jitter}")
    theta = np.linspace(0, np.pi, args.nproj, endpoint=False)
    vol = simulate.phantom(args.family, args.size, args.nslice, seed=args.seed)
    extras = {"truth": (vol * args.attenuation, "1/pixel")}
    jitter = None
    if args.jitter > 0:
        # drawn as add_jitter draws them, and applied before the counting noise, as the
        # sample moves during a real scan
        rng = np.random.default_rng(args.seed)
        jitter = (rng.uniform(-args.jitter, args.jitter, args.nproj),
                  rng.uniform(-args.jitter, args.jitter, args.nproj))
        extras |= {"true_shift_x": (jitter[0], "pixel"), "true_shift_y": (jitter[1], "pixel")}
    prj, flat, dark = simulate.scan(vol, theta, seed=args.seed, attenuation=args.attenuation,
                                    jitter=jitter)
    params = {k: v for k, v in vars(args).items() if k not in ("func", "legacy_output")}
    io.write_dx(args.output, prj, flat=flat, dark=dark, theta=theta, extras=extras,
                parameters=params | {"command": "simulate"}, state="raw", step="simulate")
    logger.info("wrote %s: %d raw projections of %d x %d%s", args.output, *prj.shape,
                f", jitter +-{args.jitter:g} px (true shifts in /exchange/true_shift_x, "
                "true_shift_y)" if jitter is not None else "")
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


def _line_integrals(args, sino=None, record=None):
    """Read any supported scan (:func:`tomopy_dlalign.io.read`) and return ``(line
    integrals, theta, center, scan)``, acting on what the file records it holds
    (``scan.state``): raw counts are normalised (defective pixels replaced unless
    ``--no-defects``) and ``-log``-ed, normalised data only ``-log``-ed, line integrals
    and aligned data taken as they are, as with ``--no-prep``; ``center`` is
    ``--center``, else the file's axis, else ``"auto"``. ``record``, a dict, receives
    what normalisation found (``{"defects": ...}``) for the output's ``/process`` step."""
    from . import io, minus_log, normalize

    scan = io.read(args.input, sino=sino)
    if scan.state == "reconstruction":
        raise ValueError(f"{args.input} holds a reconstruction (/process/state), not "
                         "projections")
    if scan.theta is None:
        raise ValueError(f"{args.input} holds no rotation angles: not a tomographic scan")
    center = args.center if args.center is not None else scan.center
    center = "auto" if center is None else center
    data = np.asarray(scan.data, np.float32)
    if args.no_prep or scan.state in LINE_INTEGRAL_STATES:
        if not args.no_prep:
            logger.info("%s holds %s data (/process/state): used as they are, without "
                        "normalize and minus_log", args.input, scan.state)
        return data, scan.theta, center, scan
    if scan.state == "normalized":
        logger.info("%s holds normalised data (/process/state): minus_log only", args.input)
        return minus_log(data), scan.theta, center, scan
    if scan.flat is None:
        raise ValueError(f"{args.input} has no flat fields; pass --no-prep if the data are "
                         "already line integrals")
    dark = scan.dark if scan.dark is not None else np.zeros_like(scan.flat[:1])
    if scan.dark is None:
        logger.info("%s has no dark fields: taking the dark level as 0", args.input)
    line = minus_log(normalize(scan.data, scan.flat, dark, defects=not args.no_defects,
                               record=record))
    return line, scan.theta, center, scan


def _reconstruct(prj, theta, center, args):
    from . import plugins

    func = plugins.get("recon", args.algorithm)
    kwargs = {"center": center, "device": args.device}
    if args.algorithm == "mlem":
        kwargs.update(num_iter=args.iters, show_progress=args.progress)
    return func(prj, theta, **kwargs)


@reads("input")
def _cmd_recon(args) -> int:
    from . import io

    sino = tuple(args.sino) if args.sino else None
    prep = {}
    prj, theta, center, scan = _line_integrals(args, sino, record=prep)
    t0 = time.perf_counter()
    rec = _reconstruct(prj, theta, center, args)
    logger.info("%s of %s in %.2f s", args.algorithm, prj.shape, time.perf_counter() - t0)
    io.write_dx(args.output, rec, data_units="1/pixel",
                parameters={"command": "recon", "input": str(args.input),
                            "input_state": scan.state, "prep": not args.no_prep,
                            "algorithm": args.algorithm, "iters": args.iters,
                            "center": center, "sino": sino, **prep},
                state="reconstruction", step="recon", history=args.input)
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
                parameters={"command": "demo", "family": args.family, "jitter": jitter,
                            "seed": args.seed},
                state="raw", step="simulate")
    # the simulated axis is the detector's middle: scored against the drawn jitter, the
    # shifts must be measured from it (center="auto" would absorb the jitter's mean)
    axis = args.size / 2
    line, th, _, _ = _line_integrals(argparse.Namespace(input=scan_path, no_prep=False,
                                                        no_defects=False, center=axis))
    info = AlignInfo()
    aligned, ex, ey = align(line, th, center=axis, iters=args.iters, device=args.device,
                            info=info, show_progress=args.progress)
    rec_before, rec_after = fbp(line, th, center=axis), fbp(aligned, th, center=axis)
    rmse = residual_rmse(ex, ey, dx, dy)
    rigid = residual_rmse(ex, ey, dx, dy, theta=th)
    io.write_dx(out / "aligned.h5", aligned, theta=th, data_units="1/pixel",
                extras={"shift_x": (ex, "pixel"), "shift_y": (ey, "pixel")},
                parameters={"command": "demo align", "iters": args.iters, "center": axis},
                model="shipped JitterNet", template=scan_path, state="aligned", step="align")
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


@reads("input", "model")
def _cmd_align(args) -> int:
    from . import align, fbp, io
    from .common.h5files import open_h5
    from .common.outputs import output_target
    from .prep import AlignInfo, residual_rmse
    from .prep.report import alignment_report

    if len(args.input) > 1 or args.cluster is not None or Path(args.output).is_dir():
        return _align_many(args)
    args.input = args.input[0]
    output_target(args.output)  # refuse a bad output before the work
    prep = {}
    line, theta, center, scan = _line_integrals(args, record=prep)
    if scan.state == "aligned":
        done = scan.process.step("align") if scan.process else None
        when = f", aligned by {done.package} {done.version} on {done.time}" if done else ""
        if not args.force:
            raise ValueError(f"{args.input} is aligned already (/process {scan.process.describe()}"
                             f"{when}); pass --force to align it again")
        logger.warning("%s is aligned already%s: aligning it again (--force)", args.input,
                       when)
    info = AlignInfo()
    aligned, dx, dy = align(line, theta, center=center, model=args.model,
                            iters=args.iters, polish=not args.no_polish, device=args.device,
                            info=info, show_progress=args.progress)
    logger.info("aligned %d projections in %.2f s", len(dx), info.seconds)
    io.write_dx(args.output, aligned, theta=theta, data_units="1/pixel",
                extras={"shift_x": (dx, "pixel"), "shift_y": (dy, "pixel")},
                parameters={"command": "align", "input": str(args.input),
                            "input_state": scan.state, "iters": args.iters,
                            "polish": not args.no_polish, **info.to_record(), **prep},
                model=str(args.model or "shipped JitterNet"), template=args.input,
                state="aligned", step="align")
    truth = {}
    with open_h5(args.input) as f:
        if "/exchange/true_shift_x" in f and "/exchange/true_shift_y" in f:
            truth = {"truth_dx": f["/exchange/true_shift_x"][()],
                     "truth_dy": f["/exchange/true_shift_y"][()]}
    if truth:
        logger.info("residual jitter vs the file's true shifts: RMSE %.3f px, %.3f px with "
                    "the rigid motion of the sample (which no alignment can see) removed",
                    residual_rmse(dx, dy, truth["truth_dx"], truth["truth_dy"]),
                    residual_rmse(dx, dy, truth["truth_dx"], truth["truth_dy"], theta=theta))
    if args.report:
        files = alignment_report(args.report, theta, dx, dy, line, aligned,
                                 fbp(line, theta, center=info.center),
                                 fbp(aligned, theta, center=info.center), **truth,
                                 verdict=info.verdict,
                                 center_note=_center_note(info) + _defects_note(prep))
        logger.info("report: %s", ", ".join(map(str, files)))
    logger.info("wrote %s", args.output)
    return 0


def _center_note(info) -> str:
    """The axis used, and the estimates behind it when it was found again."""
    est = {k: v for k, v in info.center_estimates.items() if isinstance(v, float)}
    if not est:
        return f"axis {info.center:.2f} px"
    return (f"axis {info.center:.2f} px (estimates "
            + ", ".join(f"{k} {v:.2f}" for k, v in est.items())
            + f"; spread {info.center_spread:.1f} px)")


def _defects_note(prep: dict) -> str:
    """What normalisation replaced, for the report (empty when nothing was looked for)."""
    found = prep.get("defects")
    if not found:
        return ""
    counts = ", ".join(f"{n} {kind}" for kind, n in found["counts"].items() if n)
    return f"; detector defects replaced: {counts or 'none found'}"


@reads("datasets", "init")
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
                 command="tomopy-dlalign " + " ".join(sys.argv[1:]),
                 show_progress=args.progress)
    logger.info("best validation RMSE %.3f network px after %d epochs; wrote %s",
                card["validation_rmse_px"], card["stopped_after_epochs"], args.output)
    return 0


@reads("input", "model")
def _cmd_adapt(args) -> int:
    from .training import adapt

    line, theta, center, _ = _line_integrals(args)
    adapt(line, theta, center=center, model=args.model, epochs=args.epochs,
          n_sets=args.sets, seed=args.seed, device=args.device, output=args.output)
    logger.info("adapted weights written to %s (model card beside them)", args.output)
    return 0


def _cmd_make_dataset(args) -> int:
    from .training.dataset import DatasetConfig, make_dataset

    cfg = DatasetConfig(n_volumes=args.volumes, families=tuple(args.families), size=args.size,
                        nslice=args.nslice, nproj=args.nproj, jitter=args.jitter,
                        noise=tuple(args.noise), max_salt_pepper=args.max_salt_pepper,
                        wide=args.wide, axis_offset=args.axis_offset,
                        angles=tuple(args.angles), artefacts=args.artefacts, seed=args.seed)
    path = make_dataset(args.output, cfg, show_progress=args.progress)
    logger.info("dataset %s complete: %d volumes", path, cfg.n_volumes)
    return 0


def _scan_shape_args(parser: argparse.ArgumentParser, nslice: int) -> None:
    parser.add_argument("--size", type=int, default=128,
                        help="detector columns, and the width of the simulated slices")
    parser.add_argument("--nslice", type=int, default=nslice, help="detector rows (slices)")
    parser.add_argument("--nproj", type=int, default=181,
                        help="projections, evenly over 180 degrees")


def _add_center(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--center", type=_center_arg, default=None,
                        help="rotation axis in pixels along the columns, or auto to find it "
                             "(default: the axis the file records, else auto)")


def _add_cluster(parser: argparse.ArgumentParser) -> None:
    from .common.cluster import ACCEPTED

    parser.add_argument("--cluster", default=None, metavar="WHERE",
                        help="where the scans run (docs/scale.md): local or local:N (N worker "
                             "processes on this machine), tcp://host:port (a running Dask "
                             "scheduler), slurm:N or pbs:N (dask-jobqueue); default: in this "
                             f"process. Accepted: {ACCEPTED}")


def _align_many(args) -> int:
    """``align`` with several scans, a folder as output, or ``--cluster``: one task per
    scan (:func:`tomopy_dlalign.align_many`), and the summary table on stdout; exit 2 when
    a scan failed."""
    from .scale import align_many, summary_table

    if args.report:
        raise ValueError("--report takes one scan (and no --cluster); the summary table "
                         "covers several")
    folder = len(args.input) > 1 or Path(args.output).is_dir()
    results = align_many(args.input, args.output if folder else [args.output],
                         cluster=args.cluster,
                         center="auto" if args.center is None else args.center,
                         model=args.model, iters=args.iters, polish=not args.no_polish,
                         prep=not args.no_prep, defects=not args.no_defects,
                         device=args.device, force=args.force,
                         show_progress=getattr(args, "progress", None))
    print(summary_table(results))
    failed = [Path(r.scan).name for r in results if r.status == "failed"]
    if failed:
        logger.error("%d of %d scans failed: %s", len(failed), len(results), ", ".join(failed))
    return 2 if failed else 0


def _add_prep(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-prep", action="store_true",
                        help="take the data as line integrals whatever the file records "
                             "(no normalize, no minus_log); files whose /process/state is "
                             "line_integrals or aligned are taken so without it")
    parser.add_argument("--no-defects", action="store_true",
                        help="keep the detector's defective pixels when normalising raw "
                             "counts (default: dead, hot, saturated, zero-count and fixed "
                             "outlier pixels are found from the flats, darks and data, "
                             "replaced by the median of their good neighbours and recorded "
                             "under /process)")


DESCRIPTION = """\
Deep-learning jitter correction for nano-tomography (Fu et al., J. Synchrotron Rad.
2021), with TomoPy's conventions: simulate a scan, align it with the shipped JitterNet,
reconstruct it, or train the network on your own data.

  tomopy-dlalign simulate -o scan.h5 --size 128 --nslice 32 --jitter 5
  tomopy-dlalign align scan.h5 -o aligned.h5 --report report/
  tomopy-dlalign recon aligned.h5 --algorithm fbp -o rec.h5

Every file written records what its data are under /process (raw, line_integrals,
aligned, reconstruction, with each step's parameters), and the commands act on it.
"""

EPILOG = """\
Options common to every command, before or after its name: --progress/--no-progress,
--debug (the traceback of an error), --overwrite (replace read-only outputs),
--allow-external (follow HDF5 links and external data outside the input's folder).
Exit codes: 0 done, 2 bad input (one line naming the file), 130 interrupted, 1 a bug.
"""


def _add_demo(sub) -> None:
    """The ``demo`` command."""
    s = sub.add_parser("demo", help="simulate a jittered scan, align it with the shipped "
                       "model, reconstruct it and report against the truth",
                       description="Simulate a raw scan of a phantom with random jitter, "
                       "align it with the shipped JitterNet, reconstruct it before and after, "
                       "and score both against the truth; writes scan.h5, aligned.h5 and a "
                       "PNG report in the output folder.")
    s.add_argument("-o", "--output", "--out", dest="out", default="demo_out",
                   help="folder for the files (--out is the older spelling)")
    _scan_shape_args(s, nslice=64)
    s.add_argument("--family", default="battery",
                   help="phantom family: nanoparticles, battery, cells, assembly, shepp_logan")
    s.add_argument("--jitter", type=float, default=20.0,
                   help="largest jitter in pixels for a 256-pixel detector, scaled to --size")
    s.add_argument("--iters", type=int, default=1,
                   help="reconstruct-reproject-predict cycles of the alignment (at most)")
    add_seed(s, default=2026)
    add_device(s)
    s.set_defaults(func=_cmd_demo)


def _add_simulate(sub) -> None:
    """The ``simulate`` command."""
    s = sub.add_parser("simulate", help="write a simulated raw Data Exchange scan, with "
                       "jitter if asked",
                       description="Simulate a raw absorption scan (counts, flats and darks "
                       "with Poisson noise) of a phantom, with random jitter of the sample "
                       "if asked; the truth volume and the true shifts are stored beside the "
                       "data (/exchange/truth, /exchange/true_shift_x, true_shift_y).")
    add_output(s, "output Data Exchange file (.h5)", legacy_positional=True)
    _scan_shape_args(s, nslice=32)
    s.add_argument("--family", default="shepp_logan",
                   help="phantom family: shepp_logan, nanoparticles, battery, cells, assembly")
    s.add_argument("--jitter", type=float, default=0.0, metavar="PX",
                   help="random jitter of the sample, uniform in [-PX, PX] pixels along both "
                        "axes, drawn from --seed (0: none)")
    s.add_argument("--attenuation", type=float, default=0.02,
                   help="linear attenuation per pixel of the phantom's unit density")
    add_seed(s, help="seed of the phantom, the jitter and the counting noise")
    s.set_defaults(func=_cmd_simulate)


def _add_align(sub) -> None:
    """The ``align`` command."""
    s = sub.add_parser("align", help="correct the jitter of a scan with JitterNet",
                       description="Estimate and remove the jitter of every projection "
                       "(Fu et al. 2021 cycle: MLEM, reprojection, JitterNet, shift, then a "
                       "sub-pixel polish). Writes the aligned line integrals and the shifts "
                       "beside a copy of the input (/exchange/shift_x, shift_y in pixels). "
                       "A file already aligned (/process/state) is refused unless --force.")
    s.add_argument("input", nargs="+",
                   help="scan(s) to align: Data Exchange, NXtomo, TXM or TIFF; with several, "
                        "-o is a folder, each scan is one task (see --cluster), a scan whose "
                        "output exists is skipped and a summary table ends the run")
    add_output(s, "output Data Exchange file: a copy of the input with the aligned data "
                  "and the shifts (with several scans: a folder, one file per scan named as "
                  "its input)")
    add_report(s, "folder for the PNG report: shifts per angle (and their error when the "
                  "file holds the true shifts), sinograms, slices before and after")
    s.add_argument("--model", help="weights file (default: the shipped model)")
    s.add_argument("--iters", type=int, default=1,
                   help="reconstruct-reproject-predict cycles at most; they stop once the "
                        "reprojection error stops falling")
    s.add_argument("--no-polish", action="store_true",
                   help="skip the sub-pixel phase-correlation polish")
    _add_center(s)
    add_device(s)
    _add_prep(s)
    s.add_argument("--force", action="store_true",
                   help="align a file whose /process/state says it is aligned already")
    _add_cluster(s)
    s.set_defaults(func=_cmd_align, output_may_be_folder=True)


def _add_recon(sub) -> None:
    """The ``recon`` command."""
    s = sub.add_parser("recon", help="reconstruct a scan (MLEM, FBP or a plugin)",
                       description="Reconstruct a scan. Raw counts are normalised and "
                       "-log-ed first; files recorded as line integrals or aligned "
                       "(/process/state, e.g. the output of align) are reconstructed as "
                       "they are.")
    s.add_argument("input", help="scan: Data Exchange, NXtomo, TXM or TIFF")
    add_output(s, "output Data Exchange file holding the volume (nslice, ncol, ncol)")
    s.add_argument("--algorithm", default="mlem",
                   help="a registered reconstruction: mlem, fbp, or a plugin's name "
                        "(tomopy-dlalign plugins lists them)")
    s.add_argument("--iters", type=int, default=20, help="MLEM iterations")
    _add_center(s)
    s.add_argument("--sino", type=int, nargs=2, metavar=("START", "END"),
                   help="reconstruct only the slices START to END - 1")
    add_device(s)
    _add_prep(s)
    s.set_defaults(func=_cmd_recon)


def _add_make_dataset(sub) -> None:
    """The ``make-dataset`` command."""
    s = sub.add_parser("make-dataset", help="simulate JitterNet training pairs (resumable)",
                       description="Simulate jittered scans of random phantoms and their "
                       "(projection, reprojection) training pairs into one HDF5 file; a "
                       "killed run resumes to the same data.")
    add_output(s, "HDF5 file; an existing one made with the same settings resumes",
               legacy_positional=True)
    s.add_argument("--volumes", type=int, default=30, help="simulated volumes (scans)")
    s.add_argument("--families", nargs="+", default=["nanoparticles", "battery", "assembly"],
                   help="phantom families drawn from")
    s.add_argument("--size", type=int, default=128, help="projection columns")
    s.add_argument("--nslice", type=int, default=64, help="projection rows")
    s.add_argument("--nproj", type=int, default=181, help="projections per scan")
    s.add_argument("--jitter", type=float, default=10.0,
                   help="uniform jitter in [-J, J] px (default 10 at 128 px = 20 at 256)")
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
    s.set_defaults(func=_cmd_make_dataset)


def _add_train(sub) -> None:
    """The ``train`` command."""
    s = sub.add_parser("train", help="train JitterNet on make-dataset files",
                       description="Train (or fine-tune) JitterNet on files made by "
                       "make-dataset; a checkpoint beside the output lets a killed run resume, "
                       "and the model card (.json) records the command, data and figures.")
    s.add_argument("datasets", nargs="+", help="training files written by make-dataset")
    add_output(s, "weights file (.safetensors); the model card goes beside it")
    s.add_argument("--epochs", type=int, default=30, help="training epochs at most")
    s.add_argument("--batch-size", type=int, default=64, help="training pairs per batch")
    s.add_argument("--lr", type=float, default=1e-3,
                   help="Adam learning rate (halved when the validation error stalls)")
    s.add_argument("--patience", type=int, default=5,
                   help="stop after this many epochs without a better validation error")
    add_seed(s, help="seed of the initialisation, shuffling and augmentation")
    s.add_argument("--net-size", type=int, default=64,
                   help="network input size in pixels (pairs are resized to it)")
    s.add_argument("--widths", type=int, nargs=3, default=[32, 64, 128],
                   help="channels of the three residual stages")
    s.add_argument("--init", help="start from these weights (fine-tuning)")
    s.add_argument("--restart", action="store_true",
                   help="ignore an existing checkpoint and start again")
    s.add_argument("--max-minutes", type=float, default=None,
                   help="stop cleanly after this much training time")
    s.add_argument("--pairs-per-epoch", type=int, default=None,
                   help="random training pairs per epoch (default: all)")
    add_device(s)
    s.set_defaults(func=_cmd_train)


def _add_adapt(sub) -> None:
    """The ``adapt`` command."""
    s = sub.add_parser("adapt", help="fine-tune the model on a scan's own reconstruction",
                       description="Fine-tune JitterNet on simulated scans of your sample's "
                       "own reconstruction; the adapted weights are kept only if they align "
                       "the scan more consistently.")
    s.add_argument("input", help="scan to adapt to: Data Exchange, NXtomo, TXM or TIFF")
    add_output(s, "adapted weights (.safetensors); the model card goes beside them")
    s.add_argument("--model", help="weights to start from (default: the shipped model)")
    s.add_argument("--epochs", type=int, default=4, help="fine-tuning epochs")
    s.add_argument("--sets", type=int, default=12, help="simulated scans of the sample")
    _add_center(s)
    add_seed(s, help="seed of the simulated scans and the training")
    add_device(s)
    _add_prep(s)
    s.set_defaults(func=_cmd_adapt)


def _add_info_and_plugins(sub) -> None:
    """The ``info`` and ``plugins`` commands."""
    s = sub.add_parser("info", help="versions, projector backends and devices usable here")
    s.set_defaults(func=_cmd_info)
    s = sub.add_parser("plugins", help="what is registered through the plugin hooks, and "
                       "any broken plugin by name")
    s.set_defaults(func=_cmd_plugins)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``tomopy-dlalign`` (without the options common to every
    command, which :func:`~tomopy_dlalign.common.cli.add_common_options` adds)."""
    p = argparse.ArgumentParser(prog="tomopy-dlalign", description=DESCRIPTION, epilog=EPILOG,
                                formatter_class=HelpFormatter)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True, title="commands")

    _add_demo(sub)
    _add_simulate(sub)
    _add_align(sub)
    _add_recon(sub)
    _add_make_dataset(sub)
    _add_train(sub)
    _add_adapt(sub)
    _add_info_and_plugins(sub)
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
