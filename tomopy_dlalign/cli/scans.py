"""What the ``tomopy-dlalign`` commands that read a scan share: its line integrals, as
the file's ``/process/state`` says they are to be made."""

from __future__ import annotations

import logging

logger = logging.getLogger("tomopy_dlalign")


def line_integrals(args, sino=None, record=None):
    """Read any supported scan (:func:`tomopy_dlalign.io.read`) and return ``(line
    integrals, theta, center, scan)``, acting on what the file records it holds
    (``scan.state``): raw counts are normalised (defective pixels replaced unless
    ``--no-defects``) and ``-log``-ed, normalised data only ``-log``-ed, line integrals
    and aligned data taken as they are, as with ``--no-prep``; ``center`` is
    ``--center``, else the file's axis, else ``"auto"``. ``record``, a dict, receives
    what normalisation found (``{"defects": ...}``) for the output's ``/process`` step."""
    import numpy as np

    from .. import io, minus_log
    from ..common.process import LINE_INTEGRAL_STATES

    scan = io.read(args.input, sino=sino)
    _check_projections(args.input, scan)
    center = args.center if args.center is not None else scan.center
    center = "auto" if center is None else center
    if args.no_prep or scan.state in LINE_INTEGRAL_STATES:
        if not args.no_prep:
            logger.info("%s holds %s data (/process/state): used as they are, without "
                        "normalize and minus_log", args.input, scan.state)
        return np.asarray(scan.data, np.float32), scan.theta, center, scan
    if scan.state == "normalized":
        logger.info("%s holds normalised data (/process/state): minus_log only", args.input)
        return minus_log(np.asarray(scan.data, np.float32)), scan.theta, center, scan
    return _normalized(args, scan, record), scan.theta, center, scan


def _check_projections(path, scan) -> None:
    if scan.state == "reconstruction":
        raise ValueError(f"{path} holds a reconstruction (/process/state), not projections")
    if scan.theta is None:
        raise ValueError(f"{path} holds no rotation angles: not a tomographic scan")


def _normalized(args, scan, record):
    """The line integrals of raw counts: flat- and dark-corrected, then ``-log``-ed."""
    import numpy as np

    from .. import minus_log, normalize

    if scan.flat is None:
        raise ValueError(f"{args.input} has no flat fields; pass --no-prep if the data are "
                         "already line integrals")
    dark = scan.dark if scan.dark is not None else np.zeros_like(scan.flat[:1])
    if scan.dark is None:
        logger.info("%s has no dark fields: taking the dark level as 0", args.input)
    return minus_log(normalize(scan.data, scan.flat, dark, defects=not args.no_defects,
                               record=record))
