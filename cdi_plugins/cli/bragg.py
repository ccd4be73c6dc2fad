"""``cdi-plugins bragg``: a phased Bragg crystal to its displacement and strain.

::

    cdi-plugins bragg result.h5 --energy 9000 --d-spacing 2.338e-10 --distance 1 \\
        --pixel-size 55e-6 --rocking-step 0.005 -o strain.h5 --report report/
    cdi-plugins bragg result.h5 -o cleaned.h5      # no geometry: centring and ramp only

:func:`add_commands` registers it on the parser of :mod:`cdi_plugins.cli`.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from tomopy_dlalign.common.cli import add_output, add_report
from tomopy_dlalign.common.outputs import reads, writes

logger = logging.getLogger("cdi_plugins.cli")

#: cdi_plugins.bragg.postprocess.THRESHOLD: the parser does not import NumPy
#: (tests/cdi_plugins/bragg/test_bragg_cli.py checks that they agree)
THRESHOLD = 0.25
#: option -> BraggGeometry field
_GEOMETRY = {"energy": "energy", "wavelength": "wavelength", "d_spacing": "d_spacing",
             "q": "q_norm", "two_theta": "two_theta", "distance": "distance",
             "pixel_size": "pixel_size", "rocking_step": "rocking_step"}


def _geometry(args):
    """The :class:`~cdi_plugins.bragg.BraggGeometry` of the options, None when none is
    given; an incomplete one is refused naming the option."""
    from ..bragg import BraggGeometry

    given = {field: getattr(args, option) for option, field in _GEOMETRY.items()
             if getattr(args, option) is not None}
    if not given:
        return None
    try:
        return BraggGeometry(**given)
    except ValueError as exc:
        text = str(exc)
        for option, field in _GEOMETRY.items():
            text = text.replace(f"BraggGeometry.{field} ", f"--{option.replace('_', '-')} ")
        raise ValueError(text) from None


@reads("input")
@writes("output", folders=("report",))
def cmd_bragg(args) -> int:
    """Post-process the best run of the phasing result ``args.input``."""
    from .. import io
    from ..bragg import postprocess, save_bragg_report, write_bragg

    if args.orthogonal and not any(getattr(args, o) is not None for o in _GEOMETRY):
        raise ValueError("--orthogonal needs the geometry: --energy, --d-spacing, "
                         "--distance, --pixel-size and --rocking-step")
    geometry = _geometry(args)
    result = io.read_result(args.input)
    best = result.best
    if result.objects.ndim != 4:
        raise ValueError(f"{args.input} holds 2D runs {result.objects.shape[1:]}: "
                         "Bragg post-processing takes a 3D object (phase a rocking-curve "
                         "scan)")
    res = postprocess(result.objects[best], geometry,
                      None if args.threshold is not None else result.supports[best],
                      threshold=args.threshold or THRESHOLD, subpixel=args.subpixel,
                      offset=args.offset, orthogonal=args.orthogonal,
                      voxel_size=None if args.voxel_size is None else args.voxel_size * 1e-9)
    res.parameters.update(source=str(args.input), run=int(best))
    if args.output:
        write_bragg(args.output, res, history=args.input)
    if args.report:
        Path(args.report).mkdir(parents=True, exist_ok=True)
        save_bragg_report(res, Path(args.report) / "bragg.png")
    g = res.ramp.gradient
    text = (f"run {best}: ramp ({g[0]:.3f}, {g[1]:.3f}, {g[2]:.3f}) rad/voxel and offset "
            f"{res.ramp.offset:.3f} rad removed, shift {res.shift.tolist()} voxels, "
            f"{int(res.support.sum())} voxels in the support")
    if res.strain is not None:
        import numpy as np

        text += (f"; {res.frame} frame, |u| <= {np.nanmax(np.abs(res.displacement)) * 1e12:.1f}"
                 f" pm, |strain| <= {np.nanmax(np.abs(res.strain)):.3g}")
    print(text)
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``bragg`` on the ``cdi-plugins`` subparsers."""
    p = sub.add_parser(
        "bragg", help="a phased Bragg crystal: phase ramp, displacement, strain",
        description="Centre the best run of a 3D phasing result, remove its phase ramp "
        "and offset, and with the geometry (--energy or --wavelength, --d-spacing, --q or "
        "--two-theta, --distance, --pixel-size, --rocking-step) read the displacement "
        "and the strain along Q, in the detector frame or (--orthogonal) in the "
        "laboratory frame (docs/cdi.md, Bragg post-processing).")
    p.add_argument("input", help="3D phasing result written by `cdi-plugins phase -o`")
    add_output(p, "output file: the cleaned object, phase, displacement, strain",
               required=False)
    add_report(p, "folder for bragg.png, the three central slices")
    geo = p.add_argument_group("geometry (a vertical rocking axis, the detector at 2theta "
                               "in the horizontal plane)")
    geo.add_argument("--energy", type=float, default=None, help="photon energy, eV")
    geo.add_argument("--wavelength", type=float, default=None, help="X-ray wavelength, m")
    geo.add_argument("--d-spacing", type=float, default=None,
                     help="the reflection's lattice-plane spacing, m")
    geo.add_argument("--q", type=float, default=None, help="|Q| = 2 pi / d, 1/m")
    geo.add_argument("--two-theta", type=float, default=None,
                     help="detector angle, degrees (None: the Bragg angle of --d-spacing)")
    geo.add_argument("--distance", type=float, default=None,
                     help="sample-detector distance, m")
    geo.add_argument("--pixel-size", type=float, default=None, help="detector pixel, m")
    geo.add_argument("--rocking-step", type=float, default=None,
                     help="rocking angle per frame, degrees")
    p.add_argument("--orthogonal", action="store_true", default=False,
                   help="resample to the laboratory frame (x downstream, y horizontal, z up)")
    p.add_argument("--voxel-size", type=float, default=None,
                   help="laboratory voxel with --orthogonal, nm (None: the shortest "
                        "detector-frame voxel step)")
    p.add_argument("--threshold", type=float, default=None,
                   help=f"support where the amplitude reaches this fraction of its maximum "
                        f"(e.g. {THRESHOLD}; None: the run's own support from phasing)")
    p.add_argument("--subpixel", action="store_true", default=False,
                   help="centre by the exact sub-voxel amount (Fourier shift)")
    p.add_argument("--offset", choices=("mean", "com"), default="mean",
                   help="phase set to 0: the amplitude-weighted mean, or the phase at the "
                        "centre of mass")
    p.set_defaults(func=cmd_bragg)
