"""Phasing runs in batches over Dask workers: each run as in one process, whatever the
split; a killed worker loses no run."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

import cdi_plugins as cdi
from cdi_plugins.phasing.distributed import batches
from cdi_plugins.phasing.starts import random_start

KW = {"algorithm": "(HIO**30*ER**10)**2", "seed": 7, "device": "cpu", "show_progress": False}


@pytest.fixture(scope="module")
def pattern():
    sim = cdi.simulate.simulate_pattern(cdi.simulate.biological_object(64, seed=3),
                                        photons=1e7, beamstop=1.5, seed=3)
    return sim.intensity, sim.mask


def _same(a, b):
    np.testing.assert_allclose(a.objects, b.objects, atol=1e-6 * np.abs(a.objects).max())
    np.testing.assert_allclose(a.chi2, b.chi2, rtol=1e-5)
    assert a.llk.keys() == b.llk.keys()
    for name in a.llk:
        np.testing.assert_allclose(a.llk[name], b.llk[name], rtol=1e-6)
    assert a.best == b.best


def test_runs_on_two_workers_equal_the_runs_of_one_process(pattern, dask_client, one_thread):
    here = cdi.phase_retrieval(*pattern, n_runs=7, **KW)
    there = cdi.phase_retrieval(*pattern, n_runs=7, batch_size=3, cluster=dask_client, **KW)
    _same(here, there)
    np.testing.assert_array_equal(here.supports, there.supports)


def test_a_run_is_the_same_whatever_batch_it_lands_in(pattern, one_thread):
    I, mask = pattern
    all_runs = random_start(I, mask, n_runs=9, seed=5)
    np.testing.assert_array_equal(random_start(I, mask, n_runs=4, seed=5, first_run=5),
                                  all_runs[5:])
    one = cdi.phase_retrieval(I, mask, n_runs=6, batch_size=6, **KW)
    split = cdi.phase_retrieval(I, mask, n_runs=6, batch_size=4, **KW)
    _same(one, split)
    with pytest.raises(ValueError, match="first_run"):
        random_start(I, mask, n_runs=2, seed=5, first_run=-1)


def test_batches_cover_every_run_once_and_feed_every_worker():
    for n, size, workers in ((10, 4, 2), (6, 16, 3), (1, 16, 4), (96, 16, 2)):
        cuts = batches(n, size, workers)
        assert [i for a, b in cuts for i in range(a, b)] == list(range(n))
        assert max(b - a for a, b in cuts) <= size
        assert len(cuts) >= min(n, workers)


def _kill_a_busy_worker(client, done: threading.Event, killed: list):
    """Kill (SIGKILL) the process of the first worker seen running a phasing batch, a
    moment after it started it (each batch runs for about a second on a busy machine)."""
    pids = client.run(os.getpid)
    while not done.is_set():
        busy = [w for w, keys in client.processing().items()
                if any("phase-batch" in str(k) for k in keys)]
        if busy:
            time.sleep(0.2)
            killed.append((busy[0], client.processing().get(busy[0], ())))
            os.kill(pids[busy[0]], signal.SIGKILL)
            return
        time.sleep(0.02)


@pytest.mark.long
def test_a_killed_worker_loses_no_run(dask_client, one_thread):
    sim = cdi.simulate.simulate_pattern(cdi.simulate.biological_object(128, seed=3),
                                        photons=1e8, beamstop=1.5, seed=3)
    kw = KW | {"algorithm": "(HIO**100*ER**20)**5"}
    here = cdi.phase_retrieval(sim.intensity, sim.mask, n_runs=4, **kw)
    # both workers import the package first, so that the batches start together
    cdi.phase_retrieval(sim.intensity, sim.mask, n_runs=2, batch_size=1, cluster=dask_client,
                        **(KW | {"algorithm": "ER**2"}))
    before = set(dask_client.run(os.getpid).values())
    done, killed = threading.Event(), []
    killer = threading.Thread(target=_kill_a_busy_worker, args=(dask_client, done, killed))
    killer.start()
    try:
        there = cdi.phase_retrieval(sim.intensity, sim.mask, n_runs=4, batch_size=2,
                                    cluster=dask_client, **kw)
    finally:
        done.set()
        killer.join()
    assert killed and any("phase-batch" in str(k) for k in killed[0][1]), \
        "no worker was killed while it held a batch"
    _same(here, there)                       # the lost batch was run again, elsewhere
    dask_client.wait_for_workers(2, timeout=60)
    assert set(dask_client.run(os.getpid).values()) != before   # one worker was replaced


def test_phase_cli_on_a_running_scheduler_writes_the_runs_of_one_process(pattern,
                                                                         dask_client,
                                                                         tmp_path):
    import h5py

    from cdi_plugins import cli, io

    src = tmp_path / "pattern.cxi"
    io.write_cxi(src, *pattern)
    args = ["phase", str(src), "--algorithm", "HIO**20*ER**10", "--runs", "4", "--seed", "2",
            "--device", "cpu"]
    with pytest.raises(SystemExit) as stop:
        cli.main([*args, "--cluster", "tcp://", "-o", str(tmp_path / "x.h5")])
    assert stop.value.code == 2
    assert cli.main([*args, "-o", str(tmp_path / "here.h5")]) == 0
    assert cli.main([*args, "--cluster", dask_client.scheduler.address,
                     "-o", str(tmp_path / "there.h5")]) == 0
    with h5py.File(tmp_path / "here.h5", "r") as a, h5py.File(tmp_path / "there.h5", "r") as b:
        assert a["exchange/object"].shape == (4, *pattern[0].shape)
        np.testing.assert_allclose(b["exchange/object"][()], a["exchange/object"][()],
                                   atol=1e-6 * np.abs(a["exchange/object"][()]).max())
        np.testing.assert_allclose(b["exchange/chi2"][()], a["exchange/chi2"][()], rtol=1e-5)
