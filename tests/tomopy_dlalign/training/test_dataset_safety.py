"""make-dataset never loses data: a kill at any instant resumes to the same file, and
only files made by make-dataset are written into."""

import os

import h5py
import numpy as np
import pytest

from tomopy_dlalign import cli, io
from tomopy_dlalign.training import dataset
from tomopy_dlalign.training.dataset import DatasetConfig, make_dataset

CFG = DatasetConfig(n_volumes=3, families=("battery",), size=32, nslice=8, nproj=16)
FIELDS = ("pairs", "targets", "volume", "family", "noise")


def _content(path):
    with h5py.File(path, "r") as f:
        return {name: f[name][()] for name in FIELDS}


def _same(a, b):
    return all(np.array_equal(a[n], b[n]) for n in FIELDS)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return _content(make_dataset(tmp_path_factory.mktemp("ref") / "ref.h5", CFG))


def test_interrupted_during_the_first_volume_resumes(tmp_path, monkeypatch, reference):
    out = tmp_path / "d.h5"
    real = dataset._volume_pairs

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(dataset, "_volume_pairs", interrupted)
    with pytest.raises(KeyboardInterrupt):
        make_dataset(out, CFG)
    with h5py.File(out, "r") as f:  # complete and resumable, not a 96-byte stub
        assert f.attrs["done"] == 0 and f.attrs["created_by"] == dataset.MARKER
    monkeypatch.setattr(dataset, "_volume_pairs", real)
    assert _same(_content(make_dataset(out, CFG)), reference)


def test_make_dataset_refuses_a_measured_scan_and_leaves_it_intact(tmp_path, capsys):
    scan = tmp_path / "scan.h5"
    io.write_dx(scan, np.ones((4, 2, 8), np.float32), theta=np.linspace(0, np.pi, 4))
    before = scan.read_bytes()
    with pytest.raises(ValueError, match="was not made by .*make-dataset.*refusing"):
        make_dataset(scan, CFG)
    assert cli.main(["make-dataset", str(scan), "--volumes", "1", "--size", "32",
                     "--nslice", "8", "--nproj", "16"]) == 2
    err = capsys.readouterr().err.strip()
    # the command line refuses any existing output that is not its own dataset, naming
    # --overwrite, before make_dataset opens it
    assert "scan.h5" in err and "--overwrite" in err and len(err.splitlines()) == 1
    assert scan.read_bytes() == before


def test_make_dataset_refuses_a_file_that_is_not_hdf5(tmp_path):
    out = tmp_path / "notes.h5"
    out.write_text("my notes")
    with pytest.raises(ValueError, match="not an HDF5 file.*refusing"):
        make_dataset(out, CFG)
    assert out.read_text() == "my notes"


def test_make_dataset_refuses_a_read_only_dataset_unless_overwrite(tmp_path, reference):
    out = tmp_path / "d.h5"
    make_dataset(out, DatasetConfig(**{**CFG.__dict__, "n_volumes": 1}))
    os.chmod(out, 0o444)
    with pytest.raises(PermissionError, match="read-only"):
        make_dataset(out, CFG)
    # a bigger n_volumes is another configuration: the refusal comes first either way
    with pytest.raises(ValueError, match="another configuration"):
        make_dataset(out, CFG, overwrite=True)


def test_second_make_dataset_on_one_file_fails_at_once(tmp_path):
    from tomopy_dlalign.common.outputs import OutputBusyError, output_lock

    out = tmp_path / "d.h5"
    with output_lock(out), pytest.raises(OutputBusyError, match="another process"):
        make_dataset(out, CFG)


def test_write_pairs_marks_its_file_so_make_dataset_and_train_accept_it(tmp_path):
    out = tmp_path / "pairs.h5"
    dataset.write_pairs(out, np.zeros((4, 2, 8, 8)), np.zeros((4, 2)), np.array([0, 0, 1, 1]),
                        {"size": 8})
    dataset.check_dataset(out)
    with h5py.File(out) as f:
        assert f.attrs["created_by"] == dataset.MARKER
