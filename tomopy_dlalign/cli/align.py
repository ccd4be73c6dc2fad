"""``tomopy-dlalign align``: correct the jitter of one scan, of many, or of one larger than
memory.

::

    tomopy-dlalign align scan.h5 -o aligned.h5 --report report/
    tomopy-dlalign align day1/*.h5 -o aligned/ --cluster local:4
    tomopy-dlalign align big.h5 --rows 900:1400 -o big_aligned.h5

One scan is aligned in memory (:func:`tomopy_dlalign.align`); several, a folder as output
or ``--cluster`` make one task per scan (:func:`tomopy_dlalign.align_many`, which resumes:
a finished alignment of the same scan is skipped); ``--large``, ``--rows`` or a scan that
would not fit in memory go slab by slab (:func:`tomopy_dlalign.scale.align_large`).
"""

from __future__ import annotations

import argparse
import logging
import os
import warnings
from pathlib import Path

from ..common.cli import (
    add_device,
    add_iters,
    add_model,
    add_output,
    add_report,
    add_threads,
    set_threads,
)
from ..common.outputs import reads, writes
from .options import add_center, add_prep

logger = logging.getLogger("tomopy_dlalign")

#: bytes that aligning a scan in memory takes, per byte of its float32 projections (the
#: raw counts, the line integrals, their conditioned, shifted and binned copies): measured
#: as the growth of the peak resident memory of ``align`` from a 181 x 64 x 256 raw scan
#: to a 181 x 256 x 256 one (1.33 to 1.74 GB, 11 bytes per byte), rounded up
MEMORY_PER_BYTE = 12


def _many(args) -> bool:
    """Whether ``align`` makes one task per scan (several scans, a folder, a cluster)."""
    slab_wise = args.large or args.rows is not None
    return (len(args.input) > 1 or Path(args.output).is_dir()
            or (args.cluster is not None and not slab_wise))


def _single_output(args) -> list:
    # with one task per scan, align_many checks each output itself: it skips a
    # finished alignment of the same scan (resuming) and refuses anything else
    return [] if _many(args) else [args.output]


@reads("input", "model")
@writes(_single_output, folders=("report",))
def cmd_align(args) -> int:
    """Align ``args.input`` (one scan or several) into ``args.output``; with ``--dry-run``
    print the batch system's job script instead."""
    from ..common.cluster import dry_run_script

    script = dry_run_script(args)
    if script is not None:
        print(script)
        return 0
    set_threads(args)
    if _many(args):
        return _align_many(args)
    args.input = args.input[0]
    if _slab_wise(args):
        return _align_large(args)
    return _align_in_memory(args)


def _refuse_aligned(args, scan_process) -> None:
    """Refuse a scan whose ``/process/state`` says it is aligned, unless ``--force``."""
    if scan_process is None or scan_process.state != "aligned":
        return
    done = scan_process.step("align")
    when = f", aligned by {done.package} {done.version} on {done.time}" if done else ""
    if not args.force:
        raise ValueError(f"{args.input} is aligned already (/process "
                         f"{scan_process.describe()}{when}); pass --force to align it again")
    logger.warning("%s is aligned already%s: aligning it again (--force)", args.input, when)


def _true_shifts(path) -> dict:
    """The true shifts a simulated scan stores (``truth_dx``, ``truth_dy``), if any."""
    from ..common.h5files import open_h5
    from ..common.process import is_hdf5

    if not is_hdf5(path):
        return {}
    with open_h5(path) as f:
        if "/exchange/true_shift_x" in f and "/exchange/true_shift_y" in f:
            return {"truth_dx": f["/exchange/true_shift_x"][()],
                    "truth_dy": f["/exchange/true_shift_y"][()]}
    return {}


def _log_truth(truth: dict, dx, dy, theta) -> None:
    from ..prep import residual_rmse

    if truth:  # a simulated scan: how close the shifts came
        logger.info("residual jitter vs the file's true shifts: RMSE %.3f px, %.3f px with "
                    "the rigid motion of the sample (which no alignment can see) removed",
                    residual_rmse(dx, dy, truth["truth_dx"], truth["truth_dy"]),
                    residual_rmse(dx, dy, truth["truth_dx"], truth["truth_dy"], theta=theta))


def _align_in_memory(args) -> int:
    """One scan, read whole: :func:`tomopy_dlalign.align`, the output and the report."""
    from .. import align, io
    from ..prep import AlignInfo
    from .scans import line_integrals

    prep = {}
    line, theta, center, scan = line_integrals(args, record=prep)
    _refuse_aligned(args, scan.process)
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
    truth = _true_shifts(args.input)
    _log_truth(truth, dx, dy, theta)
    if args.report:
        _report(args, theta, dx, dy, line, aligned, info, truth, prep)
    logger.info("wrote %s", args.output)
    return 0


def _report(args, theta, dx, dy, line, aligned, info, truth, prep) -> None:
    from .. import fbp
    from ..prep.report import alignment_report

    files = alignment_report(args.report, theta, dx, dy, line, aligned,
                             fbp(line, theta, center=info.center),
                             fbp(aligned, theta, center=info.center), **truth,
                             verdict=info.verdict,
                             center_note=center_note(info) + defects_note(prep))
    logger.info("report: %s", ", ".join(map(str, files)))


def center_note(info) -> str:
    """The axis used, and the estimates behind it when it was found again."""
    est = {k: v for k, v in info.center_estimates.items() if isinstance(v, float)}
    if not est:
        return f"axis {info.center:.2f} px"
    return (f"axis {info.center:.2f} px (estimates "
            + ", ".join(f"{k} {v:.2f}" for k, v in est.items())
            + f"; spread {info.center_spread:.1f} px)")


def defects_note(prep: dict) -> str:
    """What normalisation replaced, for the report (empty when nothing was looked for)."""
    found = prep.get("defects")
    if not found:
        return ""
    counts = ", ".join(f"{n} {kind}" for kind, n in found["counts"].items() if n)
    return f"; detector defects replaced: {counts or 'none found'}"


def _align_many(args) -> int:
    """``align`` with several scans, a folder as output, or ``--cluster``: one task per
    scan (:func:`tomopy_dlalign.align_many`), and the summary table on stdout; exit 2 when
    a scan failed. ``--overwrite`` aligns again the scans whose output is finished."""
    from ..scale import align_many, summary_table

    if args.report:
        raise ValueError("--report takes one scan (and no --cluster); the summary table "
                         "covers several")
    if args.large or args.rows is not None:
        raise ValueError("--large and --rows take one scan; align several one at a time")
    folder = len(args.input) > 1 or Path(args.output).is_dir()
    results = align_many(args.input, args.output if folder else [args.output],
                         cluster=args.cluster,
                         center="auto" if args.center is None else args.center,
                         model=args.model, iters=args.iters, polish=not args.no_polish,
                         prep=not args.no_prep, defects=not args.no_defects,
                         device=args.device, force=args.force, resume=not args.overwrite,
                         cluster_timeout=args.cluster_timeout,
                         show_progress=getattr(args, "progress", None))
    print(summary_table(results))
    failed = [Path(r.scan).name for r in results if r.status == "failed"]
    if failed:
        logger.error("%d of %d scans failed: %s", len(failed), len(results), ", ".join(failed))
    return 2 if failed else 0


def _memory_available() -> int | None:
    """Bytes of memory available to a new allocation (``MemAvailable``), if known."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def _slab_wise(args) -> bool:
    """Whether the scan goes slab by slab: ``--large``, ``--rows``, or an HDF5 scan whose
    in-memory alignment would take more than the memory available."""
    if args.large or args.rows is not None:
        return True
    from .. import io
    from ..common.process import is_hdf5

    available = _memory_available()
    if available is None or not is_hdf5(args.input):
        return False
    with warnings.catch_warnings():    # the scan's own read, next, says what it has to say
        warnings.simplefilter("ignore")
        nproj, nslice, ncol = io.read(args.input, lazy=True).data.shape
    needed = MEMORY_PER_BYTE * 4 * nproj * nslice * ncol
    if needed <= available:
        return False
    logger.info("%s: aligning it in memory would take about %.1f GiB, %.1f GiB are "
                "available: aligning it slab by slab (as --large)", args.input,
                needed / 2**30, available / 2**30)
    return True


def _align_large(args) -> int:
    """One scan slab by slab (:func:`tomopy_dlalign.scale.align_large`): the jitter
    estimated on ``--rows`` (default all), every row shifted, block by block."""
    from ..common.process import read_process
    from ..scale import align_large

    if args.report:
        raise ValueError("--report needs the whole scan in memory: not with --large or "
                         "--rows (or a scan larger than memory)")
    if args.no_defects:
        raise ValueError("--no-defects is not available slab by slab (--large, --rows): "
                         "defective pixels of raw counts are always replaced there")
    _refuse_aligned(args, read_process(args.input))
    res = align_large(args.input, args.output,
                      center="auto" if args.center is None else args.center,
                      model=args.model, iters=args.iters, polish=not args.no_polish,
                      prep=not args.no_prep, rows=args.rows, cluster=args.cluster,
                      cluster_timeout=args.cluster_timeout, device=args.device,
                      show_progress=args.progress)
    truth = _true_shifts(args.input)
    if truth:
        from .. import io

        _log_truth(truth, res.dx, res.dy, io.read(args.input, lazy=True).theta)
    logger.info("wrote %s (slab by slab: %s)", args.output,
                ", ".join(f"{k} {v:.1f} s" for k, v in res.seconds.items()))
    return 0


def rows_value(text: str) -> tuple[int, int]:
    """``--rows START:STOP``."""
    try:
        start, stop = (int(v) for v in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected detector rows START:STOP, e.g. 100:400, "
                                          f"got {text!r}") from None
    return start, stop


def _add_cluster(parser: argparse.ArgumentParser) -> None:
    from ..common.cluster import add_cluster_options

    add_cluster_options(parser, "the tasks (with one scan and no --large, one task)")


def _add_large(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--large", action="store_true",
                        help="align slab by slab, the scan never whole in memory "
                             "(tomopy_dlalign.scale.align_large; the same shifts as in "
                             "memory); chosen by itself for an HDF5 scan that would not fit "
                             "in the memory available")
    parser.add_argument("--rows", type=rows_value, metavar="START:STOP",
                        help="estimate the jitter on the detector rows START to STOP - 1 "
                             "only (the sample's region) and shift every row by it; slab by "
                             "slab, as --large")


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``align`` on the ``tomopy-dlalign`` subparsers."""
    s = sub.add_parser("align", help="correct the jitter of a scan with JitterNet",
                       description="Estimate and remove the jitter of every projection "
                       "(Fu et al. 2021 cycle: MLEM, reprojection, JitterNet, shift, then a "
                       "sub-pixel polish). Writes the aligned line integrals and the shifts "
                       "beside a copy of the input (/exchange/shift_x, shift_y in pixels). "
                       "A file already aligned (/process/state) is refused unless --force. "
                       "A scan larger than memory is aligned slab by slab (--large, --rows).")
    s.add_argument("input", nargs="+",
                   help="scan(s) to align: Data Exchange, NXtomo, TXM or TIFF; with several, "
                        "-o is a folder, each scan is one task (see --cluster), a scan whose "
                        "output is its finished alignment is skipped (--overwrite: aligned "
                        "again) and a summary table ends the run")
    add_output(s, "output Data Exchange file: a copy of the input with the aligned data "
                  "and the shifts (with several scans: a folder, one file per scan named as "
                  "its input)")
    add_report(s, "folder for the PNG report: shifts per angle (and their error when the "
                  "file holds the true shifts), sinograms, slices before and after")
    add_model(s)
    add_iters(s, "the reconstruct-reproject-predict cycle at most; they stop once the "
                 "reprojection error stops falling", 1)
    s.add_argument("--no-polish", action="store_true",
                   help="skip the sub-pixel phase-correlation polish")
    add_center(s)
    add_device(s)
    add_threads(s)
    add_prep(s)
    s.add_argument("--force", action="store_true",
                   help="align a file whose /process/state says it is aligned already")
    _add_large(s)
    _add_cluster(s)
    s.set_defaults(func=cmd_align)
