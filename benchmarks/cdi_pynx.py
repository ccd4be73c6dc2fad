"""Side by side with PyNX (and cohere-core) on a measured pattern and a simulated one.

The same pattern, mask, starting support and schedule for every code, in one run:
PyNX's ESRF-logo example (ID10, 512^2 photon counts, its beamstop mask and its loose
support), and the package's simulated 256^2 pattern (1e9 photons, 3 px beamstop). PyNX
runs its own example settings (HIO 200, 20 x (HIO 40, ER 5, support update with
threshold 0.25 x RMS, blur 2 -> 0.5 px), ER 100; free pixels; start = support x U(0.8,1),
scaled), on OpenCL on the CPU (pocl), in its own Python environment, through a worker
process; this package runs its defaults (the same schedule, its own free pixels). Every
figure is computed here, with one formula for every code
(:mod:`cdi_plugins.metrics.likelihood`, amplitudes scaled by least squares): Fourier
R-factor, Poisson log-likelihood on the measured pixels, free log-likelihood on each
code's own withheld pixels, support IoU with the known support (the aligned object's
amplitude above 0.2 of its maximum), the share of runs within a real-space error of 0.1
of the best run (twin, translation and phase removed), and time per iteration and run.

cohere-core (``--cohere``, its NumPy backend, one run at a time) gets the same pattern,
starting support and schedule with its own support rule; it has no missing-data mask.
``--pynx-numpy`` adds PyNX on its NumPy operators (``PYNX_PU=cpu``), whose FFTs use every
core. Rows "no low-resolution start" are this package's previous defaults.

    python benchmarks/cdi_pynx.py --pynx-python /tmp/pynxenv/bin/python \\
        --logo-dir <pynx source>/pynx/cdi/examples/data --runs 16 --cohere
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SCHEDULE = "HIO**200 * (HIO**40 * ER**5)**20 * ER**100"


# -- the PyNX worker (runs in PyNX's environment: NumPy 1.x, no torch, no cdi_plugins) ----
def pynx_worker(inp: str, out: str, runs: int, seed: int) -> None:
    np.bool = bool  # PyNX 2022.1 uses the aliases NumPy 1.24+ removed
    np.int = int
    import os

    if os.environ.get("PYNX_PU") == "cpu":  # PyNX's NumPy operators
        dev = "numpy"
    else:
        import pyopencl as cl
        from pynx.processing_unit import default_processing_unit as pu

        dev = [d for p in cl.get_platforms() for d in p.get_devices()][0]
        pu.use_opencl(cl_device=dev, test_fft=False)
    from pynx.cdi import CDI, ER, HIO, InitObjRandom, ScaleObj, SupportUpdate

    d = np.load(inp)
    sh = np.fft.fftshift

    def one(r, n_hio=200, n_cycles=20, n_er=100):
        np.random.seed(seed + r)
        cdi = CDI(sh(d["iobs"]), obj=None, support=sh(d["support"]), mask=sh(d["mask"]),
                  wavelength=1e-10, pixel_size_detector=55e-6)
        cdi.init_free_pixels()
        cdi = ScaleObj(method="F") * (InitObjRandom(src="support", amin=0.8, amax=1,
                                                    phirange=0) * cdi)
        t0 = time.perf_counter()
        cdi = HIO() ** n_hio * cdi
        sup = SupportUpdate(threshold_relative=0.25, smooth_width=(2, 0.5, 800),
                            force_shrink=False)
        cdi = (sup * ER() ** 5 * HIO() ** 40) ** n_cycles * cdi
        cdi = ER() ** n_er * cdi
        obj = sh(cdi.get_obj())
        dt = time.perf_counter() - t0
        free = sh((cdi.iobs < 0) & (cdi.iobs > -1e19))
        return obj, sh(cdi.get_support()) > 0, free, dt

    one(0, 5, 1, 5)  # the cold OpenCL kernel build (about 9 s) outside the timings
    res = [one(r) for r in range(runs)]
    np.savez(out, objects=np.stack([r[0] for r in res]), supports=np.stack([r[1] for r in res]),
             free=np.stack([r[2] for r in res]), seconds=np.array([r[3] for r in res]),
             device=str(getattr(dev, "name", dev)))


# -- scoring, one formula for all -------------------------------------------------------
def score(objects, supports, free, intensity, mask, known, seconds, n_iter):
    from cdi_plugins import metrics

    r = metrics.r_factor(objects, intensity, mask, scale="fit")
    llk = metrics.log_likelihood(objects, intensity, mask | free_any(free), scale="fit")
    fllk = np.array([metrics.log_likelihood(o, intensity, mask, pixels=f, scale="fit")[0]
                     for o, f in zip(objects, free, strict=True)])
    best = int(np.argmin(fllk))
    err = np.array([metrics.real_space_error(o, objects[best], subpixel=20) for o in objects])
    iou = []
    for o, s in zip(objects, supports, strict=True):
        aligned, _ = metrics.align_to(known.astype(np.complex64), np.where(s, o, 0))
        # the support the run ends with, moved as the alignment moved the object
        sa = np.abs(aligned) > 0.2 * np.abs(aligned).max()
        iou.append((sa & known).sum() / max((sa | known).sum(), 1))
    return {"R": r.tolist(), "llk": llk.tolist(), "free_llk": fllk.tolist(),
            "support_px": [int(s.sum()) for s in supports], "iou": iou, "best": best,
            "converged": float(np.mean(err < 0.1)), "err_to_best": err.tolist(),
            "ms_per_it_run": float(np.sum(seconds) / n_iter / len(objects) * 1e3)}


def run_cohere(intensity, mask, support, runs, seed):
    """cohere-core 4.5.4 on its NumPy backend, one run at a time (it phases one per ``Rec``):
    the same pattern, starting support and schedule; its own shrink-wrap (a Gaussian blur of
    1 px, threshold 0.1 of the maximum: it has no RMS rule) at the same iterations as
    PyNX's (after each short ER block). cohere-core has no missing-data mask: its modulus
    constraint sets the masked pixels, given as zeros, to zero amplitude. No free pixels:
    its score is the free log-likelihood on ours' withheld pixels, which it fitted."""
    import contextlib
    import io as _io

    from cohere_core.controller import phasing as coh

    objects, supports, seconds = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        data = np.where(mask, 0.0, np.sqrt(intensity)).astype(np.float32)
        np.save(f"{tmp}/data.npy", data)
        np.save(f"{tmp}/support.npy", np.fft.ifftshift(support).astype(np.float32))
        params = {"algorithm_sequence": "200*HIO+20*(40*HIO+5*ER)+100*ER", "hio_beta": 0.9,
                  "shrink_wrap_trigger": [244, 45, 1099], "shrink_wrap_type": "GAUSS",
                  "shrink_wrap_threshold": 0.1, "shrink_wrap_gauss_sigma": 1.0,
                  "continue_dir": tmp}
        for r in range(runs):
            np.random.seed(seed + r)
            with contextlib.redirect_stdout(_io.StringIO()):
                rec = coh.create_rec(dict(params), f"{tmp}/data.npy", "np", -1, debug=True)
                t0 = time.perf_counter()
                rec.iterate()
                seconds.append(time.perf_counter() - t0)
            # cohere's far field is the inverse FFT: its object is the conjugate of ours
            objects.append(np.conj(np.fft.fftshift(np.asarray(rec.ds_image))))
            supports.append(np.fft.fftshift(np.asarray(rec.support)) > 0)
    return np.stack(objects), np.stack(supports), np.array(seconds)


def run_pynx(a, iobs, mask, loose, known, n_iter, env):
    """PyNX's example settings in PyNX's environment (a worker process), scored here."""
    import os

    with tempfile.TemporaryDirectory() as tmp:
        np.savez(f"{tmp}/in.npz", iobs=iobs, mask=mask, support=loose)
        subprocess.run([a.pynx_python, __file__, "--logo-dir", ".", "--worker", "pynx",
                        "--io", f"{tmp}/in.npz", f"{tmp}/out.npz", "--runs", str(a.runs),
                        "--seed", str(a.seed)], check=True, env={**os.environ, **env})
        d = np.load(f"{tmp}/out.npz")
        return score(d["objects"], d["supports"], d["free"], iobs, mask, known, d["seconds"],
                     n_iter)


def free_any(free):
    return np.zeros(free.shape[-2:], bool) if free.ndim == 2 else np.logical_and.reduce(free)


def run_ours(intensity, mask, support, runs, seed, low_resolution=None):
    """Our defaults; ``low_resolution=False``: without the low-resolution start. Returns
    the objects, supports, free pixels, seconds and the iterations each run made."""
    import cdi_plugins as cdi

    cdi.phase_retrieval(intensity, mask=mask, algorithm="ER", n_iter=2, device="cpu")
    t0 = time.perf_counter()
    res = cdi.phase_retrieval(intensity, mask=mask, support=support, n_runs=runs, seed=seed,
                              device="cpu", show_progress=False, low_resolution=low_resolution)
    dt = time.perf_counter() - t0
    free = np.broadcast_to(res.free_mask, res.objects.shape)
    return res.objects, res.supports, free, np.array([dt]), res.iterations


def _our_free(intensity, mask, seed):
    from cdi_plugins import metrics

    child = np.random.SeedSequence(seed).spawn(1)[0]
    return metrics.free_pixels(intensity.shape, 0.05, mask=mask, seed=child)


def load_logo(folder: Path):
    import fabio
    from scipy.ndimage import gaussian_filter

    iobs = np.flipud(fabio.open(str(folder / "logo5mu_20sec.edf")).data).astype(np.float32)
    known = np.flipud(fabio.open(str(folder / "mask_logo5mu_20sec.edf")).data) > 0
    n = len(iobs)
    x, y = np.meshgrid(np.arange(n), np.arange(n))
    keep = np.ones_like(iobs, bool)
    # PyNX's example mask: zeros inside these boxes are the beamstop and module edges
    for cx, cy, hx, hy in ((258, 258, 30, 30), (246, 511, 30, 16), (266, 0, 30, 20),
                           (10, 270, 30, 5), (498, 240, 30, 5), (0, 0, 30, 20),
                           (510, 510, 30, 20)):
        keep &= (iobs != 0) | (abs(x - cx) > hx) | (abs(y - cy) > hy)
    loose = gaussian_filter(known.astype(np.float32), 4) > 0.2
    return iobs, ~keep, known, loose


def simulated(size=256):
    from scipy import ndimage

    from cdi_plugins import simulate

    sim = simulate.simulate_pattern(simulate.biological_object(size, seed=0), photons=1e9,
                                    beamstop=3, seed=0)
    loose = ndimage.binary_dilation(sim.support, iterations=4)
    return sim.intensity, sim.mask, sim.support, loose


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pynx-python", help="python of PyNX's environment (omit: ours only)")
    ap.add_argument("--logo-dir", required=True, help="PyNX's cdi/examples/data folder")
    ap.add_argument("--pynx-numpy", action="store_true",
                    help="also run PyNX on its NumPy operators (PYNX_PU=cpu)")
    ap.add_argument("--cohere", action="store_true",
                    help="also run cohere-core (pip install cohere-core==4.5.4)")
    ap.add_argument("--runs", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="benchmarks/cdi_pynx.json")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--io", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        return pynx_worker(a.io[0], a.io[1], a.runs, a.seed)
    import torch

    torch.set_num_threads(a.threads)
    cases = {"ESRF logo 512^2 (measured)": load_logo(Path(a.logo_dir)),
             "simulated bio 256^2": simulated()}
    table = {}
    n_iter = 1200
    for name, (iobs, mask, known, loose) in cases.items():
        rows = table.setdefault(name, {})
        for start, sup, low in (("loose support", loose, None), ("no support", None, None),
                                ("loose support, no low-resolution start", loose, False)):
            o, s, f, dt, its = run_ours(iobs, mask, sup, a.runs, a.seed, low)
            rows[f"cdi_plugins, {start}"] = score(o, s, f, iobs, mask, known, dt, its)
            print(name, start, rows[f"cdi_plugins, {start}"], flush=True)
        for kind, env in (("OpenCL", {}), ("NumPy", {"PYNX_PU": "cpu"})):
            if not a.pynx_python or (kind == "NumPy" and not a.pynx_numpy):
                continue
            key = f"PyNX 2022.1 ({kind}, CPU), loose support"
            rows[key] = run_pynx(a, iobs, mask, loose, known, n_iter, env)
            print(name, key, rows[key], flush=True)
        if a.cohere:
            o, s, dt = run_cohere(iobs, mask, loose, a.runs, a.seed)
            # scored on ours' withheld pixels (cohere-core withholds none: it fitted them)
            free = np.broadcast_to(_our_free(iobs, mask, a.seed), o.shape)
            key = "cohere-core 4.5.4 (NumPy), loose support"
            rows[key] = score(o, s, free, iobs, mask, known, dt, n_iter)
            print(name, "cohere", rows[key], flush=True)
    Path(a.out).write_text(json.dumps(table, indent=1))
    for name, rows in table.items():
        print(f"\n### {name}\n\n| code | R (mean, min) | Poisson LLK | free LLK | support px "
              "| IoU | converged | ms/it/run |\n|---|---|---|---|---|---|---|---|")
        for code, s in rows.items():
            print(f"| {code} | {np.mean(s['R']):.3f}, {np.min(s['R']):.3f} | "
                  f"{np.median(s['llk']):.3g} | {np.median(s['free_llk']):.3g} | "
                  f"{int(np.median(s['support_px']))} | {np.median(s['iou']):.2f} | "
                  f"{s['converged']:.0%} | {s['ms_per_it_run']:.2f} |")


if __name__ == "__main__":
    sys.exit(main())
