"""cdi_plugins' plugin implementations (entry point ``cdi_plugins``).

The built-in phasing algorithms register under the kind ``phasing``; a third party adds
one the same way, returning ``{name: factory}`` where ``factory(*args)`` builds a
:class:`cdi_plugins.phasing.algorithms.Algorithm`.
"""

from __future__ import annotations

from tomopy_dlalign.plugins import hookimpl


@hookimpl
def register_phasing():
    from .phasing.algorithms import ER, HIO, OSS, RAAR

    return {"er": ER, "hio": HIO, "raar": RAAR, "oss": OSS}
