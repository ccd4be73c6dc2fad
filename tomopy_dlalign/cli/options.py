"""The options several ``tomopy-dlalign`` commands share, each defined once so that it
means the same in every command: the simulated scan's shape and ``--jitter``, the
rotation axis (``--center``) and the preparation of raw counts (``--no-prep``,
``--no-defects``)."""

from __future__ import annotations

import argparse

from ..common.cli import word_or

#: the one meaning of ``--jitter`` (simulate, demo, make-dataset)
JITTER_HELP = ("largest jitter of the sample, in pixels of the scan written: each "
               "projection moves by a uniform draw in [-PX, PX] along both axes (0: none)")


def add_scan_shape(parser: argparse.ArgumentParser, nslice: int,
                   angles: str = "evenly over 180 degrees") -> None:
    """``--size``, ``--nslice`` and ``--nproj`` of a simulated scan."""
    parser.add_argument("--size", type=int, default=128,
                        help="detector columns, and the width of the simulated slices")
    parser.add_argument("--nslice", type=int, default=nslice, help="detector rows (slices)")
    parser.add_argument("--nproj", type=int, default=181, help=f"projections, {angles}")


def add_jitter(parser: argparse.ArgumentParser, default: float) -> None:
    """``--jitter PX``: the largest jitter in pixels of the scan written."""
    parser.add_argument("--jitter", type=float, default=default, metavar="PX",
                        help=JITTER_HELP)


def center_value(text: str) -> float | str:
    """``--center``: a number of pixels, or ``auto``."""
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number of pixels, 'auto' or 'file', got {text!r}") from None


def add_center(parser: argparse.ArgumentParser) -> None:
    """``--center``: pixels, ``auto`` or ``file`` (None: the file's axis, else auto)."""
    parser.add_argument("--center", type=word_or("file", center_value, "a number of pixels"),
                        default="file",
                        help="rotation axis in pixels along the columns; auto: found from "
                             "the data; file: the axis the file records, else auto")


def add_prep(parser: argparse.ArgumentParser) -> None:
    """``--no-prep`` and ``--no-defects``: how raw counts become line integrals."""
    parser.add_argument("--no-prep", action="store_true",
                        help="take the data as line integrals whatever the file records "
                             "(no normalize, no minus_log); files whose /process/state is "
                             "line_integrals or aligned are taken so without it")
    parser.add_argument("--no-defects", action="store_true",
                        help="keep the detector's defective pixels when normalising raw "
                             "counts; without it, dead, hot, saturated, zero-count and fixed "
                             "outlier pixels are found from the flats, darks and data, "
                             "replaced by the median of their good neighbours and recorded "
                             "under /process")
