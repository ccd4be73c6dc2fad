"""What both command lines share: one grammar, one-line errors, exit codes.

The grammar of ``tomopy-dlalign`` and ``cdi-plugins``:

- the same verbs where the two do the same thing (``simulate``, ``demo``, ``plugins``,
  ``make-dataset``, ``train``);
- input files positional, the output ``-o/--output`` (:func:`add_output`); the old
  positional output of ``simulate`` and ``make-dataset`` still works, with a warning;
- ``--seed`` on every command that draws random numbers (:func:`add_seed`), ``--device``
  on every command that runs a network or a reconstruction (:func:`add_device`),
  ``--report FOLDER`` on every command that makes figures (:func:`add_report`);
- on every command, before or after its name (:func:`add_common_options`):
  ``--progress/--no-progress`` (progress bars; default: shown when standard error is a
  terminal), ``--debug``, ``--overwrite`` and ``--allow-external``;
- one word, one meaning, in every command of both tools: ``--iters`` counts iterations
  (``--iter`` is its hidden older spelling in ``cdi-plugins``), ``--jitter`` is the
  largest jitter in pixels of the scan written, ``--threads`` torch's CPU threads,
  ``--epochs``, ``--batch-size`` and ``--max-minutes`` the schedule of a training command
  (:func:`add_epochs`, :func:`add_batch_size`, :func:`add_max_minutes`);
- help that shows the defaults as values and keeps descriptions as written
  (:class:`HelpFormatter`, :func:`word_or`).

Exit codes:

- ``0``: success;
- ``2``: bad input (a missing, unreadable, truncated or wrong file; a bad argument; an
  existing, read-only or busy output; not enough memory for what was asked; an optional
  package that is not installed): one line on stderr,
  ``<prog> <command>: error: <what is wrong, naming the file>``;
- ``130``: interrupted (Ctrl-C);
- ``1``: an internal error (a bug): one line too, and the traceback with ``--debug``.

``--threads`` and ``--device``, on the commands that have them, are checked before the
work starts (:func:`check_shared_options`).

``--debug`` prints the traceback of any error before its line. Every output of a command
(:func:`~tomopy_dlalign.common.outputs.writes`) is checked before the work: one that exists
is refused, naming ``--overwrite``, unless the command resumes it; ``--overwrite`` lets
the command replace it, read-only or not
(:func:`~tomopy_dlalign.common.outputs.check_outputs`,
:func:`~tomopy_dlalign.common.outputs.overwriting`).
``--allow-external`` lets HDF5 inputs follow external links, virtual datasets and external
storage out of their folder (:func:`~tomopy_dlalign.common.h5files.allowing_external`).
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Callable

from .outputs import check_outputs, command_inputs, overwriting, reading

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130

#: errors that mean "the input or the environment is wrong", not "the code is wrong";
#: h5py, safetensors and the OS raise these for unreadable, truncated or busy files
#: (a missing package is one too: :func:`missing_package`)
BAD_INPUT = (ValueError, TypeError, KeyError, IndexError, OSError, MemoryError)
#: the packages of this distribution: a module of theirs that is missing is a bug
OWN_PACKAGES = ("tomopy_dlalign", "cdi_plugins")

logger = logging.getLogger(__name__)

#: the end of both tools' ``--help``: the options of every command and the exit codes
EPILOG = """\
Options common to every command, before or after its name: --progress/--no-progress,
--debug (the traceback of an error), --overwrite (replace existing outputs: without it
an existing output is refused before any work), --allow-external (follow HDF5 links and
external data outside the input's folder).
Exit codes: 0 done, 2 bad input (one line naming the file), 130 interrupted, 1 a bug.
"""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter,
                    argparse.RawDescriptionHelpFormatter):
    """Help that shows each option's default and keeps descriptions laid out in lines as
    written (one-paragraph descriptions are wrapped).

    The default is appended as ``(default: VALUE)``, the value the parser gives (so the
    help cannot disagree with it), unless there is none to show (``None``, a flag that is
    off). An option whose absence means something else than a value takes a word for it
    (:func:`word_or`): ``--center file``, ``--cluster none``.
    """

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        # a description of one paragraph is wrapped; one laid out in lines is kept
        if "\n" in text.strip():
            return super()._fill_text(text, width, indent)
        return argparse.HelpFormatter._fill_text(self, text, width, indent)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("%(default)" in text or default is None or default is False
                or default is argparse.SUPPRESS or not action.option_strings
                or isinstance(action, argparse._CountAction)):
            return text
        if isinstance(default, (list, tuple)):
            default = " ".join(map(str, default))
        return f"{text} (default: {str(default).replace('%', '%%')})"


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--progress/--no-progress``, ``--debug``, ``--overwrite`` and
    ``--allow-external`` to ``parser`` and to every subcommand (so that they may be given
    before or after the command's name), give every parser the :class:`HelpFormatter`,
    and leave hidden subcommands (added with ``help=argparse.SUPPRESS``) out of the usage
    line."""
    for p, default in _parsers(parser):
        p.formatter_class = HelpFormatter
        p.add_argument("--progress", action=argparse.BooleanOptionalAction,
                       default=None if default is False else default,
                       help="show progress bars or hide them; without either, they are "
                            "shown when standard error is a terminal")
        p.add_argument("--debug", action="store_true", default=default,
                       help="show the traceback of an error")
        p.add_argument("--overwrite", action="store_true", default=default,
                       help="replace existing outputs, read-only ones too; without it an "
                            "existing output is refused before any work")
        p.add_argument("--allow-external", action="store_true", default=default,
                       help="let HDF5 inputs read through external links, virtual datasets "
                            "and external storage that lead outside their folder")
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                action._choices_actions = [a for a in action._choices_actions
                                           if a.help is not argparse.SUPPRESS]
                action.metavar = "{" + ",".join(a.dest for a in action._choices_actions) + "}"


def add_output(parser: argparse.ArgumentParser, help: str, required: bool = True,
               legacy_positional: bool = False) -> None:
    """``-o/--output``; with ``legacy_positional`` the output may still be given as a
    positional argument, as in earlier versions (a deprecation warning says so)."""
    parser.add_argument("-o", "--output", required=required and not legacy_positional,
                        help=help)
    if legacy_positional:
        parser.add_argument("legacy_output", nargs="?", metavar="OUTPUT",
                            help="deprecated: the output as a positional argument; use "
                                 "-o OUTPUT")


def add_seed(parser: argparse.ArgumentParser, default: int | None = 0,
             help: str = "seed of the random numbers: the same seed gives the same result",
             **kwargs) -> None:
    """``--seed`` (an integer)."""
    parser.add_argument("--seed", type=int, default=default, help=help, **kwargs)


def add_device(parser: argparse.ArgumentParser) -> None:
    """``--device``: where torch runs."""
    parser.add_argument("--device", default="auto",
                        help="torch device: auto (a CUDA GPU when there is one, else the "
                             "CPU), cpu or cuda[:N]")


def word_or(word: str, convert: Callable[[str], object] = str,
            expected: str = "a value") -> Callable[[str], object]:
    """An argparse ``type`` that reads ``word`` as None and anything else with
    ``convert``: the default of an option whose absence is not a value can then be shown
    as one (``--cluster none``, ``--model shipped``), and typed.

    Example
    -------
    >>> center = word_or("file", float, "a number of pixels")
    >>> center("file") is None, center("12.5")
    (True, 12.5)
    """
    def read(text: str):
        if text == word:
            return None
        try:
            return convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected} or {word!r}, got "
                                             f"{text!r}") from None
    read.__name__ = f"{word}_or_{getattr(convert, '__name__', 'value')}"
    read.word, read.convert = word, convert
    return read


def add_iters(parser: argparse.ArgumentParser, of: str, default: int | str,
              legacy_iter: bool = False) -> None:
    """``--iters``: the iterations of the command's iterative algorithm, ``of`` saying
    which (``"MLEM"``); an ``int`` default, or the word ``"auto"`` read as None. With
    ``legacy_iter`` the older spelling ``--iter`` is accepted too, hidden from the help."""
    kind = int if isinstance(default, int) else word_or(default, int, "an integer")
    parser.add_argument("--iters", type=kind, default=default, metavar="N",
                        help=f"iterations of {of}")
    if legacy_iter:
        parser.add_argument("--iter", dest="iters", type=kind, default=argparse.SUPPRESS,
                            help=argparse.SUPPRESS)


def add_model(parser: argparse.ArgumentParser, what: str = "weights file (.safetensors)",
              option: str = "--model") -> None:
    """``--model PATH``: a weights file, or ``shipped`` (read as None) for the weights
    that ship with the package."""
    parser.add_argument(option, type=word_or("shipped"), default="shipped", metavar="PATH",
                        help=f"{what}; shipped: the weights that ship with the package")


def add_epochs(parser: argparse.ArgumentParser, default: int,
               help: str = "training epochs") -> None:
    """``--epochs``: passes of a training command over its data."""
    parser.add_argument("--epochs", type=int, default=default, help=help)


def add_batch_size(parser: argparse.ArgumentParser, of: str) -> None:
    """``--batch-size``: ``of`` (what the training data hold, ``"patterns"``) per batch."""
    parser.add_argument("--batch-size", type=int, default=64, help=f"{of} per batch")


def add_max_minutes(parser: argparse.ArgumentParser, note: str | None = None,
                    legacy_time_limit: bool = False) -> None:
    """``--max-minutes``: a clean stop of a training command after that many minutes
    (the time limit of :mod:`~tomopy_dlalign.common.trainer`), ``note`` saying what else
    it does. With ``legacy_time_limit`` the older spelling ``--time-limit`` is accepted
    too, hidden from the help."""
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="stop cleanly after this many minutes of training"
                             + (f" ({note})" if note else ""))
    if legacy_time_limit:
        parser.add_argument("--time-limit", dest="max_minutes", type=float,
                            default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def add_threads(parser: argparse.ArgumentParser, reproducible: bool = False) -> None:
    """``--threads``: torch's CPU threads (:func:`set_threads`). Commands that make
    seeded data or weights (``reproducible``) default to 1 thread: the order of
    floating-point sums depends on the thread count, and a recipe must give its result
    again."""
    if reproducible:
        parser.add_argument("--threads", type=int, default=1,
                            help="CPU threads for torch (1 keeps a seeded run reproducible "
                                 "bit for bit; 0: automatic, docs/threads.md)")
        return
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU threads for torch and its FFTs (0: automatic, the CPUs "
                             "this process may use less those other processes keep busy; "
                             "TOMOPY_DLALIGN_THREADS and OMP_NUM_THREADS are honoured, "
                             "docs/threads.md)")


def add_report(parser: argparse.ArgumentParser, help: str) -> None:
    """``--report FOLDER``: where the command's PNG figures go."""
    parser.add_argument("--report", metavar="FOLDER", help=help)


def resolve_output(args: argparse.Namespace, prog: str) -> None:
    """Fold a deprecated positional output (:func:`add_output`) into ``args.output``."""
    legacy = getattr(args, "legacy_output", None)
    if legacy is None:
        if "legacy_output" in vars(args) and args.output is None:
            raise ValueError(f"{prog} needs an output file: -o/--output OUTPUT")
        return
    if args.output is not None:
        raise ValueError(f"{prog}: give the output once, as -o {args.output} (the "
                         f"positional {legacy} is the deprecated form)")
    logger.warning("%s %s: a positional output is deprecated; use -o %s", prog, legacy,
                   legacy)
    args.output = legacy


def _parsers(parser: argparse.ArgumentParser, top: bool = True):
    """``(parser, default)`` for ``parser`` and its subcommands (whose defaults must not
    hide a value given before the command's name)."""
    yield parser, (False if top else argparse.SUPPRESS)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield from _parsers(sub, top=False)


def check_shared_options(args: argparse.Namespace) -> None:
    """Refuse a ``--threads`` or ``--device`` that the command would only trip over later,
    before any work: torch refuses a negative thread count with a bare ``RuntimeError``,
    and a command that happens to run on the CPU would ignore a GPU that is not there.
    With ``--cluster`` the device is the workers', which may have a GPU this machine
    lacks: it is left to them.

    Raises
    ------
    ValueError
        ``--threads`` below 0, or a ``--device`` this machine does not have
        (:func:`~tomopy_dlalign.common.device.resolve_device`).
    """
    threads = getattr(args, "threads", None)
    if isinstance(threads, int) and threads < 0:
        raise ValueError(f"--threads must be a number of threads, 0 or more, got {threads}")
    device = getattr(args, "device", None)
    if isinstance(device, str) and getattr(args, "cluster", None) is None:
        from .device import resolve_device

        resolve_device(device)


def set_threads(args: argparse.Namespace) -> None:
    """Give torch ``args.threads`` CPU threads, as checked by
    :func:`check_shared_options`; 0 or absent: the automatic choice of
    :func:`tomopy_dlalign.common.parallel.threads.choose_threads` (the environment variables, then
    the free CPUs)."""
    from .parallel.threads import apply_threads

    apply_threads(getattr(args, "threads", None) or None)


def missing_package(exc: BaseException) -> bool:
    """Whether ``exc`` says that a package outside this distribution is not installed (an
    optional dependency such as dask-jobqueue): the environment is wrong, not the code,
    and the message says what to install."""
    if not isinstance(exc, ModuleNotFoundError):
        return False
    return (exc.name or "").split(".")[0] not in OWN_PACKAGES


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
            # h5py and tqdm: after parsing, not for --help
            from .h5files import allowing_external
            from .progress import showing_progress

            with (overwriting(args.overwrite), showing_progress(args.progress),
                  allowing_external(args.allow_external),
                  reading(command_inputs(args.func, args))):
                resolve_output(args, prog)
                check_outputs(args.func, args, args.overwrite)  # before the work
                check_shared_options(args)
                code = args.func(args)
        except BAD_INPUT as exc:
            code = _report(prog, exc, EXIT_BAD_INPUT, args.debug)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - the last resort of a command line
            if missing_package(exc):
                code = _report(prog, exc, EXIT_BAD_INPUT, args.debug)
            else:
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
