"""cdi_plugins' plugin implementations (entry point ``cdi_plugins``)."""

from __future__ import annotations

from tomopy_dlalign.plugins import hookimpl


@hookimpl
def register_phasing():
    return {}
