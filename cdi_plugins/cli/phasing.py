"""``cdi-plugins simulate``, ``phase``, ``demo`` and ``plugins``: patterns and their phasing.

::

    cdi-plugins simulate -o pattern.cxi --object bio --size 256 --photons 1e8 --beamstop 3
    cdi-plugins phase pattern.cxi --algorithm oss --runs 48 -o result.h5 --report report/
    cdi-plugins phase pattern.cxi --algorithm "(HIO(0.9)**80*ER**20)**6" --runs 16
    cdi-plugins demo -o demo/
    cdi-plugins plugins
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from tomopy_dlalign.common.cli import (
    add_device,
    add_iters,
    add_output,
    add_report,
    add_seed,
    add_threads,
    set_threads,
    word_or,
)
from tomopy_dlalign.common.cluster import add_cluster_options, cluster_timeout, dry_run_script
from tomopy_dlalign.common.outputs import reads, writes

from ..defaults import DEFAULT_SCHEDULE, FREE_FRACTION
from .patterns import read_pattern

logger = logging.getLogger("cdi_plugins.cli")

# 8 keV, 5 m, 75 um pixels: a typical far-field CDI geometry for simulated files
DEFAULT_GEOMETRY = {"wavelength": 1.5498e-10, "distance": 5.0, "pixel_size": 75e-6}


def _add_simulate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--object", choices=("bio", "crystal"), default="bio",
                   help="weakly scattering biological-like object or strong-phase crystals")
    p.add_argument("--size", type=int, default=128, help="pattern size in pixels (even)")
    p.add_argument("--particles", type=int, default=1, help="crystal particles")
    p.add_argument("--photons", type=float, default=1e8,
                   help="expected total photons (Poisson noise); 0 for a noiseless pattern")
    p.add_argument("--beamstop", type=float, default=0.0, help="beamstop radius, pixels")
    p.add_argument("--gaps", type=int, default=0, help="detector gap width, pixels")
    p.add_argument("--binning", type=int, default=1, help="detector binning factor")
    p.add_argument("--centrosymmetric", action="store_true",
                   help="fill missing pixels from their Friedel mates (real objects)")
    add_seed(p, help="seed of the object and the noise")


def _simulate(args):
    from .. import simulate

    make = simulate.biological_object if args.object == "bio" else simulate.crystal_object
    kw = {"n_particles": args.particles} if args.object == "crystal" else {}
    obj = make(args.size, seed=args.seed, **kw)
    sim = simulate.simulate_pattern(obj, photons=args.photons or None, beamstop=args.beamstop,
                                    gaps=args.gaps, binning=args.binning,
                                    centrosymmetric=args.centrosymmetric, seed=args.seed)
    return sim


def cmd_simulate(args) -> int:
    """Write a simulated pattern, and the object behind it, to ``args.output``."""
    from .. import io

    sim = _simulate(args)
    geom = io.Geometry(**DEFAULT_GEOMETRY)
    params = {k: v for k, v in vars(args).items() if k != "func"}
    # the truth travels with the pattern, outside the places readers look for data, and
    # is written in the same atomic step: a kill never leaves a pattern without it
    io.write_cxi(args.output, sim.intensity, sim.mask, geom, parameters=params,
                 extras={"entry_1/sample_1/simulated_object": sim.object}, step="simulate")
    logger.info("simulated %s object, %s pattern, %d missing pixels -> %s", args.object,
                sim.intensity.shape, int(sim.mask.sum()), args.output)
    return 0


def _add_phase_args(p: argparse.ArgumentParser, seed: bool = True) -> None:
    p.add_argument("--algorithm", default=DEFAULT_SCHEDULE,
                   help="er, hio, raar, oss (or any registered name) or a schedule such as "
                        "'(HIO(0.9)**80*ER**20)**6'")
    add_iters(p, "a single algorithm (auto: 500), or of the default schedule, scaled to "
                 "them (auto: as written); a schedule of your own gives its own", "auto",
              legacy_iter=True)
    p.add_argument("--runs", type=int, default=16, help="independent random starts")
    add_cluster_options(p, "the starts, in batches (each run is the same as in one process)")
    if seed:
        add_seed(p, help="seed of the random starts")
    add_device(p)
    add_threads(p)
    p.add_argument("--constraint", choices=("auto", "none", "real", "positive"),
                   default="auto",
                   help="real-space constraint inside the support; auto: positive when the "
                        "pattern's counts obey Friedel's law (a real object), else none")
    p.add_argument("--support-threshold", type=word_or("auto", float, "a number"),
                   default="auto",
                   help="autocorrelation threshold of the starting support (held inside a "
                        "centred box of half the array); auto: that of --support-start")
    p.add_argument("--support-start", choices=("envelope", "core"), default="envelope",
                   help="starting support: the blurred autocorrelation's envelope, or its "
                        "sharp core shrunk by 0.6 (ConvRe's training start)")
    p.add_argument("--no-shrinkwrap", action="store_true", help="keep the support fixed")
    p.add_argument("--no-low-resolution", action="store_true",
                   help="start the default schedule from the random starts themselves, "
                        "not from a first phasing of the low-passed pattern")
    p.add_argument("--support-growth", choices=("auto", "on", "off"), default="auto",
                   help="after the schedule, widen each run's support while its free "
                        "log-likelihood improves; auto: for 3D patterns phased with the "
                        "default schedule")
    p.add_argument("--sw-start", type=int, default=0, help="first shrink-wrap iteration")
    p.add_argument("--sw-every", type=word_or("auto", int, "an integer"), default="auto",
                   help="iterations between shrink-wrap updates; auto: after each ER block")
    p.add_argument("--sw-threshold", type=float, default=0.25, help="shrink-wrap threshold")
    p.add_argument("--sw-method", choices=("rms", "mean", "max"), default="rms",
                   help="what the threshold is relative to: RMS or mean inside the support, "
                        "or the maximum")
    p.add_argument("--free-fraction", type=float, default=FREE_FRACTION,
                   help="share of pixels withheld for the free log-likelihood that ranks "
                        "the runs (0: rank by chi^2)")
    p.add_argument("--protocol", choices=("default", "convre"), default="default",
                   help="convre: the classic max-threshold shrink-wrap, no free pixels and "
                        "the core start, no low-resolution start: the runs ConvRe's learned "
                        "features were trained on (overrides the --sw-*, --free-fraction, "
                        "--support-start and --no-low-resolution options)")


def _phase(args, intensity, mask):
    from ..phasing import ShrinkWrap, phase_retrieval

    free, start = args.free_fraction, args.support_start
    lowres = False if getattr(args, "no_low_resolution", False) else None
    if args.no_shrinkwrap:
        sw = False
    elif getattr(args, "protocol", "default") == "convre":
        sw, free, start, lowres = ShrinkWrap.max_rule(), 0.0, "core", False
    else:
        sw = ShrinkWrap(start=args.sw_start, every=args.sw_every, threshold=args.sw_threshold,
                        method=args.sw_method)
    return phase_retrieval(
        intensity, mask=mask, support_threshold=args.support_threshold,
        support_start=start,
        free_fraction=free,
        algorithm=args.algorithm, n_iter=args.iters,
        n_runs=args.runs, seed=args.seed, device=args.device, constraint=args.constraint,
        shrinkwrap=sw, show_progress=args.progress, cluster=getattr(args, "cluster", None),
        low_resolution=lowres,
        support_growth={"auto": None, "on": True, "off": False}[
            getattr(args, "support_growth", "auto")])


@reads("input")
@writes("output", folders=("report",))
def cmd_phase(args) -> int:
    """Phase the pattern of ``args.input``; the result to ``args.output``, figures to
    ``args.report``."""
    from .. import io
    from ..phasing import report

    script = dry_run_script(args)
    if script is not None:
        print(script)
        return 0
    set_threads(args)
    intensity, mask, geom = read_pattern(args.input)
    with cluster_timeout(args.cluster_timeout):
        res = _phase(args, intensity, mask)
    pixel_nm = geom.real_space_pixel(max(intensity.shape)) * 1e9 if geom else None
    quoted = _resolution_or_verdict(res, intensity, mask, pixel_nm)
    logger.info("best run %d (by %s), chi2 %.3g; %s", res.best, res.rank_by,
                res.final_chi2[res.best], quoted.splitlines()[0])
    if args.output:
        io.write_result(args.output, res, intensity, mask, geom, history=args.input)
    if args.report:
        report.save_report(res, intensity, mask, args.report, geom)
    free = (f", free LLK = {res.llk['free_poisson'][res.best]:.4g}"
            if "free_poisson" in res.llk else "")
    print(f"best run {res.best}: chi2 = {res.final_chi2[res.best]:.4g}, Poisson LLK = "
          f"{res.llk['poisson'][res.best]:.4g}{free}\n{quoted}")
    return 0


def _resolution_or_verdict(res, intensity, mask, pixel_nm: float | None) -> str:
    """The wPRTF resolution of a phasing that passed its checks; for a failed one its
    verdict and hints instead: no resolution is quoted for a failed phasing."""
    from .. import metrics
    from ..phasing import assess

    verdict = res.quality if res.quality is not None else assess(res, intensity, mask)
    if not verdict.ok:
        return "\n".join([str(verdict), "no resolution is quoted for a failed phasing",
                          *(f"hint: {n}" for n in verdict.notes)])
    q, curve = metrics.prtf(res.objects, intensity, mask, wiener=True, reference=res.best)
    r = metrics.resolution(q, curve, pixel_size=pixel_nm)
    return f"wPRTF resolution (1/e) = {r}; quality {verdict}"


def _demo_files(args) -> list[Path]:
    out = Path(args.output)
    return [out / "pattern.cxi", out / "result.h5"]


def _existing_demo_files(args) -> list[Path]:
    # a folder that does not exist yet is made by the demo: nothing in it to replace
    return _demo_files(args) if Path(args.output).is_dir() else []


@writes(_existing_demo_files, folders=(lambda args: Path(args.output) / "report",))
def cmd_demo(args) -> int:
    """Simulate a pattern, phase it and report against the truth, in ``args.output``."""
    set_threads(args)
    from .. import io, metrics
    from ..phasing import report

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    pattern, result = _demo_files(args)
    args.object, args.particles, args.binning, args.centrosymmetric = "bio", 1, 1, False
    cmd_simulate(argparse.Namespace(**{**vars(args), "output": str(pattern)}))
    intensity, mask, geom = read_pattern(pattern)
    args.support_threshold, args.support_start, args.no_shrinkwrap = None, "envelope", False
    args.sw_start, args.sw_every, args.sw_threshold, args.sw_method = 0, None, 0.25, "rms"
    args.free_fraction = FREE_FRACTION
    args.constraint = "positive"
    res = _phase(args, intensity, mask)
    io.write_result(result, res, intensity, mask, geom, history=pattern)
    report.save_report(res, intensity, mask, out / "report", geom)
    truth = _read_truth(pattern)
    err = metrics.real_space_error(res.objects[res.best], truth)
    quoted = _resolution_or_verdict(res, intensity, mask, geom.real_space_pixel(args.size) * 1e9)
    print(f"demo: {args.runs} runs of {args.algorithm} on a simulated {args.size}^2 pattern "
          f"({args.photons:.0e} photons, beamstop {args.beamstop} px); best run "
          f"{res.best}: chi2 = {res.final_chi2[res.best]:.3g}, real-space error vs truth = "
          f"{err:.3f}; files in {out}\n{quoted}")
    return 0


def _read_truth(path):
    """The simulated object stored by ``cdi-plugins simulate``."""
    import h5py

    with h5py.File(path, "r") as f:
        return f["entry_1/sample_1/simulated_object"][()]


def cmd_plugins(args) -> int:
    """The registered phasing algorithms, and the broken plugins by name."""
    from tomopy_dlalign import plugins

    if getattr(args, "command", None) == "list":
        logger.warning("cdi-plugins list is deprecated; use cdi-plugins plugins")
    for name in plugins.available("phasing"):
        print(f"{name:10s} {plugins.get('phasing', name).__name__:10s} "
              f"(plugin {plugins.provider('phasing', name)})")
    for name, why in plugins.broken().items():
        print(f"broken plugin {name}: {why}")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``simulate``, ``phase``, ``demo``, ``plugins`` and ``list`` (its older name)
    on the ``cdi-plugins`` subparsers."""
    p = sub.add_parser("simulate", help="write a simulated pattern as CXI",
                       description="Simulate the far-field pattern of a biological-like "
                       "object or of crystals, with Poisson noise, a beamstop, detector gaps "
                       "and binning if asked, into a CXI file; the object is stored beside it "
                       "(/entry_1/sample_1/simulated_object).")
    _add_simulate_args(p)
    add_output(p, "output CXI file (.cxi); the simulated object is stored in it too")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("phase", help="phase a CXI or Data Exchange pattern",
                       description="Phase a pattern with many random starts at once (ER, "
                       "HIO, RAAR, OSS or a schedule of them, shrink-wrap), rank the runs and "
                       "quote the wPRTF resolution of a phasing that passes its checks.")
    p.add_argument("input", help="pattern file (.cxi, or Data Exchange .h5)")
    _add_phase_args(p)
    add_output(p, "result file (Data Exchange layout, with the pattern)", required=False)
    add_report(p, "folder for PNG figures and summary.json")
    p.set_defaults(func=cmd_phase)

    p = sub.add_parser("demo", help="simulate, phase, report: the whole chain",
                       description="Simulate a pattern of a biological-like object, phase it "
                       "and score the best run against the truth; writes pattern.cxi, "
                       "result.h5 and a PNG report in the output folder.")
    _add_simulate_args(p)
    _add_phase_args(p, seed=False)
    p.add_argument("-o", "--output", "--out", dest="output", default="cdi_demo",
                   help="output folder (--out is the older spelling)")
    p.set_defaults(func=cmd_demo, photons=1e8, beamstop=1.0, runs=16, algorithm="oss")

    p = sub.add_parser("plugins", aliases=["list"],
                       help="the registered phasing algorithms, and any broken plugin by "
                            "name (list: the older name)",
                       description="List the phasing algorithms registered through the "
                       "tomopy.plugins entry points, with the plugin that provides each, and "
                       "any plugin that failed to load, by name and why.")
    p.set_defaults(func=cmd_plugins)
