"""How many CPU threads torch and the BLAS libraries get: the CPUs this process may use,
less those that other processes keep busy. Shared by both packages' command lines.

Why fewer threads than cores: torch's CPU kernels (and the MKL FFTs under them) split
each operation over their threads and wait at the end of it for the slowest. When another
process is busy on one of the cores, the thread that shares that core only runs in turns
with it, and every operation waits for that thread's turn: on a 2-core machine with one
busy process beside it, 512^2 phasing on 2 threads ran 2 to 3 times slower than on 1
thread, and 9 to 30 times slower when other jobs were busy as well, while alone 2 threads
ran twice as fast as 1 (``benchmarks/RESULTS.md``, "Threads on a shared machine"). Giving
up a core that is free costs at most a factor of the cores; taking one that is busy can
cost far more, so the automatic choice leaves out every core that others keep busy.

The order in which a thread count is decided (:func:`choose_threads`):

1. the number given by the caller (the command lines' ``--threads N``, N > 0);
2. the environment variable ``TOMOPY_DLALIGN_THREADS`` (a number; ``0`` or ``auto``:
   automatic);
3. ``OMP_NUM_THREADS``, then ``MKL_NUM_THREADS``: torch reads them at start-up, and a
   user who set them has decided;
4. automatic (:func:`default_threads`): the CPUs available (:func:`available_cpus`:
   the affinity mask, capped by a cgroup CPU quota) less the CPUs busy with other
   processes over a short sample (:func:`busy_cpus`), at least one.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

#: the package's own variable: a thread count, or ``0`` / ``auto`` for the automatic choice
ENV_VARIABLE = "TOMOPY_DLALIGN_THREADS"
#: the OpenMP and MKL variables that torch itself reads at start-up, in the order honoured
RUNTIME_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
#: where the cgroup file systems are mounted, and where a process finds its own groups
CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")
#: the kernel's per-CPU time counters
PROC_STAT = Path("/proc/stat")
#: seconds over which the other processes' CPU use is sampled
SAMPLE_SECONDS = 0.2
#: share of a CPU that others may use and the CPU still count as free: beside a process
#: busy half of the time 2 phasing threads still beat 1 on 2 cores, beside one busy 75 %
#: of the time they tied, beside a busy one they lost (benchmarks/bench_threads.py)
IDLE_SLACK = 0.5
#: threads for work-sharing helpers after an automatic choice (:func:`piece_threads`)
_PIECES: int | None = None


@dataclass(frozen=True)
class ThreadChoice:
    """A thread count and how it was decided.

    Attributes
    ----------
    threads : int
        The count.
    source : str
        ``"argument"``, the name of the environment variable that gave it, or
        ``"automatic"``.
    available : int
        CPUs this process may use (:func:`available_cpus`).
    busy : float or None
        CPUs kept busy by other processes during the sample (automatic choice only;
        None when not sampled or not measurable here).
    """

    threads: int
    source: str
    available: int
    busy: float | None = None

    def __str__(self) -> str:
        count = f"{self.threads} thread{'' if self.threads == 1 else 's'}"
        if self.source != "automatic":
            return f"{count} (from {self.source}; {self.available} CPUs available)"
        busy = "not measured" if self.busy is None else f"{self.busy:.2f} busy with others"
        return f"{count} (automatic: {self.available} CPUs available, {busy})"


def _affinity() -> set[int]:
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return set(range(os.cpu_count() or 1))


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _quota_v2(folder: Path) -> float | None:
    """CPUs allowed by ``cpu.max`` (``"max 100000"``: none; ``"150000 100000"``: 1.5)."""
    text = _read(folder / "cpu.max")
    fields = text.split() if text else []
    if len(fields) != 2 or fields[0] == "max":
        return None
    try:
        quota, period = float(fields[0]), float(fields[1])
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _quota_v1(folder: Path) -> float | None:
    """CPUs allowed by ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (quota -1: none)."""
    quota, period = _read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us")
    try:
        quota_us, period_us = float(quota or ""), float(period or "")
    except ValueError:
        return None
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None


def _groups(proc: Path) -> Iterable[tuple[str, str]]:
    """``(controllers, path)`` of each hierarchy in ``/proc/self/cgroup``; controllers is
    empty for the unified (v2) hierarchy."""
    for line in (_read(proc) or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            yield parts[1], parts[2]


def _walk_up(mount: Path, group: str) -> Iterable[Path]:
    """The folders of ``group`` and of its ancestors under ``mount``; the mount itself when
    the group is not found there (a container that shows its own group as the root)."""
    folder = mount / group.strip("/")
    if not folder.is_dir():
        yield mount
        return
    while True:
        yield folder
        if folder == mount:
            return
        folder = folder.parent


def cgroup_cpu_limit(root: Path | None = None, proc: Path | None = None) -> float | None:
    """The CPUs that the cgroup CPU quota lets this process use, or None without a quota.

    The quota is the smallest over the process's group and its ancestors, read from
    cgroup v2 ``cpu.max`` (mounted at ``root`` or, on hybrid systems, ``root/unified``)
    and from cgroup v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (``root/cpu`` or
    ``root/cpu,cpuacct``). It is a budget of CPU time per period shared by all the
    threads of the group, which is how containers and batch schedulers (Docker's
    ``--cpus``, Kubernetes' CPU limits, Slurm with cgroups) cap a job.

    Parameters
    ----------
    root, proc : Path, optional
        The cgroup mount (default ``/sys/fs/cgroup``) and the file that lists the
        process's groups (default ``/proc/self/cgroup``).

    Returns
    -------
    float or None
        CPUs, possibly fractional (1.5 for ``cpu.max`` ``"150000 100000"``).

    Examples
    --------
    >>> limit = cgroup_cpu_limit()
    >>> limit is None or limit > 0
    True
    """
    root = CGROUP_ROOT if root is None else Path(root)
    proc = PROC_CGROUP if proc is None else Path(proc)
    limits = []
    for controllers, group in _groups(proc):
        if controllers == "":
            mounts, reader = [root, root / "unified"], _quota_v2
        elif "cpu" in controllers.split(","):
            mounts, reader = [root / "cpu", root / controllers, root / "cpu,cpuacct"], _quota_v1
        else:
            continue
        for mount in dict.fromkeys(m for m in mounts if m.is_dir()):
            limits += [q for folder in _walk_up(mount, group) if (q := reader(folder))]
    return min(limits) if limits else None


def available_cpus() -> int:
    """CPUs this process may use: those of its affinity mask (``os.sched_getaffinity``,
    which a cpuset, ``taskset`` or a batch scheduler narrows), capped by the cgroup CPU
    quota (:func:`cgroup_cpu_limit`) rounded up, at least one.

    A quota is rounded up because it budgets CPU time for the whole group per period, not
    cores: 2 threads under a 1.5-CPU quota run together for three quarters of each period
    and use the whole budget, where 1 thread would leave a third of it.

    Examples
    --------
    >>> available_cpus() >= 1
    True
    """
    n = len(_affinity()) or 1
    limit = cgroup_cpu_limit()
    if limit is not None:
        n = min(n, math.ceil(limit - 1e-9))
    return max(1, n)


def _cpu_times(cpus: set[int]) -> tuple[float, float] | None:
    """Busy and total clock ticks summed over ``cpus``, from ``/proc/stat``."""
    text = _read(PROC_STAT)
    if text is None:
        return None
    busy = total = 0.0
    for line in text.splitlines():
        name, *fields = line.split() or [""]
        if not (name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus):
            continue
        # user nice system idle iowait irq softirq steal (guest time is inside user)
        ticks = [float(f) for f in fields[:8]] + [0.0] * (8 - len(fields[:8]))
        total += sum(ticks)
        busy += sum(ticks) - ticks[3] - ticks[4]
    return busy, total


def _own_cpu_seconds() -> float:
    times = os.times()  # all threads of this process
    return times.user + times.system


def busy_cpus(seconds: float = SAMPLE_SECONDS) -> float | None:
    """CPUs of this process's affinity mask kept busy by other processes, averaged over
    ``seconds`` (this process sleeps meanwhile, and what its own threads used is taken
    off), from the kernel's per-CPU counters in ``/proc/stat``. None where there are none
    (not Linux).

    What it cannot see: a process that starts after the sample (the count is chosen once,
    when a command starts), load shorter than the sample, and CPUs outside the affinity
    mask (they are not ours to use anyway). Steal time (a hypervisor running other
    machines) counts as busy.

    Examples
    --------
    >>> busy = busy_cpus(0.05)
    >>> busy is None or busy >= 0
    True
    """
    cpus = _affinity()
    before, own = _cpu_times(cpus), _own_cpu_seconds()
    if before is None:
        return None
    start = time.monotonic()
    time.sleep(seconds)
    after, own = _cpu_times(cpus), _own_cpu_seconds() - own
    elapsed = time.monotonic() - start
    if after is None or after[1] <= before[1]:
        return None
    share = (after[0] - before[0]) / (after[1] - before[1])
    return min(float(len(cpus)), max(0.0, share * len(cpus) - own / elapsed))


def default_threads(seconds: float = SAMPLE_SECONDS) -> ThreadChoice:
    """The automatic thread count: the CPUs available that no other process keeps busy.

    ``threads = max(1, min(available, floor(n_affinity - busy + IDLE_SLACK)))``, where
    ``available`` is :func:`available_cpus`, ``n_affinity`` the CPUs of the affinity
    mask and ``busy`` the CPUs that other processes used over ``seconds``
    (:func:`busy_cpus`): the free CPUs rounded to the nearest whole, as a core counts as
    free while others use less than :data:`IDLE_SLACK` of it.

    The rule was chosen by measurement (``benchmarks/bench_threads.py``, 2 cores, 512^2
    phasing): alone, 2 threads ran twice as fast as 1 and the rule chose 2; beside a
    busy process, 2 threads ran 2 to 30 times slower than 1 and the rule chose 1; beside
    a process busy half of the time, 2 threads were 6 to 25 % faster and the rule chose
    2 in most rounds. It sees the load only while it samples: a job that starts later
    slows a run that took every core (6 times, in one round measured). Give
    ``--threads`` or ``TOMOPY_DLALIGN_THREADS`` when the machine's load is known to
    change. Loops that share their work out in pieces (MLEM, :mod:`tomopy_dlalign.recon`)
    tolerate a busy core and could use every available CPU; they get the same count.

    Returns
    -------
    ThreadChoice
        The count, with the CPUs available and busy that decided it.

    Examples
    --------
    >>> choice = default_threads(0.05)
    >>> 1 <= choice.threads <= choice.available
    True
    """
    available = available_cpus()
    busy = busy_cpus(seconds) if available > 1 else None
    threads = available
    if busy is not None:
        free = len(_affinity()) - busy
        threads = max(1, min(available, math.floor(free + IDLE_SLACK)))
    return ThreadChoice(threads, "automatic", available, busy)


def _from_environment(name: str, ours: bool) -> int | None:
    """A thread count from the variable ``name``; None when unset or automatic. OpenMP
    accepts a list (``"4,2"``, one per nesting level): the first counts."""
    text = os.environ.get(name, "").strip()
    if ours and text.lower() in ("", "0", "auto"):
        return None
    try:
        value = int(text.split(",")[0])
    except ValueError:
        if ours:
            raise ValueError(f"{name} must be a number of threads, 0 or 'auto', "
                             f"got {text!r}") from None
        return None
    if value < 0 and ours:
        raise ValueError(f"{name} must be a number of threads, 0 or 'auto', got {text!r}")
    return value if value > 0 else None


def choose_threads(n: int | None = None) -> ThreadChoice:
    """Decide a thread count without applying it (the order is the module's).

    Parameters
    ----------
    n : int, optional
        A count the caller insists on (``--threads``); None or 0: see the environment,
        then choose automatically.

    Raises
    ------
    ValueError
        ``n`` below 0, or ``TOMOPY_DLALIGN_THREADS`` neither a count, ``0`` nor ``auto``.

    Examples
    --------
    >>> choose_threads(3).threads
    3
    """
    if n is not None and int(n) < 0:
        raise ValueError(f"threads must be a number of threads, 0 or more, got {n}")
    if n:
        return ThreadChoice(int(n), "argument", available_cpus())
    for name in (ENV_VARIABLE, *RUNTIME_VARIABLES):
        value = _from_environment(name, ours=name == ENV_VARIABLE)
        if value is not None:
            return ThreadChoice(value, name, available_cpus())
    return default_threads()


def apply_threads(n: int | None = None) -> ThreadChoice:
    """Size torch's CPU threads (its kernels and its MKL FFTs) and, when threadpoolctl is
    installed, the BLAS libraries' thread pools of this process to :func:`choose_threads`.

    NumPy's and SciPy's FFTs, which this project uses only on small arrays, run on one
    thread whatever is chosen here. Environment variables are left as they are, so
    processes started later decide for themselves.

    Parameters
    ----------
    n : int, optional
        As :func:`choose_threads`.

    Returns
    -------
    ThreadChoice
        What was applied and why (logged at INFO).

    Examples
    --------
    >>> import torch
    >>> before = torch.get_num_threads()
    >>> choice = apply_threads(1)
    >>> torch.get_num_threads(), choice.source
    (1, 'argument')
    >>> _ = apply_threads(before)
    """
    import torch

    choice = choose_threads(n)
    if torch.get_num_threads() != choice.threads:
        torch.set_num_threads(choice.threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn brings it
        pass
    else:
        threadpool_limits(choice.threads, user_api="blas")
    global _PIECES
    # work-sharing helpers (common.parallel.workers: MLEM's and phasing's pieces) take work as they
    # are free, so a core that others keep busy slows them little: with the automatic
    # choice they may use every available CPU, while torch's kernels keep the count that
    # waits for none
    _PIECES = choice.available if choice.source == "automatic" else None
    logger.info("CPU threads: %s", choice)
    return choice



def piece_threads() -> int | None:
    """Threads for work-sharing helpers after an automatic :func:`apply_threads`: the
    CPUs available (busy or not); None when the count was given (then they follow
    torch's count)."""
    return _PIECES
