"""``cdi-plugins``: simulate patterns, phase them, and run the whole chain as a demo.

One module per command group: :mod:`~cdi_plugins.cli.prepare` (detector frames to a
pattern), :mod:`~cdi_plugins.cli.phasing` (simulate, phase, demo, plugins),
:mod:`~cdi_plugins.cli.bragg` (a phased Bragg crystal to its strain),
:mod:`~cdi_plugins.cli.cnn` (``cnn ...``), :mod:`~cdi_plugins.cli.convre`
(cluster, train-features); :mod:`~cdi_plugins.cli.patterns` reads the pattern files
they are given. The grammar (positional inputs, ``-o/--output``, ``--seed``,
``--device``, ``--iters``, ``--report``, ``--progress/--no-progress``, an existing output
refused unless ``--overwrite``) is that of ``tomopy-dlalign``
(:mod:`tomopy_dlalign.common.cli`). Building the parser imports none of NumPy, torch or
h5py: ``--help`` and a bad argument answer at once.

::

    cdi-plugins prepare frames.edf -o pattern.cxi --report
    cdi-plugins simulate -o pattern.cxi --object bio --size 256 --photons 1e8 --beamstop 3
    cdi-plugins phase pattern.cxi --algorithm oss --runs 48 -o result.h5 --report report/
    cdi-plugins phase pattern.cxi --algorithm "(HIO(0.9)**80*ER**20)**6" --runs 16
    cdi-plugins demo -o demo/
    cdi-plugins bragg result.h5 --energy 9000 --d-spacing 2.338e-10 --distance 1 \\
        --pixel-size 55e-6 --rocking-step 0.005 -o strain.h5 --report report/
    cdi-plugins plugins
"""

from __future__ import annotations

import argparse
import logging

from tomopy_dlalign.common.cli import EPILOG, HelpFormatter, add_common_options, run_cli

from . import bragg, cnn, convre, phasing, prepare

DESCRIPTION = """\
Coherent diffraction imaging: prepare or simulate a pattern, phase it (ER, HIO, RAAR,
OSS, shrink-wrap, many runs at once), cluster the runs (ConvRe), or predict it with the
complex CNN.

  cdi-plugins simulate -o pattern.cxi --object bio --size 128 --photons 1e8
  cdi-plugins phase pattern.cxi --runs 16 -o result.h5 --report report/
  cdi-plugins cluster result.h5 -o clustered.h5 --report report/

Every file written records what its data are under /process (pattern, phased, with each
step's parameters), and the commands act on it.
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``cdi-plugins``."""
    parser = argparse.ArgumentParser(prog="cdi-plugins", description=DESCRIPTION,
                                     epilog=EPILOG, formatter_class=HelpFormatter)
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", required=True, title="commands")
    prepare.add_commands(sub)
    phasing.add_commands(sub)
    cnn.add_commands(sub)
    convre.add_commands(sub)
    bragg.add_commands(sub)
    return parser


def _configure_logging(args) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("cdi_plugins").setLevel(logging.DEBUG if args.verbose else logging.INFO)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``cdi-plugins`` console script.

    Any error is one line on stderr naming the file and what is wrong, and ends the
    program as argparse does (``SystemExit``) with the code 2 for bad input, 130 for
    Ctrl-C and 1 for an internal error, whose traceback ``--debug`` shows
    (:mod:`tomopy_dlalign.common.cli`).
    """
    parser = build_parser()
    add_common_options(parser)
    return run_cli(parser, argv, _configure_logging, raise_exit=True)
