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

Every worker is set up alike, whoever started it (a ``"local"`` cluster, ``dask worker``
processes of a shared scheduler, batch jobs): on connecting, :func:`open_cluster`
registers a worker plugin (:func:`set_up_worker`) that sizes the thread pools and keeps
arrays below :data:`MMAP_THRESHOLD` in the allocator's heap. A task's warnings and
WARNING log records come back with its result and are logged again on the client
(:func:`capturing`).

Nothing waits for ever: a scheduler that does not answer within :data:`CONNECT_TIMEOUT`,
batch jobs that cannot be submitted, or a cluster that has no worker after the timeout
(:func:`resolve_timeout`: :data:`DEFAULT_TIMEOUT` s, or :data:`TIMEOUT_VARIABLE`, or
:func:`cluster_timeout`, or ``timeout=``) raise a :class:`ClusterError` that says which.
:func:`job_script` shows the job script of a batch system without submitting it, and
:func:`add_cluster_options` gives a command line ``--cluster``, ``--cluster-timeout``
and ``--dry-run``.

Dask is an optional dependency (``pip install tomopy-dlalign[cluster]``): without it,
``cluster=None`` works as always, and any other value raises a
:class:`ModuleNotFoundError` (an :class:`ImportError`) that says what to install; the
command lines report it as bad input (exit 2), as they report a :class:`ClusterError`
(an :class:`OSError`).
"""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import inspect
import logging
import os
import re
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
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

#: seconds a cluster may take to get its first worker (batch jobs to start, the workers
#: of a scheduler to connect) before :func:`open_cluster` gives up
DEFAULT_TIMEOUT = 60.0
#: the environment variable that sets that time instead (seconds)
TIMEOUT_VARIABLE = "TOMOPY_DLALIGN_CLUSTER_TIMEOUT"
#: seconds a scheduler address may take to answer (at most the timeout above)
CONNECT_TIMEOUT = 10.0

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
    """Worker processes of a ``"local"`` cluster: ``n_workers``, or one per CPU this
    process may use (:func:`~tomopy_dlalign.common.parallel.threads.available_cpus`)."""
    if n_workers is not None:
        return int(n_workers)
    from .parallel.threads import available_cpus

    return available_cpus()   # the affinity mask, capped by a cgroup CPU quota


class ClusterError(OSError):
    """A cluster that cannot be reached, whose batch jobs cannot be submitted, or that has
    no worker within the timeout: the environment is wrong, not the call (the command
    lines report it in one line and exit with 2)."""


_TIMEOUT: contextvars.ContextVar[float | None] = contextvars.ContextVar("cluster_timeout",
                                                                        default=None)


def _seconds(value, what: str) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number of seconds, got {value!r}") from None
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"{what} must be a number of seconds above 0, got {value!r}")
    return seconds


@contextlib.contextmanager
def cluster_timeout(seconds: float | None) -> Iterator[None]:
    """Within the block, clusters opened without a ``timeout`` wait ``seconds`` for their
    first worker (None: no change); what ``--cluster-timeout`` sets."""
    if seconds is not None:
        seconds = _seconds(seconds, "the cluster timeout (--cluster-timeout)")
    token = _TIMEOUT.set(seconds)
    try:
        yield
    finally:
        _TIMEOUT.reset(token)


def resolve_timeout(timeout: float | None = None) -> float:
    """Seconds a cluster may take to get its first worker: ``timeout``, else that of the
    enclosing :func:`cluster_timeout` block, else the environment variable
    :data:`TIMEOUT_VARIABLE`, else :data:`DEFAULT_TIMEOUT`.

    >>> resolve_timeout(), resolve_timeout(5)
    (60.0, 5.0)
    """
    if timeout is not None:
        return _seconds(timeout, "timeout")
    if _TIMEOUT.get() is not None:
        return _TIMEOUT.get()
    if os.environ.get(TIMEOUT_VARIABLE):
        return _seconds(os.environ[TIMEOUT_VARIABLE], TIMEOUT_VARIABLE)
    return DEFAULT_TIMEOUT


@contextlib.contextmanager
def open_cluster(cluster, memory_limit: str | int | None = None,
                 threads_per_worker: int | None = None,
                 timeout: float | None = None) -> Iterator[Any]:
    """Yield a ``dask.distributed.Client`` for ``cluster``, or None for in-process work.

    What this function starts it also stops when the block ends (a ``"local"`` or named
    ``dask-jobqueue`` cluster and the clients it makes); a ``Client`` or cluster object
    given by the caller is left running. Every worker, now and later, is set up by
    :func:`set_up_worker` (a worker plugin registered here).

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
    timeout : float, optional
        Seconds that a scheduler address (``"tcp://..."``) or a batch system
        (``"slurm:N"``, ...) may take to give the first worker; default
        :func:`resolve_timeout` (60 s). A scheduler must answer within
        :data:`CONNECT_TIMEOUT` s (or ``timeout``, if shorter).

    Raises
    ------
    ValueError
        A bad ``cluster`` or ``timeout`` value, or a batch system not configured
        (before anything starts).
    ImportError
        ``cluster`` needs Dask (or dask-jobqueue) and it is not installed (:data:`EXTRA`).
    ClusterError
        The scheduler does not answer, the batch system refuses the jobs (or is not
        there), or no worker came within ``timeout``.
    RuntimeError
        ``"local"`` called from a script's top level outside
        ``if __name__ == "__main__":`` (its workers would run the script again).
    """
    spec = parse_cluster(cluster)
    if spec.kind == "inprocess":
        yield None
        return
    wait = resolve_timeout(timeout)
    distributed = require_distributed()
    with contextlib.ExitStack() as stack:
        if spec.kind == "client":
            client = spec.obj
        elif spec.kind == "cluster":
            client = stack.enter_context(distributed.Client(spec.obj))
        elif spec.kind == "address":
            client = stack.enter_context(_connect(distributed, spec.address, wait))
            _await_workers(client, wait, f"the scheduler at {spec.address} has no workers")
        elif spec.kind == "jobqueue":
            client = stack.enter_context(_jobqueue_client(distributed, spec, cluster, wait))
        else:
            check_main_guard(cluster)
            client = stack.enter_context(distributed.Client(stack.enter_context(
                _local_cluster(distributed, spec.n_workers, memory_limit, threads_per_worker))))
        _register_setup(client)
        logger.info("running on %s", _describe(client))
        yield client


def _connect(distributed, address: str, wait: float):
    """A client of the scheduler at ``address``, or a :class:`ClusterError` within
    :data:`CONNECT_TIMEOUT` s (Dask alone retries for 30 s or more); at once when the
    host is unknown or nothing listens on the port."""
    seconds = min(CONNECT_TIMEOUT, wait)
    _probe(address, seconds)
    try:
        return distributed.Client(address, timeout=seconds)
    except Exception as exc:  # noqa: BLE001 - whatever answered, it is no scheduler of ours
        text = " ".join(str(exc).split())
        reason = (text or type(exc).__name__) if isinstance(exc, OSError) else (
            f"{type(exc).__name__}: {text}; is it a Dask scheduler?")
        raise ClusterError(f"cannot reach the Dask scheduler at {address}: {reason}; check "
                           "the address, and that `dask scheduler` runs there with its "
                           "port open") from exc


def _probe(address: str, seconds: float) -> None:
    """Open and close a TCP connection to a ``tcp://`` or ``tls://`` address: an unknown
    host or a refused port fails here at once, where Dask would retry until its timeout."""
    import socket

    m = _ADDRESS.match(address)
    if m is None or m.group(1) not in ("tcp", "tls"):
        return
    host, port = m.group(2).strip("[]"), int(m.group(3) or 8786)
    try:
        socket.create_connection((host, port), timeout=seconds).close()
    except socket.gaierror as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {address}: unknown host "
                           f"{host!r} ({exc.strerror or exc}); check the address") from exc
    except ConnectionRefusedError as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {address}: nothing listens "
                           f"on port {port} of {host}; check the address, and that `dask "
                           "scheduler` runs there") from exc
    except OSError:
        return  # a timeout or a firewall: Dask's own attempt says what it finds


def _await_workers(client, wait: float, why: str,
                   refused: Callable[[], str | None] | None = None) -> None:
    """Return once ``client``'s cluster has a worker; raise a :class:`ClusterError` that
    says ``why`` after ``wait`` seconds, or at once when ``refused()`` gives a reason."""
    deadline = time.monotonic() + wait
    while not _workers(client):
        reason = refused() if refused is not None else None
        if reason:
            raise ClusterError(reason)
        if time.monotonic() > deadline:
            raise ClusterError(f"{why} after {wait:g} s; give it more time with "
                               f"--cluster-timeout or {TIMEOUT_VARIABLE} (seconds)")
        time.sleep(0.2)


#: glibc's threshold below which an allocation comes from the heap (reused when freed)
#: rather than mapped afresh, on every worker (see :func:`set_up_worker`)
MMAP_THRESHOLD = 32 << 20


def _local_cluster(distributed, n_workers, memory_limit, threads_per_worker):
    """A LocalCluster of ``n_workers`` processes, ``threads_per_worker`` threads each,
    started with the thread pools of their share of the cores (the allocator is set by
    :func:`set_up_worker`, as on any worker)."""
    n = local_workers(n_workers)
    threads = 1 if threads_per_worker is None else int(threads_per_worker)
    share = str(max(1, local_workers() // (n * threads)))
    kwargs = {} if memory_limit is None else {"memory_limit": memory_limit}
    return distributed.LocalCluster(
        n_workers=n, threads_per_worker=threads, processes=True, dashboard_address=":0",
        env=dict.fromkeys(THREAD_VARIABLES, share), **kwargs)


#: what :func:`check_main_guard` says
MAIN_GUARD = ("starts worker processes, which import your script again from its start "
              "(Python's 'spawn'): put the code that calls it under "
              "`if __name__ == \"__main__\":`, as in docs/scale.md, or use cluster=None")


def check_main_guard(cluster="local") -> None:
    """Refuse to start local worker processes from a script's top level outside
    ``if __name__ == "__main__":``: each worker would run the script again, start its
    own cluster, and Dask would only say "Nanny failed to start".

    Raises
    ------
    RuntimeError
        Called (directly or through a function) from code of the ``__main__`` script
        that is not under its main guard, or from a worker re-running such a script.
    """
    main = sys.modules.get("__main__")
    if getattr(main, "__name__", None) == "__mp_main__":  # a spawned child re-running it
        raise RuntimeError(f"cluster={cluster!r} {MAIN_GUARD}")
    path = getattr(main, "__file__", None)
    if path is None or _spawn_method() == "fork":
        return
    frame = inspect.currentframe()
    while frame is not None and not (frame.f_code.co_name == "<module>"
                                     and frame.f_globals is vars(main)):
        frame = frame.f_back
    if frame is not None and not _under_main_guard(path, frame.f_lineno):
        raise RuntimeError(f"cluster={cluster!r} {MAIN_GUARD}")


def _spawn_method() -> str:
    import dask

    return str(dask.config.get("distributed.worker.multiprocessing-method", "spawn"))


def _under_main_guard(path: str, line: int) -> bool:
    """Whether ``line`` of the script ``path`` lies in a top-level
    ``if __name__ == "__main__":`` block (True when the script cannot be read)."""
    import ast

    try:
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
    except (OSError, SyntaxError, ValueError):
        return True
    for node in tree.body:
        if (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
                and "__name__" in ast.unparse(node.test)
                and "__main__" in ast.unparse(node.test)
                and node.body[0].lineno <= line <= node.body[-1].end_lineno):
            return True
    return False


# -- batch systems (dask-jobqueue) ---------------------------------------------------------

#: what a dry run shows as the scheduler's address (it is known once the cluster starts)
SCRIPT_ADDRESS = "tcp://<scheduler address>:8786"
_NTHREADS = re.compile(r"[ \t]--nthreads(?:=|[ \t]+)(\S+)")


class _JobRefused(RuntimeError):
    """A batch job that could not be submitted (kept, and not logged as a crash)."""


def _jobqueue_module(name: str):
    try:
        import dask_jobqueue
    except ImportError as exc:
        raise ModuleNotFoundError(
            f"cluster={name!r} needs dask-jobqueue, which is not installed here: pip "
            "install dask-jobqueue, and configure it (jobqueue.yaml)",
            name=exc.name or "dask_jobqueue") from exc
    return dask_jobqueue


def _one_nthreads(script: str) -> str:
    """The job script with one ``--nthreads``: dask-jobqueue writes its own (cores /
    processes) before the configuration's ``worker-extra-args``, and the last one
    given is the one ``dask worker`` takes: that value, in the first one's place."""
    found = list(_NTHREADS.finditer(script))
    if len(found) < 2:
        return script
    first = found[0]
    return (script[:first.start()] + f" --nthreads {found[-1].group(1)}"
            + _NTHREADS.sub("", script[first.end():]))


def _job_class(base: type) -> type:
    """``base`` (a dask-jobqueue job class) whose script has one ``--nthreads`` and whose
    refused submissions are kept on the job (``refused``) instead of leaving it half
    started, which the cluster then cannot close."""

    class Job(base):
        refused: str | None = None

        def job_script(self):
            return _one_nthreads(super().job_script())

        async def start(self):
            try:
                await super().start()
            except Exception as exc:
                from distributed.core import Status

                self.refused = _refusal(exc)
                self.status = Status.failed
                raise _JobRefused(self.refused) from exc

    Job.__name__ = Job.__qualname__ = base.__name__
    return Job


def _refusal(exc: BaseException) -> str:
    """What the batch system said, in one line (dask-jobqueue's message spans many)."""
    text = str(exc)
    if "stderr:" in text:  # a submit command that exited with an error
        said = " ".join(text.split("stderr:", 1)[1].split())
        return said or " ".join(text.split())
    return f"{type(exc).__name__}: {' '.join(text.split())}"


def _job_options(name: str) -> dict:
    """What every job of ``name`` gets besides its configuration: the Python that runs
    this process (or the one ``jobqueue.<name>.python`` names)."""
    import dask

    return {"python": dask.config.get(f"jobqueue.{name}.python", None) or sys.executable}


def _unconfigured(name: str, exc: ValueError) -> ValueError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ValueError(f"cluster={name!r}: {first.rstrip(':')}: set them in your "
                      f"jobqueue.yaml (jobqueue: {name}: cores: 8, memory: 32GB; "
                      "docs/scale.md) or build the cluster yourself and pass it")


def job_script(cluster: str) -> str:
    """The script that ``cluster`` (``"slurm:N"``, ``"pbs:N"``, ...) would submit for each
    of its N jobs, from your ``jobqueue.yaml``, without submitting anything; the
    scheduler's address reads :data:`SCRIPT_ADDRESS` (it is known once it starts).

    Its worker command has one ``--nthreads`` and runs this process's Python
    (``sys.executable``) unless the configuration names another (``python:``).

    Raises
    ------
    ValueError
        ``cluster`` names no batch system, or the configuration lacks cores or memory.
    ImportError
        dask-jobqueue is not installed.

    Example
    -------
    >>> print(job_script("slurm:8"))                         # doctest: +SKIP
    #!/usr/bin/env bash
    #SBATCH -J dask-worker
    ...
    """
    spec = parse_cluster(cluster)
    if spec.kind != "jobqueue":
        raise ValueError(f"cluster={cluster!r} submits no batch jobs: a job script (a dry "
                         f"run) is shown for {', '.join(f'{k}:N' for k in JOBQUEUE)}")
    require_distributed()
    base = getattr(_jobqueue_module(spec.name), JOBQUEUE[spec.name]).job_cls
    try:
        job = _job_class(base)(SCRIPT_ADDRESS, name="<worker name>", **_job_options(spec.name))
    except ValueError as exc:
        raise _unconfigured(spec.name, exc) from exc
    return job.job_script()


@contextlib.contextmanager
def _jobqueue_client(distributed, spec: ClusterSpec, cluster, wait: float):
    """A client of a dask-jobqueue cluster scaled to ``spec.n_workers`` jobs, once one
    worker has connected; a :class:`ClusterError` when the jobs cannot be submitted (no
    submit command here, or the batch system refuses them) or no worker comes within
    ``wait`` seconds. The cluster and its jobs are closed when the block ends."""
    import shlex
    import shutil

    cls = getattr(_jobqueue_module(spec.name), JOBQUEUE[spec.name])
    job_cls = _job_class(cls.job_cls)
    submit = shlex.split(job_cls.submit_command)[0]
    if shutil.which(submit) is None:
        raise ClusterError(f"cluster={cluster!r} cannot submit jobs: {submit!r} is not found "
                           "on this machine (run where the batch system takes jobs, such "
                           "as a login node; --dry-run shows the job script)")
    quiet = _QuietRefusals()
    for name in _CALLBACK_LOGGERS:
        logging.getLogger(name).addFilter(quiet)
    try:
        try:
            made = cls(job_cls=job_cls, **_job_options(spec.name))
        except ValueError as exc:
            raise _unconfigured(spec.name, exc) from exc
        with made as jobs, distributed.Client(jobs) as client:
            n = spec.n_workers or 1
            jobs.scale(n)
            logger.info("submitted %d %s jobs; waiting up to %g s for a worker", n,
                        spec.name, wait)
            _await_workers(client, wait, f"cluster={cluster!r}: no worker connected (the "
                           f"{n} jobs may still wait in the queue)",
                           refused=lambda: _refused(jobs, cluster))
            yield client
    finally:
        for name in _CALLBACK_LOGGERS:
            logging.getLogger(name).removeFilter(quiet)


def _refused(jobs, cluster) -> str | None:
    said = [job.refused for job in list(jobs.workers.values())
            if getattr(job, "refused", None)]
    if said:
        return f"cluster={cluster!r}: the batch system refused the jobs: {said[0]}"
    return None


#: where a failed job submission is logged as a crash, from Dask's event loop
_CALLBACK_LOGGERS = ("tornado.application", "asyncio")


class _QuietRefusals(logging.Filter):
    """Drops the tracebacks of refused job submissions (reported by
    :func:`_jobqueue_client` in one line instead)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, _JobRefused):
                return False
            exc = exc.__cause__ or exc.__context__
        return True


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
    return _memory_limit(worker)


def _memory_limit(worker) -> int | None:
    manager = getattr(worker, "memory_manager", None)
    limit = getattr(manager, "memory_limit", None) or getattr(worker, "memory_limit", None)
    return int(limit) if limit else None


# -- every worker set up alike ---------------------------------------------------------------

#: the name of the worker plugin that runs :func:`set_up_worker` on every worker
PLUGIN_NAME = "tomopy-dlalign-setup"


def set_up_worker(worker, threads: dict[str, int] | None = None) -> None:
    """Set up a Dask worker's process for this package's tasks, whoever started it.

    - Thread pools: ``OMP_NUM_THREADS`` and the like (:data:`THREAD_VARIABLES`, read when
      PyTorch and the BLAS libraries start) are the worker's share of its host's cores:
      ``threads[host]`` (:func:`host_threads`), else its host's cores over its own task
      slots. Each task sets them again (:func:`set_threads`).
    - Allocator: arrays below :data:`MMAP_THRESHOLD` come from glibc's heap and are
      reused when freed (:func:`keep_arrays_in_heap`). Dask starts its workers with
      ``MALLOC_TRIM_THRESHOLD_=65536``, which fixes glibc's threshold at 128 kB: every
      larger array is mapped afresh and faulted in page by page. On two ``dask worker``
      processes that was 38-41 % of their CPU time, spent in the system, and cost a
      worker 1 s per 181 x 128^2 alignment (benchmarks/RESULTS.md). A worker with a
      memory limit hands what a task freed back to the system when the task ends
      (:func:`release_memory`), so that Dask's memory monitor sees only live data.

    Registered as a worker plugin by :func:`open_cluster` on every cluster, so it runs
    on the workers there and on those that join later.
    """
    host = getattr(worker, "ip", None) or getattr(worker, "address", None)
    slots = getattr(getattr(worker, "state", worker), "nthreads", 1)
    share = (threads or {}).get(host, worker_threads(local_workers(), slots))
    for name in THREAD_VARIABLES:
        os.environ[name] = str(share)
    keep_arrays_in_heap()


def _libc():
    import ctypes

    try:
        libc = ctypes.CDLL(None)
    except OSError:  # pragma: no cover - no C library to ask
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def keep_arrays_in_heap(threshold: int = MMAP_THRESHOLD) -> bool:
    """Have glibc serve allocations below ``threshold`` bytes from its heap (what
    ``MALLOC_MMAP_THRESHOLD_`` does at a process's start); False where the C library
    is not glibc."""
    libc = _libc()
    return bool(libc is not None and libc.mallopt(-3, int(threshold)))  # -3: M_MMAP_THRESHOLD


def release_memory() -> None:
    """Hand the heap's free memory back to the system (glibc's ``malloc_trim``)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def _setup_plugin(threads: dict[str, int]):
    """The worker plugin that runs :func:`set_up_worker`. Defined on demand: its class
    must derive from Dask's ``WorkerPlugin``, and Dask is imported only when used."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class SetUp(WorkerPlugin):
        name = PLUGIN_NAME

        def __init__(self, threads):
            self.threads = threads

        def setup(self, worker):
            set_up_worker(worker, self.threads)

    return SetUp(threads)


def _register_setup(client) -> None:
    """Set up ``client``'s workers, present and future (:func:`set_up_worker`)."""
    plugin = _setup_plugin(host_threads(client))
    register = getattr(client, "register_plugin", None) or client.register_worker_plugin
    register(plugin, name=PLUGIN_NAME)


# -- a task's warnings -----------------------------------------------------------------------
# A task that runs on a Dask worker warns into the worker's log, which the user of the
# client never reads (a scan without angles aligned on a worker said "assuming 181 angles"
# there only). capturing() records, for the thread that runs a task, every warning
# (warnings.warn) and every log record of level WARNING or above, and lets them go on to
# the process's own log as before; run_tasks returns them with the task's result and logs
# them again on the client. Only the current thread's are caught: a worker that runs
# several tasks at once (one per thread) keeps each task's warnings apart.

@dataclass(frozen=True)
class Caught:
    """One warning a task raised: the logger's name (``"py.warnings"`` for
    ``warnings.warn``), the level and the message (``str()`` gives the message)."""

    logger: str
    level: int
    message: str

    def __str__(self) -> str:
        return self.message


_THREAD = threading.local()  # .sinks: the lists catching this thread's warnings
_LOCK = threading.Lock()
_USERS = [0]                 # capturing() blocks open in this process, all threads
_SHOWN: list = []            # the warnings.showwarning that _show replaced


def _sinks() -> list[list[Caught]]:
    return getattr(_THREAD, "sinks", None) or []


class _Handler(logging.Handler):
    """Copies the current thread's WARNING and above records into its sinks.

    A record that no other handler takes goes to ``logging.lastResort`` (standard error),
    as it would without this one: a Dask worker's own log is often just that.
    """

    def emit(self, record: logging.LogRecord) -> None:
        sinks = [] if getattr(_THREAD, "showing", False) else _sinks()
        if sinks:  # (while showing: a warnings.warn that logging.captureWarnings logs)
            item = Caught(record.name, record.levelno, record.getMessage())
            for sink in sinks:
                sink.append(item)
        last = logging.lastResort
        if last is not None and record.levelno >= last.level and not _handled(record.name):
            last.handle(record)


def _handled(name: str) -> bool:
    """Whether a record of logger ``name`` reaches a handler other than ours."""
    logger: logging.Logger | None = logging.getLogger(name)
    while logger is not None:
        if any(h is not _HANDLER for h in logger.handlers):
            return True
        logger = logger.parent if logger.propagate else None
    return False


_HANDLER = _Handler(logging.WARNING)


def _show(message, category, filename, lineno, file=None, line=None):
    """``warnings.showwarning`` while capturing: into the thread's sinks, then on."""
    item = Caught("py.warnings", logging.WARNING, f"{category.__name__}: {message}")
    for sink in _sinks():
        sink.append(item)
    _THREAD.showing = True
    try:
        _SHOWN[-1](message, category, filename, lineno, file, line)
    finally:
        _THREAD.showing = False


def _install() -> None:
    if warnings.showwarning is not _show:
        _SHOWN.append(warnings.showwarning)
        warnings.showwarning = _show
    root = logging.getLogger()
    if _HANDLER not in root.handlers:
        root.addHandler(_HANDLER)


def _uninstall() -> None:
    if warnings.showwarning is _show:
        warnings.showwarning = _SHOWN.pop()
    logging.getLogger().removeHandler(_HANDLER)


@contextlib.contextmanager
def capturing() -> Iterator[list[Caught]]:
    """Collect this thread's warnings and WARNING log records into the list yielded.

    They still reach the process's handlers and ``stderr`` as without it. Blocks nest
    (each gets what was raised within it) and may be open in several threads at once.

    Example
    -------
    >>> import logging
    >>> with capturing() as caught:
    ...     logging.getLogger("demo").warning("assuming %d angles", 181)
    >>> [str(c) for c in caught]
    ['assuming 181 angles']
    """
    sink: list[Caught] = []
    with _LOCK:
        if _USERS[0] == 0:
            _install()
        _USERS[0] += 1
        # Python shows a warning once per place ("default" action) and remembers it for
        # the process's life, so a worker's second task would raise the first task's
        # warnings unseen; changing the filters (by appending the default rule, which
        # changes nothing else) makes it forget.
        warnings.simplefilter("default", append=True)
    outer = _sinks()
    _THREAD.sinks = [*outer, sink]
    try:
        yield sink
    finally:
        _THREAD.sinks = outer
        with _LOCK:
            _USERS[0] -= 1
            if _USERS[0] == 0:
                _uninstall()


# -- running tasks ---------------------------------------------------------------------------

@dataclass
class _Done:
    """A task's value, with the warnings it raised and the worker that ran it."""

    value: Any
    caught: list[Caught]
    worker: str


@dataclass
class _Failed:
    """A task's exception, returned as a value (``errors="return"``), so that the worker
    does not log it as a crash: the caller reports it."""

    error: BaseException
    caught: list[Caught] = field(default_factory=list)
    worker: str | None = None


#: the attribute of a task's exception that brings its warnings and worker back
_WARNINGS_ATTRIBUTE = "tomopy_dlalign_warnings"


def _on_worker(func: Callable, threads: dict[str, int], args: tuple, kwargs: dict,
               catch: bool = False):
    """Run one task on a worker after sizing its thread pools to the host's share; its
    warnings come back with its value (:class:`_Done`), its exception (``catch``:
    :class:`_Failed`) or on the exception raised (:data:`_WARNINGS_ATTRIBUTE`)."""
    from distributed import get_worker

    worker = get_worker()
    host = getattr(worker, "ip", None) or worker.address
    slots = getattr(getattr(worker, "state", worker), "nthreads", 1)
    set_threads(threads.get(host, worker_threads(local_workers(), slots)))
    try:
        with capturing() as caught:
            try:
                value = func(*args, **kwargs)
            except Exception as exc:
                if not catch:
                    with contextlib.suppress(AttributeError):
                        setattr(exc, _WARNINGS_ATTRIBUTE, (worker.address, list(caught)))
                    raise
                return _Failed(exc, list(caught), worker.address)
        return _Done(value, caught, worker.address)
    finally:
        if _memory_limit(worker):
            release_memory()


@dataclass
class TaskResult:
    """One finished task of :func:`run_tasks`: its index in the task list, its value or
    the exception it raised, the warnings it raised (:class:`Caught` records) and the
    worker that ran it (None: this process)."""

    index: int
    value: Any = None
    error: BaseException | None = None
    caught: list[Caught] = field(default_factory=list)
    worker: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def warnings(self) -> list[str]:
        """The messages of the warnings the task raised, in order."""
        return [str(c) for c in self.caught]


def run_tasks(func: Callable, tasks: Sequence, client=None, desc: str = "tasks",
              show_progress: bool | None = None, errors: str = "raise",
              key: str | None = None, relog: bool = True) -> Iterator[TaskResult]:
    """Run ``func(*args, **kwargs)`` for each task, yielding results as they finish.

    Each result carries the warnings its task raised (:attr:`TaskResult.warnings`:
    ``warnings.warn`` and log records of level WARNING and above, caught in the task's
    thread by :func:`capturing`).

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
    relog : bool
        Log the warnings of the tasks that ran on workers again here, under the logger
        that raised them and naming the worker (those of tasks run here were logged
        here already). False leaves that to the caller.

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
            if relog and result.worker is not None:
                for c in result.caught:
                    logging.getLogger(c.logger).log(c.level, "%s [on worker %s]", c.message,
                                                    result.worker)
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
        with capturing() as caught:
            try:
                result = TaskResult(i, value=func(*args, **kwargs), caught=caught)
            except Exception as exc:  # noqa: BLE001 - handed to the caller by run_tasks
                result = TaskResult(i, error=exc, caught=caught)
        yield result  # outside the block: the caller's own warnings are not the task's


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
                exc = fut.exception()
                address, caught = getattr(exc, _WARNINGS_ATTRIBUTE, (None, []))
                result = TaskResult(i, error=exc, caught=caught, worker=address)
            else:
                done = fut.result()
                result = (TaskResult(i, error=done.error, caught=done.caught, worker=done.worker)
                          if isinstance(done, _Failed)
                          else TaskResult(i, value=done.value, caught=done.caught,
                                          worker=done.worker))
            fut.release()
            yield result
    finally:
        if pending:
            client.cancel(list(pending))


# -- command lines ---------------------------------------------------------------------------

def add_cluster_options(parser: argparse.ArgumentParser, what: str = "the tasks") -> None:
    """``--cluster``, ``--cluster-timeout`` and ``--dry-run``, alike on every command that
    runs on a cluster. The command prints :func:`dry_run_script` and stops when it gives
    a script, and runs within ``cluster_timeout(args.cluster_timeout)``."""
    from .cli import word_or

    parser.add_argument("--cluster", type=word_or("none"), default="none", metavar="WHERE",
                        help=f"where {what} run (docs/scale.md): none (this process), local "
                             "or local:N (N worker processes on this machine), "
                             "tcp://host:port (a running Dask scheduler), slurm:N or pbs:N "
                             "(N batch jobs: dask-jobqueue and your jobqueue.yaml)")
    parser.add_argument("--cluster-timeout", type=float, default=None, metavar="SECONDS",
                        help="give up when the scheduler or the batch system has given no "
                             f"worker after SECONDS (default: ${TIMEOUT_VARIABLE}, else "
                             f"{DEFAULT_TIMEOUT:g}); a scheduler address must answer within "
                             f"{CONNECT_TIMEOUT:g} s")
    parser.add_argument("--dry-run", action="store_true",
                        help="with --cluster slurm:N (pbs:N, ...): print the job script each "
                             "of the N jobs would run, and submit nothing")


def dry_run_script(args: argparse.Namespace) -> str | None:
    """The job script to print for ``--dry-run`` (:func:`job_script`), or None without it.

    Raises
    ------
    ValueError
        ``--dry-run`` without a batch system as ``--cluster``.
    """
    if not getattr(args, "dry_run", False):
        return None
    cluster = getattr(args, "cluster", None)
    if cluster is None or parse_cluster(cluster).kind != "jobqueue":
        raise ValueError("--dry-run shows the job script of a batch system: give --cluster "
                         f"slurm:N (or pbs:N, ...), got --cluster {cluster}")
    return job_script(cluster)
