"""The console scripts' first code: Ctrl-C is one line and exit 130 from the first instant.

``tomopy-dlalign`` and ``cdi-plugins`` start here (``[project.scripts]``), not in their
command-line modules. Those modules build their parsers without NumPy, torch, ASTRA or
h5py (a command imports them when it runs), so ``--help`` answers at once; but an
interrupt while Python imports them would still end in a ``KeyboardInterrupt`` traceback,
or in C++ code unwinding half-initialised (once a ``SIGABRT``). So this module, which
imports only the standard library (the packages' ``__init__`` are lazy), installs a
SIGINT handler that writes the documented line and leaves at once with
``os._exit(130)``: nothing has been written yet, so there is nothing to clean up. Once
the command line is imported, Python's own handler is restored, and the commands turn
Ctrl-C (during their own imports too) into that same line through
:func:`~tomopy_dlalign.common.cli.run_cli`, after their outputs' context managers have
removed any partial file.

The packages' ``__init__`` import their public names at first use (PEP 562) through
:func:`lazy_exports`.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Mapping
from importlib import import_module

#: exit code of an interrupted command (:mod:`tomopy_dlalign.common.cli`)
EXIT_INTERRUPTED = 130


def launch(prog: str, module: str) -> int:
    """Run ``module.main()`` with Ctrl-C handled before ``module`` is imported.

    Parameters
    ----------
    prog : str
        The command's name, for the ``<prog>: interrupted`` line.
    module : str
        The command-line module whose ``main`` takes the arguments from ``sys.argv``.

    Returns
    -------
    int
        What ``main`` returns, or 130 after Ctrl-C.
    """
    def interrupted_while_starting(signum, frame) -> None:
        os.write(2, f"{prog}: interrupted\n".encode())
        os._exit(EXIT_INTERRUPTED)

    previous = signal.getsignal(signal.SIGINT)
    # a shell's background job ignores Ctrl-C, and so should the command
    handled = previous is not signal.SIG_IGN
    if handled:
        signal.signal(signal.SIGINT, interrupted_while_starting)
    main: Callable[[], int] = import_module(module).main
    if handled:
        # the commands rely on KeyboardInterrupt to remove partial outputs
        signal.signal(signal.SIGINT, previous or signal.default_int_handler)
    try:
        return main()
    except KeyboardInterrupt:
        # an interrupt while the parser is built, before run_cli catches it
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def tomopy_dlalign_main() -> int:
    """The ``tomopy-dlalign`` console script (:mod:`tomopy_dlalign.cli`)."""
    return launch("tomopy-dlalign", "tomopy_dlalign.cli")


def cdi_plugins_main() -> int:
    """The ``cdi-plugins`` console script (:mod:`cdi_plugins.cli`)."""
    return launch("cdi-plugins", "cdi_plugins.cli")


def lazy_exports(package: str, exports: Mapping[str, str], subpackages: tuple[str, ...]
                 ) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The PEP 562 ``__getattr__`` and ``__dir__`` of a package whose public names are
    imported at first use, so that importing the package loads none of its heavy
    dependencies.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : mapping of str to str
        Public name -> the module that defines it, relative to ``package`` (``".prep"``)
        or absolute. As ``from module import name`` does, a name that is no attribute
        of its module is its submodule.
    subpackages : tuple of str
        Subpackages reachable as attributes of the package once it is imported.

    Returns
    -------
    __getattr__, __dir__
        To assign to the package's own names; a name looked up once is stored in the
        package, so that the next look-up does not come back here.

    Example
    -------
    >>> import types
    >>> pkg = sys.modules["pkg"] = types.ModuleType("pkg")
    >>> pkg.__getattr__, pkg.__dir__ = lazy_exports("pkg", {"dumps": "json"}, ())
    >>> pkg.dumps([1]), "dumps" in vars(pkg)
    ('[1]', True)
    >>> del sys.modules["pkg"]
    """
    def __getattr__(name: str):
        if name in exports:
            module = import_module(exports[name], package)
            value = (getattr(module, name) if hasattr(module, name)
                     else import_module(f"{module.__name__}.{name}"))
        elif name in subpackages:
            value = import_module(f".{name}", package)
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        # the module's namespace itself: a package's own __setattr__ is not asked
        vars(sys.modules[package])[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *exports, *subpackages})

    return __getattr__, __dir__
