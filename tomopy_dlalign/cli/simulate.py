"""``tomopy-dlalign simulate`` and ``tomopy-dlalign demo``: a jittered scan of a phantom,
and the whole chain on one (simulate, align, reconstruct, score against the truth).

::

    tomopy-dlalign simulate -o scan.h5 --size 128 --nslice 32 --jitter 5
    tomopy-dlalign demo -o demo_out/
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..common.cli import add_device, add_iters, add_output, add_seed, add_threads, set_threads
from ..common.outputs import writes
from .options import add_jitter, add_scan_shape

logger = logging.getLogger("tomopy_dlalign")

#: the demo's phantom attenuation per pixel of unit density
DEMO_ATTENUATION = 0.05


def _draw_jitter(amplitude: float, nproj: int, seed):
    """``(dx, dy)`` uniform in ``[-amplitude, amplitude]`` pixels, as add_jitter draws."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return (rng.uniform(-amplitude, amplitude, nproj), rng.uniform(-amplitude, amplitude, nproj))


def cmd_simulate(args) -> int:
    """Write a simulated raw scan to ``args.output``."""
    import numpy as np

    from .. import io, simulate

    if not args.jitter >= 0 or args.jitter > args.size / 4:
        raise ValueError(f"--jitter must be between 0 and a quarter of --size "
                         f"({args.size / 4:g} px), got {args.jitter}")
    theta = np.linspace(0, np.pi, args.nproj, endpoint=False)
    vol = simulate.phantom(args.family, args.size, args.nslice, seed=args.seed)
    extras = {"truth": (vol * args.attenuation, "1/pixel")}
    jitter = None
    if args.jitter > 0:
        # applied before the counting noise, as the sample moves during a real scan
        jitter = _draw_jitter(args.jitter, args.nproj, args.seed)
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


def _demo_files(args) -> list[Path]:
    out = Path(args.output)
    return [out / "scan.h5", out / "aligned.h5"]


def _existing_demo_files(args) -> list[Path]:
    # a folder that does not exist yet is made by the demo: nothing in it to replace
    return _demo_files(args) if Path(args.output).is_dir() else []


def _demo_scan(args, path: Path):
    """Simulate the demo's raw scan into ``path``: ``(volume, dx, dy)``."""
    import numpy as np

    from .. import io, simulate

    theta = np.linspace(0, np.pi, args.nproj, endpoint=False)
    vol = simulate.phantom(args.family, args.size, args.nslice, seed=args.seed)
    dx, dy = _draw_jitter(args.jitter, args.nproj, args.seed)
    # the sample jitters during the scan: raw frames with counting noise, as recorded
    raw, flat, dark = simulate.scan(vol, theta, seed=args.seed, attenuation=DEMO_ATTENUATION,
                                    jitter=(dx, dy))
    io.write_dx(path, raw, flat=flat, dark=dark, theta=theta,
                extras={"true_shift_x": (dx, "pixel"), "true_shift_y": (dy, "pixel"),
                        "truth": (vol * DEMO_ATTENUATION, "1/pixel")},
                parameters={"command": "demo", "family": args.family, "jitter": args.jitter,
                            "seed": args.seed},
                state="raw", step="simulate")
    return vol, dx, dy


def _demo_align(args, scan_path: Path, out: Path):
    """Align the demo's scan about the detector's middle and write ``aligned.h5``:
    ``(line integrals, theta, aligned, ex, ey, info)``."""
    from .. import align, io
    from ..prep import AlignInfo
    from .scans import line_integrals

    # the simulated axis is the detector's middle: scored against the drawn jitter, the
    # shifts must be measured from it (center="auto" would absorb the jitter's mean)
    axis = args.size / 2
    line, th, _, _ = line_integrals(argparse.Namespace(input=scan_path, no_prep=False,
                                                       no_defects=False, center=axis))
    info = AlignInfo()
    aligned, ex, ey = align(line, th, center=axis, iters=args.iters, device=args.device,
                            info=info, show_progress=args.progress)
    io.write_dx(out / "aligned.h5", aligned, theta=th, data_units="1/pixel",
                extras={"shift_x": (ex, "pixel"), "shift_y": (ey, "pixel")},
                parameters={"command": "demo align", "iters": args.iters, "center": axis},
                model="shipped JitterNet", template=scan_path, state="aligned", step="align")
    return line, th, aligned, ex, ey, info


@writes(_existing_demo_files, folders=(lambda args: Path(args.output) / "report",))
def cmd_demo(args) -> int:
    """Simulate, align, reconstruct and score a scan; files in ``args.output``."""
    set_threads(args)
    import numpy as np

    from .. import fbp
    from ..prep import fraction_within, residual_rmse
    from ..prep.report import alignment_report

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    vol, dx, dy = _demo_scan(args, out / "scan.h5")
    line, th, aligned, ex, ey, info = _demo_align(args, out / "scan.h5", out)
    axis = args.size / 2
    rec_before, rec_after = fbp(line, th, center=axis), fbp(aligned, th, center=axis)
    files = alignment_report(out / "report", th, ex, ey, line, aligned, rec_before, rec_after,
                             truth_dx=dx, truth_dy=dy,
                             title=f"{args.family}: ±{args.jitter:.1f} px jitter")
    truth = vol * DEMO_ATTENUATION
    err_b, err_a = (np.linalg.norm(r - truth) / np.linalg.norm(truth)
                    for r in (rec_before, rec_after))
    print(f"demo: {args.nproj} projections of {args.nslice} x {args.size}, jitter +-"
          f"{args.jitter:.1f} px; aligned in {info.seconds:.2f} s")
    print(f"residual jitter RMSE {residual_rmse(ex, ey, dx, dy):.3f} px (true jitter RMS "
          f"{np.sqrt(np.mean((dx - dx.mean())**2 + (dy - dy.mean())**2)):.2f} px); "
          f"{fraction_within(ex, ey, dx, dy) * 100:.0f} % of projections within 1 px; "
          f"{residual_rmse(ex, ey, dx, dy, theta=th):.3f} px once the rigid motion of the "
          f"sample, which no alignment can see, is removed")
    print(f"FBP error vs truth: {err_b:.3f} before, {err_a:.3f} after alignment")
    print("files: " + ", ".join(str(x) for x in [*_demo_files(args), *files]))
    return 0


def _add_demo(sub) -> None:
    s = sub.add_parser("demo", help="simulate a jittered scan, align it with the shipped "
                       "model, reconstruct it and report against the truth",
                       description="Simulate a raw scan of a phantom with random jitter, "
                       "align it with the shipped JitterNet, reconstruct it before and after, "
                       "and score both against the truth; writes scan.h5, aligned.h5 and a "
                       "PNG report in the output folder.")
    s.add_argument("-o", "--output", "--out", dest="output", default="demo_out",
                   help="folder for the files (--out is the older spelling)")
    add_scan_shape(s, nslice=64)
    s.add_argument("--family", default="battery",
                   help="phantom family: nanoparticles, battery, cells, assembly, shepp_logan")
    add_jitter(s, default=10.0)
    add_iters(s, "the alignment's reconstruct-reproject-predict cycle (at most)", 1)
    add_seed(s, default=2026)
    add_device(s)
    add_threads(s)
    s.set_defaults(func=cmd_demo)


def _add_simulate(sub) -> None:
    s = sub.add_parser("simulate", help="write a simulated raw Data Exchange scan, with "
                       "jitter if asked",
                       description="Simulate a raw absorption scan (counts, flats and darks "
                       "with Poisson noise) of a phantom, with random jitter of the sample "
                       "if asked; the truth volume and the true shifts are stored beside the "
                       "data (/exchange/truth, /exchange/true_shift_x, true_shift_y).")
    add_output(s, "output Data Exchange file (.h5)", legacy_positional=True)
    add_scan_shape(s, nslice=32)
    s.add_argument("--family", default="shepp_logan",
                   help="phantom family: shepp_logan, nanoparticles, battery, cells, assembly")
    add_jitter(s, default=0.0)
    s.add_argument("--attenuation", type=float, default=0.02,
                   help="linear attenuation per pixel of the phantom's unit density")
    add_seed(s, help="seed of the phantom, the jitter and the counting noise")
    s.set_defaults(func=cmd_simulate)


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``demo`` and ``simulate`` on the ``tomopy-dlalign`` subparsers."""
    _add_demo(sub)
    _add_simulate(sub)
