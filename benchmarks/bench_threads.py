"""Thread counts on a shared machine: 1 thread, 2 threads and the automatic choice of
:func:`tomopy_dlalign.common.parallel.threads.default_threads`, alone and beside a competing busy
process, in one run.

What is timed: 512^2 phasing (``cdi_plugins.phase_retrieval``, HIO, fixed support, one
run, a simulated pattern as in ``cdi_speed.py``), per iteration, as the difference between
a long and a short run divided by the extra iterations (so that the set-up and the final
verdict cancel); with ``--mlem``, MLEM per iteration on 16 slices of 128^2 x 181 angles
(sparse-matrix backend, the projector built once).

Each round, for each condition, a competitor is started (a ``while True: pass`` Python
process with the given duty cycle, at this process's own niceness; none for "alone"), the
automatic choice is made while it runs (as a command started then would make it), then
every thread count is timed ``--repeats`` times in turn (the median is kept), in an order
that rotates between rounds; the competitor is killed before the next condition. With
each figure go the load average and the CPUs used meanwhile by this process, by the
competitor and by every other process (from /proc/stat and the processes' own counters,
so that the figure stays right when the CPUs are saturated): other jobs on a shared
machine come and go, and the summary gives the medians over all rounds and over the quiet
ones (other jobs below 0.3 CPU during every figure of the case). "Chosen count / best" uses
the figure of the count the default chose, timed as a fixed count in the same round, which
leaves out the noise between two timings of one count.

    python benchmarks/bench_threads.py [--rounds 5] [--duty 1.0] [--mlem]
                                       [--wait-policy passive] [--wait-quiet 60]
                                       [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import signal
import statistics
import subprocess
import sys
import time

COMPETITOR = """
import time
busy, idle = {busy}, {idle}
while True:
    t = time.perf_counter()
    while time.perf_counter() - t < busy:
        pass
    if idle:
        time.sleep(idle)
"""


def start_competitor(duty: float) -> subprocess.Popen | None:
    """A busy Python process using ``duty`` of one CPU (periods of 20 ms); None for 0."""
    if duty <= 0:
        return None
    if duty >= 1:
        code = "while True: pass"
    else:
        code = COMPETITOR.format(busy=0.02 * duty, idle=0.02 * (1 - duty))
    proc = subprocess.Popen([sys.executable, "-c", code])
    time.sleep(0.5)  # let it be scheduled and show in /proc/stat
    return proc


def stop(proc: subprocess.Popen | None) -> None:
    if proc is not None:
        proc.kill()
        proc.wait()


def phasing_case(size: int):
    """``run(n_iter)``: one phasing run of ``n_iter`` HIO iterations on a fixed pattern."""
    import cdi_plugins as cdi
    from cdi_plugins import simulate

    sim = simulate.simulate_pattern(simulate.biological_object(size, seed=0), photons=1e9,
                                    seed=0)
    support = cdi.phasing.centred_box(sim.intensity.shape)
    kw = dict(support=support, algorithm="hio", shrinkwrap=False, device="cpu",
              show_progress=False, seed=0)

    def run(n_iter):
        cdi.phase_retrieval(sim.intensity, n_iter=n_iter, **kw)

    return run


def mlem_case():
    import numpy as np

    import tomopy_dlalign as tda

    theta = np.linspace(0, np.pi, 181, endpoint=False)
    vol = tda.simulate.phantom("cells", 128, 16, seed=0).astype(np.float32)
    A = tda.make_projector(theta, 128, backend="cpu", device="cpu")
    tomo = A.forward(vol)

    def run(n_iter):
        tda.mlem(tomo, theta, num_iter=n_iter, projector=A, device="cpu",
                 show_progress=False)

    return run


def _timed(run, n_iter: int) -> float:
    t = time.perf_counter()
    run(n_iter)
    return time.perf_counter() - t


def per_iteration(run, short: int, extra: tuple[int, int], target: float = 0.5) -> float:
    """Seconds per iteration: (time of a long run - time of a ``short`` one) / the extra
    iterations, as many (within ``extra``) as take about ``target`` seconds at the speed
    of a first probe, so that a slow case does not take minutes and a fast one is not
    lost in the noise of the set-up."""
    least, most = extra
    t_short = _timed(run, short)
    probe = (_timed(run, short + least) - t_short) / least
    n = int(min(most, max(least, target / max(probe, 1e-6))))
    t_short = min(t_short, _timed(run, short))
    return max(_timed(run, short + n) - t_short, 1e-9) / n


def _machine_busy() -> tuple[float, float]:
    """CPU-seconds busy (all processes) and wall seconds since boot, summed over CPUs
    from the first line of /proc/stat."""
    fields = [float(f) for f in open("/proc/stat").readline().split()[1:9]]
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(fields) - fields[3] - fields[4]) / tick, sum(fields) / tick


def _process_cpu(pid: int | None) -> float:
    """CPU-seconds used so far by process ``pid`` (this one when None)."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (float(fields[11]) + float(fields[12])) / os.sysconf("SC_CLK_TCK")


class Watch:
    """CPUs used, over a timed stretch, by this process, by the competitor and by all the
    other processes of the machine (from the kernel's counters, so it stays right when
    the CPUs are saturated)."""

    def __init__(self, competitor: int | None):
        self.pid = competitor
        self.start = (_machine_busy(), _process_cpu(None),
                      _process_cpu(competitor) if competitor else 0.0, time.monotonic())

    def stop(self) -> dict:
        (busy0, _), own0, comp0, t0 = self.start
        busy1, _ = _machine_busy()
        own = _process_cpu(None) - own0
        comp = (_process_cpu(self.pid) - comp0) if self.pid else 0.0
        wall = time.monotonic() - t0
        others = max(0.0, (busy1 - busy0) - own - comp) / wall
        return {"ours": own / wall, "competitor": comp / wall, "others": others}


def measure(cases, threads, iters, competitor) -> dict:
    """Per-iteration milliseconds of each case on ``threads`` threads, with the 1-minute
    load average and the CPUs that this process, its competitor and all other processes
    used meanwhile."""
    import torch

    out = {}
    for name, run in cases.items():
        torch.set_num_threads(threads)
        run(2)  # warm-up: FFT plans, allocations, the pool of helper threads
        short, extra = iters[name]
        watch = Watch(competitor)
        ms = 1e3 * per_iteration(run, short, extra)
        out[name] = {"ms": ms, "load1": os.getloadavg()[0], **watch.stop()}
    return out


def _combine(samples: list[dict]) -> dict:
    """The median time of repeated figures, the most load any of them saw."""
    return {"ms": statistics.median(f["ms"] for f in samples),
            "load1": max(f["load1"] for f in samples),
            "others": max(f["others"] for f in samples),
            "ours": statistics.mean(f["ours"] for f in samples),
            "competitor": statistics.mean(f["competitor"] for f in samples),
            "samples": [f["ms"] for f in samples]}


def wait_for_quiet(limit: float, most: float = 0.25) -> float | None:
    """Wait up to ``limit`` seconds for the other processes to use at most ``most`` CPU;
    return what they used over the last second."""
    from tomopy_dlalign.common.parallel.threads import busy_cpus

    end = time.monotonic() + limit
    while True:
        busy = busy_cpus(1.0)
        if busy is None or busy <= most or time.monotonic() > end:
            return busy


def one_round(cases, condition, duty, iters, order, repeats) -> dict:
    """The automatic choice beside a competitor of ``duty``, then every thread count,
    ``repeats`` times in turn (so that a burst of other jobs falls on all of them)."""
    from tomopy_dlalign.common.parallel.threads import default_threads

    proc = start_competitor(duty)
    samples: dict[str, list[dict]] = {str(label): [] for label in order}
    try:
        choice = default_threads()
        for _ in range(repeats):
            for label in order:
                n = choice.threads if label == "default" else label
                samples[str(label)].append(measure(cases, n, iters,
                                                   proc.pid if proc else None))
    finally:
        stop(proc)
    figures = {label: {name: _combine([s[name] for s in runs]) for name in cases}
               for label, runs in samples.items()}
    return {"condition": condition, "default": choice.threads, "busy": choice.busy,
            "figures": figures}


def summarise(rows, cases, quiet: float = 0.3) -> list[str]:
    """One line per case and condition: medians over every round, and over the quiet
    rounds (no figure of the case with other jobs using more than ``quiet`` CPU)."""
    lines = ["| case | condition | rounds | default chose | 1 thread (ms/it) "
             "| 2 threads (ms/it) | default (ms/it) | default / best "
             "| chosen count / best | load1 |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name in cases:
        for condition in dict.fromkeys(r["condition"] for r in rows):
            every = [r for r in rows if r["condition"] == condition]
            calm = [r for r in every if all((f[name]["others"] or 0) <= quiet
                                             for f in r["figures"].values())]
            for label, sel in ((f"all {len(every)}", every), (f"quiet {len(calm)}", calm)):
                if not sel:
                    continue
                med = {k: statistics.median(r["figures"][k][name]["ms"] for r in sel)
                       for k in ("1", "2", "default")}
                loads = [r["figures"][k][name]["load1"] for r in sel for k in r["figures"]]
                chose = ", ".join(str(r["default"]) for r in sel)
                best = min(med["1"], med["2"])
                # the chosen count's figure timed as a fixed count in the same round:
                # free of the noise between two timings of one count
                chosen = statistics.median(r["figures"][str(r["default"])][name]["ms"]
                                           for r in sel)
                lines.append(f"| {name} | {condition} | {label} | {chose} | {med['1']:.1f} "
                             f"| {med['2']:.1f} | {med['default']:.1f} "
                             f"| {med['default'] / best:.2f} | {chosen / best:.2f} "
                             f"| {min(loads):.1f}-{max(loads):.1f} |")
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--duty", type=float, nargs="+", default=[1.0],
                   help="competitors to run beside, as fractions of one CPU (1: always busy)")
    p.add_argument("--repeats", type=int, default=3,
                   help="timings of each figure, of which the median is kept")
    p.add_argument("--mlem", action="store_true", help="time MLEM as well")
    p.add_argument("--wait-policy", choices=["passive", "active"],
                   help="OMP_WAIT_POLICY for this process (default: the runtime's)")
    p.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                   help="before each round, wait up to this long for the other jobs on the "
                        "machine to use at most a quarter of a CPU")
    p.add_argument("--json", help="write every figure here")
    a = p.parse_args()
    if a.wait_policy:  # read by OpenMP when torch loads it: set before the import
        os.environ["OMP_WAIT_POLICY"] = a.wait_policy.upper()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # kill the competitor too
    logging.disable(logging.WARNING)  # each short phasing run reports "not converged"
    import torch

    from tomopy_dlalign.common.parallel.threads import available_cpus

    cases = {f"phasing {a.size}^2": phasing_case(a.size)}
    iters = {f"phasing {a.size}^2": (5, (10, 80))}
    if a.mlem:
        cases["mlem 16x128^2"] = mlem_case()
        iters["mlem 16x128^2"] = (2, (2, 10))
    conditions = [("alone", 0.0)] + [(f"busy {d:g}", d) for d in a.duty]
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"{available_cpus()} available, nice {os.nice(0)}, torch {torch.__version__}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}", flush=True)
    labels = [1, 2, "default"]
    rows = []
    for r in range(a.rounds):
        order = labels[r % 3:] + labels[:r % 3]
        for condition, duty in conditions:
            if a.wait_quiet:
                wait_for_quiet(a.wait_quiet)
            row = one_round(cases, condition, duty, iters, order, a.repeats)
            rows.append(row)
            figs = "  ".join(f"{k}: " + ", ".join(f"{v['ms']:.1f} ms (others {v['others']:.2f})"
                                                   for v in f.values())
                             for k, f in row["figures"].items())
            busy = "?" if row["busy"] is None else f"{row['busy']:.2f}"
            print(f"round {r} {condition}: default {row['default']} (busy {busy})  {figs}",
                  flush=True)
    print("\n".join(summarise(rows, cases)))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"args": vars(a), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
