"""The one ``cluster`` argument: its values, its errors, Dask as an optional extra, the
tasks' thread share, and the in-process path."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
import torch

from tomopy_dlalign.common.cluster import (
    EXTRA,
    open_cluster,
    parse_cluster,
    run_tasks,
    worker_threads,
)


@pytest.mark.parametrize("bad", ["locl", "local:0", "local:-1", "tcp://", "tcp://:8786",
                                 "slurm:0", 2, True, 1.5, object()])
def test_values_that_name_no_way_of_running_are_refused_naming_cluster(bad):
    with pytest.raises(ValueError, match=r"cluster=.*cluster accepts None .*'local:N'.*tcp://"):
        parse_cluster(bad)


@pytest.mark.parametrize("value, kind, n", [(None, "inprocess", None), ("local", "local", None),
                                           ("local:3", "local", 3), ("slurm:8", "jobqueue", 8),
                                           ("tcp://10.0.0.5:8786", "address", None),
                                           ("tcp://scheduler.example", "address", None)])
def test_values_that_make_sense_are_read(value, kind, n):
    spec = parse_cluster(value)
    assert (spec.kind, spec.n_workers) == (kind, n)


def test_without_dask_the_in_process_path_works_and_local_asks_for_the_extra(monkeypatch):
    import cdi_plugins as cdi

    for name in ("dask", "dask.array", "distributed"):
        monkeypatch.setitem(sys.modules, name, None)
    with open_cluster(None) as client:
        assert client is None
        assert [r.value for r in run_tasks(math.sqrt, [4.0, 9.0], client)] == [2.0, 3.0]
    with pytest.raises(ImportError, match=r"pip install tomopy-dlalign\[cluster\]"):
        with open_cluster("local:2"):
            pass
    intensity = np.abs(np.fft.fftshift(np.fft.fft2(np.pad(np.ones((6, 6)), 13)))) ** 2
    res = cdi.phase_retrieval(intensity, algorithm="ER**5", n_runs=2, seed=0, device="cpu")
    assert res.objects.shape == (2, 32, 32)
    with pytest.raises(ImportError, match=EXTRA.replace("[", r"\[").replace("]", r"\]")):
        cdi.phase_retrieval(intensity, algorithm="ER**5", n_runs=2, seed=0, cluster="local")


def test_run_tasks_here_returns_or_raises_failures():
    got = list(run_tasks(math.sqrt, [4.0, -1.0, 9.0], errors="return"))
    assert [r.index for r in got] == [0, 1, 2]
    assert got[0].value == 2.0 and isinstance(got[1].error, ValueError) and got[2].ok
    with pytest.raises(ValueError, match="math domain"):
        list(run_tasks(math.sqrt, [-1.0, 4.0]))
    with pytest.raises(ValueError, match="errors"):
        list(run_tasks(math.sqrt, [1.0], errors="ignore"))


def test_a_host_s_cores_are_shared_among_its_task_slots():
    assert worker_threads(16, 4) == 4
    assert worker_threads(2, 2) == 1
    assert worker_threads(2, 8) == 1       # never zero threads


def test_tasks_on_workers_use_their_share_of_the_cores(dask_client):
    from tomopy_dlalign.common.cluster import host_threads, local_workers

    share = host_threads(dask_client)
    assert set(share.values()) == {worker_threads(local_workers(), 2)}
    seen = [r.value for r in run_tasks(torch.get_num_threads, [()] * 4, dask_client)]
    assert seen == [worker_threads(local_workers(), 2)] * 4


def test_local_starts_a_cluster_with_its_limits_and_closes_it():
    from tomopy_dlalign.common.cluster import local_workers

    pytest.importorskip("distributed")
    with open_cluster("local:1", memory_limit="700MB") as client:
        workers = client.scheduler_info()["workers"].values()
        assert [w["memory_limit"] for w in workers] == [700_000_000]
        assert [w["nthreads"] for w in workers] == [1]
        assert [r.value for r in run_tasks(math.sqrt, [16.0], client)] == [4.0]
        # one worker gets all the cores (Dask alone would give its tasks one thread)
        seen = [r.value for r in run_tasks(torch.get_num_threads, [()], client)]
        assert seen == [worker_threads(local_workers(), 1)]
    assert client.status == "closed"
