"""Speed at equal quality: this engine against cohere-core and solvephase.

All three phase the same simulated 256^2 pattern (weakly scattering object, 1e9 photons)
with the same schedule, 3 x (80 HIO + 20 ER), beta 0.9, from a centred box support of
half the array with shrink-wrap every 20 iterations (threshold 0.2, sigma 1 px), complex
objects (no positivity: cohere-core has none), and the same number of random starts. We
report wall time, run-iterations per second and the real-space error of the run with
the lowest final error metric against the truth (after removing translation, twin and
global phase, :func:`cdi_plugins.metrics.real_space_error`).

    python benchmarks/cdi_compare.py [--size 256] [--runs 8] [--threads 2]

The peers are optional and never dependencies of the package; a peer that is not
installed is reported by name with the command that installs it, and the others still
run:

- solvephase: ``pip install solvephase`` (PyPI);
- cohere-core: ``pip install cohere-core`` (PyPI; imported as ``cohere_core``).

PyNX, the third reference code, is compared in ``benchmarks/cdi_pynx.py`` in its own
environment: it is not on PyPI (the PyPI name ``pynx`` is an unrelated nginx tool) and is
built from its public source (the recipe is in ``benchmarks/RESULTS_cdi.md``, section 3).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io as _io
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import cdi_plugins as cdi
from cdi_plugins import metrics, simulate

REPEATS, N_HIO, N_ER, SW_EVERY, SW_THRESHOLD, SW_SIGMA, BETA = 3, 80, 20, 20, 0.2, 1.0, 0.9
#: row name -> (module to import, how to install it); ours needs nothing more
PEERS = {
    "solvephase 0.2.0 (numpy, batched)": ("solvephase", "pip install solvephase (PyPI)"),
    "cohere-core 4.5.4 (numpy, one run at a time)": ("cohere_core",
                                                     "pip install cohere-core (PyPI)"),
}


def missing_peer(name: str) -> str | None:
    """Why the peer of row ``name`` cannot run here (not installed, and how to get it),
    or None when it can."""
    if name not in PEERS:
        return None
    module, install = PEERS[name]
    if importlib.util.find_spec(module) is None:
        return f"not run: {module} is not installed; {install}"
    return None


def run_ours(intensity, truth, n_runs, seed):
    sched = [("HIO", N_HIO), ("ER", N_ER)] * REPEATS
    sw = cdi.ShrinkWrap(start=SW_EVERY, every=SW_EVERY, sigma_start=SW_SIGMA,
                        sigma_end=SW_SIGMA, threshold=SW_THRESHOLD, method="max",
                        max_shrink=1.0)
    box = cdi.phasing.centred_box(intensity.shape)
    # warm-up outside the timing: plugin registry, FFT plans (the others' imports are
    # outside their timings too)
    cdi.phase_retrieval(intensity, support=box, algorithm="hio", n_iter=2, device="cpu")
    t = time.perf_counter()
    res = cdi.phase_retrieval(intensity, support=box, algorithm=sched, n_runs=n_runs, seed=seed,
                              device="cpu", shrinkwrap=sw, show_progress=False,
                              free_fraction=0, constraint="none")  # complex, as the peers
    dt = time.perf_counter() - t
    return dt, metrics.real_space_error(res.best_object, truth)


def run_solvephase(intensity, truth, n_runs, seed):
    import solvephase

    box = cdi.phasing.centred_box(intensity.shape)
    sched = ",".join([f"hio:{N_HIO},er:{N_ER}"] * REPEATS)
    sw = solvephase.ShrinkwrapConfig(every=SW_EVERY, threshold=SW_THRESHOLD, sigma=SW_SIGMA,
                                     sigma_min=SW_SIGMA, start=SW_EVERY)
    t = time.perf_counter()
    res = solvephase.cdi(intensity, box, schedule=sched, starts=n_runs, intensity=True,
                         beta=BETA, shrinkwrap=sw, seed=seed, device="cpu", tol=0.0,
                         check_every=N_HIO + N_ER)
    dt = time.perf_counter() - t
    obj = np.asarray(res.object)
    return dt, metrics.real_space_error(obj, truth)


def run_cohere(intensity, truth, n_runs, seed, pkg="np"):
    from cohere_core.controller import phasing as coh

    np.random.seed(seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "data.npy")
        np.save(path, np.sqrt(intensity).astype(np.float32))  # cohere phases the modulus
        params = {
            "algorithm_sequence": f"{REPEATS}*({N_HIO}*HIO+{N_ER}*ER)",
            "hio_beta": BETA,
            "initial_support_area": (0.5, 0.5),
            "shrink_wrap_trigger": [SW_EVERY, SW_EVERY],
            "shrink_wrap_type": "GAUSS",
            "shrink_wrap_threshold": SW_THRESHOLD,
            "shrink_wrap_gauss_sigma": SW_SIGMA,
        }
        best, t0 = None, time.perf_counter()
        for _ in range(n_runs):  # cohere-core phases one reconstruction per Rec object
            with contextlib.redirect_stdout(_io.StringIO()):
                rec = coh.create_rec(dict(params), path, pkg, -1, debug=True)
                rec.iterate()
            # cohere's far field is the inverse FFT: its object is the conjugate of ours
            img = np.conj(np.fft.fftshift(np.asarray(rec.ds_image)))
            err = rec.errs[-1]
            if best is None or err < best[0]:
                best = (err, img)
        dt = time.perf_counter() - t0
    return dt, metrics.real_space_error(best[1], truth)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--runs", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    obj = simulate.biological_object(a.size, seed=0)
    sim = simulate.simulate_pattern(obj, photons=1e9, seed=0)
    n_it = REPEATS * (N_HIO + N_ER)
    print(f"# {a.size}^2, {a.runs} runs x {n_it} iterations, {a.threads} threads")
    print("| package | wall time (s) | run-it/s | ours faster by | real-space error (best run) |")
    print("|---|---|---|---|---|")
    rows = {}
    for name, fn in (("cdi_plugins (torch, batched)", run_ours),
                     ("solvephase 0.2.0 (numpy, batched)", run_solvephase),
                     ("cohere-core 4.5.4 (numpy, one run at a time)", run_cohere)):
        why = missing_peer(name)
        if why is not None:
            print(f"| {name} | {why} | | | |", flush=True)
            continue
        try:
            rows[name] = fn(sim.intensity, sim.object, a.runs, a.seed)
        except Exception as exc:  # noqa: BLE001 - report why a baseline could not run
            print(f"| {name} | failed: {type(exc).__name__}: {exc} | | | |")
            continue
        dt, err = rows[name]
        ref = rows["cdi_plugins (torch, batched)"][0]
        print(f"| {name} | {dt:.1f} | {a.runs * n_it / dt:.0f} | {dt / ref:.2f}x | {err:.3f} |",
              flush=True)


if __name__ == "__main__":
    main()
