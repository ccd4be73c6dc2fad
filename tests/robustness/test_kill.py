"""Kill tests: command-line writers killed (SIGKILL) at random instants leave either
the old file or the complete new one, and a killed make-dataset always resumes to the
data of an uninterrupted run. The default run kills a few times; ``-m slow`` many."""

import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from tomopy_dlalign import io
from tomopy_dlalign.training.dataset import DatasetConfig, make_dataset

CFG = DatasetConfig(n_volumes=3, families=("battery",), size=32, nslice=8, nproj=16)
FIELDS = ("pairs", "targets", "volume", "family", "noise")

# the child prints a line once imported, so that the kill lands in the work itself
_MAKE_DATASET = """
import sys
from tomopy_dlalign.training.dataset import DatasetConfig, make_dataset
cfg = DatasetConfig(n_volumes=3, families=("battery",), size=32, nslice=8, nproj=16)
print("ready", flush=True)
make_dataset(sys.argv[1], cfg)
"""
# the command line imports what a command needs when it runs: import it first; and the
# output exists, so replacing it takes --overwrite
_SIMULATE = """
import sys
from tomopy_dlalign import cli, io, simulate
print("ready", flush=True)
sys.exit(cli.main(["simulate", sys.argv[1], "--size", "48", "--nslice", "6", "--nproj",
                   "60", "--seed", "1", "--overwrite"]))
"""


def _run(code, out, kill_after=None):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.Popen([sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, env=env)
    p.stdout.readline()
    if kill_after is not None:
        time.sleep(kill_after)
        p.send_signal(signal.SIGKILL)
    p.wait()
    p.stdout.close()
    return p.returncode


def _content(path):
    with h5py.File(path, "r") as f:
        return {name: f[name][()] for name in FIELDS}



@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return _content(make_dataset(tmp_path_factory.mktemp("ref") / "ref.h5", CFG))


@pytest.mark.long
@pytest.mark.parametrize("n_kills", [2, pytest.param(12, marks=pytest.mark.slow)])
def test_killed_make_dataset_always_resumes_to_the_same_data(tmp_path, reference, n_kills):
    rng = np.random.default_rng(16)
    out = tmp_path / "d.h5"
    for _ in range(n_kills):  # the first kill often lands before the first volume
        _run(_MAKE_DATASET, out, kill_after=float(rng.uniform(0.0, 0.15)))
    assert _run(_MAKE_DATASET, out) == 0
    got = _content(out)
    assert all(np.array_equal(got[n], reference[n]) for n in FIELDS)
    assert [p.name for p in tmp_path.iterdir()] == ["d.h5"]


@pytest.mark.parametrize("n_kills", [3, pytest.param(15, marks=pytest.mark.slow)])
def test_killed_cli_writer_leaves_the_old_file_or_the_complete_new_one(tmp_path, n_kills):
    out = tmp_path / "scan.h5"
    io.write_dx(out, np.ones((4, 2, 8), np.float32), theta=np.linspace(0, np.pi, 4))
    old = out.read_bytes()
    rng = np.random.default_rng(7)
    seen = set()
    for _ in range(n_kills):
        _run(_SIMULATE, out, kill_after=float(rng.uniform(0.0, 0.6)))
        if out.read_bytes() == old:
            seen.add("old")
            continue
        prj, flat, dark, theta = io.read_dx(out)  # the new file, complete
        assert prj.shape == (60, 6, 48) and flat is not None and theta.shape == (60,)
        seen.add("new")
        out.write_bytes(old)
    assert seen
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == ["scan.h5"]
