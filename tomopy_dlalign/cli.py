"""Command line: ``tomopy-dlalign {demo, simulate, recon, info, plugins}``."""

from __future__ import annotations

import argparse
import logging
import platform
import sys
import time
from pathlib import Path

import numpy as np

logger = logging.getLogger("tomopy_dlalign")


def _cmd_info(args) -> int:
    import h5py
    import torch

    from . import __version__, plugins
    from .projectors import astra, astra_cuda_usable

    print(f"tomopy_dlalign {__version__} (Python {platform.python_version()})")
    print(f"numpy {np.__version__}, h5py {h5py.__version__}, torch {torch.__version__}")
    print(f"astra-toolbox: {getattr(astra, '__version__', 'not installed')}, "
          f"CUDA in ASTRA: {astra_cuda_usable()}")
    print(f"torch devices: cpu ({torch.get_num_threads()} threads)"
          + (f", cuda ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else ""))
    for name, mod in (("tomopy", "tomopy"), ("dxchange", "dxchange")):
        try:
            m = __import__(mod)
            print(f"{name}: {getattr(m, '__version__', 'importable')}")
        except ImportError:
            print(f"{name}: not installed (optional)")
    print("projector backends:")
    for name in plugins.available("projector"):
        cls = plugins.get("projector", name)
        usable = cls.is_available() if hasattr(cls, "is_available") else True
        print(f"  {name:12s} {'usable' if usable else 'not usable here'}")
    return 0


def _cmd_plugins(args) -> int:
    from . import plugins

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


def _cmd_simulate(args) -> int:
    from . import io, simulate

    theta = np.linspace(0, np.pi, args.nproj, endpoint=False)
    vol = simulate.shepp_logan(args.size, args.nslice)
    prj, flat, dark = simulate.scan(vol, theta, seed=args.seed, attenuation=args.attenuation)
    io.write_dx(args.output, prj, flat=flat, dark=dark, theta=theta,
                extras={"truth": (vol * args.attenuation, "1/pixel")},
                parameters=vars(args) | {"func": None})
    logger.info("wrote %s: %d projections of %d x %d", args.output, *prj.shape)
    return 0


def _reconstruct(prj, theta, args):
    from . import plugins

    func = plugins.get("recon", args.algorithm)
    kwargs = {"center": args.center, "device": args.device}
    if args.algorithm == "mlem":
        kwargs.update(num_iter=args.iters, show_progress=True)
    return func(prj, theta, **kwargs)


def _cmd_recon(args) -> int:
    from . import io, minus_log, normalize

    sino = tuple(args.sino) if args.sino else None
    prj, flat, dark, theta = io.read_dx(args.input, sino=sino)
    if not args.no_prep:
        if flat is None or dark is None:
            raise SystemExit(f"error: {args.input} has no flat or dark fields; "
                             "pass --no-prep if the data are already line integrals")
        prj = minus_log(normalize(prj, flat, dark))
    t0 = time.perf_counter()
    rec = _reconstruct(prj, theta, args)
    logger.info("%s of %s in %.2f s", args.algorithm, prj.shape, time.perf_counter() - t0)
    io.write_dx(args.output, rec, data_units="1/pixel",
                parameters={"command": "recon", "input": str(args.input),
                            "algorithm": args.algorithm, "iters": args.iters,
                            "center": args.center, "sino": sino})
    logger.info("wrote %s: reconstruction %s", args.output, rec.shape)
    return 0


def _cmd_demo(args) -> int:
    from . import io, minus_log, mlem, normalize, simulate

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    theta = np.linspace(0, np.pi, args.nproj, endpoint=False)
    vol = simulate.shepp_logan(args.size, args.nslice) * 0.02
    prj, flat, dark = simulate.scan(vol / 0.02, theta, seed=0, attenuation=0.02)
    scan_path = out / "scan.h5"
    io.write_dx(scan_path, prj, flat=flat, dark=dark, theta=theta,
                extras={"truth": (vol, "1/pixel")}, parameters={"command": "demo"})
    p, f, d, th = io.read_dx(scan_path)
    line = minus_log(normalize(p, f, d))
    t0 = time.perf_counter()
    rec = mlem(line, th, num_iter=args.iters, show_progress=True)
    dt = time.perf_counter() - t0
    err = float(np.linalg.norm(rec - vol) / np.linalg.norm(vol))
    io.write_dx(out / "rec.h5", rec, data_units="1/pixel",
                parameters={"command": "demo", "algorithm": "mlem", "iters": args.iters})
    png = out / "demo.png"
    _save_slices(png, vol[vol.shape[0] // 2], rec[rec.shape[0] // 2], line[:, line.shape[1] // 2])
    print(f"demo: {p.shape[0]} projections x {p.shape[1]} slices x {p.shape[2]} columns, "
          f"MLEM {args.iters} iterations in {dt:.2f} s, relative error vs truth {err:.3f}")
    print(f"files: {scan_path}, {out / 'rec.h5'}, {png}")
    return 0


def _save_slices(path, truth, rec, sino) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(12, 4))
    ax[0].imshow(sino, cmap="gray", aspect="auto")
    ax[0].set(title="sinogram (middle slice)", xlabel="column", ylabel="projection")
    vmax = float(truth.max()) or 1.0
    for a, img, title in ((ax[1], truth, "truth"), (ax[2], rec, "MLEM reconstruction")):
        im = a.imshow(img, cmap="gray", vmin=0, vmax=vmax)
        a.set(title=title)
        a.axis("off")
    fig.colorbar(im, ax=ax[2], label="attenuation (1/pixel)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _scan_shape_args(parser: argparse.ArgumentParser, nslice: int) -> None:
    parser.add_argument("--size", type=int, default=128, help="columns (and slice width)")
    parser.add_argument("--nslice", type=int, default=nslice, help="slices (detector rows)")
    parser.add_argument("--nproj", type=int, default=181, help="projections over 180 degrees")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tomopy-dlalign", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("demo", help="simulate a scan, reconstruct it and report the error")
    s.add_argument("--out", default="demo_out", help="folder for the files (default demo_out)")
    _scan_shape_args(s, nslice=32)
    s.add_argument("--iters", type=int, default=20)
    s.set_defaults(func=_cmd_demo)

    s = sub.add_parser("simulate", help="write a simulated Data Exchange scan")
    s.add_argument("output")
    _scan_shape_args(s, nslice=16)
    s.add_argument("--attenuation", type=float, default=0.02)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=_cmd_simulate)

    s = sub.add_parser("recon", help="reconstruct a Data Exchange file")
    s.add_argument("input")
    s.add_argument("-o", "--output", required=True)
    s.add_argument("--algorithm", default="mlem", help="a registered recon (mlem, fbp, ...)")
    s.add_argument("--iters", type=int, default=20, help="iterations (mlem)")
    s.add_argument("--center", type=float, default=None, help="rotation axis in pixels")
    s.add_argument("--sino", type=int, nargs=2, metavar=("START", "END"),
                   help="reconstruct only these slices")
    s.add_argument("--device", default="auto")
    s.add_argument("--no-prep", action="store_true",
                   help="data are already line integrals (skip normalize and minus_log)")
    s.set_defaults(func=_cmd_recon)

    s = sub.add_parser("info", help="versions, projector backends and devices usable here")
    s.set_defaults(func=_cmd_info)
    s = sub.add_parser("plugins", help="what is registered through the plugin hooks")
    s.set_defaults(func=_cmd_plugins)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (FileNotFoundError, KeyError, ValueError, RuntimeError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
