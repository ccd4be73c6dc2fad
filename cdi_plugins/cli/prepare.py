"""``cdi-plugins prepare``: detector frames to a phasing-ready CXI pattern.

::

    cdi-plugins prepare frames.edf -o pattern.cxi --report
    cdi-plugins prepare scan.nxs --dataset /entry/data/data --binning 2 --saturation 1e6 \\
        --mask beamstop.edf -o pattern.cxi --report pattern.png
    cdi-plugins prepare frames/ --dark darks/ --flat flat.tif --threshold 2 -o pattern.cxi
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from tomopy_dlalign.common.outputs import reads, writes

logger = logging.getLogger("cdi_plugins.cli")


def _centre(text: str):
    from ..io.prepare import CENTRE_METHODS

    if text in CENTRE_METHODS:
        return text
    try:
        cy, cx = (float(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"--centre must be friedel, com or ROW,COL, got {text!r}") from None
    return cy, cx


def _extra_mask(path: str | None):
    from .. import io

    if path is None:
        return None
    frames = io.read_frames(path)
    return frames.data.max(axis=0) > 0


def _report_png(args):
    """The PNG ``--report`` writes: its path, or beside the output (``--report`` alone)."""
    if args.report is None:
        return None
    return Path(args.report) if args.report else Path(args.output).with_suffix(".png")


@reads("inputs", "mask", "dark", "flat")
@writes("output", _report_png)
def cmd_prepare(args) -> int:
    import numpy as np

    from .. import io

    prepared = io.prepare(args.inputs, mask=_extra_mask(args.mask), centre=_centre(args.centre),
                          size=args.size, binning=args.binning, reduce=args.reduce,
                          saturation=args.saturation, hot_ratio=args.hot_ratio,
                          dead_level=args.dead_level, fill_mates=args.fill_friedel,
                          dataset=args.dataset, dark=args.dark, flat=args.flat,
                          threshold=args.threshold)
    geom = None
    if args.wavelength and args.distance and args.pixel_size:
        geom = io.Geometry(wavelength=args.wavelength, distance=args.distance,
                           pixel_size=args.pixel_size * args.binning)
    io.write_cxi(args.output, prepared.intensity, prepared.mask, geom,
                 parameters={**prepared.parameters, "inputs": [str(p) for p in args.inputs]},
                 step="prepare")
    if args.report is not None:
        io.save_prepare_report(prepared, _report_png(args))
    cy, cx = prepared.centre
    print(f"prepared {Path(args.output).name}: {prepared.intensity.shape[0]}x"
          f"{prepared.intensity.shape[1]}, centre ({cy:.2f}, {cx:.2f}), "
          f"{int(prepared.mask.sum())} missing ({np.mean(prepared.mask):.2%})")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``prepare`` on the ``cdi-plugins`` subparsers."""
    p = sub.add_parser("prepare", help="detector frames (EDF, TIFF, NeXus/HDF5) to a "
                                       "centred, masked CXI pattern",
                       description="Sum detector frames (dark- and flat-corrected when "
                       "asked), mask the bad pixels, find the pattern's centre, bin and crop "
                       "it, and write a phasing-ready CXI pattern.")
    p.add_argument("inputs", nargs="+",
                   help="detector files or folders of them (frames are summed)")
    p.add_argument("-o", "--output", required=True, help="output .cxi file")
    p.add_argument("--report", nargs="?", const="", default=None,
                   help="write a PNG of the pattern, the mask and the centre (default "
                        "path: the output with .png)")
    p.add_argument("--dataset",
                   help="dataset of the frames (and of the dark and flat frames) in an HDF5 "
                        "file (default: the usual NeXus paths, else the file's only 2D or 3D "
                        "dataset)")
    p.add_argument("--mask", help="file of extra bad pixels (non-zero = bad), e.g. a beamstop "
                                  "(default: none)")
    p.add_argument("--centre", default="friedel", help="friedel, com or ROW,COL")
    p.add_argument("--size", type=int,
                   help="output size after binning, even (default: the largest FFT-friendly "
                        "size that fits around the centre)")
    p.add_argument("--binning", type=int, default=1, help="sum BxB pixels")
    p.add_argument("--reduce", choices=("sum", "mean"), default="sum", help="combine frames")
    p.add_argument("--saturation", type=float,
                   help="mask pixels at or above this count in any raw frame (default: none)")
    p.add_argument("--hot-ratio", type=float, default=20.0, help="hot-pixel ratio")
    p.add_argument("--dead-level", type=float, default=50.0, help="dead-pixel level")
    p.add_argument("--dark", action="append", metavar="PATH",
                   help="dark frames, a file or a folder of them (repeat for more): their "
                        "mean is subtracted from every frame (default: none)")
    p.add_argument("--flat", action="append", metavar="PATH",
                   help="flat-field frames, a file or a folder of them (repeat for more): "
                        "the frames are divided by their mean, normalised to its mean; "
                        "pixels where it is not positive are masked (default: none)")
    p.add_argument("--threshold", type=float, default=0.0,
                   help="after the dark and flat corrections, values of the combined frame "
                        "(the sum, or the mean with --reduce mean) below this are set to 0")
    p.add_argument("--fill-friedel", action="store_true",
                   help="fill missing pixels from their Friedel mates (real objects)")
    p.add_argument("--wavelength", type=float,
                   help="m, with --distance and --pixel-size (default: no geometry written)")
    p.add_argument("--distance", type=float, help="sample-detector distance, m (default: none)")
    p.add_argument("--pixel-size", type=float,
                   help="detector pixel, m, before binning (default: none)")
    p.set_defaults(func=cmd_prepare)
