"""The ``tomopy-dlalign`` command line: simulate, align and reconstruct scans, train
JitterNet.

One module per command group: :mod:`~tomopy_dlalign.cli.simulate` (simulate, demo),
:mod:`~tomopy_dlalign.cli.align` (align: one scan, many, or one larger than memory),
:mod:`~tomopy_dlalign.cli.recon` (recon), :mod:`~tomopy_dlalign.cli.training`
(make-dataset, train, adapt) and :mod:`~tomopy_dlalign.cli.about` (info, plugins);
:mod:`~tomopy_dlalign.cli.options` defines the options several of them share and
:mod:`~tomopy_dlalign.cli.scans` reads the scans they are given. Building the parser
imports none of NumPy, torch, ASTRA or h5py: ``--help`` and a bad argument answer at
once, and a command imports what it uses when it runs.

Input files are positional, outputs ``-o/--output``; ``--seed``, ``--device``,
``--iters``, ``--report`` and ``--progress/--no-progress`` mean the same on every command
that has them, in this command and in ``cdi-plugins`` (:mod:`tomopy_dlalign.common.cli`).
Every file written records what its data are in ``/process``
(:mod:`tomopy_dlalign.common.process`), and the commands act on it: ``recon`` and
``align`` take line integrals and aligned data as they are, ``align`` refuses an aligned
file unless ``--force``.

An existing output is refused before any work unless ``--overwrite``
(:func:`tomopy_dlalign.common.outputs.check_outputs`). Any error is one line on stderr
naming the file and what is wrong; the exit code is 2 for bad input, 130 for Ctrl-C and
1 for an internal error (whose traceback ``--debug`` shows).
"""

from __future__ import annotations

import argparse
import logging

from ..common.cli import EPILOG, HelpFormatter, add_common_options, run_cli
from . import about, align, recon, simulate, training

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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``tomopy-dlalign`` (without the options common to every
    command, which :func:`~tomopy_dlalign.common.cli.add_common_options` adds)."""
    p = argparse.ArgumentParser(prog="tomopy-dlalign", description=DESCRIPTION, epilog=EPILOG,
                                formatter_class=HelpFormatter)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True, title="commands")
    simulate.add_commands(sub)
    align.add_commands(sub)
    recon.add_commands(sub)
    training.add_commands(sub)
    about.add_commands(sub)
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
