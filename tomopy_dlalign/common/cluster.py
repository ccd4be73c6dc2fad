"""Where batch work runs: in this process, or on a Dask cluster. Shared by both packages.

Every batch entry point (:func:`tomopy_dlalign.align_many`, the slab-wise functions of
:mod:`tomopy_dlalign.scale`, ``cdi_plugins.phase_retrieval(..., cluster=...)``) takes one
``cluster`` argument and hands it to :func:`open_cluster`:

============================  =================================================================
``None`` (default)            in this process, as without Dask (Dask is not even imported)
``"local"``, ``"local:N"``    a ``dask.distributed.LocalCluster`` of N worker processes (default:
                              one per core) with one task at a time each, started here and
                              closed when the call ends
``"tcp://host:port"``         the scheduler of a cluster that is already running
``"slurm:N"``, ``"pbs:N"``    a ``dask-jobqueue`` cluster built from your ``jobqueue.yaml``
                              configuration, scaled to N workers, closed when the call ends
a ``Client``                  used as it is, left open
a cluster object              ``LocalCluster``, ``dask_jobqueue.SLURMCluster(...)``, ...:
                              connected to, left open
============================  =================================================================

Tasks run through :func:`run_tasks`, which also runs them here, one after the other,
when there is no cluster, so that both paths execute the same functions on the same
arguments. On a worker each task first sets PyTorch's and the BLAS libraries' thread
counts to that worker's share of its machine's cores (:func:`worker_threads`): the cores
of a host divided by the task slots of the workers on it. No task starts processes of
its own (no ``multiprocessing``): Dask's workers are the only processes.

Dask is an optional dependency (``pip install tomopy-dlalign[cluster]``): without it,
``cluster=None`` works as always, and any other value raises a
:class:`ModuleNotFoundError` (an :class:`ImportError`) that says what to install; the
command lines report it as bad input (exit 2).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .progress import progress

logger = logging.getLogger(__name__)

#: what the ``cluster`` argument accepts, for error messages and ``--help``
ACCEPTED = ("None (in this process), 'local' or 'local:N' (a LocalCluster of N worker "
            "processes), 'tcp://host:port' (a running scheduler), 'slurm:N' or 'pbs:N' (a "
            "dask-jobqueue cluster from your jobqueue.yaml), a dask.distributed Client, or "
            "a cluster object (LocalCluster, dask_jobqueue.SLURMCluster, ...)")
#: the pip extra that installs Dask
EXTRA = "pip install tomopy-dlalign[cluster]"
#: dask-jobqueue cluster classes reachable by name (``"slurm:8"``)
JOBQUEUE = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster",
            "lsf": "LSFCluster", "htcondor": "HTCondorCluster", "oar": "OARCluster",
            "moab": "MoabCluster"}
#: environment variables that size the BLAS and OpenMP thread pools
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

_LOCAL = re.compile(r"^local(?::(\d+))?$")
_NAMED = re.compile(r"^(" + "|".join(JOBQUEUE) + r")(?::(\d+))?$")
_ADDRESS = re.compile(r"^(tcp|tls|ucx|ws|wss|inproc)://([^\s/:]+|\[[0-9a-fA-F:]+\])(?::(\d+))?$")


@dataclass(frozen=True)
class ClusterSpec:
    """A checked ``cluster`` value.

    ``kind`` is ``"inprocess"``, ``"local"`` (``n_workers`` or None for one per core),
    ``"address"`` (``address``), ``"jobqueue"`` (``name``, ``n_workers``), ``"client"`` or
    ``"cluster"`` (``obj``).
    """

    kind: str
    n_workers: int | None = None
    address: str | None = None
    name: str | None = None
    obj: Any = None


def _bad(cluster, why: str) -> ValueError:
    return ValueError(f"cluster={cluster!r} {why}; cluster accepts {ACCEPTED}")


def parse_cluster(cluster) -> ClusterSpec:
    """Check a ``cluster`` value without importing Dask (see the module's table).

    Raises
    ------
    ValueError
        A value that names no way of running: an unknown word (``"locl"``), no workers
        (``"local:0"``), an address without a host (``"tcp://"``), a number.

    Example
    -------
    >>> parse_cluster("local:2")
    ClusterSpec(kind='local', n_workers=2, address=None, name=None, obj=None)
    >>> parse_cluster(None).kind
    'inprocess'
    """
    if cluster is None:
        return ClusterSpec("inprocess")
    if isinstance(cluster, str):
        text = cluster.strip()
        for pattern, kind in ((_LOCAL, "local"), (_NAMED, "jobqueue")):
            m = pattern.match(text)
            if m:
                count = m.groups()[-1]
                n = None if count is None else int(count)
                if n == 0:
                    raise _bad(cluster, "asks for 0 workers")
                name = m.group(1) if kind == "jobqueue" else None
                return ClusterSpec(kind, n_workers=n, name=name)
        if _ADDRESS.match(text):
            return ClusterSpec("address", address=text)
        if "://" in text:
            raise _bad(cluster, "is not a scheduler address of the form 'tcp://host:port'")
        raise _bad(cluster, "is not a known value")
    if isinstance(cluster, (bool, int, float)):
        raise _bad(cluster, f"is a number ({type(cluster).__name__}), not a cluster (to ask "
                   "for N local workers write 'local:N')")
    kind = type(cluster).__name__
    if kind == "Client" or hasattr(cluster, "submit") and hasattr(cluster, "gather"):
        return ClusterSpec("client", obj=cluster)
    if hasattr(cluster, "scheduler_address") or hasattr(cluster, "scheduler"):
        return ClusterSpec("cluster", obj=cluster)
    raise _bad(cluster, f"is a {kind}, which is neither a Client nor a cluster object")


def require_distributed():
    """Import and return ``dask.distributed``, or raise an ImportError that says how to
    install it."""
    try:
        import dask.array  # noqa: F401 - the extra's other half, checked with it
        import distributed
    except ImportError as exc:
        raise ModuleNotFoundError(
            f"running on a Dask cluster needs dask and distributed, which are not installed "
            f"here ({exc.name or exc}): {EXTRA}", name=exc.name or "distributed") from exc
    return distributed


def local_workers(n_workers: int | None = None) -> int:
    """Worker processes of a ``"local"`` cluster: ``n_workers``, or one per usable core."""
    if n_workers is not None:
        return int(n_workers)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def open_cluster(cluster, memory_limit: str | int | None = None,
                 threads_per_worker: int | None = None) -> Iterator[Any]:
    """Yield a ``dask.distributed.Client`` for ``cluster``, or None for in-process work.

    What this function starts it also stops when the block ends (a ``"local"`` or named
    ``dask-jobqueue`` cluster and the clients it makes); a ``Client`` or cluster object
    given by the caller is left running.

    Parameters
    ----------
    cluster
        See the module's table (:func:`parse_cluster`).
    memory_limit : str or int, optional
        ``"local"`` only: each worker's memory limit (``"1GB"``, bytes); Dask spills to
        disk above 60 % of it and restarts a worker that passes 95 %. Default: the
        machine's memory shared among the workers.
    threads_per_worker : int, optional
        ``"local"`` only: threads of each worker (tasks it runs at once); default 1, so
        that each task has the worker's whole share of the cores.

    Raises
    ------
    ValueError
        A bad ``cluster`` value (before anything starts).
    ImportError
        ``cluster`` needs Dask and it is not installed (:data:`EXTRA`).
    """
    spec = parse_cluster(cluster)
    if spec.kind == "inprocess":
        yield None
        return
    distributed = require_distributed()
    with contextlib.ExitStack() as stack:
        if spec.kind == "client":
            client = spec.obj
        elif spec.kind == "cluster":
            client = stack.enter_context(distributed.Client(spec.obj))
        elif spec.kind == "address":
            client = stack.enter_context(distributed.Client(spec.address))
        elif spec.kind == "jobqueue":
            client = stack.enter_context(distributed.Client(
                stack.enter_context(_jobqueue_cluster(spec))))
        else:
            client = stack.enter_context(distributed.Client(stack.enter_context(
                _local_cluster(distributed, spec.n_workers, memory_limit, threads_per_worker))))
        logger.info("running on %s", _describe(client))
        yield client


#: glibc's threshold above which an allocation is mapped afresh (and unmapped when freed)
#: in the workers of a ``"local"`` cluster without a memory limit (see _local_cluster)
MMAP_THRESHOLD = 32 << 20


def _local_cluster(distributed, n_workers, memory_limit, threads_per_worker):
    """A LocalCluster of ``n_workers`` processes, ``threads_per_worker`` threads each.

    Dask starts its workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which fixes glibc's
    mmap threshold at 128 kB: every array above it is mapped afresh and page-faulted in,
    which cost 1 s of system time per 181 x 128^2 alignment here (1.4 s against 0.4 s in
    one process; benchmarks/RESULTS.md). Without a ``memory_limit`` the workers keep
    arrays under :data:`MMAP_THRESHOLD` in their heap instead; with one, Dask's setting
    (memory handed back to the system as soon as it is freed) is kept.
    """
    import dask

    n = local_workers(n_workers)
    threads = 1 if threads_per_worker is None else int(threads_per_worker)
    share = str(max(1, local_workers() // (n * threads)))
    kwargs = {} if memory_limit is None else {"memory_limit": memory_limit}
    heap = ({} if memory_limit is not None else
            {"distributed.nanny.pre-spawn-environ.MALLOC_MMAP_THRESHOLD_": MMAP_THRESHOLD})
    with dask.config.set(heap):
        return distributed.LocalCluster(
            n_workers=n, threads_per_worker=threads, processes=True, dashboard_address=":0",
            env=dict.fromkeys(THREAD_VARIABLES, share), **kwargs)


@contextlib.contextmanager
def _jobqueue_cluster(spec: ClusterSpec):
    try:
        import dask_jobqueue
    except ImportError as exc:
        raise ModuleNotFoundError(
            f"cluster={spec.name!r} needs dask-jobqueue, which is not installed here: pip "
            "install dask-jobqueue, and configure it (jobqueue.yaml)",
            name=exc.name or "dask_jobqueue") from exc
    cls = getattr(dask_jobqueue, JOBQUEUE[spec.name])
    with cls() as cluster:
        cluster.scale(spec.n_workers or 1)
        yield cluster


def _describe(client) -> str:
    try:
        workers = _workers(client)
        threads = sum(w.get("nthreads", 1) for w in workers.values())
        return f"{client.scheduler.address}: {len(workers)} workers, {threads} threads"
    except Exception:  # noqa: BLE001 - only a log line
        return repr(client)


def _workers(client) -> dict:
    try:
        info = client.scheduler_info(n_workers=-1)
    except TypeError:  # distributed before 2025 lists every worker anyway
        info = client.scheduler_info()
    return info.get("workers", {})


def worker_threads(cores: int, task_slots: int) -> int:
    """Threads each task may use: the host's ``cores`` shared among the ``task_slots``
    (worker threads) of all the workers on that host, at least one.

    >>> worker_threads(16, 4), worker_threads(2, 2), worker_threads(2, 8)
    (4, 1, 1)
    """
    return max(1, int(cores) // max(1, int(task_slots)))


def host_threads(client) -> dict[str, int]:
    """Threads per task on each host of ``client``'s cluster (:func:`worker_threads`),
    keyed by host name as the scheduler reports it."""
    cores = client.run(local_workers)
    slots: dict[str, int] = {}
    host_cores: dict[str, int] = {}
    for address, info in _workers(client).items():
        host = info.get("host", address)
        slots[host] = slots.get(host, 0) + int(info.get("nthreads", 1))
        host_cores[host] = max(host_cores.get(host, 1), int(cores.get(address, 1)))
    return {host: worker_threads(host_cores[host], slots[host]) for host in slots}


_SIZED: list[int] = []  # the thread count set_threads last set in this process


def set_threads(n: int) -> None:
    """Size PyTorch's and the BLAS/OpenMP thread pools of this process to ``n``."""
    import torch

    n = max(1, int(n))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    if _SIZED == [n]:
        return
    _SIZED[:] = [n]
    for name in THREAD_VARIABLES:
        os.environ[name] = str(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn brings it
        return
    threadpool_limits(n)


def worker_memory_limit() -> int | None:
    """The memory limit of the Dask worker running the current task, in bytes; None
    outside a worker or without a limit."""
    try:
        from distributed import get_worker
        worker = get_worker()
    except (ImportError, ValueError):
        return None
    manager = getattr(worker, "memory_manager", None)
    limit = getattr(manager, "memory_limit", None) or getattr(worker, "memory_limit", None)
    return int(limit) if limit else None


@dataclass
class _Failed:
    """A task's exception, returned as a value (``errors="return"``), so that the worker
    does not log it as a crash: the caller reports it."""

    error: BaseException


def _on_worker(func: Callable, threads: dict[str, int], args: tuple, kwargs: dict,
               catch: bool = False):
    """Run one task on a worker after sizing its thread pools to the host's share."""
    from distributed import get_worker

    worker = get_worker()
    host = getattr(worker, "ip", None) or worker.address
    slots = getattr(getattr(worker, "state", worker), "nthreads", 1)
    set_threads(threads.get(host, worker_threads(local_workers(), slots)))
    if not catch:
        return func(*args, **kwargs)
    try:
        return func(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - handed to the caller by run_tasks
        return _Failed(exc)


@dataclass
class TaskResult:
    """One finished task of :func:`run_tasks`: its index in the task list, and its value
    or the exception it raised."""

    index: int
    value: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def run_tasks(func: Callable, tasks: Sequence, client=None, desc: str = "tasks",
              show_progress: bool | None = None, errors: str = "raise",
              key: str | None = None) -> Iterator[TaskResult]:
    """Run ``func(*args, **kwargs)`` for each task, yielding results as they finish.

    Parameters
    ----------
    func : callable
        A module-level function (workers import it by name).
    tasks : sequence
        One entry per task: a tuple of positional arguments, or ``(args, kwargs)`` with
        ``kwargs`` a dict.
    client : distributed.Client or None
        None runs the tasks here, one after the other, in order; a client runs them on
        its workers, all submitted at once, and yields them in the order they finish.
    desc, show_progress
        The progress bar over tasks (shown on a terminal by default).
    errors : {"raise", "return"}
        ``"raise"``: the first failing task's exception is raised (the others are
        cancelled); ``"return"``: it is yielded in :attr:`TaskResult.error` and the other
        tasks go on.
    key : str, optional
        Prefix of the Dask task names (shown on the dashboard).

    Notes
    -----
    A worker that dies mid-task (killed, out of memory) loses nothing: the scheduler
    runs its tasks again elsewhere, and this iterator yields each task once. Leaving the
    iteration early (an error, Ctrl-C) cancels the tasks not yet finished; results
    already yielded stay with the caller.
    """
    if errors not in ("raise", "return"):
        raise ValueError(f"errors must be 'raise' or 'return', got {errors!r}")
    calls = [_split(t) for t in tasks]
    bar = progress(range(len(calls)), desc, show_progress, total=len(calls))
    try:
        source = (_run_here(func, calls) if client is None
                  else _run_there(func, calls, client, key or getattr(func, "__name__", "task"),
                                  catch=errors == "return"))
        for result in source:
            bar.update(1)
            if result.error is not None and errors == "raise":
                raise result.error
            yield result
    finally:
        bar.close()


def _split(task) -> tuple[tuple, dict]:
    if (isinstance(task, tuple) and len(task) == 2 and isinstance(task[0], tuple)
            and isinstance(task[1], dict)):
        return task
    return (task if isinstance(task, tuple) else (task,)), {}


def _run_here(func, calls) -> Iterator[TaskResult]:
    for i, (args, kwargs) in enumerate(calls):
        try:
            value = func(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - handed to the caller by run_tasks
            yield TaskResult(i, error=exc)
        else:
            yield TaskResult(i, value=value)


def _run_there(func, calls, client, key, catch: bool) -> Iterator[TaskResult]:
    from distributed import as_completed

    threads = host_threads(client)
    futures = {}
    for i, (args, kwargs) in enumerate(calls):
        fut = client.submit(_on_worker, func, threads, args, kwargs, catch, pure=False,
                            key=f"{key}-{i}-{os.urandom(4).hex()}")
        futures[fut] = i
    pending = set(futures)
    try:
        for fut in as_completed(list(futures)):
            pending.discard(fut)
            i = futures[fut]
            if fut.status == "error":
                result = TaskResult(i, error=fut.exception())
            else:
                value = fut.result()
                result = (TaskResult(i, error=value.error) if isinstance(value, _Failed)
                          else TaskResult(i, value=value))
            fut.release()
            yield result
    finally:
        if pending:
            client.cancel(list(pending))
