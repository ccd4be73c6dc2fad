"""``cdi-plugins``: simulate patterns, phase them, and run the whole chain as a demo.

One module per command group: :mod:`~cdi_plugins.cli.prepare` (detector frames to a
pattern), :mod:`~cdi_plugins.cli.phasing` (simulate, phase, demo, list),
:mod:`~cdi_plugins.cli.cnn` (``cnn ...``), :mod:`~cdi_plugins.cli.convre`
(cluster, train-features); :mod:`~cdi_plugins.cli.patterns` reads the pattern files
they are given.

::

    cdi-plugins prepare frames.edf -o pattern.cxi --report
    cdi-plugins simulate -o pattern.cxi --object bio --size 256 --photons 1e8 --beamstop 3
    cdi-plugins phase pattern.cxi --algorithm oss --runs 48 -o result.h5 --report report/
    cdi-plugins phase pattern.cxi --algorithm "(HIO(0.9)**80*ER**20)**6" --runs 16
    cdi-plugins demo --out demo/
    cdi-plugins list
"""

from __future__ import annotations

import argparse
import logging
import sys

from . import cnn, convre, phasing, prepare


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``cdi-plugins``."""
    parser = argparse.ArgumentParser(prog="cdi-plugins", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", required=True)
    prepare.add_commands(sub)
    phasing.add_commands(sub)
    cnn.add_commands(sub)
    convre.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``cdi-plugins`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("cdi_plugins").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    try:
        return args.func(args)
    except (ValueError, KeyError, FileNotFoundError, TypeError) as exc:
        parser.exit(2, f"cdi-plugins {args.command}: error: {exc}\n")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
