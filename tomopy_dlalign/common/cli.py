"""What both command lines share: one-line errors, exit codes, ``--debug``, ``--overwrite``.

Exit codes:

- ``0``: success;
- ``2``: bad input (a missing, unreadable, truncated or wrong file; a bad argument; a
  read-only or busy output; not enough memory for what was asked): one line on stderr,
  ``<prog> <command>: error: <what is wrong, naming the file>``;
- ``130``: interrupted (Ctrl-C);
- ``1``: an internal error (a bug): one line too, and the traceback with ``--debug``.

``--debug`` prints the traceback of any error before its line. ``--overwrite`` lets a
command replace read-only outputs (:func:`~tomopy_dlalign.common.outputs.overwriting`).
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Callable

from .outputs import output_target, overwriting

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130

#: errors that mean "the input or the environment is wrong", not "the code is wrong";
#: h5py, safetensors and the OS raise these for unreadable, truncated or busy files
BAD_INPUT = (ValueError, TypeError, KeyError, IndexError, OSError, MemoryError)

logger = logging.getLogger(__name__)


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--debug`` and ``--overwrite`` to ``parser`` and to every subcommand, so that
    they may be given before or after the command's name."""
    for p, default in _parsers(parser):
        p.add_argument("--debug", action="store_true", default=default,
                       help="show the traceback of an error")
        p.add_argument("--overwrite", action="store_true", default=default,
                       help="replace outputs even when they are read-only")


def _parsers(parser: argparse.ArgumentParser, top: bool = True):
    """``(parser, default)`` for ``parser`` and its subcommands (whose defaults must not
    hide a value given before the command's name)."""
    yield parser, (False if top else argparse.SUPPRESS)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield from _parsers(sub, top=False)


def error_line(exc: BaseException) -> str:
    """The message of ``exc`` as one line, naming the file when the OS gave one."""
    if isinstance(exc, KeyError) and exc.args:
        msg = str(exc.args[0])
    elif isinstance(exc, MemoryError):
        msg = f"not enough memory for what was asked ({exc or 'allocation failed'})"
    else:
        msg = str(exc) or type(exc).__name__
    name = getattr(exc, "filename", None)
    if name is not None and str(name) not in msg:
        msg = f"{name}: {msg}"
    return " ".join(msg.split())


def run_cli(parser: argparse.ArgumentParser, argv: list[str] | None,
            configure: Callable[[argparse.Namespace], None],
            raise_exit: bool = False) -> int:
    """Parse ``argv``, call ``args.func(args)`` and turn any error into one line on
    stderr and its exit code (module docstring).

    ``configure(args)`` sets up logging. With ``raise_exit`` a failure raises
    ``SystemExit(code)`` as argparse does for a usage error; otherwise the code is
    returned.
    """
    try:
        args = parser.parse_args(argv)
        configure(args)
        names = [v for k, v in sorted(vars(args).items(), key=lambda kv: kv[0] != "command")
                 if (k == "command" or k.endswith("_command")) and isinstance(v, str)]
        prog = " ".join([parser.prog, *names])
        try:
            with overwriting(args.overwrite):
                if isinstance(getattr(args, "output", None), str):
                    output_target(args.output)  # refuse a bad output before the work
                code = args.func(args)
        except BAD_INPUT as exc:
            code = _report(prog, exc, EXIT_BAD_INPUT, args.debug)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - the last resort of a command line
            code = _report(prog, exc, EXIT_INTERNAL, True if args.debug else None)
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    if code and raise_exit:
        raise SystemExit(code)
    return code


def _report(prog: str, exc: BaseException, code: int, debug: bool | None) -> int:
    """Print the error's line (after its traceback with ``debug``); ``debug=None``: an
    internal error without ``--debug``, which says how to see the traceback."""
    if debug:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    kind = "internal error" if code == EXIT_INTERNAL else "error"
    hint = " (a bug: run again with --debug for the traceback)" if debug is None else ""
    print(f"{prog}: {kind}: {error_line(exc)}{hint}", file=sys.stderr)
    return code
