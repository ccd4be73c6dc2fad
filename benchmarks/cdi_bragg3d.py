"""Bragg CDI in 3D side by side: this package, PyNX 2022.1 and cohere-core 4.5.4 (issue 28).

Data. (1) The measured APS 34-ID-C gold (111) rocking scan (cohere's example, scan 54, 201
frames of 256^2) prepared by this package's own path, ``cdi-plugins prepare --scan 54``
(the 512^2 dark, a bad-pixel map where > 1, becomes a ``--mask`` and the white field a
``--white``, both cut to the spec ROI 0 256 0 256; threshold 2); its central 128^3 (99 % of
the counts) is kept and binned 2x2x2 for 64^3. (2) The package's simulated crystal
(``crystal_object_3d``, extent 0.3, strain phase up to 1.5 rad) with Poisson noise at
1e8 photons, no mask. Every code gets the same intensity and mask (cohere-core has no mask:
its masked voxels are given as zero amplitude).

Codes, each with its own example settings, one run after the other, no starting support:
this package's defaults (``phase_retrieval(I, mask=mask, n_runs=...)``: low-resolution
start HIO**300*ER**20, then HIO**200*(HIO**40*ER**5)**20*ER**100, RMS shrink-wrap, 5 %
free voxels; its runs are batched); PyNX on its NumPy operators (``PYNX_PU=cpu``), the
id01 runner's defaults (RAAR 600, ER 200, beta 0.9, support update every 50 with
threshold 0.25 x RMS, blur 2 -> 0.5 over 600, support fraction 1e-4..0.7, DetwinRAAR x 10
at 150, masked voxels zeroed until 360, autocorrelation support (0.09, 0.11), random
start with amplitude U(0, 1) and phase U(0, 2 pi), 5 % free voxels; its last
FourierApplyAmplitude is left out: the object keeps the support); cohere-core on NumPy
(complex128) with scan 54's config_rec (3*(20*ER+180*HIO)+20*ER, beta 0.9, initial support
0.5 per axis, GAUSS shrink-wrap every iteration threshold 0.1 sigma 1, twin at 2). Peers
run in their own Python through a worker (arrays in .npz files); cohere's far field is the
inverse FFT, so its objects are conjugated into this package's convention.

Figures, one formula for all, computed here (:mod:`cdi_plugins.metrics`, amplitudes scaled
by least squares): Poisson log-likelihood per measured voxel, R-factor, the best run (least
LLK), the share of runs within a real-space error of 0.15 of it (twin, sub-pixel shift,
phase removed), the support IoU between the codes' best runs (the support each ends with,
times its amplitude > 0.2 max, after aligning to one reference: the truth for the
simulation, this package's best run for the scan), the error to the truth (simulation), and
the wall time per iteration and run (imports and a warm-up outside; every code on
``--threads`` threads, default 1: PyNX's NumPy path (scipy.fftpack) and cohere's are
single-threaded anyway, and torch's thread pool slows ten-fold on a shared CPU). ``--2d`` adds
ms per HIO iteration and run at 256^2 and 512^2 (fixed support, beamstop mask, 4 runs of
200 iterations, on 1 and on ``--threads-2d`` threads): ours, PyNX NumPy, PyNX OpenCL on the
CPU (pocl), a plain scipy.fft loop.

    python benchmarks/cdi_bragg3d.py --scan-dir <data>/AD34idcTIM2_example/Staff20-1a_S0054 \\
        --dark <data>/dark.tif --white <data>/whitefield.tif --spec <data>/example.spec \\
        --pynx-python /tmp/pynxenv/bin/python --cohere-python /tmp/cohereenv/bin/python \\
        --sizes 64 128 --runs 8 --out benchmarks/cdi_bragg3d.json --2d
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FIELD = 128  # voxels of the measured pattern kept around its centre, binned to each size
COHERE = {"algorithm_sequence": "3*(20*ER+180*HIO)+20*ER", "hio_beta": 0.9,
          "initial_support_area": [0.5, 0.5, 0.5], "shrink_wrap_trigger": [1, 1],
          "shrink_wrap_type": "GAUSS", "shrink_wrap_threshold": 0.1,
          "shrink_wrap_gauss_sigma": 1.0, "twin_trigger": [2], "twin_halves": [0, 0]}
PYNX = {"runner": "pynx.cdi.runner.id01 defaults", "nb_raar": 600, "nb_hio": 0, "nb_er": 200,
        "beta": 0.9, "support": "auto (autocorrelation, threshold 0.09..0.11)",
        "support_update_period": 50, "support_threshold": 0.25, "method": "rms",
        "smooth_width": [2, 0.5, 600], "support_fraction": [1e-4, 0.7],
        "detwin": "DetwinRAAR x 10 at 150", "zero_mask": "1 until 360, then 0",
        "init": "InitObjRandom(src=support, amin=0, amax=1, phirange=2pi)",
        "free_pixels": "InitFreePixels(0.05, island_radius=3, exclude_zone_center=0.05)",
        "retries": "x 1.1 / 1.1 threshold on SupportTooLarge / TooSmall, 5 at most",
        "left_out": "final FourierApplyAmplitude; calc_llk", "operators": "NumPy (PYNX_PU=cpu)"}
EXTRA = ("verdict", "device", "version", "threshold", "retries")  # recorded as they are
ITERATIONS = {"pynx": 810, "cohere": 620}  # PyNX: 800 + DetwinRAAR's 10


# -- workers, run in the peers' own Python (NumPy and the peer only) ----------------------
def _pynx_setup():
    np.bool = bool  # PyNX 2022.1 uses the aliases NumPy 1.24+ removed
    np.int = int
    if os.environ.get("PYNX_PU") == "cpu":
        return "numpy (scipy.fftpack)"
    import pyopencl as cl
    from pynx.processing_unit import default_processing_unit

    dev = [d for p in cl.get_platforms() for d in p.get_devices()][0]
    default_processing_unit.set_device(dev, test_fft=False)
    return f"OpenCL {dev.name}"


def _id01_chain(threshold=0.25, n_raar=600, n_er=200, period=50, detwin_at=150,
                unmask_at=360):
    """PyNX's id01 runner's default chain, block by block (its own rule, our code)."""
    from pynx.cdi import ER, RAAR, DetwinRAAR, SupportUpdate

    marks = sorted({0, n_raar, n_raar + n_er, detwin_at, unmask_at,
                    *range(0, n_raar + n_er, period)})
    ops = []
    for i0, i1 in np.stack([marks[:-1], marks[1:]], axis=1).tolist():
        zm = i1 < unmask_at  # masked voxels set to 0 until 60 % of RAAR, then free
        op = (RAAR(beta=0.9, zero_mask=zm) if i1 <= n_raar else ER(zero_mask=zm)) ** (i1 - i0)
        if i1 % period == 0 and i1 < n_raar + n_er:
            op = SupportUpdate(threshold_relative=threshold, smooth_width=(2, 0.5, n_raar),
                               method="rms", min_fraction=1e-4, max_fraction=0.7) * op
        if i1 == detwin_at:
            op = DetwinRAAR(beta=0.9, nb_cycle=10, zero_mask=zm) * op
        ops.append(op)
    return ops


def pynx_worker(inp: str, out: str, runs: int, seed: int) -> None:
    """3D phasing (``n_iter`` absent) or a 2D HIO timing (``n_iter``, ``support``)."""
    device = _pynx_setup()
    from importlib.metadata import version

    from pynx.cdi import CDI, HIO, AutoCorrelationSupport, InitFreePixels, InitObjRandom
    from pynx.cdi.cdi import SupportTooLarge, SupportTooSmall

    d = dict(np.load(inp))
    sh = np.fft.fftshift

    def start(r):
        np.random.seed(seed + r)
        return CDI(sh(d["iobs"]), obj=None, support=None, mask=sh(d["mask"]).astype(np.int8))

    def one(r, n_iter=None):
        t0 = time.perf_counter()
        if n_iter is not None:  # timing (fixed support) or warm-up: plain HIO
            cdi = start(r)
            if "support" in d:
                cdi.set_support(sh(d["support"]))
            else:
                cdi = AutoCorrelationSupport((0.09, 0.11)) * cdi
            cdi = HIO(beta=0.9) ** n_iter * (InitObjRandom(src="support") * cdi)
        for _ in range(6 if n_iter is None else 0):  # the runner's 5 retries, tuned threshold
            cdi = InitFreePixels(ratio=0.05, island_radius=3, exclude_zone_center=0.05) * start(r)
            cdi = AutoCorrelationSupport((0.09, 0.11)) * cdi
            cdi = InitObjRandom(src="support", amin=0, amax=1, phirange=2 * np.pi) * cdi
            try:
                for op in _id01_chain(tuned[0]):
                    cdi = op * cdi
                break
            except (SupportTooLarge, SupportTooSmall) as e:
                tuned[0] *= 1.1 if isinstance(e, SupportTooLarge) else 1 / 1.1
                tuned[1] += 1
        obj = sh(cdi.get_obj())
        return obj, sh(cdi.get_support()) > 0, time.perf_counter() - t0

    tuned = [0.25, 0]  # support threshold, retries
    n_iter = int(d["n_iter"]) if "n_iter" in d else None
    one(0, 5)  # warm-up (OpenCL kernels, FFT plans) outside the timings
    res = [one(r, n_iter) for r in range(runs)]
    np.savez(out, objects=np.stack([r[0] for r in res]), supports=np.stack([r[1] for r in res]),
             seconds=np.array([r[2] for r in res]), device=device, version=version("pynx"),
             numpy=np.__version__, threshold=tuned[0], retries=tuned[1])


def cohere_worker(inp: str, out: str, runs: int, seed: int) -> None:
    """cohere-core's NumPy backend, one ``Rec`` per run; masked voxels as zero amplitude."""
    import contextlib
    import io
    from importlib.metadata import version

    from cohere_core.controller import phasing

    d = np.load(inp)
    objects, supports, seconds = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        np.save(f"{tmp}/data.npy", np.where(d["mask"], 0, np.sqrt(d["iobs"])).astype(np.float32))
        for r in range(runs):
            np.random.seed(seed + r)
            with contextlib.redirect_stdout(io.StringIO()):
                t0 = time.perf_counter()
                rec = phasing.create_rec(dict(COHERE), f"{tmp}/data.npy", "np", -1, debug=True)
                rec.iterate()
                seconds.append(time.perf_counter() - t0)
            # cohere's far field is the inverse FFT: its object is the conjugate of ours
            obj = np.conj(np.fft.fftshift(np.asarray(rec.get_image())))
            objects.append(obj.astype(np.complex64))
            supports.append(np.fft.fftshift(np.asarray(rec.get_support())) > 0)
    np.savez(out, objects=np.stack(objects), supports=np.stack(supports),
             seconds=np.array(seconds), device="numpy", version=version("cohere-core"),
             numpy=np.__version__)


def call_worker(python: str, kind: str, arrays: dict, runs: int, seed: int, env=None) -> dict:
    """Run ``kind``'s worker in ``python`` on ``arrays``; its outputs as a dict."""
    with tempfile.TemporaryDirectory() as tmp:
        np.savez(f"{tmp}/in.npz", **arrays)
        cmd = [python, __file__, "--worker", kind, "--io", f"{tmp}/in.npz", f"{tmp}/out.npz",
               "--runs", str(runs), "--seed", str(seed)]
        done = subprocess.run(cmd, env={**os.environ, **(env or {})}, capture_output=True,
                              text=True)
        if done.returncode:
            raise RuntimeError(f"{kind} worker failed:\n{done.stderr[-3000:]}")
        with np.load(f"{tmp}/out.npz") as d:
            return {k: d[k] for k in d.files}


# -- data -------------------------------------------------------------------------------
def prepare_scan(a, work: Path):
    """The scan through ``cdi-plugins prepare`` (dark as a bad-pixel mask, ROI-cut)."""
    import tifffile

    from cdi_plugins import io

    r0, r1, c0, c1 = a.roi
    tifffile.imwrite(work / "bad.tif", (tifffile.imread(a.dark)[r0:r1, c0:c1] > 1)
                     .astype(np.uint8))
    tifffile.imwrite(work / "white.tif", tifffile.imread(a.white)[r0:r1, c0:c1]
                     .astype(np.float32))
    cmd = ["cdi-plugins", "prepare", a.scan_dir, "--scan", str(a.scan), "--spec", a.spec,
           "--mask", str(work / "bad.tif"), "--white", str(work / "white.tif"),
           "--threshold", "2", "-o", str(work / "pattern.cxi"), "--report", str(work),
           "--no-progress", "--overwrite"]
    subprocess.run(cmd, check=True, capture_output=True)
    intensity, mask = io.read_cxi(work / "pattern.cxi")
    return intensity, mask, " ".join(cmd)


def to_size(intensity, mask, size: int):
    """The central FIELD^3 voxels, binned (summed) to ``size``^3."""
    from cdi_plugins import io

    sl = tuple(slice(n // 2 - FIELD // 2, n // 2 + FIELD // 2) for n in intensity.shape)
    i, m = io.bin_pattern(intensity[sl], mask[sl], FIELD // size)
    return np.where(m, 0, i).astype(np.float32), m


def simulated(size: int, photons: float, seed: int = 0):
    from cdi_plugins import simulate

    obj = simulate.crystal_object_3d(size, extent=0.3, seed=seed)
    sim = simulate.simulate_pattern(obj, photons=photons, seed=seed)
    return sim.intensity, sim.mask, sim.object, sim.support


# -- the codes --------------------------------------------------------------------------
def run_ours(intensity, mask, runs: int, seed: int, threshold: float | None = None,
             growth: bool | None = None):
    """Our defaults; with ``threshold``, the default shrink-wrap at that RMS threshold
    (the ``ours-rms<T>`` codes); ``growth=False``: without the support growth (the
    ``ours-nogrowth`` code, the defaults before it)."""
    import cdi_plugins as cdi

    cdi.phase_retrieval(intensity, mask=mask, algorithm="ER", n_iter=2, device="cpu",
                        show_progress=False)  # warm-up
    sw = True if threshold is None else cdi.ShrinkWrap(threshold=threshold)
    t0 = time.perf_counter()
    res = cdi.phase_retrieval(intensity, mask=mask, n_runs=runs, seed=seed, device="cpu",
                              show_progress=False, shrinkwrap=sw, support_growth=growth)
    dt = time.perf_counter() - t0
    keep = ("schedule", "shrinkwrap", "init", "free_fraction", "constraint", "low_resolution",
            "support_growth")
    return {"objects": res.objects, "supports": res.supports, "seconds": np.array([dt]),
            "n_iter": res.iterations, "verdict": str(res.quality),
            "settings": {k: res.parameters.get(k) for k in keep}}


def run_code(code: str, a, intensity, mask, runs: int) -> dict:
    arrays = {"iobs": intensity, "mask": mask}
    if code == "ours":
        return run_ours(intensity, mask, runs, a.seed)
    if code == "ours-nogrowth":
        return run_ours(intensity, mask, runs, a.seed, growth=False)
    if code.startswith("ours-rms"):
        return run_ours(intensity, mask, runs, a.seed, float(code[len("ours-rms"):]))
    if code == "pynx":
        out = call_worker(a.pynx_python, "pynx", arrays, runs, a.seed, {"PYNX_PU": "cpu"})
    else:
        out = call_worker(a.cohere_python, "cohere", arrays, runs, a.seed)
    return {**out, "n_iter": ITERATIONS[code]}


# -- figures, one formula for every code ----------------------------------------------
def score(out: dict, intensity, mask, truth=None) -> dict:
    from cdi_plugins import metrics

    objs = out["objects"]
    llk = metrics.log_likelihood(objs, intensity, mask, scale="fit")
    best = int(np.argmin(llk))
    err = np.array([metrics.real_space_error(o, objs[best], subpixel=10) for o in objs])
    s = {"runs": len(objs), "iterations": int(out["n_iter"]), "llk": llk.tolist(),
         "R": metrics.r_factor(objs, intensity, mask, scale="fit").tolist(), "best": best,
         "agree": float(np.mean(err < 0.15)), "err_to_best": err.tolist(),
         "support_vox": [int(v.sum()) for v in out["supports"]],
         "ms_per_it_run": float(np.sum(out["seconds"]) / out["n_iter"] / len(objs) * 1e3)}
    if truth is not None:
        s["err_to_truth"] = [metrics.real_space_error(o, truth, subpixel=10) for o in objs]
    return s


def cross_iou(outs: dict, scores: dict, truth=None, truth_support=None) -> dict:
    """Support IoU and real-space error between the codes' best runs, all aligned to one
    reference (the truth, else the first code's best run)."""
    from cdi_plugins import metrics

    best = {c: (o["objects"][scores[c]["best"]], o["supports"][scores[c]["best"]])
            for c, o in outs.items()}
    ref = truth if truth is not None else next(iter(best.values()))[0]
    maps = {"truth": truth_support} if truth_support is not None else {}
    for c, (obj, sup) in best.items():
        aligned, _ = metrics.align_to(ref, np.where(sup, obj, 0), subpixel=10)
        maps[c] = np.abs(aligned) > 0.2 * np.abs(aligned).max()
    names = list(maps)
    iou = {f"{p} | {q}": float((maps[p] & maps[q]).sum() / max((maps[p] | maps[q]).sum(), 1))
           for i, p in enumerate(names) for q in names[i + 1:]}
    err = {f"{p} | {q}": metrics.real_space_error(best[p][0], best[q][0], subpixel=10)
           for i, p in enumerate(best) for q in list(best)[i + 1:]}
    return {"iou": iou, "err_between_best": err,
            "support_vox_best": {c: int(m.sum()) for c, m in maps.items()}}


# -- 2D timing ------------------------------------------------------------------------
def scipy_hio(intensity, mask, support, n_iter, runs, workers, beta=0.9) -> float:
    """A plain HIO loop on scipy.fft (complex64, masked pixels free): seconds."""
    import scipy.fft as sf

    sh = np.fft.ifftshift
    amp, free, sup = sh(np.sqrt(intensity)).astype(np.float32), sh(mask), sh(support)
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for _ in range(runs):
        rho = (sup * np.exp(2j * np.pi * rng.random(sup.shape))).astype(np.complex64)
        for _ in range(n_iter):
            f = sf.fft2(rho, workers=workers)
            f = np.where(free, f, amp * f / np.maximum(np.abs(f), 1e-20))
            y = sf.ifft2(f, workers=workers)
            rho = np.where(sup, y, rho - beta * y)
    return time.perf_counter() - t0


def timing_2d(a, n_iter=200, runs=4) -> dict:
    """ms per HIO iteration and run, on 1 thread and on ``--threads-2d`` (PyNX's NumPy
    path is single-threaded whatever the setting)."""
    import torch
    from scipy import ndimage

    import cdi_plugins as cdi
    from cdi_plugins import simulate

    table = {}
    for n, threads in ((n, t) for n in (256, 512) for t in sorted({1, a.threads_2d})):
        sim = simulate.simulate_pattern(simulate.biological_object(n, seed=0), photons=1e9,
                                        beamstop=3, seed=0)
        sup = ndimage.binary_dilation(sim.support, iterations=4)
        kw = dict(mask=sim.mask, support=sup, algorithm="HIO", n_iter=n_iter, shrinkwrap=False,
                  free_fraction=0, device="cpu", show_progress=False)
        torch.set_num_threads(threads)
        cdi.phase_retrieval(sim.intensity, n_runs=runs, **{**kw, "n_iter": 10})  # warm-up
        t0 = time.perf_counter()
        cdi.phase_retrieval(sim.intensity, n_runs=runs, seed=0, **{**kw, "n_iter": 10})
        short = time.perf_counter() - t0
        t0 = time.perf_counter()
        cdi.phase_retrieval(sim.intensity, n_runs=runs, seed=0, **kw)
        whole = time.perf_counter() - t0
        # the whole call holds a fixed cost (start, likelihoods, the verdict's alignments)
        # that a 10-iteration call holds too: their difference is n_iter - 10 iterations
        row = {"cdi_plugins (torch, batched runs), whole call": whole,
               "cdi_plugins, iterations only": (whole - short) * n_iter / (n_iter - 10)}
        row["scipy.fft loop"] = scipy_hio(sim.intensity, sim.mask, sup, n_iter, runs, threads)
        arrays = {"iobs": sim.intensity, "mask": sim.mask, "support": sup, "n_iter": n_iter}
        env = {"POCL_MAX_PTHREAD_COUNT": str(threads), "OMP_NUM_THREADS": str(threads)}
        for name, pu in (("PyNX NumPy", {"PYNX_PU": "cpu"}), ("PyNX OpenCL (pocl CPU)", {})):
            out = call_worker(a.pynx_python, "pynx", arrays, runs, a.seed, {**env, **pu})
            row[f"{name}: {out['device']}"] = float(out["seconds"].sum())
        key = f"{n}^2, {threads} thread(s)"
        table[key] = {k: v / n_iter / runs * 1e3 for k, v in row.items()}
        print(f"2D {key} ms/it/run", table[key], flush=True)
    torch.set_num_threads(a.threads)
    return {"ms_per_hio_it_run": table, "iterations": n_iter, "runs": runs}


# -- provenance, table, main ------------------------------------------------------------
def machine(a) -> dict:
    import platform

    import scipy
    import torch

    import cdi_plugins

    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo")
                if ln.startswith("model name")), platform.processor())
    return {"date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
            "command": " ".join([Path(sys.executable).name, *sys.argv]), "cpu": cpu,
            "cores": os.cpu_count(), "load_avg": os.getloadavg(), "torch_threads":
            torch.get_num_threads(), "worker_env_threads": a.threads,
            "versions": {"cdi_plugins": cdi_plugins.__version__, "torch": torch.__version__,
                         "numpy": np.__version__, "scipy": scipy.__version__,
                         "python": platform.python_version()}}


def print_table(results: dict) -> None:
    for size, row in results.get("2d_timing", {}).get("ms_per_hio_it_run", {}).items():
        print(f"2D {size} ms per HIO iteration and run:", {k: round(v, 2) for k, v in row.items()})
    print("\n| dataset | size | code | runs x its | LLK best / median | R best / median "
          "| agree | ms/it/run | err to truth (best) |\n|---|---|---|---|---|---|---|---|---|")
    for key, block in ((k, v) for k, v in results.items() if "|" in k):
        for code, s in block.get("codes", {}).items():
            b = s["best"]
            truth = f"{s['err_to_truth'][b]:.3f}" if "err_to_truth" in s else "-"
            print(f"| {key} | {code} | {s['runs']} x {s['iterations']} | {s['llk'][b]:.3g} / "
                  f"{np.median(s['llk']):.3g} | {s['R'][b]:.3f} / {np.median(s['R']):.3f} | "
                  f"{s['agree']:.0%} | {s['ms_per_it_run']:.1f} | {truth} |")
        for k, v in block.get("between_codes", {}).get("iou", {}).items():
            print(f"| {key} | IoU {k} | {v:.2f} |")


def benchmark(a, results: dict, save) -> None:
    scan = prepare_scan(a, Path(a.work)) if a.scan_dir else None
    if scan:
        results["prepare_command"] = scan[2]
        results["prepared_shape"] = list(scan[0].shape)
    for size in a.sizes:
        runs = a.runs if size <= 64 else a.large_runs
        data = {"simulated crystal": simulated(size, a.photons)}
        if scan:
            data = {"measured Au(111) scan 54": (*to_size(scan[0], scan[1], size), None, None),
                    **data}
        for name, (intensity, mask, truth, truth_support) in data.items():
            block = results.setdefault(f"{name} | {size}^3", {"codes": {}})
            block["photons"], block["masked"] = float(intensity.sum()), int(mask.sum())
            outs = {}
            for code in a.codes:
                outs[code] = run_code(code, a, intensity, mask, runs)
                block["codes"][code] = score(outs[code], intensity, mask, truth)
                block["codes"][code].update({k: str(outs[code][k]) for k in EXTRA
                                             if k in outs[code]})
                results["settings"].setdefault(code, outs[code].get("settings"))
                print(name, size, code, {k: v for k, v in block["codes"][code].items()
                                         if not isinstance(v, list)}, flush=True)
                save()
            block["between_codes"] = cross_iou(outs, block["codes"], truth, truth_support)
            print(block["between_codes"], flush=True)
            save()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scan-dir", help="the scan's frames (omit: the simulation only)")
    ap.add_argument("--dark", help="512^2 bad-pixel map (> 1 = bad)")
    ap.add_argument("--white", help="512^2 white field")
    ap.add_argument("--spec")
    ap.add_argument("--scan", type=int, default=54)
    ap.add_argument("--roi", type=int, nargs=4, default=(0, 256, 0, 256),
                    help="the frames' ROI in the dark and white (row0 row1 col0 col1)")
    ap.add_argument("--pynx-python", help="python of PyNX's environment")
    ap.add_argument("--cohere-python", help="python of cohere-core's environment")
    ap.add_argument("--sizes", type=int, nargs="+", default=[64])
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--large-runs", type=int, help="runs at sizes above 64 (default --runs)")
    ap.add_argument("--codes", nargs="+", default=["ours", "pynx", "cohere"],
                    help="ours, pynx, cohere; ours-rmsT: ours with a shrink-wrap "
                         "threshold of T (e.g. ours-rms0.15); ours-nogrowth: ours without "
                         "the support growth")
    ap.add_argument("--photons", type=float, default=1e8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1,
                    help="threads of every code (torch, scipy.fft, OpenMP, pocl)")
    ap.add_argument("--2d", dest="two_d", action="store_true", help="also the 2D HIO timings")
    ap.add_argument("--threads-2d", type=int, default=2, help="2D timings: also on these")
    ap.add_argument("--only-2d", action="store_true", help="the 2D timings alone (with --2d)")
    ap.add_argument("--work", default=tempfile.gettempdir() + "/cdi_bragg3d")
    ap.add_argument("--out", default="benchmarks/cdi_bragg3d.json")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--io", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        return (pynx_worker if a.worker == "pynx" else cohere_worker)(*a.io, a.runs, a.seed)
    import torch

    torch.set_num_threads(a.threads)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "POCL_MAX_PTHREAD_COUNT"):
        os.environ[var] = str(a.threads)
    a.large_runs = a.large_runs or a.runs
    a.codes = [c for c in a.codes if c.startswith("ours") or getattr(a, f"{c}_python")]
    Path(a.work).mkdir(parents=True, exist_ok=True)
    results = {"machine": machine(a), "settings": {"cohere": COHERE, "pynx": PYNX, "field": FIELD,
               "photons_simulated": a.photons, "agree_below": 0.15}}

    def save():
        Path(a.out).write_text(json.dumps(results, indent=1))

    if a.two_d:
        results["2d_timing"] = timing_2d(a)
        save()
    if not a.only_2d:
        benchmark(a, results, save)
    results["machine"].update(finished_utc=time.strftime("%H:%M:%S", time.gmtime()),
                              load_avg_end=os.getloadavg())
    save()
    print_table(results)


if __name__ == "__main__":
    sys.exit(main())
