"""This package's own plugin implementations (entry point ``tomopy_dlalign``)."""

from __future__ import annotations

from .plugins import hookimpl


@hookimpl
def register_projectors():
    from .recon.projectors import BUILT_IN

    return dict(BUILT_IN)


@hookimpl
def register_recon():
    from .recon import fbp, mlem

    return {"mlem": mlem, "fbp": fbp}


@hookimpl
def register_align():
    from .prep.alignment import align, align_pc, align_reprojection

    return {"jitternet": align, "phase-correlation": align_pc, "reprojection": align_reprojection}
