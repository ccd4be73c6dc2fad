"""Scale-out on Dask: throughput of many scans and many phasing runs, memory of one scan
larger than a worker's memory, and a model of a 2048 x 2048 x 1500 scan on 1-64 workers.

Run (each part writes its figures into ``benchmarks/bench_dask.json``, merged with the
parts run before)::

    python benchmarks/bench_dask.py scans   [--n 8] [--size 128] [--nproj 181]
    python benchmarks/bench_dask.py phasing [--runs 96] [--size 256] [--schedule ...]
    python benchmarks/bench_dask.py memory  [--nslice 43264] [--limit 1GB] [--keep] [--no-setup]
    python benchmarks/bench_dask.py costs   # per-slab and per-block costs for the model
    python benchmarks/bench_dask.py model   # the table for 2048 x 2048 x 1500
    python benchmarks/bench_dask.py external [--repeats 3] [--runs 32] [--size 128]

``scans`` and ``phasing`` time the same work in this process (``cluster=None``, torch
with its default threads) and on ``cluster="local:2"`` (2 worker processes x 1 thread),
start-up included and excluded, and the round trip of an empty task. ``memory`` writes a
synthetic scan of line integrals (a 256-slice phantom tiled along the rotation axis,
every projection jittered) of at least 4 GB, then aligns and reconstructs it with
``align_large`` on 2 workers limited to ``--limit`` each (the jitter estimated on
``--rows`` rows in the middle, applied to all), sampling the resident memory of every
worker process every 0.2 s.

``external`` compares workers started outside the package, as a facility starts them (a
``dask scheduler`` and 2 ``dask worker tcp://... --nthreads 1 --memory-limit 2GB``
processes, reached as ``cluster="tcp://..."``), with a ``"local:2"`` cluster of the same
memory limit, and with the same external workers left as Dask starts them (``--before``:
the worker set-up of ``open_cluster`` switched off): phasing throughput and
``align_many`` throughput, each configuration started afresh ``--repeats`` times in
turn, with the workers' user and system CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "bench_dask.json"


def machine() -> dict:
    import dask
    import distributed
    import torch

    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "torch": torch.__version__, "dask": dask.__version__,
            "distributed": distributed.__version__,
            "torch_threads_in_process": torch.get_num_threads()}


LOAD_AT_START = os.getloadavg()[0]


def save(part: str, figures: dict) -> None:
    """Merge ``figures`` into the JSON file with the machine and its load (the 1-minute
    load average when the script started and when it saved: other users' jobs count)."""
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data[part] = figures | {"machine": machine(), "load_1min_at_start": LOAD_AT_START,
                            "load_1min_at_end": os.getloadavg()[0]}
    tmp = RESULTS.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=float))
    os.replace(tmp, RESULTS)
    print(json.dumps(data[part], indent=1, default=float))


def children_cpu_seconds() -> float:
    """CPU seconds (user + system) used so far by this process's children (the workers)."""
    import psutil

    total = 0.0
    for p in psutil.Process().children(recursive=True):
        try:
            t = p.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system
    return total


def empty_task_seconds(client, n: int = 200) -> float:
    """Round trip of an empty task through run_tasks (submit, run, gather), per task."""
    from tomopy_dlalign.common.cluster import local_workers, run_tasks

    list(run_tasks(local_workers, [()] * 10, client))  # warm
    t = time.perf_counter()
    list(run_tasks(local_workers, [()] * n, client))
    return (time.perf_counter() - t) / n


# -- many scans --------------------------------------------------------------------------

def write_scans(folder: Path, n: int, size: int, nproj: int) -> tuple[np.ndarray, list[Path]]:
    """``n`` jittered nanoparticle scans (line integrals, ``size`` x ``size``, ``nproj``
    angles over 180 degrees) written into ``folder``, emptied first: the angles and the
    files."""
    import tomopy_dlalign as tda

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    theta = np.linspace(0, np.pi, nproj, endpoint=False)
    paths = []
    for i in range(n):
        vol = tda.simulate.phantom("nanoparticles", size, size, seed=i)
        prj, _, _ = tda.add_jitter(tda.reproject(vol, theta), -5, 5, seed=i)
        paths.append(folder / f"scan{i}.h5")
        tda.io.write_dx(paths[-1], prj, theta=theta, data_units="1/pixel",
                        state="line_integrals")
    return theta, paths


def bench_scans(args) -> None:
    import torch

    import tomopy_dlalign as tda
    from tomopy_dlalign.common.cluster import open_cluster

    folder = Path(args.work) / "scans"
    theta, paths = write_scans(folder, args.n, args.size, args.nproj)
    if args.threads:
        torch.set_num_threads(args.threads)
    tda.align(tda.io.read(paths[0]).data[:, :64], theta)  # matrix cache, weights: warm
    t, cpu = time.perf_counter(), time.process_time()
    here = tda.align_many(paths, folder / "here", show_progress=False)
    t_here, cpu_here = time.perf_counter() - t, time.process_time() - cpu
    t = time.perf_counter()
    with open_cluster("local:2") as client:
        t_start = time.perf_counter() - t
        t1, cpu = time.perf_counter(), children_cpu_seconds()
        there = tda.align_many(paths, folder / "there", cluster=client, show_progress=False)
        t_run, cpu_there = time.perf_counter() - t1, children_cpu_seconds() - cpu
        per_task = empty_task_seconds(client)
    t_total = time.perf_counter() - t
    diff = max(float(np.abs(tda.io.read(a.output).data - tda.io.read(b.output).data).max())
               for a, b in zip(here, there, strict=True))
    save(f"scans_threads{args.threads}" if args.threads else "scans", {
                   "n_scans": args.n, "shape": [args.nproj, args.size, args.size],
                   "in_process_torch_threads": torch.get_num_threads(),
                   "in_process_cpu_s": cpu_here, "workers_cpu_s": cpu_there,
                   "in_process_s": t_here, "cluster_total_s": t_total,
                   "cluster_startup_s": t_start, "cluster_run_s": t_run,
                   "speedup_total": t_here / t_total, "speedup_run": t_here / t_run,
                   "task_seconds_in_process": [r.seconds for r in here],
                   "task_seconds_on_workers": [r.seconds for r in there],
                   "empty_task_round_trip_s": per_task,
                   "max_abs_difference_aligned": diff})


# -- many phasing runs ---------------------------------------------------------------------

def bench_phasing(args) -> None:
    import cdi_plugins as cdi
    from tomopy_dlalign.common.cluster import open_cluster

    obj = cdi.simulate.biological_object(args.size, seed=0)
    sim = cdi.simulate.simulate_pattern(obj, photons=1e9, beamstop=2, seed=0)
    kw = {"algorithm": args.schedule, "n_runs": args.runs, "seed": 1, "device": "cpu",
          "show_progress": False}
    cdi.phase_retrieval(sim.intensity, mask=sim.mask, **(kw | {"n_runs": 2,
                                                              "algorithm": "HIO**5"}))
    t, cpu = time.perf_counter(), time.process_time()
    here = cdi.phase_retrieval(sim.intensity, mask=sim.mask, **kw)
    t_here, cpu_here = time.perf_counter() - t, time.process_time() - cpu
    t = time.perf_counter()
    with open_cluster("local:2") as client:
        t_start = time.perf_counter() - t
        t1, cpu = time.perf_counter(), children_cpu_seconds()
        there = cdi.phase_retrieval(sim.intensity, mask=sim.mask, cluster=client, **kw)
        t_run, cpu_there = time.perf_counter() - t1, children_cpu_seconds() - cpu
        per_task = empty_task_seconds(client)
    t_total = time.perf_counter() - t
    save("phasing", {"runs": args.runs, "size": args.size, "schedule": args.schedule,
                     "batch_size": here.parameters["batch_size"],
                     "in_process_cpu_s": cpu_here, "workers_cpu_s": cpu_there,
                     "in_process_s": t_here, "cluster_total_s": t_total,
                     "cluster_startup_s": t_start, "cluster_run_s": t_run,
                     "speedup_total": t_here / t_total, "speedup_run": t_here / t_run,
                     "empty_task_round_trip_s": per_task,
                     "max_abs_difference_objects":
                         float(np.abs(here.objects - there.objects).max()),
                     "max_abs_difference_chi2": float(np.abs(here.chi2 - there.chi2).max())})


# -- workers started outside the package (a facility's) ----------------------------------

def start_external(n_workers: int, limit: str, logs: Path):
    """A ``dask scheduler`` on a free local port and ``n_workers`` ``dask worker`` processes
    (``--nthreads 1 --memory-limit limit``), as a facility starts them: ``(address,
    processes)``."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    logs.mkdir(parents=True, exist_ok=True)

    def spawn(name, argv):
        with open(logs / f"{name}.log", "w") as log:
            return subprocess.Popen([sys.executable, "-m", *argv], stdout=log, stderr=log)

    procs = [spawn("scheduler", ["distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                 "--port", str(port), "--dashboard-address", ":0"])]
    procs += [spawn(f"worker{i}", ["distributed.cli.dask_worker", address, "--nthreads", "1",
                                   "--memory-limit", limit]) for i in range(n_workers)]
    return address, procs


def stop_external(procs) -> None:
    for p in reversed(procs):
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()


def tree_cpu(pids) -> tuple[float, float]:
    """User and system CPU seconds of the processes ``pids`` and their children."""
    import psutil

    user = system = 0.0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for p in procs:
            try:
                t = p.cpu_times()
            except psutil.Error:
                continue
            user, system = user + t.user, system + t.system
    return user, system


def _timed_work(client, pids, sim, kw, paths, out: Path) -> dict:
    """Phasing and align_many on ``client`` (warmed first): seconds and worker CPU."""
    import cdi_plugins as cdi
    import tomopy_dlalign as tda

    cdi.phase_retrieval(sim.intensity, mask=sim.mask, cluster=client,
                        **(kw | {"n_runs": 4, "algorithm": "HIO**5"}))        # imports, warm
    tda.align_many(paths[:2], out / "warm", cluster=client, show_progress=False)
    figures = {}
    for name, work in (("phasing", lambda: cdi.phase_retrieval(
                            sim.intensity, mask=sim.mask, cluster=client, **kw)),
                       ("scans", lambda: tda.align_many(paths, out / "run", cluster=client,
                                                        show_progress=False))):
        u0, s0 = tree_cpu(pids)
        t = time.perf_counter()
        work()
        seconds = time.perf_counter() - t
        u1, s1 = tree_cpu(pids)
        figures[name] = {"s": seconds, "user_s": u1 - u0, "system_s": s1 - s0,
                         "system_share": (s1 - s0) / max(u1 - u0 + s1 - s0, 1e-9)}
    shutil.rmtree(out, ignore_errors=True)
    return figures


def bench_external(args) -> None:
    import psutil

    import cdi_plugins as cdi
    from tomopy_dlalign.common import cluster as clusters

    folder = Path(args.work) / "external"
    _, paths = write_scans(folder, args.scans, args.scan_size, args.nproj)
    sim = cdi.simulate.simulate_pattern(cdi.simulate.biological_object(args.size, seed=0),
                                        photons=1e9, beamstop=2, seed=0)
    kw = {"algorithm": args.schedule, "n_runs": args.runs, "seed": 1, "device": "cpu",
          "show_progress": False}
    configs = ["local", "tcp"] + (["tcp_before"] if args.before else [])
    runs = {name: [] for name in configs}
    register = clusters._register_setup  # switched off for "tcp_before" only
    for r in range(args.repeats):
        for name in configs:
            out = folder / f"{name}{r}"
            if name == "local":
                with clusters.open_cluster("local:2", memory_limit=args.limit) as client:
                    pids = [p.pid for p in psutil.Process().children()]
                    runs[name].append(_timed_work(client, pids, sim, kw, paths, out))
            else:
                address, procs = start_external(2, args.limit, folder / f"logs-{name}{r}")
                try:
                    clusters._register_setup = (register if name == "tcp"
                                                else (lambda client: None))
                    with clusters.open_cluster(address, timeout=120) as client:
                        client.wait_for_workers(2, timeout=120)
                        runs[name].append(_timed_work(client, [p.pid for p in procs[1:]],
                                                      sim, kw, paths, out))
                finally:
                    clusters._register_setup = register
                    stop_external(procs)
            print(name, r, json.dumps(runs[name][-1], default=float), flush=True)

    def ratios(work: str, of: str) -> list[float]:
        return [a[work]["s"] / b[work]["s"] for a, b in zip(runs["local"], runs[of],
                                                             strict=True)]

    summary = {f"{work}_tcp_over_local_throughput": ratios(work, "tcp")
               for work in ("phasing", "scans")}
    if args.before:
        summary |= {f"{work}_tcp_before_over_local_throughput": ratios(work, "tcp_before")
                    for work in ("phasing", "scans")}
    medians = {name: {work: {"s": float(np.median([r[work]["s"] for r in rs])),
                             "cpu_s": float(np.median([r[work]["user_s"] + r[work]["system_s"]
                                                       for r in rs]))}
                      for work in ("phasing", "scans")} for name, rs in runs.items()}
    save(f"external_size{args.size}", {"repeats": args.repeats, "limit": args.limit,
                      "phasing": {"runs": args.runs, "size": args.size,
                                  "schedule": args.schedule},
                      "scans": {"n": args.scans, "shape": [args.nproj, args.scan_size,
                                                           args.scan_size]},
                      "runs": runs, "medians": medians, **summary})


# -- one scan larger than a worker's memory -----------------------------------------------

def write_tall_scan(path: Path, nslice: int, ncol: int, nproj: int, period: int = 256,
                    jitter: float = 3.0, seed: int = 0) -> dict:
    """A scan of line integrals ``(nproj, nslice, ncol)`` float32 written slab by slab:
    a ``period``-slice phantom repeated along the rotation axis, so that every projection
    is periodic along rows and its jitter (a shift by (dx, dy)) can be computed on one
    period, circularly, and tiled."""
    import h5py

    import tomopy_dlalign as tda
    from tomopy_dlalign.common.process import record_step

    theta = np.linspace(0, np.pi, nproj, endpoint=False)
    vol = tda.simulate.phantom("nanoparticles", ncol, period, seed=seed)
    base = tda.reproject(vol, theta)                                  # (nproj, period, ncol)
    rng = np.random.default_rng(seed)
    dx, dy = rng.uniform(-jitter, jitter, nproj), rng.uniform(-jitter, jitter, nproj)
    three = np.concatenate([base, base, base], axis=1)
    shifted = tda.shift(three, dx, dy)[:, period:2 * period]          # circular in rows
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("exchange/data", (nproj, nslice, ncol), np.float32)
        ds.attrs["units"] = "1/pixel"
        for r in range(0, nslice, period):
            n = min(period, nslice - r)
            ds[:, r:r + n] = shifted[:, :n]
        th = f.create_dataset("exchange/theta", data=np.degrees(theta))
        th.attrs["units"] = "degrees"
        f.create_dataset("exchange/true_shift_x", data=dx)
        f.create_dataset("exchange/true_shift_y", data=dy)
        record_step(f, "simulate", "line_integrals", {"tiled": period, "jitter": jitter})
    return {"dx": dx, "dy": dy}


class RssSampler:
    """Peak resident memory of every child process of this one (the Dask workers), sampled
    every ``every`` seconds in a thread."""

    def __init__(self, every: float = 0.2):
        import psutil

        self.me = psutil.Process()
        self.every = every
        self.peak: dict[int, int] = {}
        self.names: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        import psutil

        while not self._stop.is_set():
            for p in self.me.children(recursive=True):
                try:
                    rss = p.memory_info().rss
                    self.names.setdefault(p.pid, " ".join(p.cmdline()[-2:])[-60:])
                except psutil.Error:
                    continue
                self.peak[p.pid] = max(self.peak.get(p.pid, 0), rss)
            self._stop.wait(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def bench_memory(args) -> None:
    from dask.utils import parse_bytes

    from tomopy_dlalign.common import cluster as clusters
    from tomopy_dlalign.common.cluster import open_cluster
    from tomopy_dlalign.scale import align_large

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    scan = work / "tall.h5"
    t = time.perf_counter()
    truth = write_tall_scan(scan, args.nslice, args.ncol, args.nproj)
    t_write = time.perf_counter() - t
    size = scan.stat().st_size
    print(f"wrote {scan}: {size / 1e9:.2f} GB in {t_write:.0f} s", flush=True)
    limit = parse_bytes(args.limit)
    if args.no_setup:  # the workers as Dask starts them (the worker set-up switched off)
        clusters._register_setup = lambda client: None
    with open_cluster("local:2", memory_limit=args.limit) as client:
        workers = client.run(os.getpid)
        with RssSampler() as rss:
            if args.rows == "all":  # the network then sees a 338:1 detector: see RESULTS.md
                roi = {"rows": None, "polish_size": args.nslice // 4}
            else:
                start = args.nslice // 2 - int(args.rows) // 2
                roi = {"rows": (start, start + int(args.rows))}
            res = align_large(scan, work / "tall_aligned.h5", recon="fbp",
                              recon_output=work / "tall_rec.h5", cluster=client,
                              show_progress=True, **roi)
        restarts = len(set(client.run(os.getpid).values()) - set(workers.values()))
    peaks = {pid: rss.peak.get(pid, 0) for pid in rss.peak}
    from tomopy_dlalign.prep import residual_rmse

    theta = np.linspace(0, np.pi, args.nproj, endpoint=False)
    figures = {"scan_bytes": size, "shape": [args.nproj, args.nslice, args.ncol],
               "jitter_estimated_on": roi,
               "residual_rmse_px": residual_rmse(res.dx, res.dy, truth["dx"], truth["dy"]),
               "residual_rmse_rigid_removed_px": residual_rmse(res.dx, res.dy, truth["dx"],
                                                               truth["dy"], theta=theta),
               "write_s": t_write, "limit_bytes": limit, "steps_s": res.seconds,
               "worker_pids": list(workers.values()),
               "peak_rss_bytes": {str(p): peaks.get(p, 0) for p in workers.values()},
               "peak_rss_all_children": {f"{p} {rss.names.get(p, '')}": v
                                         for p, v in peaks.items()},
               "workers_restarted": restarts,
               "every_worker_under_limit": all(peaks.get(p, 0) < limit
                                               for p in workers.values()),
               "center": res.center,
               "output_bytes": (work / "tall_aligned.h5").stat().st_size,
               "recon_bytes": (work / "tall_rec.h5").stat().st_size}
    part = "memory" if args.nslice == 43264 else f"memory_nslice{args.nslice}"
    save(part + ("_nosetup" if args.no_setup else ""), figures)
    if not args.keep:
        for name in ("tall.h5", "tall_aligned.h5", "tall_rec.h5"):
            (work / name).unlink(missing_ok=True)


# -- per-slab and per-block costs, and the model --------------------------------------------

def bench_costs(args) -> None:
    """Seconds per slice and per projection of each step of ``align_large``, measured here
    on one thread, the scheduler's cost per task, and one HDF5 writer's rate: the inputs
    of the model (:func:`bench_model`)."""
    import h5py
    import torch

    import tomopy_dlalign as tda
    from tomopy_dlalign.common.cluster import open_cluster
    from tomopy_dlalign.models.jitternet import load_model, predict
    from tomopy_dlalign.prep.alignment import downsample
    from tomopy_dlalign.prep.registration import phase_correlation
    from tomopy_dlalign.scale.blocks import ScanSource

    torch.set_num_threads(1)
    out = {}
    nproj, rows = 1500, 16
    theta = np.linspace(0, np.pi, nproj, endpoint=False)
    for ncol in (64, 128):
        prj = np.abs(np.random.default_rng(0).normal(size=(nproj, rows, ncol))).astype(
            np.float32)
        A = tda.make_projector(theta, ncol, ncol / 2)
        A.forward(np.zeros((1, ncol, ncol), np.float32))           # the matrix: built once
        t = time.perf_counter()
        rec = tda.mlem(prj, theta, num_iter=10, projector=A, show_progress=False)
        A.forward(rec)
        out[f"mlem10_forward_per_slice_s_{ncol}px"] = (time.perf_counter() - t) / rows
        t = time.perf_counter()
        tda.fbp(prj, theta, projector=A)
        out[f"fbp_per_slice_s_{ncol}px"] = (time.perf_counter() - t) / rows
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    big = work / "costs_2048.h5"
    data = np.random.default_rng(4).random((8, 2048, 2048), dtype=np.float32)
    t = time.perf_counter()
    with h5py.File(big, "w") as f:
        f["exchange/data"] = data
        f["exchange/theta"] = np.linspace(0, 180, 8, endpoint=False)
        f["exchange/theta"].attrs["units"] = "degrees"
    out["hdf5_write_GBps"] = data.nbytes / (time.perf_counter() - t) / 1e9
    src = ScanSource(big, prep=False)
    t = time.perf_counter()
    for k in range(8):
        block = torch.from_numpy(src.window((k, k + 1), (0, 2048)))
        downsample(block, 32)
        downsample(block, 4)
    out["read_and_bin_per_projection_s_2048px"] = (time.perf_counter() - t) / 8
    t = time.perf_counter()
    tda.shift(data[:2], [0.3, -0.2], [0.4, 0.1])
    out["shift_per_projection_s_2048px"] = (time.perf_counter() - t) / 2
    big.unlink()
    net = load_model()
    a = np.random.default_rng(1).normal(size=(64, 64, 64)).astype(np.float32)
    t = time.perf_counter()
    predict(net, a, a)
    out["network_per_projection_s_64px"] = (time.perf_counter() - t) / 64
    b = np.random.default_rng(2).normal(size=(16, 512, 512)).astype(np.float32)
    t = time.perf_counter()
    phase_correlation(b, b, denoise=False)
    out["phase_correlation_per_projection_s_512px"] = (time.perf_counter() - t) / 16
    with open_cluster("local:2") as client:
        out["empty_task_round_trip_s"] = empty_task_seconds(client)
    save("costs", out)


def model_table(c: dict, workers=(1, 8, 64), nproj=1500, nslice=2048, ncol=2048,
                block_bytes=32 << 20) -> dict:
    """Time of ``align_large(..., recon="fbp")`` on a ``nproj x nslice x ncol`` scan on W
    workers, from the measured costs ``c``.

    Each step is ``n`` units (projections or slices) of measured cost ``t`` each, cut in
    tasks of about ``block_bytes``; with W workers it takes ``ceil(tasks / W)`` rounds of
    ``units per task x t``, plus ``tasks x o`` of the scheduler's time (``o``: the round
    trip of an empty task, paid serially by the one scheduler). Costs measured at another
    size are scaled by the work they do: MLEM and FBP per slice as ``ncol^2`` (the
    non-zeros of the system matrix per slice), the network per projection as measured
    (its input is always 64 x 64), phase correlation at the polish's 512 px. The two
    files are written by the client alone, at the measured rate of one HDF5 writer: a
    floor no number of workers lowers.
    """
    import math

    polish = 512
    px = 4 * nslice * ncol                           # bytes of one full projection
    mlem64 = c["mlem10_forward_per_slice_s_64px"] * nproj / 1500
    mlem128 = c["mlem10_forward_per_slice_s_128px"] * nproj / 1500
    fbp128 = c["fbp_per_slice_s_128px"] * nproj / 1500

    def per_task(units_total, unit_bytes):
        per = max(1, block_bytes // unit_bytes)
        return math.ceil(units_total / per), per

    # align_large cuts every stack binned from the scan in the scan's own blocks of
    # projections (the pass that reads the file writes one piece per block): the block
    # steps count their tasks in full-size projections

    steps = {  # name: (units, seconds per unit, bytes per unit)
        "read and bin (blocks)": (nproj, c["read_and_bin_per_projection_s_2048px"]
                                  * nslice * ncol / 2048 ** 2, px),
        "network MLEM (slabs, 64 px)": (64, mlem64, 4 * (nproj * 64 + 64 * 64)),
        "network (blocks)": (nproj, c["network_per_projection_s_64px"], px),
        "polish MLEM, 2 rounds (slabs, 512 px)": (
            2 * polish, mlem128 / 2 * (polish / 128) ** 2, 4 * (nproj * polish + polish ** 2)),
        "polish registration, 2 rounds (blocks)": (
            2 * nproj, c["phase_correlation_per_projection_s_512px"], px),
        "final shift (blocks)": (nproj, c["shift_per_projection_s_2048px"]
                                 * nslice * ncol / 2048 ** 2, px),
        "FBP (slabs, 2048 px)": (nslice, fbp128 * (ncol / 128) ** 2,
                                 4 * (nproj * ncol + ncol * ncol)),
    }
    o = c["empty_task_round_trip_s"]
    write_s = (nproj * nslice * ncol + nslice * ncol * ncol) * 4 / (c["hdf5_write_GBps"] * 1e9)
    table, rows = {}, {}
    for name, (units, t, unit_bytes) in steps.items():
        tasks, per = per_task(units, unit_bytes)
        rows[name] = {"units": units, "seconds_per_unit": t, "tasks": tasks,
                      "units_per_task": per, "one_worker_s": units * t}
    for w in workers:
        parts = {}
        for name, r in rows.items():
            rounds = math.ceil(r["tasks"] / w)
            parts[name] = rounds * r["units_per_task"] * r["seconds_per_unit"] + r["tasks"] * o
        compute = sum(parts.values())
        table[w] = {"steps_s": parts, "compute_s": compute, "writer_floor_s": write_s,
                    "total_s": max(compute, write_s),
                    "slowest_step": max(parts, key=parts.get)}
    return {"rows": rows, "table": table, "write_s": write_s, "scheduler_s_per_task": o}


def bench_model(args) -> None:
    data = json.loads(RESULTS.read_text())
    save("model", model_table(data["costs"]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="part", required=True)
    s = sub.add_parser("scans")
    s.add_argument("--n", type=int, default=8)
    s.add_argument("--size", type=int, default=128)
    s.add_argument("--nproj", type=int, default=181)
    s.add_argument("--threads", type=int, default=0,
                   help="torch threads of the in-process run (default: torch's own)")
    s.set_defaults(func=bench_scans)
    s = sub.add_parser("phasing")
    s.add_argument("--runs", type=int, default=96)
    s.add_argument("--size", type=int, default=256)
    s.add_argument("--schedule", default="HIO**150 * ER**50")
    s.set_defaults(func=bench_phasing)
    s = sub.add_parser("memory")
    s.add_argument("--nslice", type=int, default=43264)
    s.add_argument("--ncol", type=int, default=128)
    s.add_argument("--nproj", type=int, default=181)
    s.add_argument("--limit", default="1GB")
    s.add_argument("--rows", default="128",
                   help="rows of the middle of the scan the jitter is estimated on, or all")
    s.add_argument("--keep", action="store_true", help="keep the files")
    s.add_argument("--no-setup", action="store_true",
                   help="switch the worker set-up of open_cluster off (Dask's allocator)")
    s.set_defaults(func=bench_memory)
    s = sub.add_parser("costs")
    s.set_defaults(func=bench_costs)
    s = sub.add_parser("external")
    s.add_argument("--repeats", type=int, default=3)
    s.add_argument("--runs", type=int, default=32)
    s.add_argument("--size", type=int, default=128)
    s.add_argument("--schedule", default="HIO**80 * ER**20")
    s.add_argument("--scans", type=int, default=4)
    s.add_argument("--scan-size", type=int, default=64)
    s.add_argument("--nproj", type=int, default=181)
    s.add_argument("--limit", default="2GB")
    s.add_argument("--before", action="store_true",
                   help="also time the external workers without the worker set-up")
    s.set_defaults(func=bench_external)
    s = sub.add_parser("model")
    s.set_defaults(func=bench_model)
    p.add_argument("--work", default=os.environ.get("TMPDIR", "/tmp") + "/bench_dask")
    args = p.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
