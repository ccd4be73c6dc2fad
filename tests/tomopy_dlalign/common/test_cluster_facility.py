"""Clusters a facility runs: batch systems that fail fast and show their job script, a
scheduler address that fails in seconds, the main-guard message, every worker set up
alike, and the warnings of tasks on workers brought back to the client."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import subprocess
import sys
import textwrap
import time
import warnings

import pytest

from tomopy_dlalign.common.cluster import (
    DEFAULT_TIMEOUT,
    MAIN_GUARD,
    PLUGIN_NAME,
    TIMEOUT_VARIABLE,
    ClusterError,
    add_cluster_options,
    capturing,
    cluster_timeout,
    dry_run_script,
    job_script,
    keep_arrays_in_heap,
    open_cluster,
    resolve_timeout,
    run_tasks,
)


@pytest.fixture
def slurm_config():
    """A jobqueue configuration for SLURM, as a user's jobqueue.yaml would give it, with
    the ``--nthreads`` that docs/scale.md recommends in worker-extra-args."""
    dask = pytest.importorskip("dask")
    pytest.importorskip("dask_jobqueue")
    with dask.config.set({"jobqueue.slurm.cores": 4, "jobqueue.slurm.memory": "4GB",
                          "jobqueue.slurm.processes": 1,
                          "jobqueue.slurm.worker-extra-args": ["--nthreads", "1"],
                          "jobqueue.slurm.scheduler-options": {"dashboard_address": ":0"}}):
        yield


def _commands(folder, **scripts) -> str:
    """A PATH of ``folder`` alone, holding shell scripts ``name: body``."""
    folder.mkdir(exist_ok=True)
    for name, body in scripts.items():
        path = folder / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
    return str(folder)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- time bounds ---------------------------------------------------------------------------

def test_the_timeout_comes_from_the_argument_the_block_the_environment_or_the_default(
        monkeypatch):
    monkeypatch.delenv(TIMEOUT_VARIABLE, raising=False)
    assert resolve_timeout() == DEFAULT_TIMEOUT == 60
    monkeypatch.setenv(TIMEOUT_VARIABLE, "12")
    assert resolve_timeout() == 12
    with cluster_timeout(5):
        assert resolve_timeout() == 5 and resolve_timeout(2) == 2
    with cluster_timeout(None):
        assert resolve_timeout() == 12
    for bad in (0, -1, "soon"):
        with pytest.raises(ValueError, match="seconds"):
            resolve_timeout(bad)
    monkeypatch.setenv(TIMEOUT_VARIABLE, "never")
    with pytest.raises(ValueError, match=TIMEOUT_VARIABLE):
        resolve_timeout()


def test_slurm_without_sbatch_fails_at_once_in_one_line_naming_it(slurm_config, tmp_path,
                                                                   monkeypatch):
    monkeypatch.setenv("PATH", _commands(tmp_path / "bin"))
    t = time.perf_counter()
    with pytest.raises(ClusterError, match="'sbatch' is not found") as err:
        with open_cluster("slurm:2"):
            pass
    assert time.perf_counter() - t < 5
    assert "\n" not in str(err.value) and "--dry-run" in str(err.value)


def test_jobs_the_batch_system_refuses_fail_at_once_with_its_words_and_no_traceback(
        slurm_config, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("PATH", _commands(tmp_path / "bin", sbatch="echo 'sbatch: error: "
                                         "invalid account' >&2; exit 1"))
    t = time.perf_counter()
    with pytest.raises(ClusterError, match="refused the jobs: sbatch: error: invalid account"):
        with open_cluster("slurm:2", timeout=30):
            pass
    assert time.perf_counter() - t < 15
    assert not [r for r in caplog.records if r.exc_info]      # no traceback logged


def test_jobs_that_bring_no_worker_fail_after_the_timeout_saying_so(slurm_config, tmp_path,
                                                                    monkeypatch):
    monkeypatch.setenv("PATH", _commands(tmp_path / "bin", sbatch="echo 'Submitted batch job "
                                         "42'", scancel="exit 0"))
    t = time.perf_counter()
    with pytest.raises(ClusterError, match=r"no worker connected .* after 1 s.*"
                                           "--cluster-timeout"):
        with open_cluster("slurm:2", timeout=1):
            pass
    assert time.perf_counter() - t < 15


def test_without_dask_jobqueue_the_message_says_what_to_install_as_bad_input(monkeypatch):
    from tomopy_dlalign.common.cli import missing_package

    pytest.importorskip("distributed")
    monkeypatch.setitem(sys.modules, "dask_jobqueue", None)
    for call in (lambda: open_cluster("slurm:2").__enter__(), lambda: job_script("pbs:2")):
        with pytest.raises(ModuleNotFoundError, match="pip install dask-jobqueue") as err:
            call()
        assert missing_package(err.value)            # the command lines: exit 2, one line


def test_the_dry_run_shows_one_nthreads_and_this_python_and_submits_nothing(slurm_config,
                                                                            monkeypatch):
    import dask

    monkeypatch.setenv("PATH", "")                     # nothing could be submitted anyway
    parser = argparse.ArgumentParser()
    add_cluster_options(parser, "the scans")
    script = dry_run_script(parser.parse_args(["--cluster", "slurm:2", "--dry-run"]))
    assert script == job_script("slurm:2")
    command = [line for line in script.splitlines() if "dask_worker" in line]
    assert len(command) == 1 and command[0].startswith(f"{sys.executable} -m ")
    assert command[0].count("--nthreads") == 1 and "--nthreads 1 " in command[0]
    assert "#SBATCH --cpus-per-task=4" in script
    with dask.config.set({"jobqueue.slurm.python": "/opt/venv/bin/python"}):
        assert "/opt/venv/bin/python -m " in job_script("slurm:2")
    assert dry_run_script(parser.parse_args(["--cluster", "slurm:2"])) is None
    with pytest.raises(ValueError, match="--dry-run shows the job script of a batch system"):
        dry_run_script(parser.parse_args(["--cluster", "local:2", "--dry-run"]))
    assert parser.parse_args([]).cluster is None


def test_a_wrong_address_fails_within_the_bound_and_leaves_no_output_folder(tmp_path):
    import tomopy_dlalign as tda

    scan = tmp_path / "scan.h5"
    scan.write_bytes(b"")
    out = tmp_path / "aligned" / "day1"
    t = time.perf_counter()
    with pytest.raises(ClusterError, match="cannot reach the Dask scheduler at tcp://"):
        tda.align_many([scan], out, cluster=f"tcp://127.0.0.1:{_free_port()}",
                       cluster_timeout=2, show_progress=False)
    assert time.perf_counter() - t < 10
    assert not (tmp_path / "aligned").exists()


def test_a_scheduler_without_workers_fails_after_the_timeout():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=0, processes=False, protocol="tcp",
                                  dashboard_address=":0") as empty:
        t = time.perf_counter()
        with pytest.raises(ClusterError, match="has no workers after 1 s"):
            with open_cluster(empty.scheduler_address, timeout=1):
                pass
        assert time.perf_counter() - t < 10


# -- the main guard ------------------------------------------------------------------------

def test_a_script_without_a_main_guard_is_told_to_add_one(tmp_path):
    pytest.importorskip("distributed")
    script = tmp_path / "phase.py"
    script.write_text("from tomopy_dlalign.common.cluster import open_cluster\n\n"
                      "with open_cluster('local:2'):\n    pass\n")
    t = time.perf_counter()
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert run.returncode != 0 and time.perf_counter() - t < 60
    assert MAIN_GUARD in run.stderr and 'if __name__ == "__main__":' in run.stderr
    assert "Nanny failed to start" not in run.stderr


def test_a_script_with_a_main_guard_passes_the_check(tmp_path):
    pytest.importorskip("dask")
    script = tmp_path / "phase.py"
    script.write_text(textwrap.dedent("""\
        from tomopy_dlalign.common.cluster import check_main_guard

        def main():
            check_main_guard("local:2")
            print("ok")

        if __name__ == "__main__":
            main()
        """))
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr


# -- every worker set up alike -------------------------------------------------------------

def test_workers_of_any_cluster_are_set_up_on_connect(dask_client):
    from tomopy_dlalign.common.cluster import host_threads

    assert keep_arrays_in_heap() is (sys.platform == "linux")
    with open_cluster(dask_client) as client:                # a cluster started elsewhere
        present = client.run(lambda dask_worker: PLUGIN_NAME in dask_worker.plugins)
        assert set(present.values()) == {True}
        share = set(host_threads(client).values())
        seen = {r.value for r in run_tasks(os.environ.get, [("OMP_NUM_THREADS",)] * 2,
                                           client)}
        assert seen == {str(n) for n in share}


# -- warnings raised on workers ------------------------------------------------------------

def _warns(n: int) -> int:
    logging.getLogger("tomopy_dlalign.io.dxchange").warning("assuming %d angles", n)
    warnings.warn(f"odd scan {n}", stacklevel=1)
    return n


def test_capturing_keeps_the_thread_s_warnings_and_lets_them_through(caplog):
    with pytest.warns(UserWarning, match="odd scan 3"), capturing() as outer:
        with caplog.at_level(logging.WARNING), capturing() as inner:
            assert _warns(3) == 3
    assert [str(c) for c in inner] == ["assuming 3 angles", "UserWarning: odd scan 3"]
    assert outer == inner
    assert "assuming 3 angles" in caplog.text                  # still logged here


def test_a_worker_s_warnings_reach_the_client_s_log_and_the_result(dask_client, caplog):
    cloudpickle = pytest.importorskip("cloudpickle")
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests
    try:
        with caplog.at_level(logging.WARNING):
            results = sorted(run_tasks(_warns, [(1,), (2,)], dask_client),
                             key=lambda r: r.index)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    for r in results:
        n = r.value
        assert r.worker is not None
        assert r.warnings == [f"assuming {n} angles", f"UserWarning: odd scan {n}"]
        assert f"assuming {n} angles [on worker {r.worker}]" in caplog.text


def test_both_command_lines_print_the_job_script_with_dry_run_and_write_nothing(
        slurm_config, tmp_path, monkeypatch, capsys):
    from cdi_plugins.cli import main as cdi_main
    from tomopy_dlalign.cli import main as tda_main

    monkeypatch.setenv("PATH", "")                     # nothing could be submitted anyway
    scan, pattern = tmp_path / "scan.h5", tmp_path / "pattern.cxi"
    assert tda_main(["simulate", "-o", str(scan), "--size", "16", "--nslice", "2",
                     "--nproj", "8"]) == 0
    assert cdi_main(["simulate", "-o", str(pattern), "--size", "32"]) == 0
    capsys.readouterr()
    for main, argv in ((tda_main, ["align", str(scan), "-o", str(tmp_path / "out.h5")]),
                       (cdi_main, ["phase", str(pattern), "-o", str(tmp_path / "out.cxi")])):
        assert main([*argv, "--cluster", "slurm:2", "--dry-run"]) == 0
        printed = capsys.readouterr().out
        assert printed.strip() == job_script("slurm:2").strip()
        worker = [line for line in printed.splitlines() if "dask_worker" in line]
        assert len(worker) == 1 and worker[0].count("--nthreads") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pattern.cxi", "scan.h5"]
