"""``tomopy-dlalign info`` and ``tomopy-dlalign plugins``: what is installed and usable here.

::

    tomopy-dlalign info
    tomopy-dlalign plugins
"""

from __future__ import annotations

import argparse
import platform


def cmd_info(args) -> int:
    """Versions, devices and projector backends."""
    import h5py
    import numpy as np
    import torch

    from .. import __version__, plugins
    from ..recon.projectors import astra, astra_cuda_usable

    print(f"tomopy_dlalign {__version__} (Python {platform.python_version()})")
    print(f"numpy {np.__version__}, h5py {h5py.__version__}, torch {torch.__version__}")
    print(f"astra-toolbox: {getattr(astra, '__version__', 'not installed')}, "
          f"CUDA in ASTRA: {astra_cuda_usable()}")
    print(f"torch devices: cpu ({torch.get_num_threads()} threads)"
          + (f", cuda ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else ""))
    for name in ("tomopy", "dxchange"):
        try:
            print(f"{name}: {getattr(__import__(name), '__version__', 'importable')}")
        except ImportError:
            print(f"{name}: not installed (optional)")
    print("projector backends:")
    for name in plugins.available("projector"):
        cls = plugins.get("projector", name)
        usable = cls.is_available() if hasattr(cls, "is_available") else True
        print(f"  {name:12s} {'usable' if usable else 'not usable here'}")
    return 0


def cmd_plugins(args) -> int:
    """Every registered plugin by kind, and the broken ones by name."""
    from .. import plugins

    for kind in plugins.KINDS:
        names = plugins.available(kind)
        print(f"{kind}:")
        for name in names:
            print(f"  {name:16s} from {plugins.provider(kind, name)}")
        if not names:
            print("  (none)")
    broken = plugins.broken()
    if broken:
        print("broken plugins:")
        for name, why in broken.items():
            print(f"  {name}: {why}")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``info`` and ``plugins`` on the ``tomopy-dlalign`` subparsers."""
    s = sub.add_parser("info", help="versions, projector backends and devices usable here",
                       description="Print the versions of this package and of NumPy, h5py, "
                       "torch, ASTRA (and TomoPy, dxchange when installed), the torch "
                       "devices, and which projector backends are usable on this machine.")
    s.set_defaults(func=cmd_info)
    s = sub.add_parser("plugins", help="what is registered through the plugin hooks, and "
                       "any broken plugin by name",
                       description="List what is registered through the tomopy.plugins "
                       "entry points, by kind (aligners, projectors, reconstructions, phasing "
                       "algorithms), with the package that provides each, and any plugin "
                       "that failed to load, by name and why.")
    s.set_defaults(func=cmd_plugins)
