"""``tomopy-dlalign recon``: reconstruct a scan with MLEM, FBP or a plugin's algorithm.

::

    tomopy-dlalign recon aligned.h5 --algorithm fbp -o rec.h5
    tomopy-dlalign recon scan.h5 --iters 40 --sino 10 20 -o rec.h5
"""

from __future__ import annotations

import argparse
import logging
import time

from ..common.cli import add_device, add_iters, add_output, add_threads, set_threads
from ..common.outputs import reads
from .options import add_center, add_prep
from .scans import line_integrals

logger = logging.getLogger("tomopy_dlalign")


def _reconstruct(prj, theta, center, args):
    from .. import plugins

    func = plugins.get("recon", args.algorithm)
    kwargs = {"center": center, "device": args.device}
    if args.algorithm == "mlem":
        kwargs.update(num_iter=args.iters, show_progress=args.progress)
    return func(prj, theta, **kwargs)


@reads("input")
def cmd_recon(args) -> int:
    """Reconstruct ``args.input`` into ``args.output``."""
    set_threads(args)
    from .. import io

    sino = tuple(args.sino) if args.sino else None
    prep = {}
    prj, theta, center, scan = line_integrals(args, sino, record=prep)
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


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``recon`` on the ``tomopy-dlalign`` subparsers."""
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
    add_iters(s, "MLEM", 20)
    add_center(s)
    s.add_argument("--sino", type=int, nargs=2, metavar=("START", "END"),
                   help="reconstruct only the slices START to END - 1")
    add_device(s)
    add_threads(s)
    add_prep(s)
    s.set_defaults(func=cmd_recon)
