"""``cdi-plugins prepare``: detector frames to a phasing-ready CXI pattern, 2D or 3D.

::

    cdi-plugins prepare frames.edf -o pattern.cxi --report
    cdi-plugins prepare scan.nxs --dataset /entry/data/data --binning 2 --saturation 1e6 \\
        --mask beamstop.edf -o pattern.cxi --report pattern.png
    cdi-plugins prepare frames/ --dark darks/ --flat flat.tif --threshold 2 -o pattern.cxi
    cdi-plugins prepare S012/ --scan 12 --dark darks/ --white flat.edf -o bragg.cxi --report report/

Frames are summed into a 2D pattern, unless ``--scan N`` (a rocking-curve scan, whose
SPEC metadata are read) or ``--3d`` is given: then they are stacked, in scan order, into
a 3D pattern (:func:`cdi_plugins.io.prepare_3d`).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from tomopy_dlalign.common.outputs import reads, writes

logger = logging.getLogger("cdi_plugins.cli")


def _centre(text: str | None, three_d: bool = False):
    from ..io.prepare import CENTRE_METHODS

    if text is None:
        return "com" if three_d else "friedel"
    if text in CENTRE_METHODS:
        return text
    axes = "FRAME,ROW,COL" if three_d else "ROW,COL"
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != (3 if three_d else 2):
        raise ValueError(f"--centre must be friedel, com or {axes}, got {text!r}")
    return values


def _extra_mask(path: str | None):
    from .. import io

    if path is None:
        return None
    frames = io.read_frames(path)
    return frames.data.max(axis=0) > 0


def _report_folder(args) -> Path | None:
    """The folder ``--report FOLDER`` names (a value not ending in .png), or None."""
    if not args.report or args.report.lower().endswith(".png"):
        return None
    return Path(args.report)


def _report_png(args) -> Path | None:
    """The PNG ``--report`` writes: the output with .png (``--report`` alone), a .png
    path, or ``FOLDER/<output name>.png``."""
    if args.report is None:
        return None
    beside = Path(args.output).with_suffix(".png")
    if not args.report:
        return beside
    folder = _report_folder(args)
    return folder / beside.name if folder else Path(args.report)


def _report_file(args) -> Path | None:
    """The PNG checked as a file before the work (a report folder is checked as one)."""
    return None if _report_folder(args) else _report_png(args)


def _spec_file(args) -> Path:
    """``--spec``, or the one ``*.spec`` file beside the frames or in their parent folder."""
    if args.spec:
        return Path(args.spec)
    folders = []
    for path in map(Path, args.inputs):
        base = path if path.is_dir() else path.parent
        folders += [base, base.parent]
    found = sorted({f.resolve() for d in dict.fromkeys(folders) if d.is_dir()
                    for f in d.glob("*.spec") if f.is_file()})
    if len(found) == 1:
        logger.info("--scan %s: SPEC file %s", args.scan, found[0])
        return found[0]
    what = (f"found {len(found)}: {', '.join(map(str, found))}" if found else
            "no *.spec file beside the frames or in their parent folder")
    raise ValueError(f"--scan {args.scan} needs the scan's SPEC file: give --spec FILE ({what})")


def _read_scan(args, io):
    """The ``--scan`` of the SPEC file, checked (its ``--motor`` too) before the frames are
    read; errors name the option."""
    if args.scan is None:
        return None
    scan_file = _spec_file(args)
    try:
        scan = io.read_spec_scan(scan_file, args.scan)
    except (KeyError, ValueError) as exc:
        raise type(exc)(f"--scan {args.scan}: {exc.args[0] if exc.args else exc}") from None
    try:
        scan.positions(args.motor)
    except (KeyError, ValueError) as exc:
        raise type(exc)(f"--motor {args.motor or scan.scanned_motor}: "
                        f"{exc.args[0] if exc.args else exc}") from None
    return scan


def _prepare_3d(args, io):
    if args.fill_friedel:
        raise ValueError("--fill-friedel is for 2D patterns of real objects: a Bragg peak "
                         "does not obey Friedel's law")
    if args.reduce != "sum":
        raise ValueError(f"--reduce {args.reduce} is for 2D patterns: a 3D pattern's frames "
                         f"are stacked, not combined")
    scan = _read_scan(args, io)
    mask = _extra_mask(args.mask)
    # --size and --binning act on the detector plane; the frames are binned apart
    size = None if args.size is None else (None, args.size, args.size)
    binning = (args.frame_binning or 1, args.binning, args.binning)
    return io.prepare_3d(args.inputs, mask=mask, centre=_centre(args.centre, True),
                         size=size, binning=binning, saturation=args.saturation,
                         hot_ratio=args.hot_ratio, dead_level=args.dead_level,
                         dataset=args.dataset, dark=args.dark, flat=args.flat,
                         threshold=args.threshold, scan=scan, motor=args.motor, roi=args.roi)


def _prepare_2d(args, io):
    if args.frame_binning is not None:
        raise ValueError("--frame-binning is for a 3D pattern (--scan or --3d): a 2D "
                         "pattern sums its frames")
    return io.prepare(args.inputs, mask=_extra_mask(args.mask), centre=_centre(args.centre),
                      size=args.size, binning=args.binning, reduce=args.reduce,
                      saturation=args.saturation, hot_ratio=args.hot_ratio,
                      dead_level=args.dead_level, fill_mates=args.fill_friedel,
                      dataset=args.dataset, dark=args.dark, flat=args.flat,
                      threshold=args.threshold, roi=args.roi)


def _summary(args, prepared) -> str:
    import numpy as np

    shape = "x".join(map(str, prepared.intensity.shape))
    centre = ", ".join(f"{c:.2f}" for c in prepared.centre)
    line = (f"prepared {Path(args.output).name}: {shape}"
            f"{' (frames x rows x columns)' if prepared.intensity.ndim == 3 else ''}, "
            f"centre ({centre}), {int(prepared.mask.sum())} missing "
            f"({np.mean(prepared.mask):.2%})")
    scan = prepared.parameters.get("scan")
    if scan:
        line += f"; scan {scan['scan']}: {scan['motor']} step {scan['step']:.4g}"
    return line


@reads("inputs", "mask", "dark", "flat", "spec")
@writes("output", _report_file, folders=(_report_folder,))
def cmd_prepare(args) -> int:
    """Prepare the frames (2D, or 3D with ``--scan``/``--3d``) and write the CXI pattern
    and, with ``--report``, its figure."""
    from .. import io

    three_d = args.three_d or args.scan is not None
    prepared = _prepare_3d(args, io) if three_d else _prepare_2d(args, io)
    geom = None
    if args.wavelength and args.distance and args.pixel_size:
        geom = io.Geometry(wavelength=args.wavelength, distance=args.distance,
                           pixel_size=args.pixel_size * args.binning)
    inputs = {"inputs": [str(p) for p in args.inputs]}
    io.write_cxi(args.output, prepared.intensity, prepared.mask, geom,
                 parameters={**prepared.parameters, **inputs}, step="prepare")
    if args.report is not None:
        png = _report_png(args)
        png.parent.mkdir(parents=True, exist_ok=True)
        io.save_prepare_report(prepared, png)
    print(_summary(args, prepared))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``prepare`` on the ``cdi-plugins`` subparsers."""
    p = sub.add_parser("prepare", help="detector frames (EDF, TIFF, NeXus/HDF5) to a "
                                       "centred, masked CXI pattern",
                       description="Sum detector frames (dark- and flat-corrected when "
                       "asked), mask the bad pixels, find the pattern's centre, bin and crop "
                       "it, and write a phasing-ready CXI pattern. With --scan N (or --3d) "
                       "the frames of a rocking-curve scan are stacked in scan order into a "
                       "3D pattern instead, each frame corrected, masked in 3D, centred and "
                       "cropped to sizes with prime factors 2, 3 and 5, with the scan's SPEC "
                       "metadata recorded in /process.")
    p.add_argument("inputs", nargs="+",
                   help="detector files or folders of them (a folder's files in name order, "
                        "numbers by value): summed into a 2D pattern, or stacked into a 3D "
                        "one with --scan or --3d")
    p.add_argument("-o", "--output", required=True, help="output .cxi file")
    p.add_argument("--report", nargs="?", const="", default=None, metavar="FOLDER|PNG",
                   help="write a PNG of the pattern, the mask and the centre (2D) or of the "
                        "three central slices (3D): a .png path, or a folder that gets "
                        "OUTPUT.png (alone: the output with .png)")
    p.add_argument("--scan", metavar="N",
                   help="number of the rocking-curve scan in the SPEC file (N.k for its k-th "
                        "occurrence): prepare a 3D pattern, with the scan's motor positions "
                        "(default: none, a 2D pattern)")
    p.add_argument("--spec", metavar="FILE",
                   help="the SPEC file of --scan (default: the one *.spec file beside the "
                        "frames or in their parent folder)")
    p.add_argument("--motor",
                   help="the rocking motor, a column of the scan (default: the motor its "
                        "command moves, e.g. eta for 'ascan eta ...')")
    p.add_argument("--3d", dest="three_d", action="store_true",
                   help="stack the frames into a 3D pattern without SPEC metadata (implied "
                        "by --scan)")
    p.add_argument("--dataset",
                   help="dataset of the frames (and of the dark and flat frames) in an HDF5 "
                        "file (default: the usual NeXus paths, else the file's only 2D or 3D "
                        "dataset)")
    p.add_argument("--mask", help="file of extra bad pixels (non-zero = bad), e.g. a beamstop "
                                  "(default: none)")
    p.add_argument("--centre",
                   help="friedel, com, or ROW,COL (FRAME,ROW,COL in 3D) (default: friedel in "
                        "2D, com in 3D: a Bragg peak is not centrosymmetric)")
    p.add_argument("--size", type=int,
                   help="output size after binning, even; in 3D that of the rows and the "
                        "columns (default: the largest FFT-friendly size that fits around "
                        "the centre: factors 2, 3, 5, 7 and square in 2D; 2, 3, 5 along each "
                        "axis in 3D, the frames' too)")
    p.add_argument("--binning", type=int, default=1,
                   help="sum BxB pixels (of every frame, in 3D)")
    p.add_argument("--frame-binning", type=int, metavar="F",
                   help="3D: sum F consecutive frames (rocking steps) too (default: 1, every "
                        "step kept)")
    p.add_argument("--reduce", choices=("sum", "mean"), default="sum", help="combine frames")
    p.add_argument("--saturation", type=float,
                   help="mask pixels at or above this count in any raw frame (default: none)")
    p.add_argument("--hot-ratio", type=float, default=20.0, help="hot-pixel ratio")
    p.add_argument("--dead-level", type=float, default=50.0, help="dead-pixel level")
    p.add_argument("--dark", action="append", metavar="PATH",
                   help="dark frames, a file or a folder of them (repeat for more): their "
                        "mean is subtracted from every frame (default: none)")
    p.add_argument("--flat", "--white", action="append", metavar="PATH", dest="flat",
                   help="flat-field frames, a file or a folder of them (repeat for more): "
                        "the frames are divided by their mean, normalised to its mean; "
                        "pixels where it is not positive, or below 1 %% of its median, are "
                        "masked; --white is the same "
                        "(default: none)")
    p.add_argument("--threshold", type=float, default=0.0,
                   help="after the dark and flat corrections, values of the combined frame "
                        "(the sum, or the mean with --reduce mean), or in 3D of each frame, "
                        "below this are set to 0")
    p.add_argument("--roi", type=int, nargs=4, metavar=("ROW0", "ROW1", "COL0", "COL1"),
                   help="the frames' region of the detector: a --dark, --flat or --mask of "
                        "the whole detector is cut to it (a SPEC file's ROI, e.g. 0 256 0 "
                        "256) (default: calibration frames of the frames' shape)")
    p.add_argument("--fill-friedel", action="store_true",
                   help="fill missing pixels from their Friedel mates (real objects)")
    p.add_argument("--wavelength", type=float,
                   help="m, with --distance and --pixel-size (default: no geometry written)")
    p.add_argument("--distance", type=float, help="sample-detector distance, m (default: none)")
    p.add_argument("--pixel-size", type=float,
                   help="detector pixel, m, before binning (default: none)")
    p.set_defaults(func=cmd_prepare)
